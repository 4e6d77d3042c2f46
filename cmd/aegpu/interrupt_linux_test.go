//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aegpu/aegpu/dataset"
)

// command runs the built binary; it dies with the test process, so a test
// killed by its timeout leaves no training run behind.
func command(t *testing.T, bin string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// TestInterruptAndResume runs the real binary, stops it with SIGINT in the
// middle of training, resumes it, and checks the result is bit-identical to
// an uninterrupted run.
func TestInterruptAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "aegpu")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// Enough data that an epoch takes a noticeable time.
	const rows, cols = 6000, 64
	x := make([]float32, rows*cols)
	for i := range x {
		x[i] = float32(0.5 + 0.4*math.Sin(float64(i%cols)*float64(i/cols%97)*0.01))
	}
	data := filepath.Join(dir, "x.npy")
	if err := dataset.WriteNPY(data, rows, cols, x); err != nil {
		t.Fatal(err)
	}
	args := func(out string) []string {
		return []string{"train", "--data", data, "--layers", "64,256,256,8", "--epochs", "3", "--batch", "16", "--out", out, "--device", "cpu"}
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
		if strings.HasPrefix(sc.Text(), "epoch 1/3") {
			time.Sleep(200 * time.Millisecond) // into epoch 2
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
