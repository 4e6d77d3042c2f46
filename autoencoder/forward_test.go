package autoencoder

import (
	"context"
	"math"
	"testing"

	"github.com/aegpu/aegpu/cpu_fallback"
	"github.com/aegpu/aegpu/engine"
)

// TestForwardInto: ForwardInto gives Errors' and Reconstruct's bits, in
// batches of any size, and ReadModelFiles names the version the manifest
// records.
func TestForwardInto(t *testing.T) {
	b := cpu_fallback.New(1)
	defer b.Close()
	cfg := DefaultTrainConfig()
	cfg.Epochs, cfg.Batch = 2, 16
	ae, err := New(Options{Layers: []int{5, 4, 2}, Scale: "standard", Train: cfg, Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	defer ae.Close()
	x := make([]float32, 50*5)
	engine.FillNormal(x, 1, 1, 0, 3, 2)
	if err := ae.Fit(context.Background(), x, 5); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := ae.Save(dir); err != nil {
		t.Fatal(err)
	}
	f, err := ReadModelFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	man, err := ReadManifest(dir)
	if err != nil || man == nil || man.Files[WeightsFile].SHA256 != f.Version {
		t.Fatalf("version %s, manifest %v (%v)", f.Version, man, err)
	}
	m, err := f.Load(b)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	for _, kind := range []engine.Loss{engine.MSE, engine.MAE} {
		p, _ := NewPredictor(m, f.Config, 64)
		wantErr, wantFeat, err := p.Errors(x, 5, kind, true)
		if err != nil {
			t.Fatal(err)
		}
		wantRecon, _, _ := p.Reconstruct(x, 5)
		p.Free()
		for _, batch := range []int{1, 7, 64} {
			q, _ := NewPredictor(m, f.Config, batch)
			rowErr, featErr, recon := make([]float32, 50), make([]float32, 250), make([]float32, 250)
			if err := q.ForwardInto(rowErr, featErr, recon, x, 5, kind); err != nil {
				t.Fatal(err)
			}
			only := make([]float32, 250) // featErr without recon: the predictor's own buffer
			if err := q.ForwardInto(rowErr, only, nil, x, 5, kind); err != nil {
				t.Fatal(err)
			}
			q.Free()
			for _, c := range []struct{ got, want []float32 }{{rowErr, wantErr}, {featErr, wantFeat}, {only, wantFeat}, {recon, wantRecon}} {
				for i := range c.want {
					if math.Float32bits(c.got[i]) != math.Float32bits(c.want[i]) {
						t.Fatalf("%s batch %d: value %d is %v, want %v", kind, batch, i, c.got[i], c.want[i])
					}
				}
			}
		}
	}
}
