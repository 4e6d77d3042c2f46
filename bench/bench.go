// Package bench measures training throughput of the models of
// bench/README.md on any engine backend, with its protocol: synthetic data
// resident on the device, warm-up steps, then several timed windows whose
// median is reported with the min–max spread.
package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
)

// Model is one benchmark model.
type Model struct {
	Name   string
	Layers []int // encoder widths; the decoder mirrors them
	Batch  int
	// Variant, when set, changes the plain model into another variant.
	Variant func(a *autoencoder.Arch, c *autoencoder.TrainConfig)
}

// Models are bench/README.md's models at their benchmark batch sizes.
var Models = []Model{
	{Name: "toy", Layers: []int{8, 6, 4}, Batch: 256},
	{Name: "mnist", Layers: []int{784, 512, 256, 32}, Batch: 256},
	{Name: "mnist", Layers: []int{784, 512, 256, 32}, Batch: 4096},
	{Name: "wide", Layers: []int{1024, 4096, 4096, 256}, Batch: 8192},
}

// VariantModels are the mnist model at batch 256 as each variant (the
// plain one first, as the reference), with the settings the README uses.
var VariantModels = []Model{
	{"mnist", []int{784, 512, 256, 32}, 256, nil},
	{"m-tied", []int{784, 512, 256, 32}, 256, func(a *autoencoder.Arch, c *autoencoder.TrainConfig) { a.Tied = true }},
	{"m-dae", []int{784, 512, 256, 32}, 256, func(a *autoencoder.Arch, c *autoencoder.TrainConfig) { c.Noise = "gaussian:0.3" }},
	{"m-sparse", []int{784, 512, 256, 32}, 256, func(a *autoencoder.Arch, c *autoencoder.TrainConfig) {
		a.Latent = engine.Sigmoid
		c.Kind, c.SparsityBeta, c.SparsityTarget = "sparse", 1, 0.05
	}},
	{"m-cae", []int{784, 512, 256, 32}, 256, func(a *autoencoder.Arch, c *autoencoder.TrainConfig) {
		c.Kind, c.Contractive, c.Projections = "contractive", 0.01, 1
	}},
	{"m-vae", []int{784, 512, 256, 32}, 256, func(a *autoencoder.Arch, c *autoencoder.TrainConfig) {
		a.VAE = true
		c.Kind, c.KLBeta = "vae", 1
	}},
}

// FLOPsPerSample is 6·Σ in·out over the autoencoder's layers (forward 2,
// backward 4), bench/README.md's convention.
func (m Model) FLOPsPerSample() float64 {
	a := autoencoder.Arch{Layers: m.Layers}
	s := 0.0
	for _, l := range a.Specs() {
		s += float64(l.In) * float64(l.Out)
	}
	return 6 * s
}

// FLOPsDonePerSample is FLOPsPerSample less the input gradient of the
// first layer, which training never computes: the arithmetic a step does,
// which the CPU rows' % of the measured FMA peak counts.
func (m Model) FLOPsDonePerSample() float64 {
	a := autoencoder.Arch{Layers: m.Layers}
	specs := a.Specs()
	if len(specs) == 0 {
		return 0
	}
	return m.FLOPsPerSample() - 2*float64(specs[0].In)*float64(specs[0].Out)
}

// Result is one (model, batch, device) measurement.
type Result struct {
	Model         string  `json:"model"`
	Batch         int     `json:"batch"`
	Device        string  `json:"device"`
	SamplesPerSec float64 `json:"samples_per_sec"` // median window
	MinSPS        float64 `json:"samples_per_sec_min"`
	MaxSPS        float64 `json:"samples_per_sec_max"`
	MicrosPerStep float64 `json:"us_per_step"`
	TFLOPS        float64 `json:"tflops"`
	PeakFraction  float64 `json:"peak_fraction,omitempty"`
	Windows       int     `json:"windows"`
	StepsPerWin   int     `json:"steps_per_window"`
	// Precision of the matrix products ("tf32", "bf16"; empty: fp32).
	Precision string `json:"precision,omitempty"`
	// CPU only: the kernel path that ran (avx512, avx2, generic) and the
	// FMA peak measured on it (FLOP/s) that PeakFraction is of; there
	// PeakFraction counts the FLOPs done (FLOPsDonePerSample).
	KernelPath string  `json:"kernel_path,omitempty"`
	PeakFLOPS  float64 `json:"peak_flops,omitempty"`
}

