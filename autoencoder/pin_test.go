package autoencoder

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/aegpu/aegpu/cpu_fallback"
	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
	cpuid "golang.org/x/sys/cpu"
)

// The pin: small seeded training runs of every variant on the CPU
// backend, whose final parameters, optimizer moments and per-epoch
// metrics must stay bit for bit what they were when the hashes in
// pin_table_test.go were recorded. A refactor must not move them; a change
// that is meant to change results (new arithmetic, another random stream,
// a new default) updates them in the same commit and says why.
//
// Where the pin holds, and which table applies (measured when recording):
//
//   - The CPU backend gives the same bits for any number of threads: the
//     hashes hold under GOMAXPROCS 1, 2 and 3 (the backend takes
//     GOMAXPROCS threads) and with -race.
//   - The avx2 table is the AVX2/FMA path of a default build. The AVX-512
//     path gave the same bits on these runs, but it is the path another
//     change is retuning, so the test always runs the AVX2 path: the
//     backend reads AEGPU_CPU when the process starts, so where it runs
//     another path the test reruns itself in a child process with
//     AEGPU_CPU=avx2.
//   - The generic table is the pure-Go path: AEGPU_CPU=generic, or any path
//     of a -tags noasm build (the two agree). It differs from the avx2
//     table: the pure-Go kernels are the assembly's bitwise twins only when
//     the compiler fuses multiply-adds (GOAMD64=v3, see gen_kernel.go), and
//     a default build (GOAMD64=v1) does not.
//   - GOAMD64=v3 or above changes both (the compiler fuses multiply-adds in
//     the pure-Go code that every path runs), as may any architecture but
//     amd64, and a CPU without AVX2/FMA (math.Exp computes differently
//     there, and the AVX2 path does not exist): there the test is skipped.
//
// Recorded with AEGPU_CPU=avx2 (and AEGPU_CPU=generic for the generic
// table), GOAMD64=v1, on the code of commit 928e71f: before the random
// streams were gathered into one table, the library errors were reworded
// in API terms and paritytest moved.

// pinRun is one pinned training run.
type pinRun struct {
	name   string
	layers []int
	hidden engine.Act
	latent engine.Act
	output engine.Act
	tied   bool
	vae    bool
	scale  string
	stream bool // trained from .npy files in chunks (the disk source)
	set    func(c *TrainConfig)
}

// pinRuns: each variant's main path, two optimizers and schedules, the
// streamed source. 160 rows of 12 columns, 20% held out, batch 16.
var pinRuns = []pinRun{
	{name: "plain", layers: []int{12, 8, 3}, hidden: engine.ReLU, latent: engine.Linear, output: engine.Sigmoid, scale: dataset.ScaleMinMax},
	{name: "tied", layers: []int{12, 8, 3}, hidden: engine.Tanh, latent: engine.Linear, output: engine.Linear, tied: true, scale: dataset.ScaleStandard},
	{name: "denoising-gaussian", layers: []int{12, 8, 3}, hidden: engine.ReLU, latent: engine.Linear, output: engine.Sigmoid, scale: dataset.ScaleNone,
		set: func(c *TrainConfig) { c.Noise = "gaussian:0.2" }},
	{name: "denoising-masking", layers: []int{12, 8, 3}, hidden: engine.GELU, latent: engine.Linear, output: engine.Sigmoid, scale: dataset.ScaleNone,
		set: func(c *TrainConfig) { c.Noise = "masking:0.25" }},
	{name: "sparse-kl-l1", layers: []int{12, 8, 4}, hidden: engine.Sigmoid, latent: engine.Sigmoid, output: engine.Sigmoid, scale: dataset.ScaleNone,
		set: func(c *TrainConfig) {
			c.Kind, c.SparsityBeta, c.SparsityTarget, c.SparsityL1, c.SparseLayers = "sparse", 0.5, 0.1, 1e-3, []int{1, 2}
		}},
	{name: "contractive-exact", layers: []int{12, 6}, hidden: engine.ReLU, latent: engine.Sigmoid, output: engine.Sigmoid, scale: dataset.ScaleNone,
		set: func(c *TrainConfig) { c.Kind, c.Contractive = "contractive", 0.1 }},
	{name: "contractive-estimator", layers: []int{12, 8, 4}, hidden: engine.Tanh, latent: engine.Linear, output: engine.Sigmoid, scale: dataset.ScaleNone,
		set: func(c *TrainConfig) { c.Kind, c.Contractive, c.Projections = "contractive", 0.05, 2 }},
	{name: "vae-warmup", layers: []int{12, 8, 3}, hidden: engine.ReLU, latent: engine.Linear, output: engine.Sigmoid, vae: true, scale: dataset.ScaleNone,
		set: func(c *TrainConfig) { c.Kind, c.Loss, c.KLBeta, c.KLWarmup = "vae", "bce", 1, 2 }},
	{name: "adamw-cosine-clip", layers: []int{12, 8, 3}, hidden: engine.LeakyReLU, latent: engine.Linear, output: engine.Sigmoid, scale: dataset.ScaleMinMax,
		set: func(c *TrainConfig) {
			c.Optimizer, c.WeightDecay, c.Schedule, c.MinLR, c.ClipNorm, c.L2, c.Patience = "adamw", 1e-2, "cosine", 1e-4, 0.05, 1e-3, 2
		}},
	{name: "sgd-momentum-step", layers: []int{12, 8, 3}, hidden: engine.ReLU, latent: engine.Linear, output: engine.Linear, scale: dataset.ScaleStandard,
		set: func(c *TrainConfig) {
			c.Optimizer, c.LR, c.Momentum, c.Schedule, c.StepSize, c.Gamma = "sgd", 0.05, 0.9, "step", 2, 0.5
		}},
	{name: "streamed-chunks", layers: []int{12, 8, 3}, hidden: engine.ReLU, latent: engine.Linear, output: engine.Sigmoid, scale: dataset.ScaleMinMax, stream: true},
}

