package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
)

// trainTiny trains a cols→8→3 model on random rows and returns its dir.
func trainTiny(t *testing.T, dir string, cols int) string {
	t.Helper()
	x := make([]float32, 300*cols)
	engine.FillUniform(x, 3, 1, 0, 0, 1)
	train := filepath.Join(dir, "train.npy")
	if err := dataset.WriteNPY(train, 300, cols, x); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "tiny")
	if _, err := run(t, "train", "--data", train, "--layers", strconv.Itoa(cols)+",8,3", "--epochs", "1",
		"--out", model, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	return model
}

// referenceCodes encodes rows in memory with the Predictor.
func referenceCodes(t *testing.T, model string, x []float32, cols int) []float32 {
	t.Helper()
	b, _, err := engine.Open("cpu")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	m, cfg, err := autoencoder.LoadModel(model, b)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	p, err := autoencoder.NewPredictor(m, cfg, 1024)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Free()
	z, err := p.Encode(x, cols)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// TestEncodeStreamsShardsAndFails encodes a dataset split over three files
// (by glob, in small chunks), then in shards, and compares with the
// in-memory result; a file truncated mid-stream fails with its byte offset
// and leaves no output.
func TestEncodeStreamsShardsAndFails(t *testing.T) {
	dir := t.TempDir()
	const cols = 10
	model := trainTiny(t, dir, cols)
	var all []float32
	for i, rows := range []int{37, 1, 250} {
		x := make([]float32, rows*cols)
		engine.FillUniform(x, 9, uint64(10+i), 0, 0, 1)
		all = append(all, x...)
		if err := dataset.WriteNPY(filepath.Join(dir, "part-"+strconv.Itoa(i)+".npy"), rows, cols, x); err != nil {
			t.Fatal(err)
		}
	}
	want := referenceCodes(t, model, all, cols)
	out := filepath.Join(dir, "z.npy")
	if _, err := run(t, "encode", "--model", model, "--data", filepath.Join(dir, "part-*.npy"), "--chunk", "7", "--batch", "5",
		"--out", out, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	same := func(name string, got []float32, want []float32) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
		}
		for i := range got {
			// The same per-row arithmetic in any batch: bitwise equal.
			if got[i] != want[i] {
				t.Fatalf("%s: value %d = %v, in-memory %v", name, i, got[i], want[i])
			}
		}
	}
	z, err := dataset.Load(out, dataset.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	same("streamed", z.Data, want)

	var shards []float32
	for i := range 4 {
		o := filepath.Join(dir, "s"+strconv.Itoa(i)+".csv")
		if _, err := run(t, "encode", "--model", model, "--data", filepath.Join(dir, "part-0.npy"), "--data", filepath.Join(dir, "part-[12].npy"),
			"--shard", strconv.Itoa(i)+"/4", "--chunk", "16", "--out", o, "--device", "cpu", "--quiet"); err != nil {
			t.Fatal(err)
		}
		s, err := dataset.Load(o, dataset.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		shards = append(shards, s.Data...)
	}
	// CSV prints float32 exactly (shortest round-trip form).
	same("shards", shards, want)

	// A file cut mid-data: the error names the byte offset, nothing is left.
	cut := filepath.Join(dir, "cut.npy")
	b, _ := os.ReadFile(filepath.Join(dir, "part-2.npy"))
	os.WriteFile(cut, b[:len(b)-100], 0o644)
	bad := filepath.Join(dir, "bad.npy")
	_, err = run(t, "encode", "--model", model, "--data", cut, "--chunk", "16", "--out", bad, "--device", "cpu", "--quiet")
	if err == nil || !strings.Contains(err.Error(), "byte") {
		t.Errorf("truncated input: %v", err)
	}
	if _, serr := os.Stat(bad); serr == nil {
		t.Error("a failed encode left its output behind")
	}
	if ents, _ := filepath.Glob(filepath.Join(dir, ".bad.npy*")); len(ents) != 0 {
		t.Errorf("a failed encode left temporary files: %v", ents)
	}
	for _, c := range []struct{ args []string }{
		{[]string{"--shard", "4/4"}}, {[]string{"--shard", "x"}}, {[]string{"--data", filepath.Join(dir, "nothing-*.npy")}},
		{[]string{"--data", filepath.Join(dir, "train.npy"), "--chunk", "0"}},
	} {
		args := append([]string{"encode", "--model", model, "--out", bad, "--device", "cpu", "--quiet"}, c.args...)
		if len(c.args) < 3 && c.args[0] == "--shard" {
			args = append(args, "--data", cut)
		}
		if _, err := run(t, args...); err == nil {
			t.Errorf("%v: no error", c.args)
		}
	}
}
