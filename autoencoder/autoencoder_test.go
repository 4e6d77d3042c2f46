package autoencoder

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegpu/aegpu/cpu_fallback"
	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/internal/safetensors"
)

func cpu(t testing.TB) engine.Backend {
	b := cpu_fallback.New(2)
	t.Cleanup(func() { b.Close() })
	return b
}

func TestSpecsFollowPyTorchSequentialNames(t *testing.T) {
	a := Arch{Layers: []int{784, 512, 256, 32}, Hidden: engine.ReLU, Latent: engine.Linear, Output: engine.Sigmoid}
	var names []string
	for _, s := range a.Specs() {
		names = append(names, s.Name)
	}
	want := "encoder.0 encoder.2 encoder.4 decoder.0 decoder.2 decoder.4"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("names = %s, want %s", got, want)
	}
	if a.String() != "784→512→256→32→256→512→784" {
		t.Errorf("String = %s", a)
	}
	py := a.PyTorch()
	for _, frag := range []string{"nn.Linear(784, 512),\n    nn.ReLU(),", "nn.Linear(256, 32),\n)", "nn.Linear(512, 784),\n    nn.Sigmoid(),\n)"} {
		if !strings.Contains(py, frag) {
			t.Errorf("PyTorch code lacks %q:\n%s", frag, py)
		}
	}
	if a.NumParams() != 2*(784*512+512*256+256*32)+512+256+32+256+512+784 {
		t.Errorf("NumParams = %d", a.NumParams())
	}
	// A non-linear latent is its own module: the decoder index is unaffected,
	// the encoder gains a trailing module.
	a.Latent = engine.Tanh
	if s := a.Specs(); s[2].Name != "encoder.4" || s[3].Name != "decoder.0" {
		t.Errorf("with tanh latent: %v", s)
	}
}

func TestParseLayers(t *testing.T) {
	if l, err := ParseLayers("784, 128,32"); err != nil || len(l) != 3 || l[1] != 128 {
		t.Errorf("ParseLayers = %v, %v", l, err)
	}
	for _, bad := range []string{"784", "784,0", "784,x", ""} {
		if _, err := ParseLayers(bad); err == nil {
			t.Errorf("ParseLayers(%q) should fail", bad)
		}
	}
}

// randomData returns rows×d values in [0.05, 0.95].
func randomData(rows, d int, seed uint64) []float32 {
	x := make([]float32, rows*d)
	engine.FillUniform(x, seed, 99, 0, 0.05, 0.95)
	return x
}

