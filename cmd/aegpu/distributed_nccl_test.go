package main

// The GPU path of data-parallel training without a GPU: the emulated
// libcuda.so.1 (cuda/internal/emugpu) and the fake libnccl.so.2
// (cuda/internal/nccl/testdata/fakenccl: a communicator in shared memory
// between the ranks' processes) are built into one directory that
// LD_LIBRARY_PATH puts first, and mpirun starts the ranks of `aegpu
// train --device cuda`. The emulator answers for two device ordinals
// (EMUGPU_DEVICES=2), so that each rank opens the GPU of its local rank.

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/aegpu/aegpu/bench"
)

// buildEmulatedLibs compiles the emulated driver and the fake NCCL into a
// directory; it skips without cgo or compilers.
func buildEmulatedLibs(t *testing.T, withNCCL bool) string {
	t.Helper()
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "CGO_ENABLED" && s.Value != "1" {
				t.Skip("the emulated GPU needs cgo")
			}
		}
	}
	for _, c := range []string{"g++", "gcc"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("no %s to build the emulated GPU and the fake NCCL", c)
		}
	}
	dir := t.TempDir()
	cmd := exec.Command("g++", "-std=c++20", "-O1", "-shared", "-fPIC", "-pthread", "-fvisibility=hidden", "-Wno-unknown-pragmas",
		"-o", filepath.Join(dir, "libcuda.so.1"), filepath.Join("..", "..", "cuda", "internal", "emugpu", "emugpu.cpp"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the emulated GPU driver: %v\n%s", err, out)
	}
	if withNCCL {
		cmd = exec.Command("gcc", "-shared", "-fPIC", "-O1", "-o", filepath.Join(dir, "libnccl.so.2"),
			filepath.Join("..", "..", "cuda", "internal", "nccl", "testdata", "fakenccl", "fakenccl.c"), "-ldl", "-lpthread")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building the fake libnccl: %v\n%s", err, out)
		}
	}
	return dir
}

