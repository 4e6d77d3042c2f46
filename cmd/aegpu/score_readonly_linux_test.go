//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestScoreReadOnlyModelAsNobody is TestScoreThresholdWrites' read-only
// case where the tests run as root (whom permission bits do not stop):
// the binary runs as the user nobody on a model directory it may not
// write.
func TestScoreReadOnlyModelAsNobody(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if os.Getuid() != 0 {
		t.Skip("not root: TestScoreThresholdWrites tests the read-only directory itself")
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	data := filepath.Join(dir, "toy.csv")
	writeToyCSV(t, data, 300)
	model := filepath.Join(dir, "m")
	if _, err := run(t, "train", "--data", data, "--layers", "6,4,2", "--scale", "standard", "--epochs", "2", "--out", model, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	outDir := filepath.Join(dir, "out")
	os.Mkdir(outDir, 0o777)
	for _, p := range []string{filepath.Dir(dir), dir, model} {
		os.Chmod(p, 0o755)
	}
	os.Chmod(outDir, 0o777)
	nobody := func(args ...string) (string, error) {
		cmd := command(t, bin, args...)
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 65534, Gid: 65534}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	probe := filepath.Join(model, "probe")
	if out, err := nobody("score", "--model", model, "--data", data, "--threshold", "q0.9", "--out", probe, "--device", "cpu"); err == nil {
		t.Skipf("the user nobody can write %s: %s", model, out)
	} else if strings.Contains(out, "operation not permitted") && !strings.Contains(out, "read-only") {
		t.Skipf("cannot run as nobody here: %s", out)
	}
	score := func(extra ...string) (string, error) {
		return nobody(append([]string{"score", "--model", model, "--data", data, "--out", filepath.Join(outDir, "s.csv"), "--device", "cpu"}, extra...)...)
	}
	if out, err := score("--threshold", "0.5"); err != nil {
		t.Errorf("a fixed threshold on a read-only model: %v\n%s", err, out)
	}
	out, err := score("--threshold", "q0.9")
	if err == nil || !strings.Contains(out, "is read-only; pass --threshold-out FILE") {
		t.Errorf("a fitted threshold on a read-only model: %v\n%s", err, out)
	}
	th := filepath.Join(outDir, "th.json")
	out, err = score("--threshold", "q0.9", "--threshold-out", th)
	if err != nil || !strings.Contains(out, "saved in "+th) {
		t.Errorf("--threshold-out: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(model, "threshold.json")); err == nil {
		t.Error("a threshold was saved in the read-only directory")
	}
}
