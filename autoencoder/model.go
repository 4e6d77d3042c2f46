package autoencoder

import (
	"fmt"
	"math"

	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/internal/safetensors"
)

// Layer is one Linear layer's parameters and gradients: views into the
// model's flat parameter and gradient buffers.
type Layer struct {
	LayerSpec
	W, B   engine.Matrix // [Out×In] ([In×Out] for a tied layer: its encoder layer's), [1×Out]
	GW, GB engine.Matrix // their gradients (a tied layer shares its encoder layer's GW)
	Opt    engine.DenseOpt
	// NG, NB are a normalized layer's LayerNorm gain and bias [1×Out]
	// (absent without --norm layer); GNG, GNB their gradients.
	NG, NB, GNG, GNB engine.Matrix
}

// Model is an autoencoder's parameters on a backend. All weights and biases
// live in one allocation (Params) and their gradients in another (Grads), so
// an optimizer step is a single backend call.
type Model struct {
	Arch    Arch
	Backend engine.Backend
	Params  engine.Matrix // [1×P], P ≥ NumParams (tensors are 64-byte aligned)
	Grads   engine.Matrix // [1×P]
	Layers  []Layer
}

// NewModel allocates a zero-initialised model on b.
func NewModel(b engine.Backend, a Arch) (*Model, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	wOff, bOff, nOff, total := a.layout()
	m := &Model{Arch: a, Backend: b}
	var err error
	if m.Params, err = b.Alloc(1, total); err != nil {
		return nil, fmt.Errorf("allocate %d parameters: %w", total, err)
	}
	if m.Grads, err = b.Alloc(1, total); err != nil {
		b.Free(m.Params)
		return nil, fmt.Errorf("allocate %d gradients: %w", total, err)
	}
	for i, s := range a.Specs() {
		wr, wc, opt := s.Out, s.In, engine.DenseOpt(0)
		if s.TiedTo >= 0 {
			wr, wc, opt = s.In, s.Out, engine.TransW
		}
		L := Layer{
			LayerSpec: s,
			W:         m.Params.View(wOff[i], wr, wc),
			B:         m.Params.View(bOff[i], 1, s.Out),
			GW:        m.Grads.View(wOff[i], wr, wc),
			GB:        m.Grads.View(bOff[i], 1, s.Out),
			Opt:       opt,
		}
		if s.Norm {
			nb := nOff[i] + alignUp(s.Out)
			L.NG, L.NB = m.Params.View(nOff[i], 1, s.Out), m.Params.View(nb, 1, s.Out)
			L.GNG, L.GNB = m.Grads.View(nOff[i], 1, s.Out), m.Grads.View(nb, 1, s.Out)
		}
		m.Layers = append(m.Layers, L)
	}
	return m, nil
}

// Free releases the model's device memory.
func (m *Model) Free() {
	m.Backend.Free(m.Params)
	m.Backend.Free(m.Grads)
}

// Tensors downloads the parameters as named tensors (PyTorch names/shapes;
// a tied layer has only its bias).
func (m *Model) Tensors() ([]safetensors.Tensor, error) {
	var out []safetensors.Tensor
	for _, L := range m.Layers {
		for _, p := range L.params() {
			d := make([]float32, p.dst.Len())
			if err := m.Backend.Download(d, p.dst); err != nil {
				return nil, err
			}
			out = append(out, safetensors.Tensor{Name: p.name, Shape: p.shape, Data: d})
		}
	}
	return out, nil
}

// params lists a layer's stored tensors: name, view and PyTorch shape.
func (L Layer) params() []struct {
	name  string
	dst   engine.Matrix
	shape []int
} {
	type p = struct {
		name  string
		dst   engine.Matrix
		shape []int
	}
	var out []p
	if L.TiedTo < 0 {
		out = append(out, p{L.Name + ".weight", L.W, []int{L.Out, L.In}})
	}
	out = append(out, p{L.Name + ".bias", L.B, []int{L.Out}})
	if L.Norm {
		out = append(out, p{L.NormName + ".weight", L.NG, []int{L.Out}}, p{L.NormName + ".bias", L.NB, []int{L.Out}})
	}
	return out
}

