package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/internal/mpi"
	"github.com/aegpu/aegpu/internal/safetensors"
)

// requireMPIEnv makes the MPI tests fail instead of skipping where Open
// MPI's or MPICH's mpirun is missing (.ci/run installs both and sets it).
const requireMPIEnv = "AEGPU_REQUIRE_MPI"

// mpiLaunchers returns the launchers on this machine; a missing one skips
// its runs with a one-line reason (or fails under requireMPIEnv).
func mpiLaunchers(t *testing.T) []mpi.Launcher {
	ls := mpi.Launchers()
	have := map[string]bool{}
	for _, l := range ls {
		have[l.Name] = true
	}
	for _, want := range []string{"Open MPI", "MPICH"} {
		if have[want] {
			continue
		}
		if os.Getenv(requireMPIEnv) != "" {
			t.Errorf("no mpirun of %s on PATH, and %s is set", want, requireMPIEnv)
		} else {
			t.Logf("no mpirun of %s on PATH: its runs are skipped (apt-get install openmpi-bin mpich)", want)
		}
	}
	if len(ls) == 0 {
		t.Skip("no mpirun on PATH (apt-get install openmpi-bin mpich)")
	}
	return ls
}

// weights reads a model directory's tensors.
func weights(t *testing.T, dir string) map[string][]float32 {
	t.Helper()
	f, err := safetensors.ReadFile(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]float32{}
	for n, ts := range f.Tensors {
		out[n] = ts.Data
	}
	return out
}

// maxRelDiff is the largest |a-b| / max(|b|, 1e-3) over all tensors.
func maxRelDiff(t *testing.T, a, b map[string][]float32) float64 {
	var m float64
	for n, w := range b {
		g := a[n]
		if len(g) != len(w) {
			t.Fatalf("tensor %s: %d values, want %d", n, len(g), len(w))
		}
		for i := range w {
			m = max(m, math.Abs(float64(g[i])-float64(w[i]))/max(math.Abs(float64(w[i])), 1e-3))
		}
	}
	return m
}

// TestDistributedTrainMatchesOneProcess trains with mpirun on 2 and 3
// ranks, under Open MPI and under MPICH, and compares the final weights
// with one process's on the same seed and global batch; then resumes a
// 2-rank run on 3 ranks, and trains two variants: a sparse model with a
// KL term (its ρ̂ all-reduced every step) on noisy inputs (drawn by row),
// and a VAE.
func TestDistributedTrainMatchesOneProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs mpirun")
	}
	ls := mpiLaunchers(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "aegpu")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "toy.csv")
	writeToyCSV(t, data, 301) // 241 training rows: a short last batch of 1 row at --batch 16
	// A constant rate and no warm-up: one run is extended from 2 epochs to
	// 3, so the schedule must not depend on the number of epochs.
	common := []string{"train", "--data", data, "--layers", "6,5,2", "--batch", "16", "--seed", "3", "--l2", "1e-4", "--device", "cpu", "--quiet",
		"--schedule", "constant", "--warmup", "0"}
	train := func(launch []string, args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		argv := append(append(append([]string{}, launch...), bin), append(append([]string{}, common...), args...)...)
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
		}
	}
	train(nil, "--epochs", "3", "--out", "one", "--distributed", "off")
	want := weights(t, filepath.Join(dir, "one"))
	variants := []struct {
		name  string
		ranks int
		args  []string
	}{
		{"sparse-noisy", 3, []string{"--variant", "sparse", "--sparsity-beta", "0.5", "--latent-act", "sigmoid", "--noise", "masking:0.2"}},
		{"vae", 2, []string{"--variant", "vae", "--kl-warmup", "1"}},
	}
	for _, v := range variants {
		train(nil, append([]string{"--epochs", "2", "--out", "one-" + v.name, "--distributed", "off"}, v.args...)...)
	}
	for _, l := range ls {
		for _, n := range []int{2, 3} {
			out := fmt.Sprintf("%s-%d", strings.ReplaceAll(l.Name, " ", ""), n)
			train(l.Command(n), "--epochs", "3", "--out", out)
			d := maxRelDiff(t, weights(t, filepath.Join(dir, out)), want)
			t.Logf("%s, %d ranks: max relative weight difference from one process %.3g", l.Name, n, d)
			if d > 1e-5 {
				t.Errorf("%s, %d ranks: the weights differ from one process's by %.3g relative (> 1e-5)", l.Name, n, d)
			}
		}
		// 2 epochs on 2 ranks, the third on 3 ranks.
		out := strings.ReplaceAll(l.Name, " ", "") + "-resumed"
		train(l.Command(2), "--epochs", "2", "--out", out)
		train(l.Command(3), "--resume", out, "--epochs", "3")
		d := maxRelDiff(t, weights(t, filepath.Join(dir, out)), want)
		t.Logf("%s, 2 ranks then resumed on 3: max relative weight difference %.3g", l.Name, d)
		if d > 1e-5 {
			t.Errorf("%s, resumed on another number of ranks: the weights differ by %.3g relative", l.Name, d)
		}
		for _, v := range variants {
			out := fmt.Sprintf("%s-%s", strings.ReplaceAll(l.Name, " ", ""), v.name)
			train(l.Command(v.ranks), append([]string{"--epochs", "2", "--out", out}, v.args...)...)
			// Tolerance: 1e-5 relative, as the plain runs'.
			d := maxRelDiff(t, weights(t, filepath.Join(dir, out)), weights(t, filepath.Join(dir, "one-"+v.name)))
			t.Logf("%s, %s on %d ranks: max relative weight difference from one process %.3g", l.Name, v.name, v.ranks, d)
			if d > 1e-5 {
				t.Errorf("%s, %s on %d ranks: the weights differ from one process's by %.3g relative (> 1e-5)", l.Name, v.name, v.ranks, d)
			}
		}
	}
}

