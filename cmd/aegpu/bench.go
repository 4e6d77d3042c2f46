package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/aegpu/aegpu/bench"
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/internal/atomicfile"
)

// cpuPeaker is the CPU backend: it measures its FMA peak on the kernel
// path it runs (cpu_fallback.Backend.MeasurePeak).
type cpuPeaker interface {
	MeasurePeak(time.Duration) float64
	KernelPath() string
	Threads() int
}

// cpuPeakProbe is how long the CPU's FMA peak is measured.
const cpuPeakProbe = 300 * time.Millisecond

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure training throughput of the benchmark models on every device present",
		Description: `Runs the models of bench/README.md — toy (8→6→4), mnist (784→512→256→32) at batch 256
and 4096, wide (1024→4096→4096→256) at 8192 — on each device: synthetic data
resident on the device, warm-up steps, then timed windows; prints the median
samples/s with min–max, µs/step, TFLOP/s, % of the device's FP32 peak and
the speed-up over the CPU measured in the same run.

--reference also runs the PyTorch script of the same models and protocol
(eager and whole-step CUDA graph on a GPU, eager on the CPU) and prints both
side by side. It needs a Python interpreter that imports torch (--python,
default python3 on PATH); that is checked before anything is measured, and
so is PyTorch's CPU BLAS: a slow configuration (the pthreads build of
OpenBLAS, spinning OpenMP waits, OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE set, the
reference BLAS) is named with the way to fix it.

On the CPU the kernel path that runs (avx512, avx2 or generic; the
environment variable AEGPU_CPU forces one) and its FMA peak, measured for
0.3 s before the CPU rows, are printed; the CPU rows' %peak is the FLOPs a
step does over that peak.

The wide model takes minutes per step on a CPU, so it runs on GPUs only
unless --cpu-wide is given.` + benchJobDescription,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "models", Value: "toy,mnist,wide", Usage: "comma-separated model names"},
			&cli.StringFlag{Name: "devices", Value: "all", Usage: "comma-separated devices (cpu, cuda:0, …) or all"},
			&cli.IntFlag{Name: "windows", Value: 5, Usage: "timed windows per configuration (median reported)"},
			&cli.BoolFlag{Name: "cpu-wide", Usage: "also run the wide model on the CPU"},
			&cli.StringFlag{Name: "precision", Value: "fp32", Usage: "arithmetic of the GPUs' matrix products: fp32, tf32 or bf16 (tensor cores, compute capability ≥ 8.0); the CPU always computes in fp32 (its rows are the speed-up baseline)"},
			&cli.BoolFlag{Name: "encode", Usage: "instead of training, measure encoding rows/s from host memory (the mnist encoder; the column 'batch' is the device batch, 'samples/s' rows/s)"},
			&cli.BoolFlag{Name: "variants", Usage: "instead of --models, run the mnist model at batch 256 as every variant (plain, tied, denoising, sparse, contractive, vae)"},
			&cli.StringFlag{Name: "json", Usage: "write the results as JSON to `FILE`"},
			&cli.BoolFlag{Name: "reference", Usage: "also run the PyTorch reference and compare"},
			&cli.StringFlag{Name: "python", Value: "python3", Usage: "Python interpreter with torch for --reference (a name on PATH or a `PATH`)"},
		}, append(benchJobFlags, qualityFlags...)...),
		Action: runBench,
	}
}

// benchDevices lists the device specs to run: every device present, or the
// ones asked for.
func benchDevices(spec string) ([]string, error) {
	if spec != "all" {
		return strings.Split(spec, ","), nil
	}
	var out []string
	for _, s := range engine.Probe() {
		for _, d := range s.Devices {
			if d.Backend == "cpu" {
				out = append(out, "cpu")
			} else {
				out = append(out, fmt.Sprintf("%s:%d", d.Backend, d.Index))
			}
		}
	}
	return out, nil
}