// SetTensors uploads named tensors; every parameter must be present with
// its exact shape, and no unknown tensor may appear.
func (m *Model) SetTensors(ts map[string]safetensors.Tensor) error {
	seen := 0
	for _, L := range m.Layers {
		for _, p := range L.params() {
			t, ok := ts[p.name]
			if !ok {
				return fmt.Errorf("tensor %s %v is missing", p.name, p.shape)
			}
			if !sameShape(t.Shape, p.shape) {
				return fmt.Errorf("tensor %s has shape %v, the architecture %s needs %v", p.name, t.Shape, m.Arch, p.shape)
			}
			for i, v := range t.Data {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					return fmt.Errorf("tensor %s element %d is %v", p.name, i, v)
				}
			}
			if err := m.Backend.Upload(p.dst, t.Data); err != nil {
				return err
			}
			seen++
		}
	}
	if seen != len(ts) {
		for name := range ts {
			if !m.hasTensor(name) {
				return fmt.Errorf("unexpected tensor %s: not part of architecture %s", name, m.Arch)
			}
		}
	}
	return nil
}

func (m *Model) hasTensor(name string) bool {
	for _, L := range m.Layers {
		for _, p := range L.params() {
			if name == p.name {
				return true
			}
		}
	}
	return false
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// dense runs layer i forward on in, into the view's y[i] (and z[i]). A
// normalized layer writes its linear map into zl[i], the LayerNorm of it
// into z[i] (its activation's input) and act(z[i]) into y[i]; with no
// stand-alone activation op, act(u) is act′(u)·u (ActJVP), exact for the
// piecewise-linear activations Arch.Validate allows with a norm.
func (m *Model) dense(v *batchView, i int, in engine.Matrix) error {
	L := m.Layers[i]
	b := m.Backend
	if !L.Norm {
		if err := b.Dense(v.y[i], v.z[i], in, L.W, L.B, L.Act, L.Opt); err != nil {
			return fmt.Errorf("layer %s: %w", L.Name, err)
		}
		return nil
	}
	if err := b.Dense(v.zl[i], engine.Matrix{}, in, L.W, L.B, engine.Linear, L.Opt); err != nil {
		return fmt.Errorf("layer %s: %w", L.Name, err)
	}
	if err := b.LayerNorm(v.z[i], v.mean[i], v.rstd[i], v.zl[i], L.NG, L.NB, LayerNormEps); err != nil {
		return fmt.Errorf("layer %s: %w", L.NormName, err)
	}
	if err := b.ActJVP(v.y[i], v.z[i], v.z[i], v.z[i], L.Act); err != nil {
		return fmt.Errorf("layer %s: %w", L.Name, err)
	}
	return nil
}

// gradBook tracks, while a step's backward pass is being issued, which
// layers' weight and bias gradients have been written (tied layers share a
// weight gradient; penalties add to gradients).
type gradBook struct{ gw, gb []bool }

func newGradBook(layers int) gradBook {
	return gradBook{gw: make([]bool, layers), gb: make([]bool, layers)}
}

// reset starts a step: no gradient written yet.
func (g *gradBook) reset() {
	clear(g.gw)
	clear(g.gb)
}

// owner is the layer whose weight gradient layer i writes.
func (m *Model) owner(i int) int {
	if o := m.Layers[i].TiedTo; o >= 0 {
		return o
	}
	return i
}

// backward is dense's pair: DenseBackward for layer i (dz from dy by act,
// which may be Linear when dy already holds ∂L/∂z), adding to gradients
// already written this step (per book) and overwriting the others. With
// noBias the bias gradient is left alone (a tangent pass).
//
// For a normalized layer, v is the forward pass's view and dy must be the
// view's g[i] with act the layer's own activation: it runs the activation
// and the LayerNorm backward first (the LayerNorm's gradients are
// overwritten: each is used once a step).
func (m *Model) backward(book *gradBook, i int, dx, dy, y, z, in engine.Matrix, act engine.Act, dxOpt engine.DenseOpt, noBias bool) error {
	return m.backwardNorm(nil, book, i, dx, dy, y, z, in, act, dxOpt, noBias)
}

// backwardNorm is backward with the forward pass's view v, which a
// normalized layer needs (nil for a layer without a norm).
func (m *Model) backwardNorm(v *batchView, book *gradBook, i int, dx, dy, y, z, in engine.Matrix, act engine.Act, dxOpt engine.DenseOpt, noBias bool) error {
	b := m.Backend
	L := m.Layers[i]
	if L.Norm {
		if v == nil || noBias || act != L.Act {
			return fmt.Errorf("internal: layer %s has a LayerNorm and its backward pass lacks the forward pass's buffers", L.Name)
		}
		if err := b.ActBackward(dy, engine.Matrix{}, y, z, act); err != nil {
			return fmt.Errorf("layer %s backward: %w", L.Name, err)
		}
		if err := b.LayerNormBackward(v.gl[i], L.GNG, L.GNB, dy, v.zl[i], v.mean[i], v.rstd[i], L.NG); err != nil {
			return fmt.Errorf("layer %s backward: %w", L.NormName, err)
		}
		dy, y, z, act = v.gl[i], engine.Matrix{}, engine.Matrix{}, engine.Linear
	}
	o := m.owner(i)
	opt := L.Opt | dxOpt
	db := L.GB
	switch {
	case noBias:
		db = engine.Matrix{}
		if book.gw[o] {
			opt |= engine.Accumulate
		}
	case book.gw[o] && book.gb[i]:
		opt |= engine.Accumulate
	case book.gw[o]:
		// The weight gradient has a contribution already, the bias not.
		if err := b.Fill(L.GB, 0); err != nil {
			return err
		}
		opt |= engine.Accumulate
	case book.gb[i]:
		return fmt.Errorf("internal: layer %s has a bias gradient but no weight gradient", L.Name)
	}
	if err := b.DenseBackward(dx, m.Layers[o].GW, db, dy, y, z, in, L.W, act, opt); err != nil {
		return fmt.Errorf("layer %s backward: %w", L.Name, err)
	}
	book.gw[o] = true
	if !noBias {
		book.gb[i] = true
	}
	return nil
}

// encode runs the encoder on x (the view's first n rows of some input) and
// returns the latent code (a VAE's μ).
func (m *Model) encode(v *batchView, x engine.Matrix) (engine.Matrix, error) {
	in := x
	body := m.Arch.BodyLayers()
	for i := 0; i < body; i++ {
		if err := m.dense(v, i, in); err != nil {
			return engine.Matrix{}, err
		}
		in = v.y[i]
	}
	if m.Arch.VAE {
		for _, i := range []int{body, body + 1} {
			if err := m.dense(v, i, in); err != nil {
				return engine.Matrix{}, err
			}
		}
	}
	return v.y[m.Arch.CodeLayer()], nil
}

// decode runs the decoder on code (n rows) and returns the output
// activations.
func (m *Model) decode(v *batchView, code engine.Matrix) (engine.Matrix, error) {
	in := code
	for i := m.Arch.DecoderStart(); i < len(m.Layers); i++ {
		if err := m.dense(v, i, in); err != nil {
			return engine.Matrix{}, err
		}
		in = v.y[i]
	}
	return in, nil
}

// forward runs the whole model on the view's input. A VAE decodes a
// sample μ + σ·ε when sample is set (ε must already be in the view's eps),
// else μ.
func (m *Model) forward(v *batchView, sample bool) (engine.Matrix, error) {
	code, err := m.encode(v, v.x)
	if err != nil {
		return engine.Matrix{}, err
	}
	if m.Arch.VAE && sample {
		lv := v.y[m.Arch.CodeLayer()+1]
		if err := m.Backend.Reparameterize(v.code, code, lv, v.eps); err != nil {
			return engine.Matrix{}, err
		}
		code = v.code
	}
	return m.decode(v, code)
}
