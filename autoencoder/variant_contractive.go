package autoencoder

import (
	"fmt"
	"math"

	"github.com/aegpu/aegpu/engine"
)

// ContractiveConfig holds a contractive autoencoder's settings: the
// penalty Contractive·mean_i ‖J_f(x_i)‖²_F on the encoder's Jacobian;
// exact for a one-layer encoder, else estimated from Projections random
// projections per row (unbiased).
type ContractiveConfig struct {
	Contractive float64 `json:"contractive,omitempty"`
	Projections int     `json:"projections,omitempty"`
}

var contractiveKind = variantKind{
	name: VariantContractive,
	settings: func(c *VariantConfig) []setting {
		return []setting{{"contractive lambda", c.Contractive != 0}}
	},
	check: func(c *TrainConfig) error {
		if !(c.Contractive > 0) || math.IsInf(c.Contractive, 0) {
			return fmt.Errorf("a contractive autoencoder needs a penalty weight λ > 0, got %v", c.Contractive)
		}
		return nil
	},
	part: newContractivePart,
}

// projections is the number of random projections per row (0 means 1).
func (c ContractiveConfig) projections() int { return max(c.Projections, 1) }

func newContractivePart(t *Trainer, batch int) (part, error) {
	m := t.Model
	if m.Arch.VAE {
		return nil, fmt.Errorf("the contractive penalty is not defined for a VAE")
	}
	if m.Arch.Norm != NormNone {
		// Its tangent pass pushes a Jacobian–vector product through each
		// layer's linear map and activation only.
		return nil, fmt.Errorf("--norm %s: the contractive penalty's Jacobian does not pass through a LayerNorm; train a contractive autoencoder without --norm", m.Arch.Norm)
	}
	if m.Arch.DecoderStart() == 1 {
		return newExactContractive(t)
	}
	return newTangentContractive(t, batch)
}

// exactContractive finishes a one-layer encoder's backward pass with the
// closed-form penalty.
type exactContractive struct {
	noPart
	lambda float64
	dw, db engine.Matrix // the penalty's gradients when a tied decoder wrote the layer's
}

func newExactContractive(t *Trainer) (part, error) {
	L := t.Model.Layers[0]
	c := &exactContractive{lambda: t.Cfg.Contractive}
	var err error
	if c.dw, err = t.ws.alloc(L.W.Rows, L.W.Cols); err != nil {
		return nil, err
	}
	if c.db, err = t.ws.alloc(1, L.Out); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *exactContractive) grads(t *Trainer, v *batchView, at gradPoint, i int) (bool, error) {
	if at != atLayer || i != 0 {
		return false, nil
	}
	m, b, book := t.Model, t.Model.Backend, &t.book
	L := m.Layers[0]
	dw, db := L.GW, L.GB
	if book.gw[0] { // a tied decoder wrote it already: add the penalty's part
		dw, db = c.dw, c.db
	}
	// λ/n·Σ_i over the global batch's n rows: the op divides by this
	// rank's k rows, so it is given λ·k/n (dist.go); weight n makes the
	// penalty sum λ·Σ_i over the rank's rows.
	lambda, n := c.lambda, t.globalRows(v.n)
	if n != v.n {
		lambda *= float64(v.n) / float64(n)
	}
	if err := b.ContractiveExact(t.obj.pen, v.g[0], dw, db, v.y[0], v.z[0], L.W,
		L.Act, float32(lambda), float32(n)); err != nil {
		return true, err
	}
	if book.gw[0] {
		if err := b.Axpy(1, dw, L.GW); err != nil {
			return true, err
		}
		if err := b.Fill(L.GB, 0); err != nil {
			return true, err
		}
	}
	book.gw[0], book.gb[0] = true, true
	return true, m.backward(book, 0, engine.Matrix{}, v.g[0], engine.Matrix{}, engine.Matrix{}, v.x, engine.Linear, 0, false)
}

// tangentContractive estimates the penalty λ/(n·K)·Σ_k Σ_i ‖J(x_i)·v_ik‖²
// (E‖J·v‖² = ‖J‖²_F for v ~ N(0, I)) by forward-mode tangents through the
// encoder, and its gradient: into the weight gradients directly and, on
// each layer's pre-activation, into ex (added by the main backward pass).
type tangentContractive struct {
	noPart
	lambda float64
	k      int           // projections per row
	proj   engine.Matrix // v: k·batch rows of d0
	// Per encoder layer l: the tangent s_l, u_l = act′ ⊙ s_l, the
	// penalty's gradients du_l and on z_l (ex_l), and a zero bias.
	s, u, du, ex, zeroBias []engine.Matrix
}

