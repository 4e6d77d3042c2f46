package enginetest

import (
	"math"

	"github.com/aegpu/aegpu/engine"
)

// float64 reference implementations of every engine op. They follow the
// engine's conventions literally and favour clarity over speed; matrices are
// row-major []float64 with their shapes passed alongside.

// refAct is act(z).
func refAct(a engine.Act, z float64) float64 {
	switch a {
	case engine.ReLU:
		if z > 0 {
			return z
		}
		return 0
	case engine.LeakyReLU:
		if z > 0 {
			return z
		}
		return engine.LeakySlope * z
	case engine.Tanh:
		return math.Tanh(z)
	case engine.Sigmoid:
		return refSigmoid(z)
	case engine.GELU:
		return 0.5 * z * (1 + math.Erf(z/math.Sqrt2))
	}
	return z
}

func refSigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// refActGrad is act′ as DenseBackward computes it: from the output y, or
// from the pre-activation z when act.NeedsPre() (GELU). At ReLU's kink
// (y = 0) the derivative is 0, as in PyTorch.
func refActGrad(a engine.Act, y, z float64) float64 {
	switch a {
	case engine.ReLU:
		if y > 0 {
			return 1
		}
		return 0
	case engine.LeakyReLU:
		if y > 0 {
			return 1
		}
		return engine.LeakySlope
	case engine.Tanh:
		return 1 - y*y
	case engine.Sigmoid:
		return y * (1 - y)
	case engine.GELU:
		return 0.5*(1+math.Erf(z/math.Sqrt2)) + z*math.Exp(-0.5*z*z)/math.Sqrt(2*math.Pi)
	}
	return 1
}

// matNT is a [m×k] · bᵀ, b [n×k].
func matNT(m, n, k int, a, b []float64) []float64 {
	c := make([]float64, m*n)
	for i := range m {
		for j := range n {
			s := 0.0
			for p := range k {
				s += a[i*k+p] * b[j*k+p]
			}
			c[i*n+j] = s
		}
	}
	return c
}

// matNN is a [m×k] · b [k×n].
func matNN(m, n, k int, a, b []float64) []float64 {
	c := make([]float64, m*n)
	for i := range m {
		for p := range k {
			av := a[i*k+p]
			for j := range n {
				c[i*n+j] += av * b[p*n+j]
			}
		}
	}
	return c
}

// matTN is aᵀ · b, a [k×m], b [k×n].
func matTN(m, n, k int, a, b []float64) []float64 {
	c := make([]float64, m*n)
	for p := range k {
		for i := range m {
			av := a[p*m+i]
			for j := range n {
				c[i*n+j] += av * b[p*n+j]
			}
		}
	}
	return c
}

func abs64(x []float64) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = math.Abs(v)
	}
	return y
}

// refDense is Dense: z = x·wᵀ + b, y = act(z).
//
//	x [B×in], w [out×in], b [out] → z, y [B×out]
func refDense(B, in, out int, x, w, b []float64, act engine.Act) (z, y []float64) {
	z = matNT(B, out, in, x, w)
	y = make([]float64, len(z))
	for i := range B {
		for j := range out {
			z[i*out+j] += b[j]
			y[i*out+j] = refAct(act, z[i*out+j])
		}
	}
	return z, y
}

// refDenseBackward is DenseBackward (without accumulation):
//
//	dz = dy ⊙ act′(y | z)   [B×out]
//	dx = dz·w               [B×in]
//	dw = dzᵀ·x              [out×in]
//	db = Σ_rows dz          [out]
func refDenseBackward(B, in, out int, dy, y, z, x, w []float64, act engine.Act) (dz, dx, dw, db []float64) {
	dz = make([]float64, len(dy))
	for i := range dy {
		var yi, zi float64
		if y != nil {
			yi = y[i]
		}
		if z != nil {
			zi = z[i]
		}
		dz[i] = dy[i] * refActGrad(act, yi, zi)
	}
	dx = matNN(B, in, out, dz, w)
	dw = matTN(out, in, B, dz, x)
	db = make([]float64, out)
	for i := range B {
		for j := range out {
			db[j] += dz[i*out+j]
		}
	}
	return dz, dx, dw, db
}