// TestDistributedGPUMatchesOneProcess trains 2 ranks on the emulated GPU,
// summing the gradients with (fake) NCCL inside the recorded step, and
// compares the final weights with one process's on the emulated GPU, same
// seed and global batch, for a plain and a denoising model; it checks the NCCL call sequence, that `aegpu
// devices` reports NCCL, and that without libnccl.so.2 the job ends with
// an error that names it and suggests --device cpu.
func TestDistributedGPUMatchesOneProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary, the emulated GPU, and runs mpirun")
	}
	ls := mpiLaunchers(t)
	lib := buildEmulatedLibs(t, true)
	dir := t.TempDir()
	bin := filepath.Join(dir, "aegpu")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "toy.csv")
	writeToyCSV(t, data, 100) // 90 training rows: 5 full batches of 16 per epoch (recorded), then 10 rows (op by op)
	log := filepath.Join(dir, "nccl.log")
	// EMUGPU_EAGER: the emulated streams keep up with the host, as a GPU
	// does, so each rank's all-reduces run in the order its host issues
	// them (emugpu.cpp says why the lazy queue would deadlock the ranks).
	env := append(os.Environ(), "LD_LIBRARY_PATH="+lib, "EMUGPU_EAGER=1", "EMUGPU_DEVICES=2", "EMUGPU_SMS=2", "FAKENCCL_LOG="+log,
		"FAKENCCL_TIMEOUT_MS=60000")
	common := []string{"train", "--data", data, "--layers", "6,5,2", "--batch", "16", "--seed", "3", "--l2", "1e-4",
		"--device", "cuda", "--quiet", "--epochs", "2", "--schedule", "constant", "--warmup", "0"}
	run := func(launch []string, env []string, args ...string) (string, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		argv := append(append(append([]string{}, launch...), bin), args...)
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(nil, env, "devices"); err != nil || !strings.Contains(out, "nccl  2.23.4") {
		t.Errorf("aegpu devices (%v) does not report the fake NCCL 2.23.4:\n%s", err, out)
	}
	if out, err := run(nil, env, append(common, "--out", "one", "--distributed", "off")...); err != nil {
		t.Fatalf("one process: %v\n%s", err, out)
	}
	want := weights(t, filepath.Join(dir, "one"))
	if err := os.Remove(log); err != nil {
		t.Fatal(err)
	}
	var d float64
	for _, l := range ls {
		two := "two-" + strings.ReplaceAll(l.Name, " ", "")
		out, err := run(l.Command(2), env, append(common, "--out", two)...)
		if err != nil {
			t.Fatalf("%s, 2 ranks on the emulated GPU: %v\n%s", l.Name, err, out)
		}
		d = maxRelDiff(t, weights(t, filepath.Join(dir, two)), want)
		t.Logf("%s, 2 ranks on the emulated GPU over NCCL: max relative weight difference from one process %.3g", l.Name, d)
		// Tolerance: 1e-5 relative, as the CPU runs' (the sums differ only
		// in their order).
		if d > 1e-5 {
			t.Errorf("%s, 2 GPU ranks: the weights differ from one process's by %.3g relative (> 1e-5)", l.Name, d)
		}
		checkNCCLCalls(t, log, 2, 12) // 2 epochs of 5 recorded steps and a short one
		if err := os.Remove(log); err != nil {
			t.Fatal(err)
		}
	}
	l := ls[0] // the NCCL path is the same under either MPI: one launcher for the rest keeps the emulated runs short

	// 1 epoch on 2 ranks, resumed on 3 (a third emulated device) for the
	// second: the weights of the 2-epoch run again.
	env3 := append(append([]string{}, env...), "EMUGPU_DEVICES=3")
	if out, err := run(l.Command(2), env3, append(withEpochs(common, "1"), "--out", "resumed")...); err != nil {
		t.Fatalf("%s, 2 ranks, 1 epoch: %v\n%s", l.Name, err, out)
	}
	if out, err := run(l.Command(3), env3, "train", "--resume", "resumed", "--data", data, "--device", "cuda", "--epochs", "2", "--quiet"); err != nil {
		t.Fatalf("%s, resumed on 3 ranks: %v\n%s", l.Name, err, out)
	}
	d = maxRelDiff(t, weights(t, filepath.Join(dir, "resumed")), want)
	t.Logf("%s, 2 GPU ranks then resumed on 3: max relative weight difference from one process %.3g", l.Name, d)
	if d > 1e-5 { // tolerance: 1e-5 relative, as above
		t.Errorf("2 GPU ranks resumed on 3: the weights differ from one process's by %.3g relative (> 1e-5)", d)
	}

	// A denoising model: each rank corrupts its rows on the GPU from their
	// place in the global batch (corrupt_f32 from a start element). A
	// sparse model with a KL term: its ρ̂ is a second sum in the recorded
	// step.
	for _, v := range []struct {
		name string
		args []string
	}{
		{"denoising", []string{"--noise", "masking:0.2"}},
		{"sparse-kl", []string{"--variant", "sparse", "--sparsity-beta", "0.5", "--latent-act", "sigmoid"}},
	} {
		args := append(append([]string{}, common...), v.args...)
		if out, err := run(nil, env, append(args, "--out", "one-"+v.name, "--distributed", "off")...); err != nil {
			t.Fatalf("one process, %s: %v\n%s", v.name, err, out)
		}
		if out, err := run(l.Command(2), env, append(args, "--out", "two-"+v.name)...); err != nil {
			t.Fatalf("%s, 2 ranks on the emulated GPU, %s: %v\n%s", l.Name, v.name, err, out)
		}
		d = maxRelDiff(t, weights(t, filepath.Join(dir, "two-"+v.name)), weights(t, filepath.Join(dir, "one-"+v.name)))
		t.Logf("%s, %s on 2 ranks on the emulated GPU: max relative weight difference from one process %.3g", l.Name, v.name, d)
		if d > 1e-5 { // tolerance: 1e-5 relative, as above
			t.Errorf("2 GPU ranks, %s: the weights differ from one process's by %.3g relative (> 1e-5)", v.name, d)
		}
	}

	// Without libnccl.so.2: a clear error, naming it and --device cpu.
	nolib := buildEmulatedLibs(t, false)
	envNo := append(os.Environ(), "LD_LIBRARY_PATH="+nolib, "EMUGPU_EAGER=1", "EMUGPU_DEVICES=2", "EMUGPU_SMS=2")
	out, err := run(l.Command(2), envNo, append(common, "--out", "nolib")...)
	if err == nil || !strings.Contains(out, "libnccl.so.2") || !strings.Contains(out, "--device cpu") {
		t.Errorf("2 GPU ranks without libnccl.so.2 (%v): want an error naming it and --device cpu:\n%s", err, out)
	}
}

