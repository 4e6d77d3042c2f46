package autoencoder

import (
	"fmt"
	"math"

	"github.com/aegpu/aegpu/engine"
)

// regularizer holds the device buffers of a variant's penalty: the sparse
// layers' mean activations, the contractive estimator's tangents, a VAE's
// β. Everything is allocated once per trainer, so a training step stays a
// fixed op sequence that a backend can record.
type regularizer struct {
	pen     engine.Matrix // 1×1: Σ over the epoch of n·penalty (sparse, contractive, L2)
	kl      engine.Matrix // 1×1: Σ over the epoch of the batch KL sums (vae)
	beta    engine.Matrix // 1×1: the current KL weight β (vae)
	penTmp  engine.Matrix // 1×1 scratch
	sparse  []int         // layer indices whose outputs are penalized
	rho     []engine.Matrix
	actSum  []engine.Matrix // [1×D] per sparse layer: validation Σ of column means
	rowTmp  []engine.Matrix // [1×D] per sparse layer
	exactCA bool            // contractive: one-layer closed form
	cwTmp   [2]engine.Matrix
	// Stochastic contractive estimator: v (Projections·batch rows of d0),
	// per encoder layer l the tangent s_l and u_l = act′ ⊙ s_l, the
	// penalty's gradients du_l and on z_l (extra_l), and zero biases.
	proj             engine.Matrix
	ts, tu, tdu, tex []engine.Matrix
	zeroBias         []engine.Matrix
	// gradWritten tracks, while a step's backward pass is being issued,
	// which layers' weight and bias gradients have been written (tied
	// layers share a weight gradient; penalties add to gradients).
	gw, gb []bool
}

// sparseLayers resolves the configured sparse layers to layer indices.
func (t *Trainer) sparseLayers() ([]int, error) {
	k := t.Model.decStart() // encoder layers
	if len(t.Cfg.SparseLayers) == 0 {
		return []int{k - 1}, nil
	}
	var out []int
	for _, l := range t.Cfg.SparseLayers {
		if l > k {
			return nil, fmt.Errorf("sparse layer %d: the encoder has %d layers (1..%d)", l, k, k)
		}
		out = append(out, l-1)
	}
	return out, nil
}

// initRegularizer allocates the variant's buffers.
func (t *Trainer) initRegularizer(batch int) error {
	m, b, r := t.Model, t.Model.Backend, &t.reg
	alloc := func(rows, cols int) (engine.Matrix, error) { return t.ws.alloc(rows, cols) }
	var err error
	for _, p := range []*engine.Matrix{&r.pen, &r.kl, &r.beta, &r.penTmp} {
		if *p, err = alloc(1, 1); err != nil {
			return err
		}
	}
	r.gw, r.gb = make([]bool, len(m.Layers)), make([]bool, len(m.Layers))
	switch t.Cfg.Variant() {
	case "sparse":
		if r.sparse, err = t.sparseLayers(); err != nil {
			return err
		}
		for _, l := range r.sparse {
			L := m.Layers[l]
			if t.Cfg.SparsityBeta > 0 && L.Act != engine.Sigmoid {
				return &KLActivationError{Layer: L.Name, Act: L.Act}
			}
			var rho, sum, tmp engine.Matrix
			if rho, err = alloc(1, L.Out); err != nil {
				return err
			}
			if sum, err = alloc(1, L.Out); err != nil {
				return err
			}
			if tmp, err = alloc(1, L.Out); err != nil {
				return err
			}
			r.rho, r.actSum, r.rowTmp = append(r.rho, rho), append(r.actSum, sum), append(r.rowTmp, tmp)
		}
	case "contractive":
		k := m.decStart()
		if m.Arch.VAE {
			return fmt.Errorf("the contractive penalty is not defined for a VAE")
		}
		r.exactCA = k == 1
		if r.exactCA {
			L := m.Layers[0]
			if r.cwTmp[0], err = alloc(L.W.Rows, L.W.Cols); err != nil {
				return err
			}
			if r.cwTmp[1], err = alloc(1, L.Out); err != nil {
				return err
			}
			return nil
		}
		if r.proj, err = alloc(t.projections()*batch, m.Arch.Input()); err != nil {
			return err
		}
		for l := 0; l < k; l++ {
			d := m.Layers[l].Out
			var bufs [5]engine.Matrix
			for i := range bufs {
				if bufs[i], err = alloc(batch, d); err != nil {
					return err
				}
			}
			if bufs[4], err = alloc(1, d); err != nil {
				return err
			}
			r.ts, r.tu, r.tdu, r.tex = append(r.ts, bufs[0]), append(r.tu, bufs[1]), append(r.tdu, bufs[2]), append(r.tex, bufs[3])
			r.zeroBias = append(r.zeroBias, bufs[4])
		}
	case "vae":
		return b.Fill(r.beta, float32(t.klBeta(0)))
	}
	return nil
}

