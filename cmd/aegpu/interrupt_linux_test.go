//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
)

// command runs the built binary; it dies with the test process, so a test
// killed by its timeout leaves no training run behind.
func command(t *testing.T, bin string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// runMeasured runs bin with args and extra environment variables and
// returns its stdout, its stderr and its peak resident memory in bytes.
//
// The binary is started by a fresh copy of this test binary
// (TestPeakRSSHelper), not by the test process itself: Go starts children
// with vfork semantics, and Linux then carries the parent's resident
// high-water mark into the child's ru_maxrss, so a child of a test process
// that has grown to 200 MiB would report at least 200 MiB whatever it used.
// The helper is small when it starts the binary.
func runMeasured(t *testing.T, env []string, bin string, args ...string) (stdout, stderr []byte, peak int64, err error) {
	t.Helper()
	dir := t.TempDir()
	argv, _ := json.Marshal(append([]string{bin}, args...))
	cmd := command(t, os.Args[0], "-test.run=^TestPeakRSSHelper$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), env...), "AEGPU_PEAK_ARGS="+string(argv), "AEGPU_PEAK_DIR="+dir)
	if out, herr := cmd.CombinedOutput(); herr != nil {
		t.Fatalf("peak-RSS helper: %v\n%s", herr, out)
	}
	stdout, _ = os.ReadFile(filepath.Join(dir, "stdout"))
	stderr, _ = os.ReadFile(filepath.Join(dir, "stderr"))
	res, rerr := os.ReadFile(filepath.Join(dir, "result"))
	var r struct {
		MaxRSSKiB int64
		Err       string
	}
	if rerr != nil || json.Unmarshal(res, &r) != nil {
		t.Fatalf("peak-RSS helper wrote no result: %v", rerr)
	}
	if r.Err != "" {
		err = errors.New(r.Err)
	}
	return stdout, stderr, r.MaxRSSKiB * 1024, err
}

// runMeasured reports the child's memory, not the test process's: with
// 256 MiB resident here, /bin/true must still measure a few MiB (a child
// started directly by this process reports ≥ 256 MiB).
func TestRunMeasuredIgnoresParentRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("touches 256 MiB")
	}
	big := make([]byte, 256<<20)
	for i := range big {
		big[i] = byte(i)
	}
	_, _, peak, err := runMeasured(t, nil, "/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	if peak > 64<<20 {
		t.Errorf("/bin/true measured at %d MiB: the parent's resident memory leaks into the measurement", peak>>20)
	}
	direct := exec.Command("/bin/true")
	if err := direct.Run(); err == nil {
		t.Logf("/bin/true: %.1f MiB through the helper, %d MiB started directly by the test process",
			float64(peak)/(1<<20), direct.ProcessState.SysUsage().(*syscall.Rusage).Maxrss>>10)
	}
	runtime.KeepAlive(big)
}

