package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/internal/safetensors"
)

// run runs the CLI in-process and returns its stdout and error.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	old := os.Stdout
	r, w, _ := os.Pipe()
	os.Stdout = w
	done := make(chan []byte)
	go func() {
		var b bytes.Buffer
		b.ReadFrom(r)
		done <- b.Bytes()
	}()
	err := newApp().Run(append([]string{"aegpu"}, args...))
	w.Close()
	os.Stdout = old
	return string(<-done), err
}

// writeToyCSV writes rows of 6 features driven by 2 factors, with a header.
func writeToyCSV(t *testing.T, path string, rows int) {
	t.Helper()
	var sb strings.Builder
	sb.WriteString("a,b,c,d,e,f\n")
	for r := 0; r < rows; r++ {
		u, v := math.Sin(float64(r)*0.37), math.Cos(float64(r)*0.11)
		fmt.Fprintf(&sb, "%g,%g,%g,%g,%g,%g\n", 10*u, 3*v, u+v, 5*u-v, 2+u*v, -v)
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestTrainEncodeReconstruct(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "toy.csv")
	writeToyCSV(t, data, 300)
	model := filepath.Join(dir, "model")
	out, err := run(t, "train", "--data", data, "--layers", "6,4,2", "--scale", "standard", "--epochs", "3",
		"--batch", "32", "--out", model, "--device", "cpu", "--quiet", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var sum map[string]any
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, out)
	}
	if sum["epochs"].(float64) != 3 || sum["stop_reason"] != "epochs" || sum["val_loss"] == nil {
		t.Errorf("summary = %v", sum)
	}
	// model.safetensors carries the PyTorch names and shapes.
	f, err := safetensors.ReadFile(filepath.Join(model, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	for name, shape := range map[string][]int{"encoder.0.weight": {4, 6}, "encoder.2.bias": {2}, "decoder.0.weight": {4, 2}, "decoder.2.weight": {6, 4}} {
		if got := f.Tensors[name].Shape; fmt.Sprint(got) != fmt.Sprint(shape) {
			t.Errorf("%s shape %v, want %v", name, got, shape)
		}
	}

	codes := filepath.Join(dir, "codes.npy")
	if _, err := run(t, "encode", "--model", model, "--data", data, "--out", codes, "--quiet", "--device", "cpu"); err != nil {
		t.Fatal(err)
	}
	c, err := dataset.Load(codes, dataset.LoadOptions{})
	if err != nil || c.Rows != 300 || c.Cols != 2 {
		t.Fatalf("codes: %v, %v", c, err)
	}
	recon, errs := filepath.Join(dir, "recon.csv"), filepath.Join(dir, "err.npy")
	if _, err := run(t, "reconstruct", "--model", model, "--data", data, "--out", recon, "--errors", errs, "--quiet", "--batch", "7"); err != nil {
		t.Fatal(err)
	}
	rt, err := dataset.Load(recon, dataset.LoadOptions{})
	if err != nil || rt.Rows != 300 || rt.Cols != 6 || strings.Join(rt.Header, ",") != "a,b,c,d,e,f" {
		t.Fatalf("reconstruction: %+v, %v", rt, err)
	}
	et, err := dataset.Load(errs, dataset.LoadOptions{})
	if err != nil || et.Rows != 300 || et.Cols != 1 {
		t.Fatalf("errors: %v", err)
	}

	// Training into an existing model directory is refused.
	if _, err := run(t, "train", "--data", data, "--layers", "6,2", "--out", model, "--quiet"); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Errorf("overwrite without --force: %v", err)
	}
}

func TestCLIErrorsNameTheProblem(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "toy.csv")
	writeToyCSV(t, data, 50)
	ragged := filepath.Join(dir, "ragged.csv")
	os.WriteFile(ragged, []byte("1,2,3\n4,5\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--data", data, "--layers", "7,3", "--quiet"}, "6 columns"},
		{[]string{"train", "--data", data, "--layers", "6,x", "--quiet"}, "not a positive integer"},
		{[]string{"train", "--data", ragged, "--quiet"}, "ragged.csv"},
		{[]string{"train", "--data", filepath.Join(dir, "none.npy"), "--quiet"}, "none.npy"},
		{[]string{"train", "--data", data, "--device", "tpu", "--quiet"}, "unknown device"},
		{[]string{"train", "--data", data, "--optimizer", "lbfgs", "--quiet", "--out", filepath.Join(dir, "m")}, "unknown optimizer"},
		{[]string{"encode", "--model", dir, "--data", data, "--out", filepath.Join(dir, "c.npy"), "--quiet"}, "not a model directory"},
		{[]string{"encode", "--model", dir, "--data", data, "--out", filepath.Join(dir, "c.txt"), "--quiet"}, "unsupported extension"},
	} {
		_, err := run(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("aegpu %s: err = %v, want it to mention %q", strings.Join(c.args, " "), err, c.want)
		}
	}
}