func (t *Trainer) projections() int { return max(t.Cfg.Projections, 1) }

// klBeta is the KL weight at fractional epoch e (warm-up ramps it from 0).
func (t *Trainer) klBeta(e float64) float64 {
	beta := t.Cfg.KLBeta
	if w := t.Cfg.KLWarmup; w > 0 && e < w {
		return beta * e / w
	}
	return beta
}

// beginBackward resets the gradient bookkeeping of a step.
func (t *Trainer) beginBackward() {
	clear(t.reg.gw)
	clear(t.reg.gb)
}

// owner is the layer whose weight gradient layer i writes.
func (t *Trainer) owner(i int) int {
	if o := t.Model.Layers[i].TiedTo; o >= 0 {
		return o
	}
	return i
}

// backward runs DenseBackward for layer i (dz from dy by act, which may
// be Linear when dy already holds ∂L/∂z), adding to gradients already
// written this step and overwriting the others. With noBias the bias
// gradient is left alone (a tangent pass).
func (t *Trainer) backward(i int, dx, dy, y, z, in engine.Matrix, act engine.Act, dxOpt engine.DenseOpt, noBias bool) error {
	m, b, r := t.Model, t.Model.Backend, &t.reg
	L := m.Layers[i]
	o := t.owner(i)
	opt := L.Opt | dxOpt
	db := L.GB
	switch {
	case noBias:
		db = engine.Matrix{}
		if r.gw[o] {
			opt |= engine.Accumulate
		}
	case r.gw[o] && r.gb[i]:
		opt |= engine.Accumulate
	case r.gw[o]:
		// The weight gradient has a contribution already, the bias not.
		if err := b.Fill(L.GB, 0); err != nil {
			return err
		}
		opt |= engine.Accumulate
	case r.gb[i]:
		return fmt.Errorf("internal: layer %s has a bias gradient but no weight gradient", L.Name)
	}
	if err := b.DenseBackward(dx, m.Layers[o].GW, db, dy, y, z, in, L.W, act, opt); err != nil {
		return fmt.Errorf("layer %s backward: %w", L.Name, err)
	}
	r.gw[o] = true
	if !noBias {
		r.gb[i] = true
	}
	return nil
}

// preStep draws a step's random inputs outside any recording (their
// streams change every step): corruption, a VAE's ε, the contractive
// projections, and sets the KL weight.
func (t *Trainer) preStep(n int) error {
	b, step := t.Model.Backend, t.State.Step
	if t.denoising() {
		if err := t.corrupt(n, engine.StepStream(engine.StreamNoise, step)); err != nil {
			return err
		}
	}
	switch {
	case t.Model.Arch.VAE:
		if err := b.RandNormal(t.ws.eps, t.Cfg.Seed, engine.StepStream(engine.StreamLatent, step), 0, 1); err != nil {
			return err
		}
		nb := float64(t.batchesPerEpoch())
		return b.Fill(t.reg.beta, float32(t.klBeta(float64(t.State.Epoch)+float64(t.State.Batch)/nb)))
	case !t.reg.proj.Empty():
		return b.RandNormal(t.reg.proj, t.Cfg.Seed, engine.StepStream(engine.StreamProject, step), 0, 1)
	}
	return nil
}

// sparsity adds the sparse penalty of layer i (if it is a sparse layer) to
// the gradient ∂L/∂h_i held in g[i].
func (t *Trainer) sparsity(i, n int) error {
	r := &t.reg
	for s, l := range r.sparse {
		if l != i {
			continue
		}
		ws := t.ws
		return t.Model.Backend.Sparsity(r.pen, rowsOf(ws.g[i], n), r.rho[s], rowsOf(ws.y[i], n),
			float32(t.Cfg.SparsityL1), float32(t.Cfg.SparsityBeta), float32(t.Cfg.SparsityTarget), float32(n))
	}
	return nil
}

// contractiveExact finishes the one-layer encoder's backward pass with the
// closed-form penalty.
func (t *Trainer) contractiveExact(x engine.Matrix, n int) error {
	m, b, r, ws := t.Model, t.Model.Backend, &t.reg, t.ws
	L := m.Layers[0]
	dw, db := L.GW, L.GB
	if r.gw[0] { // a tied decoder wrote it already: add the penalty's part
		dw, db = r.cwTmp[0], r.cwTmp[1]
	}
	dy := rowsOf(ws.g[0], n)
	if err := b.ContractiveExact(r.pen, dy, dw, db, rowsOf(ws.y[0], n), rowsOf(ws.z[0], n), L.W,
		L.Act, float32(t.Cfg.Contractive), float32(n)); err != nil {
		return err
	}
	if r.gw[0] {
		if err := b.Axpy(1, dw, L.GW); err != nil {
			return err
		}
		if err := b.Fill(L.GB, 0); err != nil {
			return err
		}
	}
	r.gw[0], r.gb[0] = true, true
	return t.backward(0, engine.Matrix{}, dy, engine.Matrix{}, engine.Matrix{}, x, engine.Linear, 0, false)
}