// TestPeakRSSHelper is runMeasured's helper process, skipped otherwise.
func TestPeakRSSHelper(t *testing.T) {
	argsJSON, dir := os.Getenv("AEGPU_PEAK_ARGS"), os.Getenv("AEGPU_PEAK_DIR")
	if argsJSON == "" || dir == "" {
		t.Skip("helper of runMeasured")
	}
	var argv []string
	if err := json.Unmarshal([]byte(argsJSON), &argv); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runErr := cmd.Run()
	r := struct {
		MaxRSSKiB int64
		Err       string
	}{}
	if cmd.ProcessState != nil {
		r.MaxRSSKiB = cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB on Linux
	}
	if runErr != nil {
		r.Err = runErr.Error()
	}
	res, _ := json.Marshal(r)
	for name, b := range map[string][]byte{"stdout": out.Bytes(), "stderr": errb.Bytes(), "result": res} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestInterruptAndResume runs the real binary, stops it with SIGINT in the
// middle of training, resumes it, and checks the result is bit-identical to
// an uninterrupted run.
func TestInterruptAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	// Enough data that an epoch takes a noticeable time.
	data := writeWaveNPY(t, dir)
	args := func(out string) []string {
		return []string{"train", "--data", data, "--layers", "64,256,256,8", "--epochs", "4", "--batch", "16", "--out", out, "--device", "cpu"}
	}
	full := filepath.Join(dir, "full")
	if out, err := command(t, bin, args(full)...).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}

	part := filepath.Join(dir, "part")
	cmd := command(t, bin, args(part)...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	var log strings.Builder
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		// An epoch takes about 0.2 s here: signal at once, so that the
		// signal lands early in epoch 2 with two epochs to spare before
		// the run would end by itself (exit 0, which fails the test).
		if strings.HasPrefix(sc.Text(), "epoch 1/4") {
			cmd.Process.Signal(syscall.SIGINT)
		}
	}
	err := cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 130 {
		t.Fatalf("interrupted run: %v, want exit status 130\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "--resume "+part) {
		t.Errorf("interrupt message does not say how to resume:\n%s", log.String())
	}
	var st struct{ Epoch, Batch int }
	b, _ := os.ReadFile(filepath.Join(part, "state.json"))
	json.Unmarshal(b, &st)
	if st.Epoch != 1 || st.Batch == 0 {
		t.Logf("interrupted at epoch %d batch %d (wanted inside epoch 2; timing dependent)", st.Epoch, st.Batch)
	}
	if out, err := command(t, bin, "train", "--resume", part, "--data", data, "--device", "cpu").CombinedOutput(); err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	w1, _ := os.ReadFile(filepath.Join(full, "model.safetensors"))
	w2, _ := os.ReadFile(filepath.Join(part, "model.safetensors"))
	if !bytes.Equal(w1, w2) {
		t.Fatal("interrupted and resumed run differs from the uninterrupted run")
	}
}

// TestEncodeLargerThanMemoryLimit encodes a 512 MB .npy with the real
// binary under GOMEMLIMIT=64MiB and requires its peak resident memory to
// stay far below the file's size, and the codes to equal the in-memory
// result.
func TestEncodeLargerThanMemoryLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 512 MB file and builds the binary")
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	const cols, rows, chunk = 64, 2 << 20, 1 << 16 // 2 Mi rows × 64 float32 = 512 MiB
	model := trainTiny(t, dir, cols)
	big := filepath.Join(dir, "big.npy")
	writeUniformNPY(t, big, rows, cols, chunk, 17)
	out := filepath.Join(dir, "codes.npy")
	_, stderr, peak, err := runMeasured(t, []string{"GOMEMLIMIT=64MiB"}, bin, "encode", "--model", model, "--data", big, "--out", out, "--chunk", "8192", "--device", "cpu", "--quiet")
	if err != nil {
		t.Fatalf("encode: %v\n%s", err, stderr)
	}
	t.Logf("peak RSS %.1f MiB encoding a %d MiB file", float64(peak)/(1<<20), rows*cols*4>>20)
	// Chunks of 8192 rows: 6 buffers of ≤ 2 MiB plus the runtime and the
	// model; 128 MiB is a quarter of the file.
	if peak > 128<<20 {
		t.Errorf("peak RSS %d MiB, want < 128 MiB for a 512 MiB input", peak>>20)
	}
	// In-memory reference, chunk by chunk (same arithmetic per row).
	z, err := dataset.Load(out, dataset.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if z.Rows != rows || z.Cols != 3 {
		t.Fatalf("codes %d×%d, want %d×3", z.Rows, z.Cols, rows)
	}
	x := make([]float32, chunk*cols)
	for i := range rows / chunk {
		if i%8 != 0 && i != rows/chunk-1 {
			continue // every 8th chunk and the last: enough to catch a misplaced one
		}
		engine.FillUniform(x, 17, 1, uint64(i*len(x)), 0, 1)
		want := referenceCodes(t, model, x, cols)
		got := z.Data[i*chunk*3 : (i+1)*chunk*3]
		for j := range want {
			if got[j] != want[j] {
				t.Fatalf("chunk %d value %d: streamed %v, in-memory %v", i, j, got[j], want[j])
			}
		}
	}
}