const (
	pinRows, pinCols = 160, 12
	// pinChildEnv marks the child process the test starts on the AVX2 path.
	pinChildEnv = "AEGPU_PIN_CHILD"
	// pinPrintEnv=1 prints the table of hashes of the code as it is.
	pinPrintEnv = "AEGPU_PIN_PRINT"
)

// pinData is the pinned runs' data: rows in [0,1] from three latent
// factors, drawn from a fixed Philox stream. The float32 conversions keep
// the compiler from fusing multiply-adds, so the data are the same bits on
// every platform.
func pinData() []float32 {
	f := make([]float32, pinRows*3)
	engine.FillUniform(f, 7, 3, 0, 0, 1)
	x := make([]float32, pinRows*pinCols)
	for r := range pinRows {
		a, b, c := f[3*r], f[3*r+1], f[3*r+2]
		for j := range pinCols {
			u := float32(j) / float32(pinCols-1)
			v := float32(a*u) + float32(b*(1-u))
			x[r*pinCols+j] = float32(0.8*v) + float32(0.2*c)
		}
	}
	return x
}

func TestPinnedRuns(t *testing.T) {
	skipUnpinnedPlatform(t)
	path := cpu_fallback.KernelPath()
	want, ok := pinned[path]
	if !ok {
		rerunPinnedOnAVX2(t, path)
		return
	}
	x := pinData()
	paths := writePinParts(t, x)
	var table strings.Builder
	failed := false
	for _, pr := range pinRuns {
		params, opt, metrics, err := pr.train(x, paths)
		if err != nil {
			t.Errorf("%s: %v", pr.name, err)
			failed = true
			continue
		}
		fmt.Fprintf(&table, "\t\t%q: {\n\t\t\tparams:  %q,\n\t\t\topt:     %q,\n\t\t\tmetrics: %q,\n\t\t},\n", pr.name, params, opt, metrics)
		changed := pinChanges(pinHashes{params, opt, metrics}, want[pr.name])
		if len(changed) > 0 {
			failed = true
			t.Errorf("pinned run %q (%s path) no longer trains to the same bits:\n\t%s", pr.name, path, strings.Join(changed, "\n\t"))
		}
	}
	if failed {
		t.Log(pinFailureHint)
	}
	if failed || os.Getenv(pinPrintEnv) != "" {
		t.Logf("the hashes of this code, pinned[%q] in pin_table_test.go:\n%s", path, table.String())
	}
}

// skipUnpinnedPlatform skips the test where the pinned hashes cannot hold
// (see the top of this file).
func skipUnpinnedPlatform(t *testing.T) {
	t.Helper()
	switch {
	case runtime.GOARCH != "amd64":
		t.Skipf("the pinned hashes are recorded on amd64; %s may fuse multiply-adds in the pure-Go code", runtime.GOARCH)
	case pinGOAMD64v3:
		t.Skip("the pinned hashes are recorded with GOAMD64=v1; v3 lets the compiler fuse multiply-adds in the pure-Go code")
	case !(cpuid.X86.HasAVX2 && cpuid.X86.HasFMA):
		t.Skip("the pinned hashes are recorded on a CPU with AVX2/FMA (math.Exp uses FMA there)")
	}
}

// rerunPinnedOnAVX2 runs TestPinnedRuns in a child process on the AVX2
// path, for a process that runs path, which has no pinned table.
func rerunPinnedOnAVX2(t *testing.T, path string) {
	t.Helper()
	if os.Getenv(pinChildEnv) != "" {
		t.Fatalf("the child process runs the %s path with %s=avx2", path, cpu_fallback.EnvPath)
	}
	// The kernel path is chosen when the process starts: rerun this
	// test alone with the AVX2 path forced.
	args := []string{"-test.run=^TestPinnedRuns$", "-test.count=1"}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), cpu_fallback.EnvPath+"=avx2", pinChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the pinned runs on the avx2 path (a child process, as this one runs %s) failed: %v\n%s", path, err, out)
	}
	t.Logf("ran on the avx2 path in a child process (this one runs %s):\n%s", path, out)
}