// contractiveTangent computes the stochastic contractive penalty
// λ/(n·K)·Σ_k Σ_i ‖J(x_i)·v_ik‖² (E‖J·v‖² = ‖J‖²_F for v ~ N(0, I)) by
// forward-mode tangents through the encoder, and its gradient: into the
// weight gradients directly and, on each layer's pre-activation, into
// reg.tex (added by the main backward pass).
func (t *Trainer) contractiveTangent(x engine.Matrix, n int) error {
	m, b, r, ws := t.Model, t.Model.Backend, &t.reg, t.ws
	k := m.decStart()
	K := t.projections()
	lambda := t.Cfg.Contractive
	if err := b.Fill(r.penTmp, 0); err != nil {
		return err
	}
	for l := 0; l < k; l++ {
		if err := b.Fill(rowsOf(r.tex[l], n), 0); err != nil {
			return err
		}
	}
	for p := 0; p < K; p++ {
		v := r.proj.RowSlice(p*ws.batch, n)
		u := v
		for l := 0; l < k; l++ {
			L := m.Layers[l]
			s, ul := rowsOf(r.ts[l], n), rowsOf(r.tu[l], n)
			if err := b.Dense(s, engine.Matrix{}, u, L.W, r.zeroBias[l], engine.Linear, L.Opt); err != nil {
				return err
			}
			if err := b.ActJVP(ul, s, rowsOf(ws.y[l], n), rowsOf(ws.z[l], n), L.Act); err != nil {
				return err
			}
			u = ul
		}
		if err := b.SumSquares(r.penTmp, u); err != nil {
			return err
		}
		du := rowsOf(r.tdu[k-1], n)
		if err := b.Copy(du, u); err != nil {
			return err
		}
		if err := b.Scale(du, float32(2*lambda/float64(n*K))); err != nil {
			return err
		}
		for l := k - 1; l >= 0; l-- {
			L := m.Layers[l]
			du := rowsOf(r.tdu[l], n)
			if err := b.ActJVPBackward(du, rowsOf(r.tex[l], n), du, rowsOf(r.ts[l], n), rowsOf(ws.y[l], n), rowsOf(ws.z[l], n), L.Act); err != nil {
				return err
			}
			in, dx := v, engine.Matrix{}
			if l > 0 {
				in, dx = rowsOf(r.tu[l-1], n), rowsOf(r.tdu[l-1], n)
			}
			if err := t.backward(l, dx, du, engine.Matrix{}, engine.Matrix{}, in, engine.Linear, 0, true); err != nil {
				return err
			}
		}
	}
	return b.Axpy(float32(lambda/float64(K)), r.penTmp, r.pen)
}

// l2 adds L2·w to every weight gradient and n·½·L2·Σw² to the penalty.
func (t *Trainer) l2(n int) error {
	if t.Cfg.L2 == 0 {
		return nil
	}
	m, b, r := t.Model, t.Model.Backend, &t.reg
	if err := b.Fill(r.penTmp, 0); err != nil {
		return err
	}
	for _, L := range m.Layers {
		if L.TiedTo >= 0 {
			continue
		}
		if err := b.Axpy(float32(t.Cfg.L2), L.W, L.GW); err != nil {
			return err
		}
		if err := b.SumSquares(r.penTmp, L.W); err != nil {
			return err
		}
	}
	return b.Axpy(float32(0.5*t.Cfg.L2*float64(n)), r.penTmp, r.pen)
}

// hasPenalty reports whether the variant adds a penalty to the objective.
func (t *Trainer) hasPenalty() bool {
	v := t.Cfg.Variant()
	return v == "sparse" || v == "contractive" || t.Cfg.L2 > 0
}

// meanActivations returns the validation mean activation of each unit of
// the sparse layers (after Validate), by layer name.
func (t *Trainer) meanActivations(rows int) (map[string][]float64, error) {
	r := &t.reg
	if len(r.sparse) == 0 || rows == 0 {
		return nil, nil
	}
	out := map[string][]float64{}
	for s, l := range r.sparse {
		v := make([]float32, r.actSum[s].Len())
		if err := t.Model.Backend.Download(v, r.actSum[s]); err != nil {
			return nil, err
		}
		m := make([]float64, len(v))
		for j, x := range v {
			m[j] = float64(x) / float64(rows)
		}
		out[t.Model.Layers[l].Name] = m
	}
	return out, nil
}

// meanOf is the mean of v (NaN when empty).
func meanOf(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}
