package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/internal/safetensors"
)

// TestTrainNormLayer trains with --norm layer, checks config.json and the
// PyTorch export (nn.LayerNorm modules and their tensors), imports the
// export back (the norm recognized from the tensors alone too) and
// requires the same reconstructions; resume and the flags that cannot go
// with --norm are refused by name.
func TestTrainNormLayer(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "toy.csv")
	writeToyCSV(t, data, 200)
	model := filepath.Join(dir, "m")
	if _, err := run(t, "train", "--data", data, "--layers", "6,5,4,2", "--norm", "layer", "--scale", "minmax", "--epochs", "2", "--batch", "32",
		"--out", model, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join(model, "config.json"))
	if err != nil || !strings.Contains(string(cfg), `"norm": "layer"`) {
		t.Fatalf("config.json (%v):\n%s", err, cfg)
	}
	full := filepath.Join(dir, "full.safetensors")
	code, err := run(t, "export", "--model", model, "--out", full, "--print-pytorch", "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(code, "nn.Linear(6, 5),\n    nn.LayerNorm(5),\n    nn.ReLU(),") {
		t.Errorf("--print-pytorch printed:\n%s", code)
	}
	ft, err := safetensors.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	// encoder: Linear 0, LayerNorm 1, ReLU 2, Linear 3, LayerNorm 4, ReLU 5,
	// Linear 6; the decoder alike.
	for _, name := range []string{"encoder.1.weight", "encoder.4.bias", "decoder.1.weight", "decoder.4.bias"} {
		if tt, ok := ft.Tensors[name]; !ok || len(tt.Shape) != 1 {
			t.Errorf("export: %s is %v (present %v), want a 1-D LayerNorm tensor", name, tt.Shape, ok)
		}
	}
	if len(ft.Tensors) != 6*2+4*2 || ft.Metadata["aegpu_norm"] != "layer" {
		t.Errorf("export: %d tensors, metadata %v", len(ft.Tensors), ft.Metadata)
	}
	// The same tensors without aegpu's metadata: the norm is seen in them.
	bare := filepath.Join(dir, "bare.safetensors")
	var ts []safetensors.Tensor
	for _, tt := range ft.Tensors {
		ts = append(ts, tt)
	}
	if err := safetensors.WriteFile(bare, ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	r0 := filepath.Join(dir, "r0.npy")
	if _, err := run(t, "reconstruct", "--model", model, "--data", data, "--out", r0, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	want, _ := dataset.Load(r0, dataset.LoadOptions{})
	for _, w := range []string{full, bare} {
		imported := filepath.Join(dir, "imp-"+filepath.Base(w))
		if _, err := run(t, "import", "--weights", w, "--output", "sigmoid", "--scaler-from", model, "--out", imported, "--quiet"); err != nil {
			t.Fatalf("import %s: %v", w, err)
		}
		r := filepath.Join(dir, "r-"+filepath.Base(w)+".npy")
		if _, err := run(t, "reconstruct", "--model", imported, "--data", data, "--out", r, "--device", "cpu", "--quiet"); err != nil {
			t.Fatal(err)
		}
		got, _ := dataset.Load(r, dataset.LoadOptions{})
		for i := range want.Data {
			// The same weights, scaler and ops: bit-identical.
			if got.Data[i] != want.Data[i] {
				t.Fatalf("import of %s reconstructs %v at %d, the original %v", filepath.Base(w), got.Data[i], i, want.Data[i])
			}
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--resume", model, "--norm", "layer"}, "--norm is part of the architecture"},
		{[]string{"--norm", "batch"}, "--norm: unknown normalization"},
		{[]string{"--norm", "layer", "--hidden", "tanh"}, "--norm layer supports the hidden activations"},
		{[]string{"--norm", "layer", "--variant", "contractive", "--contractive-lambda", "0.1"}, "--norm layer: the contractive penalty"},
	} {
		args := append([]string{"train", "--data", data, "--layers", "6,5,2", "--epochs", "1", "--out", filepath.Join(dir, "x"), "--device", "cpu", "--quiet"}, c.args...)
		if _, err := run(t, args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("train %v: %v, want an error containing %q", c.args, err, c.want)
		}
	}
}
