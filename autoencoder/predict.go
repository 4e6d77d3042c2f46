package autoencoder

import (
	"fmt"

	"github.com/aegpu/aegpu/engine"
)

// Predictor runs a trained model on new, unscaled data in batches: the
// model directory's scaler is applied on the way in (and inverted on
// reconstructions on the way out).
type Predictor struct {
	Model   *Model
	Config  Config
	ws      *workspace
	rowErr  engine.Matrix
	scratch engine.Matrix // [batch×d0], allocated on first use
	host    []float32
	out     []float32
}

// NewPredictor prepares batches of up to batch rows.
func NewPredictor(m *Model, cfg Config, batch int) (*Predictor, error) {
	if batch < 1 {
		return nil, fmt.Errorf("batch must be ≥ 1, got %d", batch)
	}
	ws, err := m.newWorkspace(batch, false, false, false)
	if err != nil {
		return nil, err
	}
	re, err := m.Backend.Alloc(batch, 1)
	if err != nil {
		ws.free()
		return nil, err
	}
	return &Predictor{Model: m, Config: cfg, ws: ws, rowErr: re, host: make([]float32, batch*m.Arch.Input())}, nil
}

// Free releases the predictor's device buffers.
func (p *Predictor) Free() {
	p.ws.free()
	p.Model.Backend.Free(p.rowErr)
	p.Model.Backend.Free(p.scratch)
}

func (p *Predictor) checkCols(cols int) error {
	if cols != p.Model.Arch.Input() {
		return fmt.Errorf("the data has %d columns but the model expects %d (layers %v)", cols, p.Model.Arch.Input(), p.Model.Arch.Layers)
	}
	return nil
}

// load scales rows [lo, lo+n) of data into the input buffer.
func (p *Predictor) load(data []float32, cols, lo, n int) error {
	h := p.host[:n*cols]
	copy(h, data[lo*cols:(lo+n)*cols])
	if err := p.Config.Scaler.Apply(h, cols); err != nil {
		return err
	}
	return p.Model.Backend.Upload(rowsOf(p.ws.x, n), h)
}

// Encode returns the latent codes [rows×latent] of data [rows×cols].
func (p *Predictor) Encode(data []float32, cols int) ([]float32, error) {
	if err := p.checkCols(cols); err != nil {
		return nil, err
	}
	rows := len(data) / cols
	k := p.Model.EncoderLayers()
	lat := p.Model.Arch.LatentDim()
	out := make([]float32, rows*lat)
	for lo := 0; lo < rows; lo += p.ws.batch {
		n := min(p.ws.batch, rows-lo)
		if err := p.load(data, cols, lo, n); err != nil {
			return nil, err
		}
		if err := p.Model.forward(p.ws, rowsOf(p.ws.x, n), 0, k, n); err != nil {
			return nil, err
		}
		if err := p.Model.Backend.Download(out[lo*lat:(lo+n)*lat], rowsOf(p.ws.y[k-1], n)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Reconstruct returns the reconstructions of data [rows×cols] in the data's
// own units, and each row's mean squared error measured in the model's
// (scaled) space.
func (p *Predictor) Reconstruct(data []float32, cols int) (recon, rowErr []float32, err error) {
	if err := p.checkCols(cols); err != nil {
		return nil, nil, err
	}
	rows := len(data) / cols
	L := len(p.Model.Layers)
	recon = make([]float32, rows*cols)
	rowErr = make([]float32, rows)
	for lo := 0; lo < rows; lo += p.ws.batch {
		n := min(p.ws.batch, rows-lo)
		if err := p.load(data, cols, lo, n); err != nil {
			return nil, nil, err
		}
		x := rowsOf(p.ws.x, n)
		if err := p.Model.forward(p.ws, x, 0, L, n); err != nil {
			return nil, nil, err
		}
		y := rowsOf(p.ws.y[L-1], n)
		if err := p.Model.Backend.RowLoss(engine.MSE, rowsOf(p.rowErr, n), y, x); err != nil {
			return nil, nil, err
		}
		if err := p.Model.Backend.Download(recon[lo*cols:(lo+n)*cols], y); err != nil {
			return nil, nil, err
		}
		if err := p.Model.Backend.Download(rowErr[lo:lo+n], rowsOf(p.rowErr, n)); err != nil {
			return nil, nil, err
		}
	}
	if err := p.Config.Scaler.Invert(recon, cols); err != nil {
		return nil, nil, err
	}
	return recon, rowErr, nil
}

// ReconstructScaled reconstructs rows already in the model's scaled space
// and returns the reconstructions in that space (for display and metrics).
func (p *Predictor) ReconstructScaled(scaled []float32, cols int) ([]float32, error) {
	return p.eachBatch(scaled, cols, func(x, out engine.Matrix, n int) error {
		L := len(p.Model.Layers)
		if err := p.Model.forward(p.ws, x, 0, L, n); err != nil {
			return err
		}
		return p.Model.Backend.Copy(out, rowsOf(p.ws.y[L-1], n))
	})
}

// CorruptScaled applies the model's training noise (config train.noise) to
// rows in the scaled space, drawing from Philox stream of seed; a model
// trained without noise returns a copy.
func (p *Predictor) CorruptScaled(scaled []float32, cols int, seed, stream uint64) ([]float32, error) {
	kind, level := engine.NoiseNone, float32(0)
	if s := p.Config.Train.Noise; s != "" {
		var err error
		if kind, level, err = engine.ParseNoise(s); err != nil {
			return nil, err
		}
	}
	batch := 0
	return p.eachBatch(scaled, cols, func(x, out engine.Matrix, n int) error {
		batch++
		return p.Model.Backend.Corrupt(out, x, kind, level, seed, stream+uint64(batch-1))
	})
}

// eachBatch uploads scaled rows batch by batch into the input buffer, lets
// fn write n output rows of the same width into out (a scratch buffer),
// and collects them.
func (p *Predictor) eachBatch(scaled []float32, cols int, fn func(x, out engine.Matrix, n int) error) ([]float32, error) {
	if err := p.checkCols(cols); err != nil {
		return nil, err
	}
	rows := len(scaled) / cols
	res := make([]float32, rows*cols)
	if p.scratch.Empty() {
		m, err := p.Model.Backend.Alloc(p.ws.batch, cols)
		if err != nil {
			return nil, err
		}
		p.scratch = m
	}
	for lo := 0; lo < rows; lo += p.ws.batch {
		n := min(p.ws.batch, rows-lo)
		x := rowsOf(p.ws.x, n)
		if err := p.Model.Backend.Upload(x, scaled[lo*cols:(lo+n)*cols]); err != nil {
			return nil, err
		}
		out := rowsOf(p.scratch, n)
		if err := fn(x, out, n); err != nil {
			return nil, err
		}
		if err := p.Model.Backend.Download(res[lo*cols:(lo+n)*cols], out); err != nil {
			return nil, err
		}
	}
	return res, nil
}