func newTangentContractive(t *Trainer, batch int) (part, error) {
	m := t.Model
	c := &tangentContractive{lambda: t.Cfg.Contractive, k: t.Cfg.ContractiveConfig.projections()}
	var err error
	if c.proj, err = t.ws.alloc(c.k*batch, m.Arch.Input()); err != nil {
		return nil, err
	}
	for l := 0; l < m.Arch.DecoderStart(); l++ {
		d := m.Layers[l].Out
		var bufs [5]engine.Matrix
		for i := range bufs {
			rows := batch
			if i == 4 {
				rows = 1
			}
			if bufs[i], err = t.ws.alloc(rows, d); err != nil {
				return nil, err
			}
		}
		c.s, c.u, c.du, c.ex = append(c.s, bufs[0]), append(c.u, bufs[1]), append(c.du, bufs[2]), append(c.ex, bufs[3])
		c.zeroBias = append(c.zeroBias, bufs[4])
	}
	return c, nil
}

// tangentProjections is the trainer's contractive projections (absent
// for other variants).
func (t *Trainer) tangentProjections() engine.Matrix {
	for _, p := range t.parts {
		if c, ok := p.(*tangentContractive); ok {
			return c.proj
		}
	}
	return engine.Matrix{}
}

// preStep draws the step's projections: K blocks of batch rows, row i of
// block p at row p·batch+i. A rank of a job draws its own rows of each
// block, from their place in the global batch, into the block's first
// rows (dist.go).
func (c *tangentContractive) preStep(t *Trainer, v *batchView) error {
	stream := engine.StepStream(engine.StreamProject, t.State.Step)
	if t.dist == nil {
		return t.Model.Backend.RandNormal(c.proj, t.Cfg.Seed, stream, 0, 1)
	}
	B, lo := t.ws.batch, t.rowOffset()
	for p := range c.k {
		if err := t.randNormalRows(c.proj.RowSlice(p*B, v.n), stream, p*B+lo); err != nil {
			return err
		}
	}
	return nil
}

func (c *tangentContractive) grads(t *Trainer, v *batchView, at gradPoint, i int) (bool, error) {
	switch at {
	case beforeEncoder:
		return false, c.penalty(t, v)
	case atLayer:
		// The main backward pass of layer i, with the penalty's gradient
		// on its pre-activation added.
		L := t.Model.Layers[i]
		if err := t.Model.Backend.ActBackward(v.g[i], rowsOf(c.ex[i], v.n), v.y[i], v.z[i], L.Act); err != nil {
			return true, err
		}
		in, dx := t.layerInput(v, i)
		return true, t.Model.backward(&t.book, i, dx, v.g[i], v.y[i], v.z[i], in, engine.Linear, 0, false)
	}
	return false, nil
}

// penalty adds the estimate to the penalty accumulator and its gradients.
func (c *tangentContractive) penalty(t *Trainer, v *batchView) error {
	m, b, n := t.Model, t.Model.Backend, v.n
	k := m.Arch.DecoderStart()
	if err := b.Fill(t.obj.penTmp, 0); err != nil {
		return err
	}
	for l := 0; l < k; l++ {
		if err := b.Fill(rowsOf(c.ex[l], n), 0); err != nil {
			return err
		}
	}
	for p := 0; p < c.k; p++ {
		if err := c.projection(t, v, c.proj.RowSlice(p*t.ws.batch, n)); err != nil {
			return err
		}
	}
	return b.Axpy(float32(c.lambda/float64(c.k)), t.obj.penTmp, t.obj.pen)
}

// projection pushes one projection pv through the encoder's tangent and
// back.
func (c *tangentContractive) projection(t *Trainer, v *batchView, pv engine.Matrix) error {
	m, b, n := t.Model, t.Model.Backend, v.n
	k := m.Arch.DecoderStart()
	u := pv
	for l := 0; l < k; l++ {
		L := m.Layers[l]
		s, ul := rowsOf(c.s[l], n), rowsOf(c.u[l], n)
		if err := b.Dense(s, engine.Matrix{}, u, L.W, c.zeroBias[l], engine.Linear, L.Opt); err != nil {
			return err
		}
		if err := b.ActJVP(ul, s, v.y[l], v.z[l], L.Act); err != nil {
			return err
		}
		u = ul
	}
	if err := b.SumSquares(t.obj.penTmp, u); err != nil {
		return err
	}
	du := rowsOf(c.du[k-1], n)
	if err := b.Copy(du, u); err != nil {
		return err
	}
	if err := b.Scale(du, float32(2*c.lambda/float64(t.globalRows(n)*c.k))); err != nil { // over the global batch's rows (dist.go)
		return err
	}
	for l := k - 1; l >= 0; l-- {
		L := m.Layers[l]
		du := rowsOf(c.du[l], n)
		if err := b.ActJVPBackward(du, rowsOf(c.ex[l], n), du, rowsOf(c.s[l], n), v.y[l], v.z[l], L.Act); err != nil {
			return err
		}
		in, dx := pv, engine.Matrix{}
		if l > 0 {
			in, dx = rowsOf(c.u[l-1], n), rowsOf(c.du[l-1], n)
		}
		if err := m.backward(&t.book, l, dx, du, engine.Matrix{}, engine.Matrix{}, in, engine.Linear, 0, true); err != nil {
			return err
		}
	}
	return nil
}