// refElemLoss is the elementwise loss l(p, t); see engine.Loss.
func refElemLoss(kind engine.Loss, p, t float64) float64 {
	switch kind {
	case engine.MSE:
		return (p - t) * (p - t)
	case engine.BCE:
		// PyTorch's BCELoss clamps each log at −100.
		return -(t*max(math.Log(p), -100) + (1-t)*max(math.Log(1-p), -100))
	case engine.BCEWithLogits:
		// The stable form, p being the logit.
		return max(p, 0) - p*t + math.Log1p(math.Exp(-math.Abs(p)))
	case engine.MAE:
		return math.Abs(p - t)
	}
	panic("enginetest: unknown loss")
}

// refElemGrad is ∂l/∂p. For BCE it is PyTorch's BCELoss backward,
// (p − t)/max(p(1 − p), 1e-12), finite at p = 0 and 1 where the clamped
// loss is flat; for MAE it is sign(p − t), 0 at p = t.
func refElemGrad(kind engine.Loss, p, t float64) float64 {
	switch kind {
	case engine.MSE:
		return 2 * (p - t)
	case engine.BCE:
		return (p - t) / max(p*(1-p), 1e-12)
	case engine.BCEWithLogits:
		return refSigmoid(p) - t
	case engine.MAE:
		switch {
		case p > t:
			return 1
		case p < t:
			return -1
		}
		return 0
	}
	panic("enginetest: unknown loss")
}

// refLoss is the mean loss over all N elements and its gradient ∂L/∂p = ∂l/∂p / N.
func refLoss(kind engine.Loss, p, t []float64) (float64, []float64) {
	n := float64(len(p))
	s := 0.0
	g := make([]float64, len(p))
	for i := range p {
		s += refElemLoss(kind, p[i], t[i])
		g[i] = refElemGrad(kind, p[i], t[i]) / n
	}
	return s / n, g
}

// refRowLoss is each row's mean loss, p and t [B×D].
func refRowLoss(kind engine.Loss, B, D int, p, t []float64) []float64 {
	out := make([]float64, B)
	for i := range B {
		s := 0.0
		for j := range D {
			s += refElemLoss(kind, p[i*D+j], t[i*D+j])
		}
		out[i] = s / float64(D)
	}
	return out
}

// refOpt is one OptimizerStep (see engine.OptStep) in float64 on the
// float32 hyper-parameters. It returns the new params and states; s1 and s2
// come back unchanged where the rule does not use them.
func refOpt(o engine.OptStep, p, g, s1, s2 []float64) (np, ns1, ns2 []float64) {
	np, ns1, ns2 = clone(p), clone(s1), clone(s2)
	lr, wd := float64(o.LR), float64(o.WeightDecay)
	switch o.Kind {
	case engine.SGD:
		mu := float64(o.Momentum)
		for i := range np {
			gi := g[i] + wd*p[i]
			if mu != 0 {
				if o.Step <= 1 {
					ns1[i] = gi
				} else {
					ns1[i] = mu*s1[i] + gi
				}
				gi = ns1[i]
			}
			np[i] = p[i] - lr*gi
		}
	case engine.Adam, engine.AdamW:
		b1, b2, eps := float64(o.Beta1), float64(o.Beta2), float64(o.Eps)
		t := float64(o.Step)
		bc1, bc2 := 1-math.Pow(b1, t), 1-math.Pow(b2, t)
		for i := range np {
			pi, gi := p[i], g[i]
			if o.Kind == engine.AdamW {
				pi -= lr * wd * pi
			} else {
				gi += wd * pi
			}
			m := b1*s1[i] + (1-b1)*gi
			v := b2*s2[i] + (1-b2)*gi*gi
			ns1[i], ns2[i] = m, v
			np[i] = pi - lr*(m/bc1)/(math.Sqrt(v/bc2)+eps)
		}
	}
	return np, ns1, ns2
}

// refClip is ClipGradNorm: the norm before clipping and the clipped
// gradients, scaled by min(1, maxNorm/(norm + 1e-6)) as PyTorch's
// clip_grad_norm_.
func refClip(g []float64, maxNorm float64) ([]float64, float64) {
	s := 0.0
	for _, v := range g {
		s += v * v
	}
	norm := math.Sqrt(s)
	coef := min(1, maxNorm/(norm+1e-6))
	out := make([]float64, len(g))
	for i, v := range g {
		out[i] = v * coef
	}
	return out, norm
}

func clone(x []float64) []float64 {
	if x == nil {
		return nil
	}
	return append([]float64(nil), x...)
}