// TestDistributedStreamAndBudget runs what the ranks of a job open
// together under each launcher: a streamed run (--stream), whose
// preparing pass they split, on 2 ranks and resumed on 3 (whose pass
// reads every chunk on each rank and checks the chunked fingerprint),
// against one process streaming the same data (1e-5 relative); and a
// time budget (--time), whose epochs and stop are rank 0's, so every
// rank ends at the same epoch and the job exits cleanly.
func TestDistributedStreamAndBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs mpirun")
	}
	ls := mpiLaunchers(t)
	dir := t.TempDir()
	bin := aegpuBinary(t)
	x := make([]float32, 3001*6)
	engine.FillUniform(x, 9, 1, 0, 0, 1)
	data := filepath.Join(dir, "x.npy")
	if err := dataset.WriteNPY(data, 3001, 6, x); err != nil {
		t.Fatal(err)
	}
	common := []string{"train", "--data", data, "--stream", "--chunk-rows", "250", "--layers", "6,5,2", "--batch", "64", "--seed", "3",
		"--device", "cpu", "--schedule", "constant", "--warmup", "0"}
	train := func(launch []string, args ...string) string {
		t.Helper()
		o, err := runBin(t, dir, nil, append(append(launch, bin), append(slices.Clip(common), args...)...)...)
		if err != nil {
			t.Fatalf("%v\n%s", err, o)
		}
		return o
	}
	train(nil, "--epochs", "3", "--out", "one", "--distributed", "off", "--quiet")
	want := weights(t, filepath.Join(dir, "one"))
	for _, l := range ls {
		name := strings.ReplaceAll(l.Name, " ", "")
		o := train(l.Command(2), "--epochs", "2", "--out", name+"-stream")
		// 13 chunks of 250 rows: rank 0 reads the first 6.
		if !strings.Contains(o, "split over the 2 ranks") || !strings.Contains(o, "the pass read 1500 rows") {
			t.Errorf("%s: the preparing pass was not split (rank 0 reading 1500 of the 3001 rows):\n%s", l.Name, o)
		}
		train(l.Command(3), "--resume", name+"-stream", "--epochs", "3", "--quiet")
		d := maxRelDiff(t, weights(t, filepath.Join(dir, name+"-stream")), want)
		t.Logf("%s: streamed on 2 ranks, resumed on 3: max relative weight difference from one process %.3g", l.Name, d)
		if d > 1e-5 { // tolerance: 1e-5 relative, the bound
			t.Errorf("%s: the streamed job's weights differ from one process's by %.3g relative", l.Name, d)
		}

		// A time budget: every rank stops after rank 0's epoch.
		o, err := runBin(t, dir, nil, append(l.Command(2, bin), "train", "--data", data, "--layers", "6,5,2", "--device", "cpu",
			"--time", "2s", "--out", name+"-budget")...)
		// A rank that ran on past rank 0's exit is killed by the launcher,
		// which says so even where the exit status is 0.
		if err != nil || strings.Contains(o, "BAD TERMINATION") || strings.Contains(o, "signal") {
			t.Fatalf("%s, --time 2s: %v\n%s", l.Name, err, o)
		}
		var st struct{ Epoch int }
		readJSON(t, filepath.Join(dir, name+"-budget", "state.json"), &st)
		if st.Epoch < 1 {
			t.Errorf("%s, --time 2s: saved at epoch %d", l.Name, st.Epoch)
		}
	}

	// --lr auto: every rank runs the range test as the run opens, and
	// trains at rank 0's pick.
	o, err := runBin(t, dir, nil, append(ls[0].Command(2, bin), "train", "--data", data, "--layers", "6,5,2", "--device", "cpu",
		"--lr", "auto", "--epochs", "1", "--out", "lr-auto")...)
	if err != nil || !strings.Contains(o, "learning rate: ") {
		t.Fatalf("%s, --lr auto: %v\n%s", ls[0].Name, err, o)
	}
}
