package autoencoder

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
)

// writeParts writes rows×cols uniform values as two .npy files and
// returns their paths and the values.
func writeParts(t *testing.T, dir string, rows, cols int) ([]string, []float32) {
	t.Helper()
	x := make([]float32, rows*cols)
	engine.FillUniform(x, 4, 2, 0, 0, 10)
	cut := rows / 3
	paths := []string{filepath.Join(dir, "a.npy"), filepath.Join(dir, "b.npy")}
	must(t, dataset.WriteNPY(paths[0], cut, cols, x[:cut*cols]))
	must(t, dataset.WriteNPY(paths[1], rows-cut, cols, x[cut*cols:]))
	return paths, x
}

// TestDiskSourceVisitsEveryTrainingRowOnce checks the chunked source: each
// epoch yields every training row exactly once, never a validation row,
// in a different order per epoch; resuming at any position continues the
// same order; the scaler is fitted on the training rows only.
func TestDiskSourceVisitsEveryTrainingRowOnce(t *testing.T) {
	const rows, cols, chunk = 203, 3, 16
	paths, x := writeParts(t, t.TempDir(), rows, cols)
	cfg := DefaultTrainConfig()
	cfg.ValSplit = 0.2
	src, prep, err := OpenDiskSource(paths, nil, chunk, cfg, dataset.ScaleMinMax, dataset.Scaler{})
	must(t, err)
	defer src.Close()
	if want := wantChunkedFingerprint(x, cols, chunk); prep.Fingerprint != want || prep.Rows != rows {
		t.Errorf("fingerprint %s rows %d, want %s %d", prep.Fingerprint, prep.Rows, want, rows)
	}
	nVal := len(prep.Val) / cols
	if src.Rows()+nVal != rows || nVal < 20 || nVal > 62 { // 0.2·203 ≈ 41 ± 3σ
		t.Fatalf("%d training + %d validation rows of %d", src.Rows(), nVal, rows)
	}
	// The expected multiset: every row whose split draw is ≥ 0.2, scaled.
	key := func(r []float32) [cols]float32 { return [cols]float32(r) }
	u := make([]float32, rows)
	engine.FillUniform(u, cfg.Seed, engine.StreamSplit, 0, 0, 1)
	want := map[[cols]float32]int{}
	for r := range rows {
		if float64(u[r]) >= 0.2 {
			row := append([]float32(nil), x[r*cols:(r+1)*cols]...)
			must(t, prep.Scaler.Apply(row, cols))
			want[key(row)]++
		}
	}
	var orders [][]float32
	for e := range 3 {
		must(t, src.Epoch(e, 0))
		got := make([]float32, src.Rows()*cols)
		for lo := 0; lo < src.Rows(); lo += 10 { // batches crossing chunks
			n := min(10, src.Rows()-lo)
			must(t, src.Next(got[lo*cols:(lo+n)*cols]))
		}
		orders = append(orders, got)
		seen := map[[cols]float32]int{}
		for r := range src.Rows() {
			seen[key(got[r*cols:(r+1)*cols])]++
		}
		if len(seen) != len(want) {
			t.Fatalf("epoch %d: %d distinct rows, want %d", e, len(seen), len(want))
		}
		for k, n := range want {
			if seen[k] != n {
				t.Fatalf("epoch %d: training row %v seen %d times, want %d", e, k, seen[k], n)
			}
		}
		// Scaled minmax training data spans exactly [0, 1] per column.
		for c := range cols {
			lo, hi := math.Inf(1), math.Inf(-1)
			for r := range src.Rows() {
				v := float64(got[r*cols+c])
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
			if math.Abs(lo) > 1e-6 || math.Abs(hi-1) > 1e-6 {
				t.Errorf("column %d scaled to [%v, %v], want [0, 1]", c, lo, hi)
			}
		}
	}
	if orders[0][0] == orders[1][0] && orders[0][cols] == orders[1][cols] && orders[1][0] == orders[2][0] {
		t.Error("epochs start with the same rows: no reshuffle")
	}
	// Resume at every position of epoch 1: the same continuation.
	for _, skip := range []int{1, chunk - 1, chunk, 2*chunk + 3, src.Rows() - 1} {
		must(t, src.Epoch(1, skip))
		rest := make([]float32, (src.Rows()-skip)*cols)
		must(t, src.Next(rest))
		for i, v := range rest {
			if v != orders[1][skip*cols+i] {
				t.Fatalf("resumed at %d: value %d = %v, want %v", skip, i, v, orders[1][skip*cols+i])
			}
		}
	}
}

// TestStreamRunResumesExactly trains a streamed run, interrupts it in the
// middle of an epoch, resumes it and requires the uninterrupted run's
// weights bit for bit; the loss falls.
func TestStreamRunResumesExactly(t *testing.T) {
	dir := t.TempDir()
	paths, _ := writeParts(t, dir, 400, 6)
	opts := func(out string) FitOptions {
		cfg := DefaultTrainConfig()
		cfg.Epochs, cfg.Batch, cfg.LR = 3, 32, 3e-3
		return FitOptions{Source: "parts", Arch: Arch{Layers: []int{6, 4, 2}, Hidden: engine.Tanh, Output: engine.Sigmoid},
			Train: cfg, Scale: dataset.ScaleMinMax, Dir: out, Backend: cpu(t)}
	}
	full, err := NewStreamRun(opts(filepath.Join(dir, "full")), paths, 50)
	must(t, err)
	defer full.Close()
	must(t, full.Train(context.Background()))
	ms := full.Trainer.State.Metrics
	if !(ms[2].TrainLoss < ms[0].TrainLoss) || ms[2].ValLoss == nil {
		t.Errorf("metrics %+v", ms)
	}
	o := opts(filepath.Join(dir, "cut"))
	ctx, stop := cancelAfter(15) // mid-epoch 2 (≈11 steps per epoch)
	o.OnProgress = stop
	cut, err := NewStreamRun(o, paths, 50)
	must(t, err)
	cut.Trainer.ProgressEvery = 0
	if err := cut.Train(ctx); !IsInterrupted(err) {
		t.Fatalf("interrupted run: %v", err)
	}
	cut.Close()
	res, err := ResumeStreamRun(filepath.Join(dir, "cut"), paths, cpu(t), 0, nil, nil)
	must(t, err)
	defer res.Close()
	must(t, res.Train(context.Background()))
	a, b := make([]float32, full.Trainer.Model.Params.Len()), make([]float32, res.Trainer.Model.Params.Len())
	must(t, full.Trainer.Model.Backend.Download(a, full.Trainer.Model.Params))
	must(t, res.Trainer.Model.Backend.Download(b, res.Trainer.Model.Params))
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("parameter %d: resumed %v, uninterrupted %v", i, b[i], a[i])
		}
	}
	// Other data is refused.
	other, _ := writeParts(t, t.TempDir(), 401, 6)
	if _, err := ResumeStreamRun(filepath.Join(dir, "cut"), other, cpu(t), 0, nil, nil); err == nil {
		t.Error("resume on different data accepted")
	}
}