func TestImagesGrid(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "toy.csv")
	writeToyCSV(t, data, 60)
	model := filepath.Join(dir, "m")
	grid := filepath.Join(dir, "grid.png")
	if _, err := run(t, "train", "--data", data, "--layers", "6,3", "--scale", "minmax", "--epochs", "1", "--noise", "gaussian:0.1",
		"--image-shape", "2x3", "--images", grid, "--out", model, "--quiet"); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(grid)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("grid is not a PNG: %v", err)
	}
	// 3 grid rows (inputs, noisy, reconstructions) of 2-pixel-high images at
	// scale 3 with 4-pixel gaps; 6 validation rows (10% of 60) across.
	if b := img.Bounds(); b.Dy() != 3*(2*3+4)+4 || b.Dx() != 6*(3*3+4)+4 {
		t.Errorf("grid is %v", b)
	}
	// A model without an image shape says how to get one.
	plain := filepath.Join(dir, "plain")
	run(t, "train", "--data", data, "--layers", "6,3", "--epochs", "1", "--out", plain, "--quiet")
	_, err = run(t, "reconstruct", "--model", plain, "--data", data, "--out", filepath.Join(dir, "r.npy"), "--images", grid, "--quiet")
	if err == nil || !strings.Contains(err.Error(), "--image-shape") {
		t.Errorf("images without an image shape: %v", err)
	}
}

// --precision: tf32 and bf16 are refused on the CPU with the reason, before anything
// is written; fp32 is recorded in config.json; a bad value is an error.
func TestTrainPrecision(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "toy.csv")
	writeToyCSV(t, data, 100)
	model := filepath.Join(dir, "model")
	args := []string{"train", "--data", data, "--layers", "6,4,2", "--epochs", "1", "--batch", "32", "--out", model, "--device", "cpu", "--quiet"}
	_, err := run(t, append(args, "--precision", "tf32")...)
	if err == nil || !strings.Contains(err.Error(), "--precision tf32 needs a GPU with tensor cores (compute capability ≥ 8.0); the cpu backend computes in fp32") {
		t.Fatalf("train --precision tf32 on the CPU: %v", err)
	}
	if _, err := os.Stat(model); err == nil {
		t.Error("the refused run wrote its model directory")
	}
	if _, err := run(t, append(args, "--precision", "bf16")...); err == nil || !strings.Contains(err.Error(), "--precision bf16 needs a GPU with tensor cores") {
		t.Errorf("train --precision bf16 on the CPU: %v", err)
	}
	if _, err := run(t, append(args, "--precision", "fp16")...); err == nil || !strings.Contains(err.Error(), "unknown precision") {
		t.Errorf("train --precision fp16: %v", err)
	}
	if _, err := run(t, append(args, "--precision", "fp32")...); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(model, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"precision": "fp32"`) {
		t.Errorf("config.json does not record the precision:\n%s", b)
	}
	if _, err := run(t, "bench", "--models", "toy", "--devices", "cpu", "--windows", "1", "--precision", "tf32"); err != nil {
		t.Errorf("bench --precision tf32 on the CPU (runs fp32 with a note): %v", err)
	}
}