// kernelPather is a CPU backend that says which kernel path it runs.
type kernelPather interface{ KernelPath() string }

// Options controls the measurement.
type Options struct {
	Windows   int           // timed windows (median reported)
	MinWindow time.Duration // each window runs at least this long
	Warmup    int           // untimed steps first
	Seed      uint64
	// Precision is recorded in the results (the caller sets it on the
	// backend, engine.SetPrecision).
	Precision engine.Precision
}

// DefaultOptions gives a stable median in a few seconds per configuration.
func DefaultOptions() Options {
	return Options{Windows: 5, MinWindow: 300 * time.Millisecond, Warmup: 3, Seed: 1}
}

// Run measures model m on backend b: Adam 1e-3, MSE, ReLU hidden, linear
// latent, sigmoid output, float32, data uniform in [0,1).
func Run(b engine.Backend, m Model, o Options) (Result, error) {
	tr, free, err := newTrainer(b, m, o)
	if err != nil {
		return Result{}, err
	}
	defer free()
	if err := tr.Benchmark(max(o.Warmup, 1)); err != nil {
		return Result{}, err
	}
	window := func(steps int) (float64, error) { return timeSteps(tr, steps) }
	steps, err := sizeWindow(o, window)
	if err != nil {
		return Result{}, err
	}
	rates := make([]float64, 0, o.Windows)
	for w := 0; w < o.Windows; w++ {
		secs, err := window(steps)
		if err != nil {
			return Result{}, err
		}
		rates = append(rates, float64(steps*m.Batch)/secs)
	}
	return result(b, m, o, rates, steps), nil
}

// timeSteps runs steps training steps and returns their seconds.
func timeSteps(tr *autoencoder.Trainer, steps int) (float64, error) {
	start := time.Now()
	if err := tr.Benchmark(steps); err != nil {
		return 0, err
	}
	return time.Since(start).Seconds(), nil
}

// sizeWindow returns the steps of a window: they double from 1 until a
// window (which returns its seconds) lasts o.MinWindow.
func sizeWindow(o Options, window func(steps int) (float64, error)) (int, error) {
	steps := 1
	for {
		secs, err := window(steps)
		if err != nil {
			return 0, err
		}
		if secs >= o.MinWindow.Seconds() || steps >= 1<<20 {
			return steps, nil
		}
		steps *= 2
	}
}

// result is m's Result on b from the samples/s of its windows.
func result(b engine.Backend, m Model, o Options, rates []float64, steps int) Result {
	slices.Sort(rates)
	med := rates[len(rates)/2]
	info := b.Info()
	r := Result{
		Model: m.Name, Batch: m.Batch, Device: info.String(), SamplesPerSec: med,
		MinSPS: rates[0], MaxSPS: rates[len(rates)-1], MicrosPerStep: 1e6 * float64(m.Batch) / med,
		TFLOPS: med * m.FLOPsPerSample() / 1e12, Windows: len(rates), StepsPerWin: steps,
	}
	if o.Precision != engine.FP32 {
		r.Precision = o.Precision.String()
	}
	if info.PeakFLOPS > 0 {
		r.PeakFraction = r.TFLOPS * 1e12 / info.PeakFLOPS
	}
	if kp, ok := b.(kernelPather); ok {
		r.KernelPath = kp.KernelPath()
		if info.PeakFLOPS > 0 {
			r.PeakFLOPS = info.PeakFLOPS
			r.PeakFraction = med * m.FLOPsDonePerSample() / info.PeakFLOPS
		}
	}
	return r
}

