package main

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aegpu/aegpu/bench"
)

// TestBenchUnderMPI runs `aegpu bench` as a job of 2 ranks under Open
// MPI and under MPICH: the strong scaling of the toy model (one window;
// weak scaling under the first launcher) and the all-reduce
// microbenchmark (a few iterations), and checks what rank 0 prints and
// writes. Values are checked for sense, not speed.
func TestBenchUnderMPI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs mpirun")
	}
	ls := mpiLaunchers(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "aegpu")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	run := func(l string, launch []string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		argv := append(append(append([]string{}, launch...), bin, "bench"), args...)
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Dir = dir
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %s: %v\n%s%s", l, strings.Join(argv, " "), err, out, stderr.String())
		}
		return string(out)
	}
	top := bench.GradientBytes(bench.Models[1])
	for i, l := range ls {
		name := strings.ReplaceAll(l.Name, " ", "")
		scalings := []string{"strong"}
		if i == 0 { // weak scaling differs in the batch only: once is enough
			scalings = append(scalings, "weak")
		}
		for _, scaling := range scalings {
			js := filepath.Join(dir, name+"-"+scaling+".json")
			out := run(l.Name, l.Command(2), "--models", "toy", "--windows", "1", "--scaling", scaling, "--json", js)
			t.Logf("%s:\n%s", l.Name, out)
			if n := strings.Count(out, "\ntoy "); n != 4 || !strings.Contains(out, scaling+" scaling over 2 ranks") {
				t.Errorf("%s, %s: %d rows of toy, want 4 printed once (rank 0 alone, ranks 0 and 1, the job):\n%s", l.Name, scaling, n, out)
			}
			var doc struct {
				Ranks   int                   `json:"ranks"`
				Scaling []bench.ScalingResult `json:"scaling"`
			}
			readJSON(t, js, &doc)
			if doc.Ranks != 2 || len(doc.Scaling) != 1 {
				t.Fatalf("%s, %s: %+v", l.Name, scaling, doc)
			}
			r := doc.Scaling[0]
			want := 256
			if scaling == "weak" {
				want = 512
			}
			if r.Batch != want || r.OneRank.Batch != 256 || len(r.PerRank) != 2 || string(r.Scaling) != scaling {
				t.Errorf("%s, %s: batch %d, one rank's %d, %d ranks' figures", l.Name, scaling, r.Batch, r.OneRank.Batch, len(r.PerRank))
			}
			rows := 0
			for _, p := range r.PerRank {
				rows += p.Rows
				if !positive(p.SamplesPerSec) {
					t.Errorf("%s, %s: rank %d: %v samples/s", l.Name, scaling, p.Rank, p.SamplesPerSec)
				}
			}
			if rows != r.Batch {
				t.Errorf("%s, %s: the ranks' rows add to %d, not the global batch %d", l.Name, scaling, rows, r.Batch)
			}
			if !positive(r.SamplesPerSec) || !positive(r.OneRank.SamplesPerSec) || !(r.Efficiency > 0 && r.Efficiency <= 1.5) {
				t.Errorf("%s, %s: job %v samples/s, one rank %v, efficiency %v (want in (0, 1.5])", l.Name, scaling, r.SamplesPerSec, r.OneRank.SamplesPerSec, r.Efficiency)
			}
		}

		js := filepath.Join(dir, name+"-allreduce.json")
		out := run(l.Name, l.Command(2), "--allreduce", "--iters", "3", "--warmup", "1", "--json", js)
		t.Logf("%s:\n%s", l.Name, out)
		if strings.Count(out, "busbw") != 2 { // the preamble and the header, once
			t.Errorf("%s: the all-reduce table is not printed once:\n%s", l.Name, out)
		}
		var doc struct {
			Ranks     int                  `json:"ranks"`
			Allreduce []bench.AllreduceRow `json:"allreduce"`
		}
		readJSON(t, js, &doc)
		sizes := bench.AllreduceSizes(top)
		if doc.Ranks != 2 || len(doc.Allreduce) != len(sizes) {
			t.Fatalf("%s: %d ranks, %d sizes; want 2, %d", l.Name, doc.Ranks, len(doc.Allreduce), len(sizes))
		}
		for i, r := range doc.Allreduce {
			if r.Bytes != sizes[i] || r.Count != sizes[i]/4 || r.Wrong != 0 || r.Iters != 3 {
				t.Errorf("%s: row %d: %+v (want %d bytes, nothing wrong)", l.Name, i, r, sizes[i])
			}
			// Two ranks: busbw = algbw × 2(2−1)/2 = algbw.
			if !positive(r.Micros) || !positive(r.AlgBW) || r.BusBW != r.AlgBW {
				t.Errorf("%s: %d bytes: %v µs, algbw %v, busbw %v", l.Name, r.Bytes, r.Micros, r.AlgBW, r.BusBW)
			}
		}
	}
}

// TestBenchJobFlagsNeedMPI: the flags of a job refuse a single process.
func TestBenchJobFlagsNeedMPI(t *testing.T) {
	for _, f := range [][]string{{"--allreduce"}, {"--scaling", "weak"}} {
		err := newApp().Run(append([]string{"aegpu", "bench", "--distributed", "off"}, f...))
		if err == nil || !strings.Contains(err.Error(), "mpirun") {
			t.Errorf("bench %v without mpirun: %v", f, err)
		}
	}
}

func positive(v float64) bool { return v > 0 && !math.IsInf(v, 0) }

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
