package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aegpu/aegpu/autoencoder"
)

// modelDirNames is the sorted names in dir.
func modelDirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// TestScoreThresholdWrites: a fixed --threshold writes nothing into the
// model directory; a fitted one goes to --threshold-out when given; on a
// read-only model directory, a fixed threshold works and a fitted one
// without --threshold-out is an error that says to pass it.
func TestScoreThresholdWrites(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "toy.csv")
	writeToyCSV(t, data, 300)
	model := filepath.Join(dir, "m")
	if _, err := run(t, "train", "--data", data, "--layers", "6,4,2", "--scale", "standard", "--epochs", "2", "--out", model, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	before := modelDirNames(t, model)
	score := func(extra ...string) error {
		_, err := run(t, append([]string{"score", "--model", model, "--data", data, "--out", filepath.Join(dir, "s.csv"), "--device", "cpu", "--quiet"}, extra...)...)
		return err
	}
	if err := score("--threshold", "0.5"); err != nil {
		t.Fatal(err)
	}
	if after := modelDirNames(t, model); !slices.Equal(before, after) {
		t.Errorf("a fixed threshold wrote into the model directory: %v → %v", before, after)
	}
	out := filepath.Join(dir, "th.json")
	if err := score("--threshold", "q0.9", "--threshold-out", out); err != nil {
		t.Fatal(err)
	}
	if after := modelDirNames(t, model); !slices.Equal(before, after) {
		t.Errorf("--threshold-out wrote into the model directory: %v", after)
	}
	b, err := os.ReadFile(out)
	if err != nil || !strings.Contains(string(b), `"rule": "q0.9"`) {
		t.Errorf("--threshold-out: %v\n%s", err, b)
	}

	t.Run("read-only", func(t *testing.T) { scoreReadOnly(t, model, score, out) })
}

// scoreReadOnly is TestScoreThresholdWrites' read-only case, where the
// permission bits bind (not for root: TestScoreReadOnlyModelAsNobody).
func scoreReadOnly(t *testing.T, model string, score func(...string) error, out string) {
	if err := os.Chmod(model, 0o555); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(model, 0o755)
	if f, err := os.CreateTemp(model, "probe-"); err == nil {
		f.Close()
		os.Remove(f.Name())
		t.Skip("a read-only directory is writable here (running as root): see TestScoreReadOnlyModelAsNobody")
	}
	if err := score("--threshold", "0.5"); err != nil {
		t.Errorf("a fixed threshold on a read-only model: %v", err)
	}
	err := score("--threshold", "q0.9")
	if err == nil || !strings.Contains(err.Error(), "read-only") || !strings.Contains(err.Error(), "--threshold-out") {
		t.Errorf("a fitted threshold on a read-only model: %v", err)
	}
	if err := score("--threshold", "q0.9", "--threshold-out", out); err != nil {
		t.Errorf("--threshold-out with a read-only model: %v", err)
	}
	if _, ok, _ := autoencoder.ReadThreshold(model); ok {
		t.Error("a threshold was saved in the read-only directory")
	}
}
