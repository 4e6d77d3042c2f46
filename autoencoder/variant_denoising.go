package autoencoder

import (
	"fmt"

	"github.com/aegpu/aegpu/engine"
)

// A denoising autoencoder corrupts its input every step and reconstructs
// the clean row. The noise (TrainConfig.Noise) may be added to any
// variant; the denoising variant is a plain autoencoder with noise.
var denoisingKind = variantKind{
	name: VariantDenoising,
	check: func(c *TrainConfig) error {
		if !c.noisy() {
			return fmt.Errorf("a denoising autoencoder needs a noise, e.g. gaussian:0.3 or masking:0.25")
		}
		return nil
	},
}

// noisy reports whether the input is corrupted.
func (c TrainConfig) noisy() bool {
	n, _, err := engine.ParseNoise(c.Noise)
	return c.Noise != "" && err == nil && n != engine.NoiseNone
}

// denoiser is the noise's part of the step: it corrupts the clean batch
// (uploaded into the workspace's target) into the input, and measures the
// validation MSE of the corrupted and of the reconstructed rows.
type denoiser struct {
	noPart
	kind            engine.Noise
	level           float32
	noisy, denoised engine.Matrix // 1×1 validation accumulators: Σ n·MSE
	last            valStats
}

// valStats are the denoising metrics of the last Validate.
type valStats struct{ noisy, denoised float64 }

func newDenoiser(t *Trainer) (*denoiser, error) {
	d := &denoiser{}
	var err error
	if d.kind, d.level, err = engine.ParseNoise(t.Cfg.Noise); err != nil {
		return nil, err
	}
	for _, p := range []*engine.Matrix{&d.noisy, &d.denoised} {
		if *p, err = t.ws.allocRaw(1, 1); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// corrupt writes the corrupted target rows into the input, drawing from
// the given Philox stream; the rows are those from row on of the batch
// one process corrupts whole (a data-parallel rank's share; dist.go).
func (d *denoiser) corrupt(t *Trainer, v *batchView, stream uint64, row int) error {
	return t.corruptRows(v.x, v.target, d.kind, d.level, stream, row)
}

func (d *denoiser) preStep(t *Trainer, v *batchView) error {
	return d.corrupt(t, v, engine.StepStream(engine.StreamNoise, t.State.Step), t.rowOffset())
}

func (d *denoiser) validate(t *Trainer, v *batchView, at valPoint, row int) error {
	b := t.Model.Backend
	switch at {
	case valStart:
		if err := b.Fill(d.noisy, 0); err != nil {
			return err
		}
		return b.Fill(d.denoised, 0)
	case valInput: // the same corruption every epoch, so epochs compare
		B := t.ws.batch
		return d.corrupt(t, v, engine.StreamValNoise+uint64(row/B), row%B)
	case valBatch:
		if err := t.addRowMean(d.noisy, engine.MSE, v.x, v.target, v.n); err != nil {
			return err
		}
		return t.addRowMean(d.denoised, engine.MSE, v.y[len(v.y)-1], v.target, v.n)
	}
	noisy, err := t.globalScalar(d.noisy)
	if err != nil {
		return err
	}
	den, err := t.globalScalar(d.denoised)
	if err != nil {
		return err
	}
	d.last = valStats{noisy: float64(noisy) / float64(t.nVal), denoised: float64(den) / float64(t.nVal)}
	return nil
}

// metrics reports the validation MSEs, and their PSNR for data in [0,1].
func (d *denoiser) metrics(t *Trainer, em *EpochMetrics, _ int, val bool) error {
	if !val {
		return nil
	}
	noisy, den := d.last.noisy, d.last.denoised
	em.ValNoisyMSE, em.ValDenoisedMSE = &noisy, &den
	if t.Model.Arch.Output == engine.Sigmoid {
		pn, pd := psnr(noisy), psnr(den)
		em.ValPSNRNoisy, em.ValPSNRDenoised = &pn, &pd
	}
	return nil
}
