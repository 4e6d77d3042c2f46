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
}

// benchJobDescription is bench's help on runs under mpirun.
const benchJobDescription = `

Under mpirun or srun (--distributed auto), bench measures data-parallel
training on the CPU instead: for each model, rank 0 trains alone (the
other ranks sleep in a barrier) and every rank together as ` + "`aegpu train`" + `
does (each rank computes its share of the global batch, one all-reduce of
the gradients per step), window by window in turn, so that both see the
same load. Rank 0 prints each rank's samples/s (its rows over its own
time), the job's (the global batch over the slowest rank's time) and the
scaling efficiency, the job's samples/s over N times rank 0's alone. --scaling strong keeps the global batch (the
model's batch on 1 and on N ranks); weak keeps each rank's (N times the
global batch on N ranks). On a machine with fewer cores than ranks × threads
per rank (GOMAXPROCS), the ranks share cores and the efficiency says so.

--allreduce measures MPI_Allreduce of float32 sums, the call the trainer
makes, from 4 KiB doubling to the mnist model's gradient buffer (4.3 MB):
after a checked call and --warmup untimed ones, --iters timed ones; the
time is the largest over the ranks of the mean per iteration; algbw =
size ÷ time, busbw = algbw × 2(n−1)/n, as nccl-tests report all-reduce.`

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
	var doc map[string]any
	if c.Bool("allreduce") {
		mnist := bench.Models[1]
		warmup, iters := c.Int("warmup"), c.Int("iters")
		print(bench.AllreducePreamble(comm.Size(), warmup, iters, lib))
		print(bench.AllreduceHeader())
		var rows []bench.AllreduceRow
		for _, size := range bench.AllreduceSizes(bench.GradientBytes(mnist)) {
			r, err := bench.RunAllreduce(comm, size, warmup, iters)
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
		if d := c.String("devices"); d != "all" && d != "cpu" {
			return fmt.Errorf("--devices %s: under mpirun, bench trains on the CPU backend (training runs on GPUs over NCCL; bench does not measure that yet)", d)
		}
		want := strings.Split(c.String("models"), ",")
		var models []bench.Model
		for _, m := range bench.Models {
			if !slices.Contains(want, m.Name) {
				continue
			}
			if m.Name == "wide" {
				note("skipping wide under mpirun (minutes per step on a CPU)")
				continue
			}
			models = append(models, m)
		}
		if len(models) == 0 {
			return fmt.Errorf("--models %q: no such model under mpirun (toy, mnist)", c.String("models"))
		}
		b, desc, err := engine.Open("cpu")
		if err != nil {
			return err
		}
		defer b.Close()
		note("%s", desc)
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
