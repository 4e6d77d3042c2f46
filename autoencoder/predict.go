package autoencoder

import (
	"fmt"
	"math"

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
	code    engine.Matrix // [batch×latent], allocated on first use
	xAlt    engine.Matrix // a second input buffer for copy-stream prefetch (GPU)
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
	p.Model.Backend.Free(p.code)
	p.Model.Backend.Free(p.xAlt)
}

// needDecoder refuses op on an encoder-only model.
func (p *Predictor) needDecoder(op string) error {
	if p.Model.Arch.EncoderOnly {
		return &EncoderOnlyError{Source: p.Config.Data.Source, Op: op}
	}
	return nil
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
	lat := p.Model.Arch.LatentDim()
	out := make([]float32, rows*lat)
	for lo := 0; lo < rows; lo += p.ws.batch {
		n := min(p.ws.batch, rows-lo)
		if err := p.load(data, cols, lo, n); err != nil {
			return nil, err
		}
		v := p.ws.rows(n)
		code, err := p.Model.encode(v, v.x)
		if err != nil {
			return nil, err
		}
		if err := p.Model.Backend.Download(out[lo*lat:(lo+n)*lat], code); err != nil {
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
	recon = make([]float32, len(data)/cols*cols)
	rowErr, err = p.rowErrors(data, cols, engine.MSE, func(lo, n int, y engine.Matrix) error {
		return p.Model.Backend.Download(recon[lo*cols:(lo+n)*cols], y)
	})
	if err != nil {
		return nil, nil, err
	}
	if err := p.Config.Scaler.Invert(recon, cols); err != nil {
		return nil, nil, err
	}
	return recon, rowErr, nil
}

// rowErrors runs data (unscaled rows) through the model batch by batch and
// returns each row's reconstruction error of kind in the scaled space;
// each, when set, is called with every batch's first row, its row count
// and the output activations (the scaled inputs are in p.host meanwhile).
func (p *Predictor) rowErrors(data []float32, cols int, kind engine.Loss, each func(lo, n int, y engine.Matrix) error) ([]float32, error) {
	if err := p.needDecoder("reconstruct rows"); err != nil {
		return nil, err
	}
	rows := len(data) / cols
	rowErr := make([]float32, rows)
	for lo := 0; lo < rows; lo += p.ws.batch {
		n := min(p.ws.batch, rows-lo)
		if err := p.load(data, cols, lo, n); err != nil {
			return nil, err
		}
		x := rowsOf(p.ws.x, n)
		y, err := p.Model.forward(p.ws.rows(n), false)
		if err != nil {
			return nil, err
		}
		if err := p.Model.Backend.RowLoss(kind, rowsOf(p.rowErr, n), y, x); err != nil {
			return nil, err
		}
		if err := p.Model.Backend.Download(rowErr[lo:lo+n], rowsOf(p.rowErr, n)); err != nil {
			return nil, err
		}
		if each != nil {
			if err := each(lo, n, y); err != nil {
				return nil, err
			}
		}
	}
	return rowErr, nil
}

// ReconstructScaled reconstructs rows already in the model's scaled space
// and returns the reconstructions in that space (for display and metrics).
func (p *Predictor) ReconstructScaled(scaled []float32, cols int) ([]float32, error) {
	if err := p.needDecoder("reconstruct rows"); err != nil {
		return nil, err
	}
	return p.eachBatch(scaled, cols, func(x, out engine.Matrix, n int) error {
		y, err := p.Model.forward(p.ws.rows(n), false)
		if err != nil {
			return err
		}
		return p.Model.Backend.Copy(out, y)
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

// Decode maps latent codes [rows×latent] through the decoder and returns
// the outputs in the data's own units (the scaler inverted).
func (p *Predictor) Decode(codes []float32) ([]float32, error) {
	out, err := p.DecodeScaled(codes)
	if err != nil {
		return nil, err
	}
	return out, p.Config.Scaler.Invert(out, p.Model.Arch.Input())
}

// DecodeScaled is Decode without the inverse scaling (outputs in the
// model's space, e.g. [0,1] pixels).
func (p *Predictor) DecodeScaled(codes []float32) ([]float32, error) {
	if err := p.needDecoder("decode codes"); err != nil {
		return nil, err
	}
	lat, d := p.Model.Arch.LatentDim(), p.Model.Arch.Input()
	if len(codes)%lat != 0 {
		return nil, fmt.Errorf("%d code values are not a whole number of %d-wide codes", len(codes), lat)
	}
	if p.code.Empty() {
		m, err := p.Model.Backend.Alloc(p.ws.batch, lat)
		if err != nil {
			return nil, err
		}
		p.code = m
	}
	rows := len(codes) / lat
	out := make([]float32, rows*d)
	for lo := 0; lo < rows; lo += p.ws.batch {
		n := min(p.ws.batch, rows-lo)
		c := rowsOf(p.code, n)
		if err := p.Model.Backend.Upload(c, codes[lo*lat:(lo+n)*lat]); err != nil {
			return nil, err
		}
		y, err := p.Model.decode(p.ws.rows(n), c)
		if err != nil {
			return nil, err
		}
		if err := p.Model.Backend.Download(out[lo*d:(lo+n)*d], y); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Sample draws n codes from a VAE's prior N(0, I) (Philox stream
// StreamSample of seed, the same on every backend) and decodes them; it
// returns the codes and the outputs in the data's own units.
func (p *Predictor) Sample(n int, seed uint64) (codes, out []float32, err error) {
	if err := p.needDecoder("decode samples"); err != nil {
		return nil, nil, err
	}
	if !p.Model.Arch.VAE {
		return nil, nil, fmt.Errorf("sampling needs a variational autoencoder (TrainConfig.Kind \"vae\"); this model is %s", p.Config.Variant)
	}
	if n < 1 {
		return nil, nil, fmt.Errorf("number of samples must be ≥ 1, got %d", n)
	}
	codes = make([]float32, n*p.Model.Arch.LatentDim())
	engine.FillNormal(codes, seed, engine.StreamSample, 0, 0, 1)
	out, err = p.Decode(codes)
	return codes, out, err
}

// Interpolate encodes rows a and b of data [rows×cols] and decodes steps
// codes evenly spaced on the segment between their codes (both ends
// included). It returns the codes and the outputs in the data's units.
func (p *Predictor) Interpolate(data []float32, cols, a, b, steps int) (codes, out []float32, err error) {
	if err := p.needDecoder("decode an interpolation"); err != nil {
		return nil, nil, err
	}
	rows := len(data) / max(cols, 1)
	if a < 0 || a >= rows || b < 0 || b >= rows {
		return nil, nil, fmt.Errorf("interpolation rows %d,%d: the data has rows 0..%d", a, b, rows-1)
	}
	if steps < 2 {
		return nil, nil, fmt.Errorf("interpolation needs at least 2 steps, got %d", steps)
	}
	ends, err := p.Encode(append(append([]float32(nil), data[a*cols:(a+1)*cols]...), data[b*cols:(b+1)*cols]...), cols)
	if err != nil {
		return nil, nil, err
	}
	lat := p.Model.Arch.LatentDim()
	codes = make([]float32, steps*lat)
	for s := range steps {
		t := float32(s) / float32(steps-1)
		for j := range lat {
			codes[s*lat+j] = (1-t)*ends[j] + t*ends[lat+j]
		}
	}
	out, err = p.Decode(codes)
	return codes, out, err
}

// Errors returns each row's reconstruction error of kind (engine.MSE or
// engine.MAE, the mean over the row's features in the model's scaled space,
// as the training loss) and, with perFeature, every feature's error
// (rows × cols: squared or absolute difference). A VAE reconstructs from
// its mean code; a denoising model from the row as given.
func (p *Predictor) Errors(data []float32, cols int, kind engine.Loss, perFeature bool) (rowErr, featErr []float32, err error) {
	if err := p.checkCols(cols); err != nil {
		return nil, nil, err
	}
	if kind != engine.MSE && kind != engine.MAE {
		return nil, nil, fmt.Errorf("error metric %s: want mse or mae", kind)
	}
	if !perFeature {
		rowErr, err = p.rowErrors(data, cols, kind, nil)
		return rowErr, nil, err
	}
	featErr = make([]float32, len(data)/cols*cols)
	recon := make([]float32, p.ws.batch*cols)
	rowErr, err = p.rowErrors(data, cols, kind, func(lo, n int, y engine.Matrix) error {
		if err := p.Model.Backend.Download(recon[:n*cols], y); err != nil {
			return err
		}
		scaled := p.host[:n*cols] // the scaled inputs load left there
		out := featErr[lo*cols : (lo+n)*cols]
		for i, r := range recon[:n*cols] {
			d := float64(r) - float64(scaled[i])
			if kind == engine.MSE {
				out[i] = float32(d * d)
			} else {
				out[i] = float32(math.Abs(d))
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return rowErr, featErr, nil
}

// ForwardInto runs data (rows × cols, unscaled) through the encoder and
// decoder without allocating once its host buffer exists (a server's hot
// path). It writes each row's error of kind into rowErr (rows); when
// featErr is not nil, every feature's error (rows × cols, as Errors); when
// recon is not nil, the reconstructions in the data's units (as
// Reconstruct). The values are those of Errors and Reconstruct, bit for bit.
func (p *Predictor) ForwardInto(rowErr, featErr, recon, data []float32, cols int, kind engine.Loss) error {
	if err := p.checkCols(cols); err != nil {
		return err
	}
	if kind != engine.MSE && kind != engine.MAE {
		return fmt.Errorf("error metric %s: want mse or mae", kind)
	}
	if err := p.needDecoder("reconstruct rows"); err != nil {
		return err
	}
	rows := len(data) / cols
	if len(rowErr) != rows || (featErr != nil && len(featErr) != rows*cols) || (recon != nil && len(recon) != rows*cols) {
		return fmt.Errorf("forward: outputs for %d rows of %d columns have %d, %d and %d values", rows, cols, len(rowErr), len(featErr), len(recon))
	}
	if featErr != nil && recon == nil && len(p.out) < p.ws.batch*cols {
		p.out = make([]float32, p.ws.batch*cols)
	}
	for lo := 0; lo < rows; lo += p.ws.batch {
		n := min(p.ws.batch, rows-lo)
		if err := p.load(data, cols, lo, n); err != nil {
			return err
		}
		x := rowsOf(p.ws.x, n)
		y, err := p.Model.forward(p.ws.rows(n), false)
		if err != nil {
			return err
		}
		if err := p.Model.Backend.RowLoss(kind, rowsOf(p.rowErr, n), y, x); err != nil {
			return err
		}
		if err := p.Model.Backend.Download(rowErr[lo:lo+n], rowsOf(p.rowErr, n)); err != nil {
			return err
		}
		if featErr == nil && recon == nil {
			continue
		}
		y0 := p.out[:min(len(p.out), n*cols)]
		if recon != nil {
			y0 = recon[lo*cols : (lo+n)*cols]
		}
		if err := p.Model.Backend.Download(y0, y); err != nil {
			return err
		}
		if featErr != nil {
			scaled := p.host[:n*cols]
			out := featErr[lo*cols : (lo+n)*cols]
			for i, r := range y0 {
				d := float64(r) - float64(scaled[i])
				if kind == engine.MSE {
					out[i] = float32(d * d)
				} else {
					out[i] = float32(math.Abs(d))
				}
			}
		}
		if recon != nil {
			if err := p.Config.Scaler.Invert(y0, cols); err != nil {
				return err
			}
		}
	}
	return nil
}

// Batch is the most rows the predictor runs in one device batch.
func (p *Predictor) Batch() int { return p.ws.batch }