// TestTrainStreamsUnderMemoryLimit trains one epoch on a 256 MB .npy with
// --stream under GOMEMLIMIT=64MiB: peak resident memory stays far below
// the file's size and the run completes with a validation loss.
func TestTrainStreamsUnderMemoryLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 256 MB file and builds the binary")
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	const cols, rows, chunk = 64, 1 << 20, 1 << 16
	big := filepath.Join(dir, "big.npy")
	writeUniformNPY(t, big, rows, cols, chunk, 21)
	model := filepath.Join(dir, "m")
	out, stderr, peak, err := runMeasured(t, []string{"GOMEMLIMIT=64MiB"}, bin, "train", "--data", big, "--stream", "--chunk-rows", "16384", "--layers", "64,16,4", "--epochs", "1",
		"--batch", "1024", "--val-split", "0.01", "--out", model, "--device", "cpu", "--quiet", "--json")
	if err != nil {
		t.Fatalf("train --stream: %v\n%s%s", err, out, stderr)
	}
	t.Logf("peak RSS %.1f MiB training on a %d MiB file", float64(peak)/(1<<20), rows*cols*4>>20)
	// Two 4 MiB chunk buffers, ~10 000 validation rows (2.5 MiB), the
	// batch and the model: 128 MiB is half the file.
	if peak > 128<<20 {
		t.Errorf("peak RSS %d MiB, want < 128 MiB for a 256 MiB input", peak>>20)
	}
	var sum map[string]any
	if err := json.Unmarshal(out, &sum); err != nil || sum["val_loss"] == nil || sum["stop_reason"] != "epochs" {
		t.Errorf("summary %s (%v)", out, err)
	}
	cfg, err := os.ReadFile(filepath.Join(model, "config.json"))
	if err != nil || !strings.Contains(string(cfg), `"streamed": true`) {
		t.Errorf("config.json does not record the streamed run: %v", err)
	}
}

// TestEncodeOutputTooLarge runs encode with a file-size limit far below
// its output (as a full disk would stop it): a clear error, and nothing
// left in the output directory.
func TestEncodeOutputTooLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	model := trainTiny(t, dir, 784)
	outDir := filepath.Join(dir, "out")
	os.Mkdir(outDir, 0o755)
	// ulimit -f 16: 8 KiB; 10 000 rows of 3 codes as CSV are ~300 KiB.
	x := make([]float32, 10000*784)
	engine.FillUniform(x, 5, 1, 0, 0, 1)
	data := filepath.Join(dir, "x.npy")
	if err := dataset.WriteNPY(data, 10000, 784, x); err != nil {
		t.Fatal(err)
	}
	cmd := command(t, "bash", "-c", `ulimit -f 16; exec "$0" encode --model "$1" --data "$3" --out "$2" --device cpu --quiet`, bin, model, filepath.Join(outDir, "codes.csv"), data)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "file too large") || !strings.Contains(string(out), "nothing was written") {
		t.Fatalf("encode past the file-size limit: %v\n%s", err, out)
	}
	if ents, _ := os.ReadDir(outDir); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}

// buildBinary builds aegpu into dir.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "aegpu")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// writeUniformNPY writes rows×cols values of the uniform stream of seed to
// path chunk rows at a time (row r's values are elements r·cols… of the
// stream), never holding the whole array.
func writeUniformNPY(t *testing.T, path string, rows, cols, chunk int, seed uint64) {
	t.Helper()
	w, err := dataset.NewWriter(path, cols, nil)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]float32, chunk*cols)
	for i := range rows / chunk {
		engine.FillUniform(buf, seed, 1, uint64(i*len(buf)), 0, 1)
		if err := w.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// writeWaveNPY writes x.npy into dir: 6000 rows of 64 smooth values in
// (0.1, 0.9), enough that an epoch takes a noticeable time.
func writeWaveNPY(t *testing.T, dir string) string {
	t.Helper()
	const rows, cols = 6000, 64
	x := make([]float32, rows*cols)
	for i := range x {
		x[i] = float32(0.5 + 0.4*math.Sin(float64(i%cols)*float64(i/cols%97)*0.01))
	}
	data := filepath.Join(dir, "x.npy")
	if err := dataset.WriteNPY(data, rows, cols, x); err != nil {
		t.Fatal(err)
	}
	return data
}
