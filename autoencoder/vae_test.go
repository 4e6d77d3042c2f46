package autoencoder

import (
	"context"
	"math"
	"testing"

	"github.com/aegpu/aegpu/engine"
)

// TestVAEByHand checks Reparameterize and ReparamBackward on numbers
// worked out by hand: μ = (0.5, −1), log σ² = (0, ln 4), ε = (1, 0.5).
func TestVAEByHand(t *testing.T) {
	b := cpu(t)
	mat := func(v ...float32) engine.Matrix {
		m, err := b.Alloc(1, len(v))
		must(t, err)
		must(t, b.Upload(m, v))
		return m
	}
	mu, lv, eps := mat(0.5, -1), mat(0, float32(math.Log(4))), mat(1, 0.5)
	z, dmu, dlv, acc, beta, dz := mat(0, 0), mat(0, 0), mat(0, 0), mat(0), mat(1), mat(0, 0)
	must(t, b.Reparameterize(z, mu, lv, eps))
	must(t, b.ReparamBackward(dmu, dlv, acc, beta, dz, mu, lv, eps, 1, 1))
	get := func(m engine.Matrix) []float32 {
		v := make([]float32, m.Len())
		must(t, b.Download(v, m))
		return v
	}
	// z = μ + e^(lv/2)·ε = (0.5 + 1, −1 + 2·0.5) = (1.5, 0).
	// KL = −½[(1 + 0 − 0.25 − 1) + (1 + ln4 − 1 − 4)] = 1.4318528…
	// dμ = β·μ = (0.5, −1); dlv = ½(e^lv − 1) = (0, 1.5).
	for _, c := range []struct {
		name      string
		got, want []float32
	}{
		{"z", get(z), []float32{1.5, 0}},
		{"KL", get(acc), []float32{1.4318528}},
		{"dmu", get(dmu), []float32{0.5, -1}},
		{"dlogvar", get(dlv), []float32{0, 1.5}},
	} {
		for i := range c.want {
			// fp32 of a few terms: abs 1e-6.
			if math.Abs(float64(c.got[i]-c.want[i])) > 1e-6 {
				t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
			}
		}
	}
}

// TestVAEHugeInputsStayFinite trains a VAE on values of 1e4 with no
// scaling: the log-variance clamp keeps every loss and weight finite.
func TestVAEHugeInputsStayFinite(t *testing.T) {
	b := cpu(t)
	opts := fitOpts(t, b, t.TempDir())
	x := make([]float32, 300*8)
	for i := range x {
		x[i] = 1e4 * float32(1+i%7)
	}
	opts.Data.Data = x
	opts.Arch = Arch{Layers: []int{8, 6, 3}, Hidden: engine.ReLU, Output: engine.Linear, VAE: true}
	opts.Train.Kind, opts.Train.KLBeta, opts.Train.Epochs = "vae", 1, 2
	r, err := NewRun(opts)
	must(t, err)
	defer r.Close()
	must(t, r.Train(context.Background()))
	for _, m := range r.Trainer.State.Metrics {
		if math.IsNaN(m.TrainLoss) || math.IsInf(m.TrainLoss, 0) || m.TrainKL == nil || math.IsNaN(*m.TrainKL) || math.IsInf(*m.TrainKL, 0) {
			t.Fatalf("epoch %d: loss %v KL %v", m.Epoch, m.TrainLoss, m.TrainKL)
		}
	}
}
