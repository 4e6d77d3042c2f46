package autoencoder

import "github.com/aegpu/aegpu/engine"

// workspace holds the activations of one batch: per layer its output y,
// its pre-activation z (only where needed) and its gradient buffer g.
type workspace struct {
	b      engine.Backend
	batch  int
	x      engine.Matrix // input [batch×d0]
	target engine.Matrix // reconstruction target (absent: x)
	y, z   []engine.Matrix
	g      []engine.Matrix // absent in inference workspaces
	// A normalized layer's linear map zl (z holds its LayerNorm), the
	// LayerNorm's row means and reciprocal deviations [batch×1], and zl's
	// gradient gl (training only); absent for other layers.
	zl, mean, rstd, gl []engine.Matrix
	// A VAE's sampled code z = μ + σ·ε, its noise ε and its gradient.
	code, eps, gcode engine.Matrix
	allocs           []engine.Matrix
	view             batchView // reused by rows
}

// batchView is a workspace cut to the n rows of one batch: every buffer
// is sliced once per batch, and the passes index it.
type batchView struct {
	n                int
	x, target        engine.Matrix // target is x when the workspace has none
	y, z, g          []engine.Matrix
	zl, mean, rstd   []engine.Matrix
	gl               []engine.Matrix
	code, eps, gcode engine.Matrix
}

// rows returns the workspace's first n rows. The view is reused: it is
// valid until the next call, and reflects the buffers (ws.x may be swapped
// for prefetching) as they are at the call.
func (w *workspace) rows(n int) *batchView {
	v := &w.view
	v.n = n
	v.x, v.target = rowsOf(w.x, n), rowsOf(w.target, n)
	if w.target.Empty() {
		v.target = v.x
	}
	v.y, v.z, v.g = cut(v.y, w.y, n), cut(v.z, w.z, n), cut(v.g, w.g, n)
	v.zl, v.mean, v.rstd, v.gl = cut(v.zl, w.zl, n), cut(v.mean, w.mean, n), cut(v.rstd, w.rstd, n), cut(v.gl, w.gl, n)
	v.code, v.eps, v.gcode = rowsOf(w.code, n), rowsOf(w.eps, n), rowsOf(w.gcode, n)
	return v
}

// cut sets dst to the first n rows of each of src, reusing dst's array.
func cut(dst, src []engine.Matrix, n int) []engine.Matrix {
	dst = dst[:0]
	for _, m := range src {
		dst = append(dst, rowsOf(m, n))
	}
	return dst
}

func (w *workspace) alloc(rows, cols int) (engine.Matrix, error) {
	m, err := w.b.Alloc(rows, cols)
	if err != nil {
		return engine.Matrix{}, &BatchMemoryError{Rows: rows, Cols: cols, Batch: w.batch, Err: err}
	}
	w.allocs = append(w.allocs, m)
	return m, nil
}

// allocRaw allocates like alloc, with the backend's own error (for
// buffers whose size is not the batch's).
func (w *workspace) allocRaw(rows, cols int) (engine.Matrix, error) {
	m, err := w.b.Alloc(rows, cols)
	if err == nil {
		w.allocs = append(w.allocs, m)
	}
	return m, err
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
	if err := w.allocLayers(m, train, logits, separateTarget); err != nil {
		w.free()
		return nil, err
	}
	return w, nil
}

func (w *workspace) allocLayers(m *Model, train, logits, separateTarget bool) error {
	var err error
	if w.x, err = w.alloc(w.batch, m.Arch.Input()); err != nil {
		return err
	}
	if separateTarget {
		if w.target, err = w.alloc(w.batch, m.Arch.Input()); err != nil {
			return err
		}
	}
	last := len(m.Layers) - 1
	for i, L := range m.Layers {
		var y, z, g engine.Matrix
		if y, err = w.alloc(w.batch, L.Out); err != nil {
			return err
		}
		if L.Act.NeedsPre() || L.Norm || (logits && i == last) {
			if z, err = w.alloc(w.batch, L.Out); err != nil {
				return err
			}
		}
		if train {
			if g, err = w.alloc(w.batch, L.Out); err != nil {
				return err
			}
		}
		w.y, w.z, w.g = append(w.y, y), append(w.z, z), append(w.g, g)
		var zl, mean, rstd, gl engine.Matrix
		if L.Norm {
			if zl, err = w.alloc(w.batch, L.Out); err != nil {
				return err
			}
			if mean, err = w.alloc(w.batch, 1); err != nil {
				return err
			}
			if rstd, err = w.alloc(w.batch, 1); err != nil {
				return err
			}
			if train {
				if gl, err = w.alloc(w.batch, L.Out); err != nil {
					return err
				}
			}
		}
		w.zl, w.mean, w.rstd, w.gl = append(w.zl, zl), append(w.mean, mean), append(w.rstd, rstd), append(w.gl, gl)
	}
	if !m.Arch.VAE {
		return nil
	}
	lat := m.Arch.LatentDim()
	for _, p := range []*engine.Matrix{&w.code, &w.eps, &w.gcode} {
		if p == &w.gcode && !train {
			continue
		}
		if *p, err = w.alloc(w.batch, lat); err != nil {
			return err
		}
	}
	return nil
}

// rowsOf returns the first n rows of a workspace matrix (absent stays absent).
func rowsOf(a engine.Matrix, n int) engine.Matrix {
	if a.Empty() {
		return a
	}
	return a.RowSlice(0, n)
}
