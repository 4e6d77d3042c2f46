package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/aegpu/aegpu/bench"
	"github.com/aegpu/aegpu/cuda"
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/internal/atomicfile"
	"github.com/aegpu/aegpu/internal/mpi"
)

// benchJobFlags are bench's flags for a run under mpirun.
var benchJobFlags = []cli.Flag{
	&cli.StringFlag{Name: "scaling", Value: "strong", Usage: "under mpirun: strong (the model's batch is the job's global batch, as --batch of train) or weak (each rank computes the model's batch)"},
	&cli.BoolFlag{Name: "allreduce", Usage: "under mpirun: instead of training, measure MPI_Allreduce's bandwidth from 4 KiB to the mnist model's gradients (nccl-tests' columns)"},
	&cli.IntFlag{Name: "iters", Value: 100, Usage: "--allreduce: timed iterations per size"},
	&cli.IntFlag{Name: "warmup", Value: 10, Usage: "--allreduce: untimed iterations per size"},
	distributedFlag,
	mpiTimeoutFlag,
}

// benchJobDescription is bench's help on runs under mpirun.
const benchJobDescription = `

Under mpirun or srun (--distributed auto), bench measures data-parallel
training instead, on the GPU of each rank's local rank when the ranks have
GPUs (summing with NCCL, as train does; --devices cpu keeps them on the
CPU, summing over MPI): for each model, rank 0 trains alone (the other
ranks sleep in a barrier) and every rank together as ` + "`aegpu train`" + `
does (each rank computes its share of the global batch, one all-reduce of
the gradients per step), window by window in turn, so that both see the
same load. Rank 0 prints each rank's samples/s (its rows over its own
time), the job's (the global batch over the slowest rank's time) and the
scaling efficiency, the job's samples/s over N times rank 0's alone.
--scaling strong keeps the global batch (the model's batch on 1 and on N
ranks); weak keeps each rank's (N times the global batch on N ranks). On a
machine with fewer cores than ranks × threads per rank (GOMAXPROCS), CPU
ranks share cores and the efficiency says so.

--allreduce measures the call the trainer makes, float32 sums in place:
MPI_Allreduce on the CPU (from 4 KiB doubling to the mnist model's
gradient buffer and stop flag, 4.3 MB), or ncclAllReduce on the GPUs'
compute streams (to the gradient buffer alone; the stop flag goes over
MPI). After a checked call and --warmup untimed ones, --iters timed ones
(on GPUs queued back to back and waited for once); the time is the largest
over the ranks of the mean per iteration; algbw = size ÷ time, busbw =
algbw × 2(n−1)/n, as nccl-tests report all-reduce.`

