package autoencoder

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/internal/safetensors"
)

// cancelAfter cancels ctx after n progress reports.
func cancelAfter(n int) (context.Context, func(Progress)) {
	ctx, cancel := context.WithCancel(context.Background())
	seen := 0
	return ctx, func(Progress) {
		seen++
		if seen == n {
			cancel()
		}
	}
}

// TestResumeIsExact interrupts a run in the middle of an epoch, resumes it,
// and requires bit-identical weights to an uninterrupted run.
func TestResumeIsExact(t *testing.T) {
	for _, noise := range []string{"", "masking:0.3"} {
		t.Run("noise="+noise, func(t *testing.T) { checkResume(t, noise, NormNone) })
	}
	// --norm layer: the LayerNorms' gains and biases and their Adam
	// moments go through the checkpoint like every parameter.
	t.Run("norm=layer", func(t *testing.T) { checkResume(t, "", NormLayer) })
}

func checkResume(t *testing.T, noise string, norm Norm) {
	b := cpu(t)
	full := t.TempDir()
	opts := fitOpts(t, b, full)
	opts.Train.Noise = noise
	opts.Arch.Norm = norm
	r, err := NewRun(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join(full, WeightsFile))
	r.Close()

	part := t.TempDir()
	opts.Dir = part
	ctx, hook := cancelAfter(13) // 9 batches per epoch: stops in epoch 2
	opts.OnProgress = hook
	r, err = NewRun(opts)
	if err != nil {
		t.Fatal(err)
	}
	r.Trainer.ProgressEvery = 0
	err = r.Train(ctx)
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("err = %v, want ErrInterrupted", err)
	}
	if st := r.Trainer.State; st.Epoch != 1 || st.Batch == 0 {
		t.Fatalf("interrupted at epoch %d batch %d, want inside epoch 2", st.Epoch, st.Batch)
	}
	r.Close()
	r, err = ResumeRun(part, opts.Data, b, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.Close()
	got, _ := os.ReadFile(filepath.Join(part, WeightsFile))
	if string(got) != string(want) {
		t.Fatal("resumed run's weights differ from the uninterrupted run's")
	}
	m1, _ := os.ReadFile(filepath.Join(full, MetricsFile))
	m2, _ := os.ReadFile(filepath.Join(part, MetricsFile))
	strip := func(b []byte) string { // drop timings
		var out []string
		for _, l := range strings.Split(string(b), "\n") {
			if i := strings.Index(l, `,"seconds"`); i > 0 {
				l = l[:i]
			}
			out = append(out, l)
		}
		return strings.Join(out, "\n")
	}
	if strip(m1) != strip(m2) {
		t.Errorf("metrics differ:\n%s\n%s", m1, m2)
	}

	// Resuming on other data is refused.
	other := toyTable(300, 8)
	other.Data[5] += 0.01
	if _, err := ResumeRun(part, other, b, 0, nil, nil); err == nil || !strings.Contains(err.Error(), "differs") {
		t.Errorf("resume on changed data: %v", err)
	}
}

func TestInconsistentCheckpointIsRefused(t *testing.T) {
	b := cpu(t)
	dir := t.TempDir()
	opts := fitOpts(t, b, dir)
	opts.Train.Epochs = 1
	r, err := NewRun(opts)
	if err != nil {
		t.Fatal(err)
	}
	r.Train(context.Background())
	// Simulate a crash that wrote new weights but not the state.
	f, _ := safetensors.ReadFile(filepath.Join(dir, WeightsFile))
	var ts []safetensors.Tensor
	for _, v := range f.Tensors {
		ts = append(ts, v)
	}
	safetensors.WriteFile(filepath.Join(dir, WeightsFile), ts, map[string]string{"aegpu_step": "999"})
	r.Close()
	if _, err := ResumeRun(dir, opts.Data, b, 3, nil, nil); err == nil || !strings.Contains(err.Error(), "inconsistent") {
		t.Errorf("err = %v, want an inconsistent-checkpoint error", err)
	}
}

func TestNaNStopsAndKeepsLastCheckpoint(t *testing.T) {
	b := cpu(t)
	dir := t.TempDir()
	opts := fitOpts(t, b, dir)
	opts.Arch.Output = engine.Linear
	opts.Train.Optimizer, opts.Train.Momentum = "sgd", 0
	opts.Train.Epochs = 3
	r, err := NewRun(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.Trainer.Cfg.LR = 1e-3
	r.Trainer.Cfg.Epochs = 1
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(filepath.Join(dir, WeightsFile))
	r.Trainer.Cfg.Epochs = 3
	r.Trainer.State.Finished = false
	r.Trainer.Cfg.LR = 1e30 // diverges at once
	err = r.Train(context.Background())
	var ne *NaNError
	if !errors.As(err, &ne) || ne.Epoch != 2 || ne.LastSaved != 1 {
		t.Fatalf("err = %v, want a NaNError in epoch 2 after checkpoint 1", err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, WeightsFile)); string(after) != string(good) {
		t.Error("the last good checkpoint was overwritten")
	}
}
