package anomaly_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/aegpu/aegpu/anomaly"
	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/cpu_fallback"
	"github.com/aegpu/aegpu/engine"
)

// normalRows are rows on a 2-dimensional plane in 6 dimensions (what an
// autoencoder with a 2-wide code reconstructs well), plus small noise.
func normalRows(n int, seed uint64) []float32 {
	x := make([]float32, n*6)
	ab := make([]float32, 2*n)
	engine.FillUniform(ab, seed, 1, 0, 0, 1)
	noise := make([]float32, n*6)
	engine.FillNormal(noise, seed, 2, 0, 0, 0.01)
	for i := range n {
		a, b := ab[2*i], ab[2*i+1]
		row := []float32{a, b, (a + b) / 2, a * 0.8, b * 0.6, 0.5 * (1 - a)}
		for j, v := range row {
			x[i*6+j] = v + noise[i*6+j]
		}
	}
	return x
}

// TestDetector: the Go API's detector fits its threshold on normal rows,
// flags rows off the plane and not the normal ones, saves the threshold
// and loads it back with the model.
func TestDetector(t *testing.T) {
	b := cpu_fallback.New(1)
	defer b.Close()
	cfg := autoencoder.DefaultTrainConfig()
	cfg.Epochs, cfg.Batch, cfg.LR = 60, 32, 1e-2
	ae, err := autoencoder.New(autoencoder.Options{Layers: []int{6, 8, 2}, Hidden: "tanh", Train: cfg, Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	defer ae.Close()
	train := normalRows(400, 1)
	if err := ae.Fit(context.Background(), train, 6); err != nil {
		t.Fatal(err)
	}
	rule, err := anomaly.ParseRule("q0.99")
	if err != nil {
		t.Fatal(err)
	}
	d, err := anomaly.NewDetector(ae, train, rule, "train")
	if err != nil {
		t.Fatal(err)
	}
	if d.Threshold.Rows != 400 || d.Threshold.Metric != "mse" || !(d.Threshold.Value > 0) {
		t.Fatalf("threshold %+v", d.Threshold)
	}
	test := normalRows(50, 2)
	odd := []float32{1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1} // two rows far off the plane
	scores, flags, err := d.Score(append(test, odd...))
	if err != nil {
		t.Fatal(err)
	}
	normalFlagged := 0
	for i := range 50 {
		if flags[i] {
			normalFlagged++
		}
	}
	// The 0.99 quantile of the training errors: about 1% of new normal
	// rows lie above it; allow up to 5 of 50 for a small model.
	if normalFlagged > 5 || !flags[50] || !flags[51] {
		t.Errorf("flagged %d of 50 normal rows; odd rows flagged %v %v (scores %.4g %.4g, threshold %.4g)",
			normalFlagged, flags[50], flags[51], scores[50], scores[51], d.Threshold.Value)
	}
	dir := t.TempDir()
	if err := ae.Save(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Save(dir); err != nil {
		t.Fatal(err)
	}
	d2, err := anomaly.LoadDetector(dir, "cpu")
	if err != nil {
		t.Fatal(err)
	}
	defer d2.AE.Close()
	s2, f2, err := d2.Score(odd)
	if err != nil {
		t.Fatal(err)
	}
	// The same model and threshold: the same scores to float32 rounding
	// (fp32 on both; the loaded copy runs on a fresh backend).
	for i := range s2 {
		if math.Abs(s2[i]-scores[50+i]) > 1e-6*math.Abs(scores[50+i]) || f2[i] != flags[50+i] {
			t.Errorf("loaded detector row %d: %v %v, want %v %v", i, s2[i], f2[i], scores[50+i], flags[50+i])
		}
	}
	if d2.Threshold.Value != d.Threshold.Value {
		t.Errorf("loaded threshold %v, saved %v", d2.Threshold.Value, d.Threshold.Value)
	}
	if _, err := anomaly.LoadDetector(t.TempDir(), "cpu"); err == nil || !strings.Contains(err.Error(), "threshold.json") {
		t.Errorf("LoadDetector of a directory without a threshold: %v", err)
	}
}
