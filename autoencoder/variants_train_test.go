package autoencoder

import (
	"context"
	"testing"

	"github.com/aegpu/aegpu/engine"
)

// TestVariantsTrainSaveReload trains each variant on the toy data, checks
// that the loss falls and the variant's figures are reported, reloads the
// model directory and requires the same predictions.
func TestVariantsTrainSaveReload(t *testing.T) {
	for _, c := range []variantTrainCase{
		{"sparse", func(a *Arch, c *TrainConfig) {
			a.Latent = engine.Sigmoid
			c.Kind, c.SparsityBeta, c.SparsityTarget = "sparse", 0.1, 0.1
		}, func(t *testing.T, m EpochMetrics) {
			if m.TrainPenalty == nil || m.MeanActivationAvg == nil || len(m.MeanActivation["encoder.2"]) != 3 {
				t.Errorf("sparse metrics missing: %+v", m)
			}
		}},
		{"contractive", func(a *Arch, c *TrainConfig) {
			c.Kind, c.Contractive = "contractive", 0.01
		}, func(t *testing.T, m EpochMetrics) {
			if m.TrainPenalty == nil || !(*m.TrainPenalty > 0) {
				t.Errorf("contractive penalty missing: %+v", m)
			}
		}},
		{"vae", func(a *Arch, c *TrainConfig) {
			a.VAE = true
			c.Kind, c.KLBeta, c.KLWarmup = "vae", 1, 2
		}, func(t *testing.T, m EpochMetrics) {
			if m.TrainKL == nil || m.KLBeta == nil || *m.KLBeta != 1 {
				t.Errorf("vae metrics missing or β not warmed up: %+v", m)
			}
		}},
		{"tied-denoising", func(a *Arch, c *TrainConfig) {
			a.Tied = true
			c.Noise = "gaussian:0.1"
		}, func(t *testing.T, m EpochMetrics) {
			if m.ValDenoisedMSE == nil {
				t.Errorf("denoising metrics missing: %+v", m)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) { checkVariantTrainSaveReload(t, c) })
	}
}

// variantTrainCase is one variant of TestVariantsTrainSaveReload: how it
// changes the toy run's architecture and training, and the check of its
// figures in the last epoch's metrics.
type variantTrainCase struct {
	name  string
	mod   func(a *Arch, c *TrainConfig)
	check func(t *testing.T, m EpochMetrics)
}

// checkVariantTrainSaveReload trains case c on the toy data for 12
// epochs, then reloads the model directory and compares predictions.
func checkVariantTrainSaveReload(t *testing.T, c variantTrainCase) {
	b := cpu(t)
	dir := t.TempDir()
	opts := fitOpts(t, b, dir)
	opts.Train.Epochs, opts.Train.LR = 12, 1e-2
	c.mod(&opts.Arch, &opts.Train)
	r, err := NewRun(opts)
	must(t, err)
	defer r.Close()
	must(t, r.Train(context.Background()))
	ms := r.Trainer.State.Metrics
	if !(ms[len(ms)-1].TrainLoss < 0.9*ms[0].TrainLoss) { // a VAE's KL term holds it back most
		t.Errorf("loss %v → %v: did not fall", ms[0].TrainLoss, ms[len(ms)-1].TrainLoss)
	}
	c.check(t, ms[len(ms)-1])
	m2, cfg, err := LoadModel(dir, b)
	must(t, err)
	defer m2.Free()
	if cfg.Variant != opts.Train.Variant() || m2.Arch.Tied != opts.Arch.Tied || m2.Arch.VAE != opts.Arch.VAE {
		t.Fatalf("reloaded config: variant %s tied %v vae %v", cfg.Variant, m2.Arch.Tied, m2.Arch.VAE)
	}
	p1, err := NewPredictor(r.Trainer.Model, r.Config, 64)
	must(t, err)
	defer p1.Free()
	p2, err := NewPredictor(m2, cfg, 17)
	must(t, err)
	defer p2.Free()
	x := opts.Data.Data
	r1, _, err := p1.Reconstruct(x, 8)
	must(t, err)
	r2, _, err := p2.Reconstruct(x, 8)
	must(t, err)
	for i := range r1 {
		if r1[i] != r2[i] {
			t.Fatalf("reloaded model differs at %d: %v vs %v", i, r1[i], r2[i])
		}
	}
	if opts.Arch.VAE {
		checkVAEGeneration(t, p1, p2, x)
	}
}

// checkVAEGeneration checks a VAE's prior samples and interpolation:
// p1 predicts with the trained model, p2 with the reloaded one, x is the
// toy data (8 columns, latent width 3).
func checkVAEGeneration(t *testing.T, p1, p2 *Predictor, x []float32) {
	t.Helper()
	codes, out, err := p2.Sample(5, 3)
	must(t, err)
	if len(codes) != 5*3 || len(out) != 5*8 {
		t.Fatalf("Sample: %d codes, %d values", len(codes), len(out))
	}
	codes2, _, _ := p1.Sample(5, 3)
	for i := range codes {
		if codes[i] != codes2[i] {
			t.Fatal("same seed, different prior draws")
		}
	}
	path, mid, err := p2.Interpolate(x, 8, 0, 5, 4)
	must(t, err)
	e, _ := p2.Encode(x[:8], 8)
	for j := range 3 {
		if path[j] != e[j] {
			t.Fatalf("interpolation does not start at row 0's code: %v vs %v", path[:3], e)
		}
	}
	if len(mid) != 4*8 {
		t.Fatalf("Interpolate: %d values", len(mid))
	}
}
