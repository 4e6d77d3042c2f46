package autoencoder

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
)

// spectrumData returns rows×d data whose covariance has eigenvalues
// scale·lambda (then zero) along random orthogonal directions.
func spectrumData(rows, d int, lambda []float64, scale float64, seed uint64) *dataset.Table {
	// Orthonormal directions: Gram–Schmidt on uniform vectors.
	q := make([][]float64, len(lambda))
	u := make([]float32, d)
	for i := range q {
		engine.FillNormal(u, seed, 1, uint64(i*d), 0, 1)
		v := make([]float64, d)
		for j := range v {
			v[j] = float64(u[j])
		}
		for _, p := range q[:i] {
			dot := 0.0
			for j := range v {
				dot += v[j] * p[j]
			}
			for j := range v {
				v[j] -= dot * p[j]
			}
		}
		norm := 0.0
		for _, x := range v {
			norm += x * x
		}
		for j := range v {
			v[j] /= math.Sqrt(norm)
		}
		q[i] = v
	}
	z := make([]float32, rows*len(lambda))
	engine.FillNormal(z, seed, 2, 0, 0, 1)
	x := make([]float32, rows*d)
	for r := range rows {
		for i, l := range lambda {
			c := float64(z[r*len(lambda)+i]) * math.Sqrt(scale*l)
			for j := range d {
				x[r*d+j] += float32(c * q[i][j])
			}
		}
	}
	return &dataset.Table{Rows: rows, Cols: d, Data: x, Shape: []int{rows, d}}
}

// linearFit is a linear autoencoder 16→4→16 trained with plain SGD.
func linearFit(t *testing.T, data *dataset.Table, lr float64, epochs int) FitOptions {
	cfg := DefaultTrainConfig()
	cfg.Optimizer, cfg.Momentum, cfg.LR, cfg.Batch, cfg.Epochs, cfg.ValSplit = "sgd", 0, lr, 64, epochs, 0
	return FitOptions{Data: data, Source: "spectrum", Arch: Arch{Layers: []int{16, 4}, Hidden: engine.Linear, Latent: engine.Linear, Output: engine.Linear},
		Train: cfg, Scale: "none", Backend: cpu(t)}
}

// TestLRRangeFindsBestRate: on a linear autoencoder trained by SGD on data
// of known spectrum, the best constant rate is found by brute force
// (training at 21 rates, a sixth of a decade apart); the range test must
// pick within a factor of 3 of it, and, when the data is scaled by 4 (the
// curvature by 16, so the best SGD rate by 1/16), its pick must fall by a
// factor within 8–32.
func TestLRRangeFindsBestRate(t *testing.T) {
	lambda := []float64{4, 3, 2, 1}
	picks := map[float64]float64{}
	for _, scale := range []float64{1, 16} {
		data := spectrumData(2048, 16, lambda, scale, 3)
		bestLR, bestLoss := 0.0, math.Inf(1)
		for k := 0; k <= 20; k++ {
			lr := 1e-3 / scale * math.Pow(10, float64(k)/6)
			r, err := NewRun(linearFit(t, data, lr, 2))
			must(t, err)
			if err := r.Train(context.Background()); err != nil { // diverged: a *NaNError
				var nan *NaNError
				if !errors.As(err, &nan) {
					t.Fatal(err)
				}
				r.Close()
				continue
			}
			if loss := r.Trainer.State.Metrics[1].TrainLoss; loss < bestLoss {
				bestLR, bestLoss = lr, loss
			}
			r.Close()
		}
		o := linearFit(t, data, 1e-3, 2)
		o.LRFind = &LRFindOptions{}
		r, err := NewRun(o)
		must(t, err)
		pick := r.LRRange.Pick
		if r.Config.Train.LR != pick || r.Trainer.Cfg.LR != pick {
			t.Errorf("the run trains at %v (config.json %v), not the pick %v", r.Trainer.Cfg.LR, r.Config.Train.LR, pick)
		}
		r.Close()
		t.Logf("scale %v: brute-force best rate %.3g (loss %.4g), range test %.3g (%d steps, %s)", scale, bestLR, bestLoss, pick, len(r.LRRange.LR), r.LRRange.Stopped)
		if pick < bestLR/3 || pick > bestLR*3 {
			t.Errorf("scale %v: the range test picked %.3g, the best rate is %.3g: not within a factor of 3", scale, pick, bestLR)
		}
		picks[scale] = pick
	}
	if f := picks[1] / picks[16]; f < 8 || f > 32 {
		t.Errorf("the pick fell by %.3g when the curvature rose 16-fold; want 8–32", f)
	}
}