// writePinParts writes x as two .npy files, the streamed run's source,
// and returns their paths.
func writePinParts(t *testing.T, x []float32) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for i, part := range [][2]int{{0, 70}, {70, pinRows}} {
		p := filepath.Join(dir, fmt.Sprintf("part%d.npy", i))
		if err := dataset.WriteNPY(p, part[1]-part[0], pinCols, x[part[0]*pinCols:part[1]*pinCols]); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// pinChanges says which of a run's hashes differ from the pinned ones.
func pinChanges(got, want pinHashes) []string {
	var changed []string
	for _, c := range []struct{ what, got, want string }{
		{"final parameters", got.params, want.params},
		{"optimizer moments", got.opt, want.opt},
		{"per-epoch metrics", got.metrics, want.metrics},
	} {
		if c.got != c.want {
			changed = append(changed, fmt.Sprintf("%s: sha256 %s, pinned %s", c.what, c.got, c.want))
		}
	}
	return changed
}

// pinFailureHint is logged when a pinned run no longer trains to the same
// bits.
const pinFailureHint = `Training from a fixed seed is pinned bit for bit (see the top of pin_test.go).
Unwanted change: the change was meant to keep results (a refactor, moved code,
new errors or names): it must not alter any hash; find what moved. Clues: only
the metrics changed: the validation path or a metric; only the optimizer
moments: the optimizer state; every run: the data, the initialisation, a random
stream or a kernel; one run: the code of that variant or option.
Wanted change: the change alters results on purpose (new arithmetic, another
random stream, a new default): update both tables in pin_table_test.go in the
same commit and say why in its message. ` + pinPrintEnv + `=1 go test -run TestPinnedRuns
./autoencoder prints the avx2 table, with ` + cpu_fallback.EnvPath + `=generic the generic one.`

// train runs pr and returns the sha256 of its final parameters (the
// tensors in Model.Tensors order, float32 little-endian), of its optimizer
// moments (s1 then s2) and of its per-epoch metrics (every number but the
// timings).
func (pr pinRun) train(x []float32, paths []string) (params, opt, metrics string, err error) {
	b := cpu_fallback.New(0)
	defer b.Close()
	cfg := LegacyTrainConfig()
	cfg.Epochs, cfg.Batch, cfg.LR, cfg.ValSplit, cfg.Seed = 4, 16, 3e-3, 0.2, 42
	if pr.set != nil {
		pr.set(&cfg)
	}
	opts := FitOptions{Data: &dataset.Table{Rows: pinRows, Cols: pinCols, Data: x, Shape: []int{pinRows, pinCols}},
		Source: "pin", Arch: Arch{Layers: pr.layers, Hidden: pr.hidden, Latent: pr.latent, Output: pr.output, Tied: pr.tied, VAE: pr.vae},
		Train: cfg, Scale: pr.scale, Backend: b}
	var r *Run
	if pr.stream {
		r, err = NewStreamRun(opts, paths, 40)
	} else {
		r, err = NewRun(opts)
	}
	if err != nil {
		return "", "", "", err
	}
	defer r.Close()
	if err := r.Train(context.Background()); err != nil {
		return "", "", "", err
	}
	ts, err := r.Trainer.Model.Tensors()
	if err != nil {
		return "", "", "", err
	}
	h := sha256.New()
	for _, t := range ts {
		writeF32(h, t.Data)
	}
	params = hex.EncodeToString(h.Sum(nil))
	s1, s2, err := r.Trainer.OptimizerState()
	if err != nil {
		return "", "", "", err
	}
	h.Reset()
	writeF32(h, s1)
	writeF32(h, s2)
	opt = hex.EncodeToString(h.Sum(nil))
	h.Reset()
	for _, m := range r.Trainer.State.Metrics {
		f := []float64{float64(m.Epoch), float64(m.Step), m.TrainLoss, m.LR}
		if m.Best {
			f = append(f, 1)
		}
		for _, p := range []*float64{m.ValLoss, m.ValNoisyMSE, m.ValDenoisedMSE, m.ValPSNRNoisy, m.ValPSNRDenoised,
			m.TrainPenalty, m.MeanActivationAvg, m.TrainKL, m.KLBeta} {
			if p != nil {
				f = append(f, *p)
			} else {
				f = append(f, math.Inf(-1)) // absent
			}
		}
		keys := make([]string, 0, len(m.MeanActivation))
		for k := range m.MeanActivation {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			h.Write([]byte(k))
			f = append(f, m.MeanActivation[k]...)
		}
		for _, v := range f {
			binary.Write(h, binary.LittleEndian, math.Float64bits(v))
		}
	}
	metrics = hex.EncodeToString(h.Sum(nil))
	return params, opt, metrics, nil
}

func writeF32(h interface{ Write([]byte) (int, error) }, v []float32) {
	var buf [4]byte
	for _, f := range v {
		binary.LittleEndian.PutUint32(buf[:], math.Float32bits(f))
		h.Write(buf[:])
	}
}