// checkNCCLCalls checks the fake NCCL's log of a 2-rank run of steps
// steps, short of them not recorded: rank 0 made the id and both ranks
// joined with it, the gradient sum was queued once per rank from inside
// graph capture (and once per short step outside) and ran every step, the
// ranks polled the asynchronous error, and destroyed their communicators.
func checkNCCLCalls(t *testing.T, path string, short, steps int) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("the fake libnccl wrote no log: %v", err)
	}
	defer f.Close()
	count := map[string]int{}
	var id string
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		lines = append(lines, sc.Text())
		key := fs[0]
		for _, kv := range fs[1:] {
			switch {
			case strings.HasPrefix(kv, "rank="), strings.HasPrefix(kv, "captured="), strings.HasPrefix(kv, "result="),
				strings.HasPrefix(kv, "nranks="):
				key += " " + kv
			case strings.HasPrefix(kv, "id="):
				if fs[0] == "uniqueid" {
					id = kv
				} else if kv != id {
					t.Errorf("%q: not rank 0's %s", sc.Text(), id)
				}
			}
		}
		count[key]++
	}
	dump := strings.Join(lines, "\n")
	if len(dump) > 4000 {
		dump = dump[:4000] + "..."
	}
	want := map[string]int{"uniqueid": 1, "init rank=0 nranks=2": 1, "init rank=1 nranks=2": 1,
		"destroy rank=0": 1, "destroy rank=1": 1}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("%q: %d times, want %d\n%s", k, count[k], n, dump)
		}
	}
	for r := range 2 {
		rs := "rank=" + string(rune('0'+r))
		if count["allreduce "+rs+" captured=1"] != 1 {
			t.Errorf("rank %d: the gradient sum was captured %d times, want once (one recording of the step)", r, count["allreduce "+rs+" captured=1"])
		}
		if count["allreduce "+rs+" captured=0"] != short {
			t.Errorf("rank %d: %d sums queued outside the recorded step, want %d (the short batches)", r, count["allreduce "+rs+" captured=0"], short)
		}
		if n := count["allreduce-run "+rs]; n != steps {
			t.Errorf("rank %d: %d sums ran, want one per step (%d)", r, n, steps)
		}
		if count["asyncerror "+rs+" result=0"] < steps {
			t.Errorf("rank %d: the asynchronous error was polled %d times, want at least once per step (%d)", r, count["asyncerror "+rs+" result=0"], steps)
		}
	}
	t.Logf("fake NCCL calls: %v", count)
}

// withEpochs is a copy of args with --epochs' value replaced by n.
func withEpochs(args []string, n string) []string {
	out := append([]string{}, args...)
	for i := range out[:len(out)-1] {
		if out[i] == "--epochs" {
			out[i+1] = n
		}
	}
	return out
}