func runBench(c *cli.Context) error {
	comm, err := startDistributed(c.String("distributed"))
	if err != nil {
		return err
	}
	if comm != nil {
		return runBenchJob(c, comm)
	}
	for _, f := range []string{"allreduce", "scaling", "iters", "warmup", "mpi-timeout"} {
		if c.IsSet(f) {
			return fmt.Errorf("--%s measures a job of several ranks: start bench with mpirun -n 2 or more (or srun)", f)
		}
	}
	if c.Bool("quality") {
		return runBenchQuality(c)
	}
	for _, f := range []string{"sets", "data-dir", "seeds", "md"} {
		if c.IsSet(f) {
			return fmt.Errorf("--%s goes with --quality", f)
		}
	}
	want := strings.Split(c.String("models"), ",")
	var models []bench.Model
	for _, m := range bench.Models {
		if slices.Contains(want, m.Name) {
			models = append(models, m)
		}
	}
	if c.Bool("variants") {
		models = bench.VariantModels
	}
	run := bench.Run
	if c.Bool("encode") {
		models, run = bench.EncodeModels, bench.RunEncode
	}
	if len(models) == 0 {
		return fmt.Errorf("--models %q: no such model (toy, mnist, wide)", c.String("models"))
	}
	devs, err := benchDevices(c.String("devices"))
	if err != nil {
		return err
	}
	prec, err := engine.ParsePrecision(c.String("precision"))
	if err != nil {
		return fmt.Errorf("--precision: %w", err)
	}
	// PyTorch's slow CPU configuration, if it has one.
	blasHint := ""
	if c.Bool("reference") { // before minutes of measurement, not after
		info, err := bench.CheckPython(c.String("python"), bench.PythonProbeTimeout)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "PyTorch reference: %s\n", info)
		if slices.Contains(devs, "cpu") {
			// Say now, and again under the comparison, when PyTorch's
			// CPU figures will come from a slow BLAS configuration.
			if cfg, err := bench.ProbeBLAS(c.String("python"), bench.PythonProbeTimeout); err != nil {
				fmt.Fprintf(os.Stderr, "PyTorch's BLAS: %v\n", err)
			} else {
				fmt.Fprintf(os.Stderr, "PyTorch's CPU matrix products: %s\n", cfg)
				blasHint = cfg.Hint()
				if blasHint != "" {
					fmt.Fprintln(os.Stderr, blasHint)
				}
			}
		}
	}
	o := bench.DefaultOptions()
	o.Windows = c.Int("windows")
	// Rows print as they complete (a run cut short still shows them); the
	// CPU, probed first, gives the speed-up of the devices after it.
	var results []bench.Result
	fmt.Print(bench.Header())
	for _, spec := range devs {
		b, note, err := engine.Open(spec)
		if err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, note)
		p := prec
		if _, ok := b.(engine.PrecisionSetter); !ok && p != engine.FP32 {
			fmt.Fprintf(os.Stderr, "%s: the %s backend computes in fp32 (--precision %s needs a GPU with tensor cores, compute capability ≥ 8.0)\n", spec, b.Info().Backend, p)
			p = engine.FP32
		}
		if err := engine.SetPrecision(b, p); err != nil {
			b.Close()
			return fmt.Errorf("%s: %w", spec, err)
		}
		o.Precision = p
		if pp, ok := b.(cpuPeaker); ok {
			// The CPU rows' % of peak is of the FMA throughput measured
			// here, on the kernel path that runs, in the same minutes.
			peak := pp.MeasurePeak(cpuPeakProbe)
			fmt.Fprintf(os.Stderr, "%s: %s kernels, FMA peak %.0f GFLOP/s measured on %d threads\n",
				spec, pp.KernelPath(), peak/1e9, pp.Threads())
		}
		for _, m := range models {
			if m.Name == "wide" && b.Info().Backend == "cpu" && !c.Bool("cpu-wide") {
				fmt.Fprintf(os.Stderr, "skipping wide on %s (minutes per step; --cpu-wide to run it)\n", spec)
				continue
			}
			fmt.Fprintf(os.Stderr, "%s b%d on %s …\n", m.Name, m.Batch, spec)
			r, err := run(b, m, o)
			if err != nil {
				b.Close()
				return fmt.Errorf("%s b%d on %s: %w", m.Name, m.Batch, spec, err)
			}
			results = append(results, r)
			fmt.Print(bench.Row(r, bench.Speedups(results)[bench.Key(r)]))
		}
		b.Close()
	}
	var refs []bench.RefResult
	if c.Bool("reference") {
		names := []string{}
		for _, m := range models {
			if !slices.Contains(names, m.Name) {
				names = append(names, m.Name)
			}
		}
		fmt.Fprintln(os.Stderr, "running the PyTorch reference …")
		refs, err = bench.RunReference(c.String("python"), names, o.Windows, c.String("precision"))
		if err != nil {
			return err
		}
		fmt.Println()
		fmt.Print(bench.Compare(results, refs))
		if blasHint != "" {
			fmt.Println(blasHint)
		}
	}
	if s := bench.CPUPeakSummary(results, refs); s != "" {
		fmt.Println()
		fmt.Print(s)
	}
	if path := c.String("json"); path != "" {
		return atomicfile.Write(path, func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(map[string]any{"aegpu": results, "pytorch": refs})
		})
	}
	return nil
}