// newTrainer builds m's model and a trainer on one batch of its data
// (uniform in [0,1), the same on every rank of a job); free releases both.
func newTrainer(b engine.Backend, m Model, o Options) (*autoencoder.Trainer, func(), error) {
	cols := m.Layers[0]
	x := make([]float32, m.Batch*cols)
	engine.FillUniform(x, o.Seed, 12345, 0, 0, 1)
	cfg := autoencoder.LegacyTrainConfig() // the PyTorch reference's recipe
	cfg.Batch, cfg.ValSplit, cfg.Epochs = m.Batch, 0, 1
	arch := autoencoder.Arch{Layers: m.Layers, Hidden: engine.ReLU, Latent: engine.Linear, Output: engine.Sigmoid}
	if m.Variant != nil {
		m.Variant(&arch, &cfg)
	}
	model, err := autoencoder.NewModel(b, arch)
	if err != nil {
		return nil, nil, err
	}
	if err := model.Init(o.Seed); err != nil {
		model.Free()
		return nil, nil, err
	}
	tr, err := autoencoder.NewTrainer(model, cfg, x, nil, cols)
	if err != nil {
		model.Free()
		return nil, nil, err
	}
	return tr, func() { tr.Free(); model.Free() }, nil
}

// Header is the first line of the results table.
func Header() string {
	return fmt.Sprintf("%-8s %6s  %-34s %14s %19s %10s %8s %6s %8s\n", "model", "batch", "device", "samples/s", "min–max", "µs/step", "TFLOP/s", "%peak", "vs cpu")
}

// Row formats one result; speedup ≤ 0 means none (no CPU result to compare).
func Row(r Result, speedup float64) string {
	peak, sp := "—", "—"
	if r.PeakFraction > 0 {
		peak = fmt.Sprintf("%.1f", 100*r.PeakFraction)
	}
	if speedup > 0 {
		sp = fmt.Sprintf("%.1f×", speedup)
	}
	dev := r.Device
	if r.Precision != "" {
		dev = r.Precision + " " + dev
	}
	if len(dev) > 34 {
		dev = dev[:33] + "…"
	}
	return fmt.Sprintf("%-8s %6d  %-34s %14.0f %9.0f–%-9.0f %10.1f %8.3f %6s %8s\n",
		r.Model, r.Batch, dev, r.SamplesPerSec, r.MinSPS, r.MaxSPS, r.MicrosPerStep, r.TFLOPS, peak, sp)
}

// Table formats results as an aligned text table.
func Table(rs []Result, speedups map[string]float64) string {
	s := Header()
	for _, r := range rs {
		s += Row(r, speedups[Key(r)])
	}
	return s
}

// Key identifies a result in the map Speedups returns.
func Key(r Result) string { return fmt.Sprintf("%s/%d/%s/%s", r.Model, r.Batch, r.Device, r.Precision) }

// Speedups maps each non-CPU result to its ratio over the CPU result of the
// same model and batch measured in the same run.
func Speedups(rs []Result) map[string]float64 {
	cpu := map[string]float64{}
	for _, r := range rs {
		if len(r.Device) >= 3 && r.Device[:3] == "cpu" {
			cpu[fmt.Sprintf("%s/%d", r.Model, r.Batch)] = r.SamplesPerSec
		}
	}
	out := map[string]float64{}
	for _, r := range rs {
		if c, ok := cpu[fmt.Sprintf("%s/%d", r.Model, r.Batch)]; ok && r.Device[:3] != "cpu" {
			out[Key(r)] = r.SamplesPerSec / c
		}
	}
	return out
}

// EncodeModels are the encoder throughput benchmarks: the mnist model's
// encoder on host rows (scaling, upload, encoder, download of the codes),
// at a small and a large device batch.
var EncodeModels = []Model{
	{Name: "enc-mnist", Layers: []int{784, 512, 256, 32}, Batch: 4096},
	{Name: "enc-mnist", Layers: []int{784, 512, 256, 32}, Batch: 65536},
}