// TestBenchUnderMPIOnEmulatedGPU runs `aegpu bench` as a job of 2 ranks on
// the emulated GPU with the fake NCCL: the ranks take the GPUs of their
// local ranks and sum with NCCL, the scaling of the toy model and the
// all-reduce table of ncclAllReduce (sizes up to the mnist gradient buffer,
// each sum checked) come out once, from rank 0, and the fake NCCL saw
// every sum. Values are checked for sense, not speed: the emulator is not
// a GPU.
func TestBenchUnderMPIOnEmulatedGPU(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary, the emulated GPU, and runs mpirun")
	}
	l := mpiLaunchers(t)[0]
	lib := buildEmulatedLibs(t, true)
	dir := t.TempDir()
	bin := filepath.Join(dir, "aegpu")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	log := filepath.Join(dir, "nccl.log")
	env := append(os.Environ(), "LD_LIBRARY_PATH="+lib, "EMUGPU_EAGER=1", "EMUGPU_DEVICES=2", "EMUGPU_SMS=2", "FAKENCCL_LOG="+log,
		"FAKENCCL_TIMEOUT_MS=60000")
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		argv := append(append(l.Command(2), bin, "bench"), args...)
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Dir, cmd.Env = dir, env
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s%s", strings.Join(argv, " "), err, out, stderr.String())
		}
		t.Logf("%s\n%s", strings.Join(argv[len(argv)-len(args)-2:], " "), out)
		return string(out)
	}
	ncclCalls := func() map[string]int {
		t.Helper()
		b, err := os.ReadFile(log)
		if err != nil {
			t.Fatalf("the fake libnccl wrote no log: %v", err)
		}
		if err := os.Remove(log); err != nil {
			t.Fatal(err)
		}
		count := map[string]int{}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			fs := strings.Fields(line)
			key := fs[0]
			for _, kv := range fs[1:] {
				if strings.HasPrefix(kv, "rank=") || strings.HasPrefix(kv, "captured=") {
					key += " " + kv
				}
			}
			count[key]++
		}
		return count
	}

	js := filepath.Join(dir, "scaling.json")
	out := run("--models", "toy", "--windows", "1", "--json", js)
	if strings.Count(out, "\ntoy ") != 4 || !strings.Contains(out, "NCCL 2.23.4") {
		t.Errorf("want 4 rows of toy, printed once, and the fake NCCL's version:\n%s", out)
	}
	var doc struct {
		Ranks   int                   `json:"ranks"`
		Library string                `json:"library"`
		Scaling []bench.ScalingResult `json:"scaling"`
	}
	readJSON(t, js, &doc)
	if doc.Ranks != 2 || len(doc.Scaling) != 1 || doc.Library != "NCCL 2.23.4" {
		t.Fatalf("%+v", doc)
	}
	r := doc.Scaling[0]
	if !strings.HasPrefix(r.Device, "cuda:0 ") || len(r.PerRank) != 2 || r.PerRank[0].Rows+r.PerRank[1].Rows != 256 {
		t.Errorf("device %q, %+v: want the emulated GPU, 2 ranks sharing the batch of 256", r.Device, r.PerRank)
	}
	if !positive(r.SamplesPerSec) || !positive(r.OneRank.SamplesPerSec) || !positive(r.Efficiency) {
		t.Errorf("job %v samples/s, one rank %v, efficiency %v", r.SamplesPerSec, r.OneRank.SamplesPerSec, r.Efficiency)
	}
	calls := ncclCalls()
	for rk := range 2 {
		rs := fmt.Sprint(" rank=", rk)
		// The job's steps replay the recorded step: its sum is captured
		// once and runs every step (warm-up, window sizing, the window).
		if calls["allreduce"+rs+" captured=1"] != 1 || calls["allreduce-run"+rs] < 2 || calls["init"+rs] != 1 || calls["destroy"+rs] != 1 {
			t.Errorf("rank %d: fake NCCL calls %v: want one communicator, the step's sum captured once and run every step", rk, calls)
		}
	}

	js = filepath.Join(dir, "allreduce.json")
	const warmup, iters = 1, 2
	out = run("--allreduce", "--iters", fmt.Sprint(iters), "--warmup", fmt.Sprint(warmup), "--json", js)
	if strings.Count(out, "busbw") != 2 || !strings.Contains(out, "on each rank's device") {
		t.Errorf("the device all-reduce table is not printed once:\n%s", out)
	}
	var ar struct {
		Allreduce []bench.AllreduceRow `json:"allreduce"`
	}
	readJSON(t, js, &ar)
	sizes := bench.AllreduceSizes(bench.DeviceGradientBytes(bench.Models[1]))
	if len(ar.Allreduce) != len(sizes) {
		t.Fatalf("%d sizes, want %d", len(ar.Allreduce), len(sizes))
	}
	for i, r := range ar.Allreduce {
		if r.Bytes != sizes[i] || r.Wrong != 0 || !positive(r.Micros) || !positive(r.AlgBW) || r.BusBW != r.AlgBW {
			t.Errorf("row %d: %+v (want %d bytes, nothing wrong, busbw = algbw on 2 ranks)", i, r, sizes[i])
		}
	}
	calls = ncclCalls()
	for rk := range 2 {
		rs := fmt.Sprint(" rank=", rk)
		if n, want := calls["allreduce-run"+rs], len(sizes)*(1+warmup+iters); n != want {
			t.Errorf("rank %d: %d sums ran, want %d (checked, warm-up and timed, per size): %v", rk, n, want, calls)
		}
	}
}
