package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/internal/safetensors"
)

// TestExportImportDenoise round-trips a tied model through export and
// import (the imported model reconstructs exactly as the original), checks
// the encoder-only export, and runs denoise.
func TestExportImportDenoise(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "toy.csv")
	writeToyCSV(t, data, 200)
	model := filepath.Join(dir, "m")
	if _, err := run(t, "train", "--data", data, "--layers", "6,4,2", "--hidden", "tanh", "--scale", "minmax", "--epochs", "2", "--batch", "32",
		"--tied", "--noise", "gaussian:0.1", "--out", model, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	full, enc := filepath.Join(dir, "full.safetensors"), filepath.Join(dir, "enc.safetensors")
	code, err := run(t, "export", "--model", model, "--out", full, "--print-pytorch", "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(code, "nn.Linear(2, 4)") || !strings.Contains(code, "decoder = nn.Sequential(") {
		t.Errorf("--print-pytorch printed:\n%s", code)
	}
	if _, err := run(t, "export", "--model", model, "--out", enc, "--encoder-only", "--quiet"); err != nil {
		t.Fatal(err)
	}
	ft, err := safetensors.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	w0, d2 := ft.Tensors["encoder.0.weight"], ft.Tensors["decoder.2.weight"]
	if len(ft.Tensors) != 8 || len(d2.Shape) != 2 || d2.Shape[0] != 6 || d2.Shape[1] != 4 {
		t.Fatalf("full export: %d tensors, decoder.2.weight %v", len(ft.Tensors), d2.Shape)
	}
	// Tied: decoder.2.weight [6×4] is encoder.0.weight [4×6] transposed.
	for o := range 6 {
		for i := range 4 {
			if d2.Data[o*4+i] != w0.Data[i*6+o] {
				t.Fatalf("decoder.2.weight[%d][%d] = %v, encoder.0.weight[%d][%d] = %v", o, i, d2.Data[o*4+i], i, o, w0.Data[i*6+o])
			}
		}
	}
	if ft.Metadata["aegpu_scaler"] == "" || ft.Metadata["aegpu_hidden"] != "tanh" {
		t.Errorf("metadata %v", ft.Metadata)
	}
	et, err := safetensors.ReadFile(enc)
	if err != nil {
		t.Fatal(err)
	}
	for name := range et.Tensors {
		if !strings.HasPrefix(name, "encoder.") {
			t.Errorf("encoder-only export holds %s", name)
		}
	}
	if len(et.Tensors) != 4 {
		t.Errorf("encoder-only export has %d tensors, want 4", len(et.Tensors))
	}

	imported := filepath.Join(dir, "imp")
	if _, err := run(t, "import", "--weights", full, "--hidden", "tanh", "--output", "sigmoid", "--scaler-from", model, "--out", imported, "--quiet"); err != nil {
		t.Fatal(err)
	}
	r1, r2 := filepath.Join(dir, "r1.npy"), filepath.Join(dir, "r2.npy")
	for _, p := range [][2]string{{model, r1}, {imported, r2}} {
		if _, err := run(t, "reconstruct", "--model", p[0], "--data", data, "--out", p[1], "--device", "cpu", "--quiet"); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := dataset.Load(r1, dataset.LoadOptions{})
	b, _ := dataset.Load(r2, dataset.LoadOptions{})
	for i := range a.Data {
		// The same weights and scaler; tied vs untied run different GEMM
		// strides, so allow fp32 rounding: abs 1e-5 on values of size ~10.
		if d := a.Data[i] - b.Data[i]; d > 1e-5 || d < -1e-5 {
			t.Fatalf("imported model reconstructs %v at %d, original %v", b.Data[i], i, a.Data[i])
		}
	}
	// Wrong activations: the nn.Sequential indices do not match.
	if _, err := run(t, "import", "--weights", full, "--hidden", "linear", "--out", filepath.Join(dir, "bad"), "--quiet"); err == nil || !strings.Contains(err.Error(), "--hidden") {
		t.Errorf("import with the wrong activation: %v", err)
	}

	den := filepath.Join(dir, "den.csv")
	if _, err := run(t, "denoise", "--model", model, "--data", data, "--out", den, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	if tab, err := dataset.Load(den, dataset.LoadOptions{}); err != nil || tab.Rows != 200 || tab.Cols != 6 {
		t.Fatalf("denoise output: %v", err)
	}
	plain := filepath.Join(dir, "plain")
	if _, err := run(t, "train", "--data", data, "--layers", "6,4,2", "--epochs", "1", "--out", plain, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "denoise", "--model", plain, "--data", data, "--out", den, "--device", "cpu", "--quiet"); err == nil || !strings.Contains(err.Error(), "not trained to remove noise") {
		t.Errorf("denoise with a plain model: %v", err)
	}
}
