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

// Init sets the parameters as PyTorch's nn.Linear does by default (weights
// Kaiming-uniform with a = √5, i.e. U(±1/√in); biases U(±1/√in)), drawing
// layer l's weight from Philox stream StreamInit+2l and its bias from
// StreamInit+2l+1 of seed. The draws happen on the host, so every backend
// starts from bit-identical weights.
func (m *Model) Init(seed uint64) error {
	for l, L := range m.Layers {
		bound := float32(1 / math.Sqrt(float64(L.In)))
		if L.TiedTo < 0 {
			w := make([]float32, L.W.Len())
			engine.FillUniform(w, seed, engine.StreamInit+2*uint64(l), 0, -bound, bound)
			if err := m.Backend.Upload(L.W, w); err != nil {
				return err
			}
		}
		bias := make([]float32, L.B.Len())
		engine.FillUniform(bias, seed, engine.StreamInit+2*uint64(l)+1, 0, -bound, bound)
		if err := m.Backend.Upload(L.B, bias); err != nil {
			return err
		}
	}
	return nil
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

// decStart is the index of the decoder's first layer.
func (m *Model) decStart() int { return m.Arch.DecoderStart() }

// codeLayer is the index of the layer whose output is the latent code (a
// VAE's fc_mu).
func (m *Model) codeLayer() int {
	if m.Arch.VAE {
		return m.decStart() - 2
	}
	return m.decStart() - 1
}

// workspace holds the activations of one batch: per layer its output y,
// its pre-activation z (only where needed) and its gradient buffer g.
type workspace struct {
	b      engine.Backend
	batch  int
	x      engine.Matrix // input [batch×d0]
	target engine.Matrix // reconstruction target (absent: x)
	y, z   []engine.Matrix
	g      []engine.Matrix // absent in inference workspaces
	// A VAE's sampled code z = μ + σ·ε, its noise ε and its gradient.
	code, eps, gcode engine.Matrix
	allocs           []engine.Matrix
}

func (w *workspace) alloc(rows, cols int) (engine.Matrix, error) {
	m, err := w.b.Alloc(rows, cols)
	if err != nil {
		return engine.Matrix{}, &BatchMemoryError{Rows: rows, Cols: cols, Batch: w.batch, Err: err}
	}
	w.allocs = append(w.allocs, m)
	return m, nil
}

func (w *workspace) free() {
	for _, m := range w.allocs {
		w.b.Free(m)
	}
	w.allocs = nil
}

// newWorkspace allocates buffers for batches of up to batch rows. logits
// keeps the last layer's pre-activation (the fused sigmoid + BCE loss);
// train adds gradient buffers.
func (m *Model) newWorkspace(batch int, train, logits, separateTarget bool) (*workspace, error) {
	w := &workspace{b: m.Backend, batch: batch}
	var err error
	if w.x, err = w.alloc(batch, m.Arch.Input()); err != nil {
		w.free()
		return nil, err
	}
	if separateTarget {
		if w.target, err = w.alloc(batch, m.Arch.Input()); err != nil {
			w.free()
			return nil, err
		}
	}
	last := len(m.Layers) - 1
	for i, L := range m.Layers {
		y, err := w.alloc(batch, L.Out)
		if err != nil {
			w.free()
			return nil, err
		}
		var z, g engine.Matrix
		if L.Act.NeedsPre() || (logits && i == last) {
			if z, err = w.alloc(batch, L.Out); err != nil {
				w.free()
				return nil, err
			}
		}
		if train {
			if g, err = w.alloc(batch, L.Out); err != nil {
				w.free()
				return nil, err
			}
		}
		w.y, w.z, w.g = append(w.y, y), append(w.z, z), append(w.g, g)
	}
	if m.Arch.VAE {
		lat := m.Arch.LatentDim()
		for _, p := range []*engine.Matrix{&w.code, &w.eps, &w.gcode} {
			if p == &w.gcode && !train {
				continue
			}
			if *p, err = w.alloc(batch, lat); err != nil {
				w.free()
				return nil, err
			}
		}
	}
	return w, nil
}

// rowsOf returns the first n rows of a workspace matrix (absent stays absent).
func rowsOf(a engine.Matrix, n int) engine.Matrix {
	if a.Empty() {
		return a
	}
	return a.RowSlice(0, n)
}

// dense runs layer i on the first n rows of in.
func (m *Model) dense(w *workspace, i int, in engine.Matrix, n int) error {
	L := m.Layers[i]
	if err := m.Backend.Dense(rowsOf(w.y[i], n), rowsOf(w.z[i], n), in, L.W, L.B, L.Act, L.Opt); err != nil {
		return fmt.Errorf("layer %s: %w", L.Name, err)
	}
	return nil
}

// encode runs the encoder on the first n rows of x and returns the latent
// code (a VAE's μ).
func (m *Model) encode(w *workspace, x engine.Matrix, n int) (engine.Matrix, error) {
	in := x
	body := m.decStart()
	if m.Arch.VAE {
		body -= 2
	}
	for i := 0; i < body; i++ {
		if err := m.dense(w, i, in, n); err != nil {
			return engine.Matrix{}, err
		}
		in = rowsOf(w.y[i], n)
	}
	if m.Arch.VAE {
		for _, i := range []int{body, body + 1} {
			if err := m.dense(w, i, in, n); err != nil {
				return engine.Matrix{}, err
			}
		}
	}
	return rowsOf(w.y[m.codeLayer()], n), nil
}

// decode runs the decoder on the first n rows of code and returns the
// output activations.
func (m *Model) decode(w *workspace, code engine.Matrix, n int) (engine.Matrix, error) {
	in := code
	for i := m.decStart(); i < len(m.Layers); i++ {
		if err := m.dense(w, i, in, n); err != nil {
			return engine.Matrix{}, err
		}
		in = rowsOf(w.y[i], n)
	}
	return in, nil
}

// forward runs the whole model on the first n rows of x. A VAE decodes a
// sample μ + σ·ε when sample is set (ε must already be in w.eps), else μ.
func (m *Model) forward(w *workspace, x engine.Matrix, n int, sample bool) (engine.Matrix, error) {
	code, err := m.encode(w, x, n)
	if err != nil {
		return engine.Matrix{}, err
	}
	if m.Arch.VAE && sample {
		lv := rowsOf(w.y[m.codeLayer()+1], n)
		if err := m.Backend.Reparameterize(rowsOf(w.code, n), code, lv, rowsOf(w.eps, n)); err != nil {
			return engine.Matrix{}, err
		}
		code = rowsOf(w.code, n)
	}
	return m.decode(w, code, n)
}
