package autoencoder

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/aegpu/aegpu/engine"
)

// replayer is a backend that "records" by keeping the function and replays
// by calling it again: it exercises the trainer's Recorder path on the CPU.
type replayer struct {
	engine.Backend
	records, runs int
}

type fnReplay struct {
	fn  func() error
	rec *replayer
}

func (r fnReplay) Run() error  { r.rec.runs++; return r.fn() }
func (r fnReplay) Free() error { return nil }

func (r *replayer) Record(fn func() error) (engine.Replay, error) {
	r.records++
	return fnReplay{fn, r}, nil
}

// trainedWeights trains fitOpts (changed by set) on b and returns the bytes
// of the model.safetensors it wrote.
func trainedWeights(t *testing.T, b engine.Backend, set func(*FitOptions)) []byte {
	t.Helper()
	dir := t.TempDir()
	opts := fitOpts(t, b, dir)
	set(&opts)
	r, err := NewRun(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	w, err := os.ReadFile(filepath.Join(dir, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// Replaying recorded steps must give exactly the weights of op-by-op steps.
func TestReplayedStepsMatch(t *testing.T) {
	weights := func(b engine.Backend) []byte {
		return trainedWeights(t, b, func(o *FitOptions) { o.Train.ClipNorm = 0.5 })
	}
	plain := weights(cpu(t))
	rb := &replayer{Backend: cpu(t)}
	replayed := weights(rb)
	if string(plain) != string(replayed) {
		t.Fatal("weights differ between replayed and op-by-op steps")
	}
	// 270 training rows at batch 32: 8 full batches (replayed) and one of
	// 14 rows (op by op) per epoch, for 4 epochs.
	if rb.records != 1 || rb.runs != 32 {
		t.Errorf("recorded %d times, replayed %d times; want 1 and 32", rb.records, rb.runs)
	}
	// --norm layer: the LayerNorms' buffers are bound by the recording too.
	norm := func(b engine.Backend) []byte {
		return trainedWeights(t, b, func(o *FitOptions) { o.Train.ClipNorm, o.Arch.Norm = 0.5, NormLayer })
	}
	if string(norm(cpu(t))) != string(norm(&replayer{Backend: cpu(t)})) {
		t.Fatal("--norm layer: weights differ between replayed and op-by-op steps")
	}
}

// asyncReplayer adds a copy stream to replayer: uploads "after a mark" are
// plain uploads on the CPU, which exercises the trainer's double-buffered
// prefetch path.
type asyncReplayer struct {
	replayer
	marks, asyncUploads int
}

func (a *asyncReplayer) Mark() (engine.Marker, error) { a.marks++; return a.marks, nil }

func (a *asyncReplayer) UploadAfter(dst engine.Matrix, src []float32, after engine.Marker) error {
	if after != nil && after.(int) != a.marks-1 {
		return fmt.Errorf("upload waits for mark %v, want the one before the last (%d)", after, a.marks-1)
	}
	a.asyncUploads++
	return a.Upload(dst, src)
}

func TestPrefetchedBatchesMatch(t *testing.T) {
	for _, noise := range []string{"", "gaussian:0.2"} {
		t.Run("noise="+noise, func(t *testing.T) { checkPrefetch(t, noise) })
	}
}

func checkPrefetch(t *testing.T, noise string) {
	train := func(b engine.Backend) []byte {
		return trainedWeights(t, b, func(o *FitOptions) { o.Train.Noise = noise })
	}
	plain := train(cpu(t))
	ab := &asyncReplayer{replayer: replayer{Backend: cpu(t)}}
	if string(train(ab)) != string(plain) {
		t.Fatal("weights differ with double-buffered prefetching")
	}
	// 9 batches per epoch, 4 epochs: batches 2..9 of each epoch prefetched,
	// and one recording per input buffer.
	if ab.asyncUploads != 32 || ab.records != 2 {
		t.Errorf("%d prefetched uploads and %d recordings, want 32 and 2", ab.asyncUploads, ab.records)
	}
}
