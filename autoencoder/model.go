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
	wOff, bOff, total := a.layout()
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
		m.Layers = append(m.Layers, Layer{
			LayerSpec: s,
			W:         m.Params.View(wOff[i], wr, wc),
			B:         m.Params.View(bOff[i], 1, s.Out),
			GW:        m.Grads.View(wOff[i], wr, wc),
			GB:        m.Grads.View(bOff[i], 1, s.Out),
			Opt:       opt,
		})
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
		if L.TiedTo < 0 {
			w := make([]float32, L.W.Len())
			if err := m.Backend.Download(w, L.W); err != nil {
				return nil, err
			}
			out = append(out, safetensors.Tensor{Name: L.Name + ".weight", Shape: []int{L.Out, L.In}, Data: w})
		}
		b := make([]float32, L.B.Len())
		if err := m.Backend.Download(b, L.B); err != nil {
			return nil, err
		}
		out = append(out, safetensors.Tensor{Name: L.Name + ".bias", Shape: []int{L.Out}, Data: b})
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
	return append(out, p{L.Name + ".bias", L.B, []int{L.Out}})
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

// dense runs layer i forward on in, into the view's y[i] (and z[i]).
func (m *Model) dense(v *batchView, i int, in engine.Matrix) error {
	L := m.Layers[i]
	if err := m.Backend.Dense(v.y[i], v.z[i], in, L.W, L.B, L.Act, L.Opt); err != nil {
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
func (m *Model) backward(book *gradBook, i int, dx, dy, y, z, in engine.Matrix, act engine.Act, dxOpt engine.DenseOpt, noBias bool) error {
	b := m.Backend
	L := m.Layers[i]
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