// runBenchJob is bench as one rank of an MPI job (comm of 2 or more
// ranks): the scaling of training, or the all-reduce microbenchmark.
func runBenchJob(c *cli.Context, comm *mpi.Comm) (err error) {
	defer comm.Finalize()
	defer func() {
		if err != nil {
			abortJob(comm, err)
		}
	}()
	for _, f := range []string{"reference", "encode", "variants", "cpu-wide", "precision"} {
		if c.IsSet(f) {
			return fmt.Errorf("--%s: under mpirun, bench measures the training's scaling (--models, --scaling) or --allreduce; run it without mpirun", f)
		}
	}
	lib := comm.Lib.Version
	if i := strings.Index(lib, ","); i > 0 {
		lib = lib[:i]
	}
	out := os.Stdout
	if comm.Rank() != 0 {
		out = nil // rank 0 prints
	}
	print := func(s string) {
		if out != nil {
			fmt.Fprint(out, s)
		}
	}
	note := func(format string, a ...any) {
		if out != nil {
			fmt.Fprintf(os.Stderr, format+"\n", a...)
		}
	}
	b, onGPU, err := openBenchRank(c, comm)
	if err != nil {
		return err
	}
	defer b.Close()
	note("%s", b.Info())
	if onGPU {
		v, err := cuda.NCCLVersion()
		if err != nil {
			return err
		}
		lib = "NCCL " + v
	}
	var doc map[string]any
	if c.Bool("allreduce") {
		mnist := bench.Models[1]
		warmup, iters := c.Int("warmup"), c.Int("iters")
		print(bench.AllreducePreamble(onGPU, comm.Size(), warmup, iters, lib))
		print(bench.AllreduceHeader())
		var rows []bench.AllreduceRow
		top, run := bench.GradientBytes(mnist), func(size int) (bench.AllreduceRow, error) {
			return bench.RunAllreduce(comm, size, warmup, iters)
		}
		if onGPU {
			top, run = bench.DeviceGradientBytes(mnist), func(size int) (bench.AllreduceRow, error) {
				return bench.RunDeviceAllreduce(b, comm, size, warmup, iters)
			}
		}
		for _, size := range bench.AllreduceSizes(top) {
			r, err := run(size)
			if err != nil {
				return fmt.Errorf("all-reduce of %d bytes: %w", size, err)
			}
			rows = append(rows, r)
			print(bench.AllreduceLine(r))
			if r.Wrong > 0 {
				return fmt.Errorf("all-reduce of %d bytes: %d of %d×%d elements differ from the exact sum", size, r.Wrong, r.Count, comm.Size())
			}
		}
		doc = map[string]any{"ranks": comm.Size(), "library": lib, "allreduce": rows}
	} else {
		s, err := bench.ParseScaling(c.String("scaling"))
		if err != nil {
			return fmt.Errorf("--scaling %w", err)
		}
		want := strings.Split(c.String("models"), ",")
		var models []bench.Model
		for _, m := range bench.Models {
			if !slices.Contains(want, m.Name) {
				continue
			}
			if m.Name == "wide" && !onGPU {
				note("skipping wide on the CPU (minutes per step)")
				continue
			}
			models = append(models, m)
		}
		if len(models) == 0 {
			return fmt.Errorf("--models %q: no such model under mpirun (toy, mnist; wide on GPUs)", c.String("models"))
		}
		o := bench.DefaultOptions()
		o.Windows = c.Int("windows")
		threads := 0
		if p, ok := b.(cpuPeaker); ok {
			threads = p.Threads()
		}
		print(bench.ScalingPreamble(s, comm.Size(), threads, lib))
		print(bench.ScalingHeader())
		var results []bench.ScalingResult
		for _, m := range models {
			note("%s b%d: rank 0 alone, then %d ranks …", m.Name, m.Batch, comm.Size())
			r, err := bench.RunScaling(b, m, o, comm, s)
			if err != nil {
				return fmt.Errorf("%s b%d: %w", m.Name, m.Batch, err)
			}
			results = append(results, r)
			print(bench.ScalingRows(r))
		}
		doc = map[string]any{"ranks": comm.Size(), "library": lib, "scaling": results}
	}
	if path := c.String("json"); path != "" && comm.Rank() == 0 {
		return atomicfile.Write(path, func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(doc)
		})
	}
	return nil
}

// openBenchRank opens the backend of one rank of a bench job: --devices
// all (the default) takes the GPU of the rank's local rank when the ranks
// have GPUs and the CPU otherwise, as train's --device auto; cuda needs
// GPUs; cpu keeps the ranks on the CPU. On GPUs the backends join an NCCL
// communicator (joinGPUs), as train's do.
func openBenchRank(c *cli.Context, comm *mpi.Comm) (b engine.Backend, onGPU bool, err error) {
	spec := c.String("devices")
	switch spec {
	case "all":
		spec = "auto"
	case "cpu", "cuda":
	default:
		return nil, false, fmt.Errorf("--devices %s: under mpirun, each rank takes the GPU of its local rank (all, the default, or cuda), or the CPU (cpu)", spec)
	}
	if spec, err = rankDevice(spec, comm); err != nil {
		return nil, false, err
	}
	if b, _, err = engine.Open(spec); err != nil {
		return nil, false, err
	}
	if _, err := joinGPUs(comm, b, c.Duration("mpi-timeout")); err != nil {
		b.Close()
		return nil, false, err
	}
	watchCollectives(comm, c.Duration("mpi-timeout"))
	_, onGPU = b.(*cuda.Backend)
	return b, onGPU, nil
}
