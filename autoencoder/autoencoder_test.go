package autoencoder

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegpu/aegpu/cpu_fallback"
	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
)

func cpu(t testing.TB) engine.Backend {
	b := cpu_fallback.New(2)
	t.Cleanup(func() { b.Close() })
	return b
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
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