// RunEncode measures how many rows per second m's encoder turns from host
// memory into codes in host memory on b (Predictor.EncodeInto over 4
// batches per call). FLOPs count the encoder's forward pass only.
func RunEncode(b engine.Backend, m Model, o Options) (Result, error) {
	cols := m.Layers[0]
	rows := 4 * m.Batch
	x := make([]float32, rows*cols)
	engine.FillUniform(x, o.Seed, 12346, 0, 0, 1)
	arch := autoencoder.Arch{Layers: m.Layers, Hidden: engine.ReLU, Latent: engine.Linear, Output: engine.Sigmoid}
	model, err := autoencoder.NewModel(b, arch)
	if err != nil {
		return Result{}, err
	}
	defer model.Free()
	if err := model.Init(o.Seed); err != nil {
		return Result{}, err
	}
	cfg := autoencoder.Config{Scaler: dataset.Scaler{Kind: dataset.ScaleNone}}
	cfg.SetArch(arch)
	p, err := autoencoder.NewPredictor(model, cfg, m.Batch)
	if err != nil {
		return Result{}, err
	}
	defer p.Free()
	out := make([]float32, rows*arch.LatentDim())
	pass := func() error { return p.EncodeInto(out, x, cols) }
	if err := pass(); err != nil { // warm-up
		return Result{}, err
	}
	rates := make([]float64, 0, o.Windows)
	for range o.Windows {
		start, n := time.Now(), 0
		for time.Since(start) < o.MinWindow || n == 0 {
			if err := pass(); err != nil {
				return Result{}, err
			}
			n++
		}
		rates = append(rates, float64(n*rows)/time.Since(start).Seconds())
	}
	slices.Sort(rates)
	med := rates[len(rates)/2]
	flops := 0.0
	for _, s := range arch.Specs() {
		if s.Encoder {
			flops += 2 * float64(s.In) * float64(s.Out)
		}
	}
	info := b.Info()
	r := Result{Model: m.Name, Batch: m.Batch, Device: info.String(), SamplesPerSec: med, MinSPS: rates[0], MaxSPS: rates[len(rates)-1],
		MicrosPerStep: 1e6 * float64(m.Batch) / med, TFLOPS: med * flops / 1e12, Windows: o.Windows, StepsPerWin: 4}
	if o.Precision != engine.FP32 {
		r.Precision = o.Precision.String()
	}
	if info.PeakFLOPS > 0 {
		r.PeakFraction = r.TFLOPS * 1e12 / info.PeakFLOPS
	}
	return r, nil
}

// CPUPeakSummary says, for each CPU result that has a measured FMA peak,
// which kernel path ran, the peak, and the share of it that aegpu and
// PyTorch's CPU reference of the same model and batch reach (FLOPs done
// over the peak), e.g.
//
//	cpu mnist b4096: avx512 kernels, FMA peak 412 GFLOP/s (measured); aegpu 71.2% of it, PyTorch 55.0%
func CPUPeakSummary(rs []Result, refs []RefResult) string {
	var sb strings.Builder
	for _, r := range rs {
		if r.PeakFLOPS <= 0 || deviceKind(r.Device) != "cpu" {
			continue
		}
		fmt.Fprintf(&sb, "cpu %s b%d: %s kernels, FMA peak %.0f GFLOP/s (measured); aegpu %.1f%% of it",
			r.Model, r.Batch, r.KernelPath, r.PeakFLOPS/1e9, 100*r.PeakFraction)
		for _, f := range refs {
			if f.Model == r.Model && f.Batch == r.Batch && f.kind() == "cpu" && r.SamplesPerSec > 0 {
				fmt.Fprintf(&sb, ", PyTorch %s %.1f%%", f.Mode, 100*r.PeakFraction*f.SamplesPerSec/r.SamplesPerSec)
			}
		}
		sb.WriteString("\n")
	}
	return sb.String()
}
