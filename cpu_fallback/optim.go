package cpu_fallback

import (
	"math"

	"github.com/aegpu/aegpu/engine"
)

// engineAdamW is engine.AdamW for the build-tagged files.
const engineAdamW = engine.AdamW

// optJob applies one optimizer step, or (clip) scales grads, over chunks.
type optJob struct {
	kind           engine.OptKind
	p, g, s1, s2   []float32
	n              int
	lr, wd, mom    float32
	first          bool    // SGD: first step (buf = g)
	beta1, beta2   float32 // Adam
	eps, stepSize  float32 // Adam: lr / (1 − β1ᵗ)
	bc2Sqrt, decay float32 // Adam: sqrt(1 − β2ᵗ); AdamW: 1 − lr·wd
	clip           bool
	clipCoef       float32
}

func (o *optJob) do(i int) {
	lo, hi := i*chunk, min(o.n, (i+1)*chunk)
	p := o.p[lo:hi]
	if o.clip {
		for k := range p {
			p[k] *= o.clipCoef
		}
		return
	}
	g := o.g[lo:hi]
	g = g[:len(p)]
	switch o.kind {
	case engine.SGD:
		lr, wd, mu := o.lr, o.wd, o.mom
		if mu == 0 {
			for k, pv := range p {
				p[k] = pv - lr*(g[k]+wd*pv)
			}
			return
		}
		buf := o.s1[lo:hi]
		buf = buf[:len(p)]
		for k, pv := range p {
			gk := g[k] + wd*pv
			if o.first {
				buf[k] = gk
			} else {
				buf[k] = mu*buf[k] + gk
			}
			p[k] = pv - lr*buf[k]
		}
	case engine.Adam, engine.AdamW:
		m := o.s1[lo:hi]
		v := o.s2[lo:hi]
		m, v = m[:len(p)], v[:len(p)]
		b1, b2 := o.beta1, o.beta2
		c1, c2 := 1-b1, 1-b2
		wd, decay := o.wd, o.decay
		eps, step, bc2 := o.eps, o.stepSize, o.bc2Sqrt
		adamw := o.kind == engine.AdamW
		done := adamFast(o, p, g, m, v)
		p, g, m, v = p[done:], g[done:], m[done:], v[done:]
		for k, pv := range p {
			gk := g[k]
			if adamw {
				pv *= decay
			} else {
				gk += wd * pv
			}
			mk := b1*m[k] + c1*gk
			vk := b2*v[k] + c2*gk*gk
			m[k], v[k] = mk, vk
			denom := float32(math.Sqrt(float64(vk)))/bc2 + eps
			p[k] = pv - step*mk/denom
		}
	}
}

// OptimizerStep updates params in place from grads with the rule in o
// (PyTorch's torch.optim formulas, see engine.OptStep), in float32, one
// fused pass per element:
//
//	params, grads, state1 (m or momentum buffer), state2 (v)   any shapes of equal length
//
// grads are not modified. SGD treats Step ≤ 1 as the first step (buf = g).
func (b *Backend) OptimizerStep(o engine.OptStep, params, grads, state1, state2 engine.Matrix) error {
	if err := engine.CheckOptimizer(o, params, grads, state1, state2); err != nil {
		return err
	}
	s, err := b.slices(params, grads, state1, state2)
	if err != nil {
		return err
	}
	n := params.Len()
	j := &b.opt
	*j = optJob{kind: o.Kind, p: s[0], g: s[1], s1: s[2], s2: s[3], n: n,
		lr: o.LR, wd: o.WeightDecay, mom: o.Momentum, first: o.Step <= 1}
	if o.Kind == engine.Adam || o.Kind == engine.AdamW {
		t := float64(o.Step)
		bc1 := 1 - math.Pow(float64(o.Beta1), t)
		bc2 := 1 - math.Pow(float64(o.Beta2), t)
		j.beta1, j.beta2, j.eps = o.Beta1, o.Beta2, o.Eps
		j.stepSize = float32(float64(o.LR) / bc1)
		j.bc2Sqrt = float32(math.Sqrt(bc2))
		j.decay = 1 - o.LR*o.WeightDecay
	}
	b.pool.run(ceilDiv(n, chunk), j)
	return nil
}

// ClipGradNorm computes the global norm ‖grads‖₂ of grads (any shape;
// float64 sum of squares, deterministic), writes it to norm [1×1], and
// scales grads by
// maxNorm/(‖grads‖₂ + 1e-6) when that is below 1, as PyTorch's
// clip_grad_norm_ (a NaN norm therefore makes the gradients NaN, as there).
func (b *Backend) ClipGradNorm(grads, norm engine.Matrix, maxNorm float32) error {
	if err := engine.CheckClipGradNorm(grads, norm, maxNorm); err != nil {
		return err
	}
	s, err := b.slices(grads, norm)
	if err != nil {
		return err
	}
	total := math.Sqrt(b.sumSquares(s[0]))
	s[1][0] = float32(total)
	coef := float64(maxNorm) / (total + 1e-6)
	if coef >= 1 {
		return nil
	}
	j := &b.opt
	*j = optJob{p: s[0], n: len(s[0]), clip: true, clipCoef: float32(coef)}
	b.pool.run(ceilDiv(j.n, chunk), j)
	return nil
}