// TestWholeModelGradient checks the trainer's backward pass through every
// layer against central finite differences of the float64 reference.
func TestWholeModelGradient(t *testing.T) {
	for _, c := range []struct {
		hidden, latent, output engine.Act
		loss                   string
	}{
		{engine.ReLU, engine.Linear, engine.Sigmoid, "mse"},
		{engine.Tanh, engine.Tanh, engine.Linear, "mse"},
		{engine.GELU, engine.Linear, engine.Sigmoid, "bce"},
		{engine.LeakyReLU, engine.Sigmoid, engine.Sigmoid, "mse"},
	} {
		t.Run(c.hidden.String()+"/"+c.loss, func(t *testing.T) {
			b := cpu(t)
			a := Arch{Layers: []int{7, 5, 3}, Hidden: c.hidden, Latent: c.latent, Output: c.output}
			m, err := NewModel(b, a)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Init(3); err != nil {
				t.Fatal(err)
			}
			const rows = 4
			x := randomData(rows, 7, 1)
			cfg := DefaultTrainConfig()
			cfg.Loss, cfg.Batch = c.loss, rows
			tr, err := NewTrainer(m, cfg, x, nil, 7)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Upload(tr.ws.x, x); err != nil {
				t.Fatal(err)
			}
			// lr 0 would still apply Adam's update; use a step then read
			// gradients before they are applied: run forward+backward only.
			if err := tr.forwardBackward(rows); err != nil {
				t.Fatal(err)
			}
			grads := make([]float32, m.Grads.Len())
			b.Download(grads, m.Grads)
			ts, _ := m.Tensors()
			ref := make([]refLayer, len(m.Layers))
			for i, L := range m.Layers {
				ref[i] = refLayer{in: L.In, out: L.Out, act: L.Act, w: f64(ts[2*i].Data), b: f64(ts[2*i+1].Data)}
			}
			x64 := f64(x)
			var loss [1]float32
			b.Download(loss[:], tr.obj.sum)
			if want := refLoss(ref, x64, rows, c.loss) * rows; math.Abs(float64(loss[0])-want) > 1e-5*math.Abs(want)+1e-6 {
				// fp32 loss over 28 elements: rel 1e-5.
				t.Errorf("loss = %v, float64 reference %v", loss[0], want)
			}
			wOff, bOff, _ := a.layout()
			const h = 1e-6
			checked := 0
			for i := range ref {
				for _, p := range []struct {
					vals []float64
					off  int
				}{{ref[i].w, wOff[i]}, {ref[i].b, bOff[i]}} {
					for j := range p.vals {
						orig := p.vals[j]
						p.vals[j] = orig + h
						lp := refLoss(ref, x64, rows, c.loss)
						p.vals[j] = orig - h
						lm := refLoss(ref, x64, rows, c.loss)
						p.vals[j] = orig
						fd := (lp - lm) / (2 * h)
						got := float64(grads[p.off+j])
						// float32 backward vs float64 central difference:
						// abs 2e-6 + rel 2e-3 (ReLU kinks are avoided by the
						// random data with high probability; the tolerance
						// covers fp32 rounding of O(1e-3) gradients).
						if math.Abs(got-fd) > 2e-6+2e-3*math.Abs(fd) {
							t.Errorf("layer %s param %d: grad %v, finite difference %v", m.Layers[i].Name, j, got, fd)
						}
						checked++
					}
				}
			}
			if checked != a.NumParams() {
				t.Errorf("checked %d of %d parameters", checked, a.NumParams())
			}
		})
	}
}

func f64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func toyTable(rows, d int) *dataset.Table {
	// Points generated from 2 latent factors, in [0,1].
	x := make([]float32, rows*d)
	f := make([]float32, rows*2)
	engine.FillUniform(f, 11, 1, 0, 0, 1)
	for r := 0; r < rows; r++ {
		for j := 0; j < d; j++ {
			v := 0.5 + 0.3*float32(math.Sin(float64(j+1)*float64(f[2*r])*2)) + 0.15*f[2*r+1]*float32(j%3)
			x[r*d+j] = min(max(v, 0), 1)
		}
	}
	return &dataset.Table{Rows: rows, Cols: d, Data: x, Shape: []int{rows, d}}
}

func fitOpts(t *testing.T, b engine.Backend, dir string) FitOptions {
	cfg := DefaultTrainConfig()
	cfg.Epochs, cfg.Batch, cfg.LR = 4, 32, 3e-3
	return FitOptions{Data: toyTable(300, 8), Source: "toy", Arch: Arch{Layers: []int{8, 6, 3}, Hidden: engine.ReLU, Output: engine.Sigmoid},
		Train: cfg, Scale: "none", Dir: dir, Backend: b}
}

