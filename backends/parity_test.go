package backends_test

import (
	"context"
	"math"
	"testing"

	"github.com/aegpu/aegpu/autoencoder"
	_ "github.com/aegpu/aegpu/backends"
	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
)

// losses trains 50 steps (10 epochs of 5 batches) of a small autoencoder on
// b and returns the running loss after every step.
func losses(t *testing.T, b engine.Backend, hidden engine.Act, loss string) []float64 {
	t.Helper()
	const rows, cols = 5 * 37, 33 // awkward sizes: batch 37, width 33
	x := make([]float32, rows*cols)
	engine.FillUniform(x, 5, 77, 0, 0, 1)
	cfg := autoencoder.DefaultTrainConfig()
	cfg.Epochs, cfg.Batch, cfg.ValSplit, cfg.Loss, cfg.Seed = 10, 37, 0, loss, 9
	r, err := autoencoder.NewRun(autoencoder.FitOptions{
		Data:   &dataset.Table{Rows: rows, Cols: cols, Data: x, Shape: []int{rows, cols}},
		Source: "random", Scale: "none", Dir: t.TempDir(), Backend: b, Train: cfg,
		Arch: autoencoder.Arch{Layers: []int{cols, 17, 7}, Hidden: hidden, Latent: engine.Linear, Output: engine.Sigmoid},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []float64
	r.Trainer.ProgressEvery = 0
	r.Trainer.OnProgress = func(p autoencoder.Progress) { out = append(out, p.Loss) }
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestGPUMatchesCPUOverTraining is the end-to-end parity check: the same
// seed gives the same losses on the GPU and the CPU for 50 steps.
func TestGPUMatchesCPUOverTraining(t *testing.T) {
	gpu, _, err := engine.Open("cuda")
	if err != nil {
		t.Skipf("no CUDA device: %v", err)
	}
	defer gpu.Close()
	cpu, _, err := engine.Open("cpu")
	if err != nil {
		t.Fatal(err)
	}
	defer cpu.Close()
	for _, c := range []struct {
		hidden engine.Act
		loss   string
	}{{engine.ReLU, "mse"}, {engine.GELU, "bce"}, {engine.Tanh, "mse"}} {
		lc := losses(t, cpu, c.hidden, c.loss)
		lg := losses(t, gpu, c.hidden, c.loss)
		if len(lc) != 50 || len(lg) != 50 {
			t.Fatalf("%s/%s: %d and %d steps, want 50", c.hidden, c.loss, len(lc), len(lg))
		}
		for i := range lc {
			// Both run fp32 with different summation orders; over 50 Adam
			// steps the difference stays far below 1e-4 relative.
			if math.Abs(lc[i]-lg[i]) > 1e-4*math.Abs(lc[i]) {
				t.Errorf("%s/%s step %d: cpu loss %.8g, gpu %.8g", c.hidden, c.loss, i+1, lc[i], lg[i])
			}
		}
	}
}
