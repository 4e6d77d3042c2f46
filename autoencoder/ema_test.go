package autoencoder

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/aegpu/aegpu/internal/safetensors"
)

// TestEMAMatchesReference trains with --ema, recording the raw weights
// after every step, and checks the finished model's weights against the
// float64 average Σ(1−d)·d^(T−t)·θ_t / (1−d^T) of them; the raw weights
// are those of the same run without the average (it only reads them).
func TestEMAMatchesReference(t *testing.T) {
	const decay = 0.9
	run := func(ema float64, onStep func([]float32)) (*Run, []float32) {
		opts := fitOpts(t, cpu(t), "")
		opts.Train.Epochs, opts.Train.ValSplit, opts.Train.EMA = 3, 0, ema
		r, err := NewRun(opts)
		must(t, err)
		r.Trainer.ProgressEvery = 0 // a report after every step
		r.Trainer.OnProgress = func(Progress) {
			if onStep != nil {
				w := make([]float32, r.Trainer.Model.Params.Len())
				must(t, r.Trainer.Model.Backend.Download(w, r.Trainer.Model.Params))
				onStep(w)
			}
		}
		must(t, r.Train(context.Background()))
		w := make([]float32, r.Trainer.Model.Params.Len())
		must(t, r.Trainer.Model.Backend.Download(w, r.Trainer.Model.Params))
		return r, w
	}
	var acc []float64
	var maxAbs float64
	steps := 0
	r, got := run(decay, func(w []float32) {
		if acc == nil {
			acc = make([]float64, len(w))
		}
		for i, v := range w {
			acc[i] = decay*acc[i] + (1-decay)*float64(v)
			maxAbs = math.Max(maxAbs, math.Abs(float64(v)))
		}
		steps++
	})
	defer r.Close()
	if int64(steps) != r.Trainer.State.Step || steps < 20 {
		t.Fatalf("%d reports for %d steps", steps, r.Trainer.State.Step)
	}
	// Each step rounds the difference, the product and the sum (≤ 2ε of
	// the weights' size per step, the errors shrinking by d per step: a
	// geometric sum of 2ε/(1−d)), then the correction's product and its
	// factor: 30ε of the largest weight bounds it.
	tol := 30 * 0x1p-23 * maxAbs
	c := 1 / (1 - math.Pow(decay, float64(steps)))
	for i, v := range got {
		if want := acc[i] * c; math.Abs(float64(v)-want) > tol {
			t.Fatalf("parameter %d: averaged %v, float64 reference %v (tolerance %.3g)", i, v, want, tol)
		}
	}
	// The raw weights train as without the average, bit for bit.
	plain, rawPlain := run(0, nil)
	defer plain.Close()
	raw := make([]float32, len(got))
	must(t, r.Trainer.Model.Backend.Download(raw, r.Trainer.rawParams()))
	for i := range raw {
		if raw[i] != rawPlain[i] {
			t.Fatalf("parameter %d: raw %v with the average, %v without", i, raw[i], rawPlain[i])
		}
	}
}

// TestEMAResumeIsExact interrupts a run with --ema in the middle of an
// epoch and resumes it; and resumes a finished run for another epoch.
// Both end bit for bit as the uninterrupted run: model.safetensors (the
// average), best.safetensors and the raw weights and accumulator in
// optimizer.safetensors.
func TestEMAResumeIsExact(t *testing.T) {
	opts := func(dir string, epochs int) FitOptions {
		o := fitOpts(t, cpu(t), dir)
		// A constant rate: a run extended from 3 to 4 epochs then follows
		// the 4-epoch run's schedule (cosine's would be fitted to 3).
		o.Train.Epochs, o.Train.EMA, o.Train.Schedule, o.Train.Warmup = epochs, 0.95, "constant", 0
		return o
	}
	files := func(dir string) map[string][]byte {
		out := map[string][]byte{}
		for _, f := range []string{WeightsFile, BestFile} {
			b, err := os.ReadFile(filepath.Join(dir, f))
			must(t, err)
			out[f] = b
		}
		b, err := os.ReadFile(filepath.Join(dir, OptimizerFile))
		must(t, err)
		of, err := safetensors.Decode(b)
		must(t, err)
		for _, name := range []string{"state1", "state2", "params", "ema"} {
			ts, ok := of.Tensors[name]
			if !ok {
				t.Fatalf("%s has no tensor %s", OptimizerFile, name)
			}
			out[name] = f32bytes(ts.Data)
		}
		return out
	}
	full := t.TempDir()
	r, err := NewRun(opts(full, 4))
	must(t, err)
	must(t, r.Train(context.Background()))
	r.Close()
	want := files(full)

	cut := t.TempDir()
	o := opts(cut, 4)
	ctx, stop := cancelAfter(13) // 9 batches per epoch: stops in epoch 2
	o.OnProgress = stop
	r, err = NewRun(o)
	must(t, err)
	r.Trainer.ProgressEvery = 0
	if err := r.Train(ctx); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("interrupted run: %v", err)
	}
	r.Close()
	r, err = ResumeRun(cut, o.Data, cpu(t), 0, nil, nil)
	must(t, err)
	must(t, r.Train(context.Background()))
	r.Close()

	short := t.TempDir()
	r, err = NewRun(opts(short, 3))
	must(t, err)
	must(t, r.Train(context.Background()))
	r.Close()
	r, err = ResumeRun(short, o.Data, cpu(t), 4, nil, nil)
	must(t, err)
	must(t, r.Train(context.Background()))
	r.Close()

	for name, dir := range map[string]string{"interrupted": cut, "finished, one more epoch": short} {
		got := files(dir)
		for f, b := range want {
			if string(got[f]) != string(b) {
				t.Errorf("%s: %s differs from the uninterrupted run's", name, f)
			}
		}
	}
}

func f32bytes(v []float32) []byte {
	out := make([]byte, 0, 4*len(v))
	for _, x := range v {
		b := math.Float32bits(x)
		out = append(out, byte(b), byte(b>>8), byte(b>>16), byte(b>>24))
	}
	return out
}