func TestTrainingReducesLossAndSaves(t *testing.T) {
	b := cpu(t)
	dir := t.TempDir()
	opts := fitOpts(t, b, dir)
	opts.Train.Epochs, opts.Train.LR = 40, 1e-2
	r, err := NewRun(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	ms := r.Trainer.State.Metrics
	if len(ms) != 40 || !(ms[39].TrainLoss < 0.7*ms[0].TrainLoss) || ms[39].ValLoss == nil {
		t.Fatalf("metrics: first %+v last %+v", ms[0], ms[len(ms)-1])
	}
	for _, f := range []string{ConfigFile, WeightsFile, OptimizerFile, StateFile, MetricsFile, BestFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	lines, _ := os.ReadFile(filepath.Join(dir, MetricsFile))
	if n := strings.Count(string(lines), "\n"); n != 40 {
		t.Errorf("metrics.jsonl has %d lines, want 40", n)
	}
	// Reload: same reconstructions.
	m2, cfg, err := LoadModel(dir, b)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Free()
	p1, _ := NewPredictor(r.Trainer.Model, r.Config, 64)
	p2, _ := NewPredictor(m2, cfg, 17)
	defer p1.Free()
	defer p2.Free()
	x := opts.Data.Data
	r1, e1, err := p1.Reconstruct(x, 8)
	if err != nil {
		t.Fatal(err)
	}
	r2, _, _ := p2.Reconstruct(x, 8)
	for i := range r1 {
		if r1[i] != r2[i] {
			t.Fatalf("reloaded model differs at %d: %v vs %v", i, r1[i], r2[i])
		}
	}
	mean := 0.0
	for _, v := range e1 {
		mean += float64(v)
	}
	if mean /= float64(len(e1)); math.Abs(mean-ms[39].TrainLoss) > 0.5*ms[39].TrainLoss+1e-3 {
		t.Errorf("mean reconstruction error %v far from final train loss %v", mean, ms[39].TrainLoss)
	}
	codes, err := p2.Encode(x, 8)
	if err != nil || len(codes) != 300*3 {
		t.Fatalf("Encode: %d values, %v", len(codes), err)
	}
}

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
		t.Run("noise="+noise, func(t *testing.T) { checkResume(t, noise) })
	}
}

