// Package paritytest trains one small autoencoder the same way on any
// backend and records every step, so tests can require the CPU and a GPU
// (real or emulated) to give the same run from the same seed.
package paritytest

import (
	"context"
	"math"
	"testing"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
)

// Run describes a parity run of the 33→17→7 autoencoder on uniform random
// rows of width 33 (awkward sizes: no tile divides them).
type Run struct {
	Rows     int     // data rows
	Epochs   int     // passes
	Batch    int     // rows per step
	ValSplit float64 // held-out fraction
	ClipNorm float64 // 0: no clipping
	Hidden   engine.Act
	Loss     string // mse or bce
	NoReplay bool   // run every step op by op
	// Variant, when set, turns the plain model into another variant.
	Variant *Variant
}

// Variant is a named change of the parity model and its training settings.
type Variant struct {
	Name string
	Mod  func(a *autoencoder.Arch, c *autoencoder.TrainConfig)
}

// Variants are the variants every parity test runs: each regularizer path
// of the trainer (with tied weights where they apply).
var Variants = []Variant{
	{"denoising-masking", func(a *autoencoder.Arch, c *autoencoder.TrainConfig) { c.Noise = "masking:0.3" }},
	{"sparse-kl-l1-l2", func(a *autoencoder.Arch, c *autoencoder.TrainConfig) {
		a.Latent = engine.Sigmoid
		c.Kind, c.SparsityBeta, c.SparsityTarget, c.SparsityL1, c.L2 = "sparse", 0.5, 0.1, 0.01, 1e-3
	}},
	{"contractive-exact-tied", func(a *autoencoder.Arch, c *autoencoder.TrainConfig) {
		a.Layers, a.Latent, a.Tied = []int{a.Layers[0], 7}, engine.Sigmoid, true
		c.Kind, c.Contractive = "contractive", 0.1
	}},
	{"contractive-projections", func(a *autoencoder.Arch, c *autoencoder.TrainConfig) {
		a.Latent = engine.Tanh
		c.Kind, c.Contractive, c.Projections = "contractive", 0.1, 2
	}},
	{"vae-warmup", func(a *autoencoder.Arch, c *autoencoder.TrainConfig) {
		a.VAE = true
		c.Kind, c.KLBeta, c.KLWarmup = "vae", 1, 2
	}},
	{"tied", func(a *autoencoder.Arch, c *autoencoder.TrainConfig) { a.Tied = true }},
	// The recipe settings: the weight average (its EMA op after every
	// optimizer step, the average validated and kept), Kaiming's init and a
	// warm-up into cosine.
	{"ema-kaiming-warmup", func(a *autoencoder.Arch, c *autoencoder.TrainConfig) {
		c.EMA, c.Init, c.Warmup, c.Schedule = 0.9, autoencoder.InitKaiming, 1, "cosine"
	}},
	// --norm layer (LayerNorm and its backward in the recorded step, on 17
	// and 7 units) with tied weights, input noise, AdamW's decay of the
	// gains and biases, and the mixed init.
	{"norm-tied-denoising-adamw-mixed", func(a *autoencoder.Arch, c *autoencoder.TrainConfig) {
		a.Norm, a.Hidden, a.Tied = autoencoder.NormLayer, engine.LeakyReLU, true
		a.Layers = []int{a.Layers[0], 17, 7, 5}
		c.Noise, c.Optimizer, c.WeightDecay, c.Init = "masking:0.2", "adamw", 0.01, autoencoder.InitMixed
	}},
}

// Train runs r on b and returns the running training loss after every step
// and the final parameters.
func (r Run) Train(t *testing.T, b engine.Backend) (losses []float64, params []float32) {
	t.Helper()
	const cols = 33
	x := make([]float32, r.Rows*cols)
	engine.FillUniform(x, 5, 77, 0, 0, 1)
	cfg := autoencoder.LegacyTrainConfig()
	cfg.Epochs, cfg.Batch, cfg.ValSplit, cfg.Loss, cfg.Seed = r.Epochs, r.Batch, r.ValSplit, r.Loss, 9
	cfg.ClipNorm = r.ClipNorm
	arch := autoencoder.Arch{Layers: []int{cols, 17, 7}, Hidden: r.Hidden, Latent: engine.Linear, Output: engine.Sigmoid}
	if r.Variant != nil {
		r.Variant.Mod(&arch, &cfg)
	}
	run, err := autoencoder.NewRun(autoencoder.FitOptions{
		Data:   &dataset.Table{Rows: r.Rows, Cols: cols, Data: x, Shape: []int{r.Rows, cols}},
		Source: "random", Scale: "none", Dir: t.TempDir(), Backend: b, Train: cfg, Arch: arch,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	run.Trainer.ProgressEvery = 0
	run.Trainer.NoReplay = r.NoReplay
	run.Trainer.OnProgress = func(p autoencoder.Progress) { losses = append(losses, p.Loss) }
	if err := run.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	params = make([]float32, run.Trainer.Model.Params.Len())
	if err := b.Download(params, run.Trainer.Model.Params); err != nil {
		t.Fatal(err)
	}
	return losses, params
}

// SameLosses trains r on ref and on got and requires steps steps on each
// with the same running loss after every step: both run fp32 with
// different summation orders, so within 1e-4 relative. It returns both
// runs' final parameters.
func SameLosses(t *testing.T, r Run, ref, got engine.Backend, steps int) (pRef, pGot []float32) {
	t.Helper()
	return CloseLosses(t, r, ref, got, steps, 1e-4)
}

// CloseLosses is SameLosses with the relative tolerance rel on every
// step's loss (for runs in different precisions, e.g. TF32 against fp32).
func CloseLosses(t *testing.T, r Run, ref, got engine.Backend, steps int, rel float64) (pRef, pGot []float32) {
	t.Helper()
	lr, pRef := r.Train(t, ref)
	lg, pGot := r.Train(t, got)
	if len(lr) != steps || len(lg) != steps {
		t.Fatalf("%d and %d steps, want %d", len(lr), len(lg), steps)
	}
	for i := range lr {
		if math.Abs(lr[i]-lg[i]) > rel*math.Abs(lr[i]) {
			t.Errorf("step %d: %s loss %.8g, %s %.8g", i+1, ref.Info().Backend, lr[i], got.Info().Backend, lg[i])
		}
	}
	return pRef, pGot
}