func checkResume(t *testing.T, noise string) {
	b := cpu(t)
	full := t.TempDir()
	opts := fitOpts(t, b, full)
	opts.Train.Noise = noise
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

func TestEarlyStoppingKeepsBestWeights(t *testing.T) {
	b := cpu(t)
	dir := t.TempDir()
	opts := fitOpts(t, b, dir)
	opts.Train.Epochs, opts.Train.Patience, opts.Train.LR = 40, 2, 0.05
	r, err := NewRun(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := r.Trainer.State
	if st.StopReason != "early_stopping" {
		t.Skipf("did not stop early in 40 epochs (reason %q); the check needs a plateau", st.StopReason)
	}
	if st.Epoch != st.BestEpoch+2 {
		t.Errorf("stopped at epoch %d, best %d, patience 2", st.Epoch, st.BestEpoch)
	}
	v, err := r.Trainer.Validate()
	if err != nil || math.Abs(v-st.BestVal) > 1e-6*st.BestVal {
		t.Errorf("validation loss of the final weights %v, best %v (%v)", v, st.BestVal, err)
	}
}

func TestBadInputsAreClearErrors(t *testing.T) {
	b := cpu(t)
	opts := fitOpts(t, b, t.TempDir())
	opts.Arch.Layers = []int{10, 4}
	if _, err := NewRun(opts); err == nil || !strings.Contains(err.Error(), "8 columns") {
		t.Errorf("width mismatch: %v", err)
	}
	opts = fitOpts(t, b, "/proc/aegpu-cannot-write")
	if _, err := NewRun(opts); err == nil {
		t.Error("unwritable directory accepted")
	}
	opts = fitOpts(t, b, t.TempDir())
	opts.Train.Loss = "bce"
	opts.Arch.Output = engine.Linear
	if _, err := NewRun(opts); err == nil || !strings.Contains(err.Error(), "sigmoid") {
		t.Errorf("bce with linear output: %v", err)
	}
	// A model directory of another architecture.
	dir := t.TempDir()
	opts = fitOpts(t, b, dir)
	opts.Train.Epochs = 1
	r, _ := NewRun(opts)
	r.Train(context.Background())
	r.Close()
	cfg, _ := ReadConfig(dir)
	cfg.Layers = []int{8, 5, 3}
	WriteConfig(dir, cfg)
	if _, _, err := LoadModel(dir, b); err == nil || !strings.Contains(err.Error(), "shape") {
		t.Errorf("loading weights of another architecture: %v", err)
	}
}

// Without a validation split there is no best epoch; the checkpoint must
// still be written (state.json once failed to encode an infinite BestVal).
func TestNoValidationSplit(t *testing.T) {
	b := cpu(t)
	dir := t.TempDir()
	opts := fitOpts(t, b, dir)
	opts.Train.ValSplit, opts.Train.Epochs = 0, 2
	r, err := NewRun(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r.Config.Data.ValRows != 0 || r.Trainer.State.Metrics[1].ValLoss != nil {
		t.Errorf("validation rows %d, metrics %+v", r.Config.Data.ValRows, r.Trainer.State.Metrics[1])
	}
	if _, err := os.Stat(filepath.Join(dir, BestFile)); err == nil {
		t.Error("best.safetensors written without validation data")
	}
	if _, err := ResumeRun(dir, opts.Data, b, 3, nil, nil); err != nil {
		t.Errorf("resume: %v", err)
	}
}

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

// A denoising autoencoder learns to undo masking noise: on held-out rows
// its reconstruction of the corrupted input is closer to the clean row than
// the corrupted input is.
func TestDenoisingImproves(t *testing.T) {
	b := cpu(t)
	opts := fitOpts(t, b, t.TempDir())
	opts.Train.Noise, opts.Train.Epochs, opts.Train.LR = "masking:0.3", 30, 1e-2
	r, err := NewRun(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Config.Variant != "denoising" {
		t.Errorf("variant %q", r.Config.Variant)
	}
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	last := r.Trainer.State.Metrics[len(r.Trainer.State.Metrics)-1]
	if last.ValNoisyMSE == nil || last.ValDenoisedMSE == nil || last.ValPSNRDenoised == nil {
		t.Fatalf("denoising metrics missing: %+v", last)
	}
	if !(*last.ValDenoisedMSE < 0.5**last.ValNoisyMSE) {
		t.Errorf("denoised MSE %v not well below noisy MSE %v", *last.ValDenoisedMSE, *last.ValNoisyMSE)
	}
	// The noisy MSE is the same corruption every epoch.
	if first := r.Trainer.State.Metrics[0]; *first.ValNoisyMSE != *last.ValNoisyMSE {
		t.Errorf("validation corruption changed between epochs: %v vs %v", *first.ValNoisyMSE, *last.ValNoisyMSE)
	}
}

func TestScaledPredictions(t *testing.T) {
	b := cpu(t)
	dir := t.TempDir()
	opts := fitOpts(t, b, dir)
	opts.Train.Noise, opts.Train.Epochs = "masking:0.5", 1
	r, err := NewRun(opts)
	if err != nil {
		t.Fatal(err)
	}
	r.Train(context.Background())
	r.Close()
	m, cfg, err := LoadModel(dir, b)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	p, _ := NewPredictor(m, cfg, 7)
	defer p.Free()
	x := opts.Data.Data[:20*8]
	noisy, err := p.CorruptScaled(x, 8, 3, 5)
	if err != nil {
		t.Fatal(err)
	}
	zeros := 0
	for i, v := range noisy {
		if v == 0 {
			zeros++
		} else if v != x[i] {
			t.Fatalf("masking changed element %d from %v to %v", i, x[i], v)
		}
	}
	// 160 elements, p = 0.5: σ ≈ 6.3, allow 5σ.
	if zeros < 80-32 || zeros > 80+32 {
		t.Errorf("%d of 160 elements masked, want about 80", zeros)
	}
	rs, err := p.ReconstructScaled(x, 8)
	if err != nil {
		t.Fatal(err)
	}
	ru, _, _ := p.Reconstruct(x, 8) // scaler none: the same values
	for i := range rs {
		if rs[i] != ru[i] {
			t.Fatalf("ReconstructScaled[%d] = %v, Reconstruct %v", i, rs[i], ru[i])
		}
	}
}
