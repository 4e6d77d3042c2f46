package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/internal/safetensors"
)

// trainToy trains a small model on a toy CSV in dir and returns the data
// and model paths; extra flags are added to aegpu train's.
func trainToy(t *testing.T, dir, name string, extra ...string) (data, model string) {
	t.Helper()
	data = filepath.Join(dir, "toy.csv")
	if _, err := os.Stat(data); err != nil {
		writeToyCSV(t, data, 120)
	}
	model = filepath.Join(dir, name)
	args := append([]string{"train", "--data", data, "--layers", "6,4,2", "--hidden", "tanh", "--scale", "minmax",
		"--epochs", "1", "--batch", "32", "--out", model, "--device", "cpu", "--quiet"}, extra...)
	if _, err := run(t, args...); err != nil {
		t.Fatal(err)
	}
	return data, model
}

// readConfigJSON reads a model directory's config.json and its
// encoder_only field.
func readConfigJSON(t *testing.T, dir string) (autoencoder.Config, bool) {
	t.Helper()
	cfg, err := autoencoder.ReadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, autoencoder.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		EncoderOnly bool `json:"encoder_only"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	return cfg, raw.EncoderOnly
}

// TestExportEncoderOnlyPrintsEncoder: --print-pytorch with --encoder-only
// prints the modules the file holds (the encoder, a VAE's heads) and the
// code that loads them, and no decoder.
func TestExportEncoderOnlyPrintsEncoder(t *testing.T) {
	dir := t.TempDir()
	_, plain := trainToy(t, dir, "plain")
	_, vae := trainToy(t, dir, "vae", "--variant", "vae")
	for _, c := range []struct {
		model string
		want  []string
	}{
		{plain, []string{"encoder = nn.Sequential(", "nn.Linear(6, 4),\n    nn.Tanh(),\n    nn.Linear(4, 2),\n)", "encoder.load_state_dict("}},
		{vae, []string{"encoder = nn.Sequential(", "fc_mu = nn.Linear(4, 2)", "fc_logvar = nn.Linear(4, 2)", "fc_mu.load_state_dict(", "fc_logvar.load_state_dict("}},
	} {
		out := filepath.Join(dir, filepath.Base(c.model)+"-enc.safetensors")
		code, err := run(t, "export", "--model", c.model, "--out", out, "--encoder-only", "--print-pytorch", "--quiet")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(code, "decoder") {
			t.Errorf("%s: --encoder-only --print-pytorch printed a decoder:\n%s", c.model, code)
		}
		for _, w := range append(c.want, "load_file("+`"`+out+`"`+")") {
			if !strings.Contains(code, w) {
				t.Errorf("%s: --encoder-only --print-pytorch lacks %q:\n%s", c.model, w, code)
			}
		}
		// The full export still prints and loads the decoder.
		code, err = run(t, "export", "--model", c.model, "--out", filepath.Join(dir, "full.safetensors"), "--print-pytorch", "--quiet")
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range []string{"decoder = nn.Sequential(", "decoder.load_state_dict("} {
			if !strings.Contains(code, w) {
				t.Errorf("%s: full --print-pytorch lacks %q:\n%s", c.model, w, code)
			}
		}
	}
}

// TestImportEncoderOnly: export --encoder-only → import gives an
// encoder-only model that encodes exactly as the original (activations and
// scaler read from the export's metadata), and that the commands needing a
// decoder refuse by name.
func TestImportEncoderOnly(t *testing.T) {
	dir := t.TempDir()
	data, plain := trainToy(t, dir, "plain")
	_, vae := trainToy(t, dir, "vae", "--variant", "vae")
	_, tied := trainToy(t, dir, "tied", "--tied")
	for _, model := range []string{plain, vae, tied} {
		name := filepath.Base(model)
		enc := filepath.Join(dir, name+"-enc.safetensors")
		if _, err := run(t, "export", "--model", model, "--out", enc, "--encoder-only", "--quiet"); err != nil {
			t.Fatal(err)
		}
		imp := filepath.Join(dir, name+"-imported")
		if _, err := run(t, "import", "--weights", enc, "--out", imp, "--quiet"); err != nil {
			t.Fatalf("import of an encoder-only export of %s: %v", name, err)
		}
		cfg, encOnly := readConfigJSON(t, imp)
		if !encOnly || cfg.Hidden != "tanh" || cfg.Scaler.Kind != dataset.ScaleMinMax || string(cfg.Variant) != map[bool]string{true: "vae", false: "plain"}[model == vae] {
			t.Errorf("%s: imported config: encoder_only %v, hidden %s, scaler %s, variant %s", name, encOnly, cfg.Hidden, cfg.Scaler.Kind, cfg.Variant)
		}
		z1, z2 := filepath.Join(dir, name+"-z1.npy"), filepath.Join(dir, name+"-z2.npy")
		for _, p := range [][2]string{{model, z1}, {imp, z2}} {
			if _, err := run(t, "encode", "--model", p[0], "--data", data, "--out", p[1], "--device", "cpu", "--quiet"); err != nil {
				t.Fatalf("encode --model %s: %v", p[0], err)
			}
		}
		a, err := dataset.Load(z1, dataset.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := dataset.Load(z2, dataset.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if a.Rows != b.Rows || a.Cols != b.Cols || a.Cols != 2 {
			t.Fatalf("%s: codes %d×%d, imported %d×%d", name, a.Rows, a.Cols, b.Rows, b.Cols)
		}
		for i := range a.Data {
			// The same weights, scaler and arithmetic; a tied model's
			// encoder runs the same GEMM as an untied one.
			if d := a.Data[i] - b.Data[i]; d > 1e-6 || d < -1e-6 {
				t.Fatalf("%s: the imported encoder gives code %v at %d, the original %v", name, b.Data[i], i, a.Data[i])
			}
		}
		// Re-exporting the encoder-only model gives the same tensors.
		again := filepath.Join(dir, name+"-again.safetensors")
		if _, err := run(t, "export", "--model", imp, "--out", again, "--quiet"); err != nil {
			t.Fatalf("export of an encoder-only model: %v", err)
		}
		if f, err := safetensors.ReadFile(again); err != nil || f.Metadata["aegpu_part"] != "encoder" || len(f.Tensors) != map[bool]int{true: 6, false: 4}[model == vae] {
			t.Errorf("%s: re-export of the encoder-only model: %v", name, err)
		}
	}

	// Everything that needs the decoder refuses, naming the model.
	imp := filepath.Join(dir, "vae-imported")
	out := filepath.Join(dir, "out.npy")
	full := "export the original model without --encoder-only"
	for _, c := range []struct {
		args []string
		hint string
	}{
		{[]string{"reconstruct", "--model", imp, "--data", data, "--out", out, "--device", "cpu", "--quiet"}, full},
		{[]string{"score", "--model", imp, "--data", data, "--out", out, "--device", "cpu", "--quiet"}, full},
		{[]string{"denoise", "--model", imp, "--data", data, "--out", out, "--device", "cpu", "--quiet"}, full},
		{[]string{"generate", "--model", imp, "--out", out, "-n", "4", "--device", "cpu", "--quiet"}, full},
		{[]string{"train", "--resume", imp, "--data", data, "--device", "cpu", "--quiet"}, "Resume the original model's directory"},
	} {
		_, err := run(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), imp+" is an encoder-only model") || !strings.Contains(err.Error(), "it has no decoder") || !strings.Contains(err.Error(), c.hint) {
			t.Errorf("aegpu %s on an encoder-only model: %v", c.args[0], err)
		}
	}
	// A plain encoder-only model: generate names it as encoder-only too,
	// not as a non-VAE.
	if _, err := run(t, "generate", "--model", filepath.Join(dir, "plain-imported"), "--out", out, "--device", "cpu", "--quiet"); err == nil || !strings.Contains(err.Error(), "encoder-only") {
		t.Errorf("aegpu generate on a plain encoder-only model: %v", err)
	}
}

// TestImportHints: a full export with a decoder tensor missing is reported
// as such, not blamed on the activations; indices that do not match
// --hidden are.
func TestImportHints(t *testing.T) {
	dir := t.TempDir()
	_, model := trainToy(t, dir, "m")
	full := filepath.Join(dir, "full.safetensors")
	if _, err := run(t, "export", "--model", model, "--out", full, "--quiet"); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "import", "--weights", full, "--hidden", "linear", "--out", filepath.Join(dir, "bad"), "--quiet"); err == nil ||
		!strings.Contains(err.Error(), "--hidden") || !strings.Contains(err.Error(), "[0 2]") {
		t.Errorf("import with the wrong --hidden: %v", err)
	}
	// The full export imports without flags: the metadata gives the
	// activations and the scaler.
	imp := filepath.Join(dir, "imp")
	if _, err := run(t, "import", "--weights", full, "--out", imp, "--quiet"); err != nil {
		t.Fatal(err)
	}
	if cfg, encOnly := readConfigJSON(t, imp); encOnly || cfg.Hidden != "tanh" || cfg.Scaler.Kind != dataset.ScaleMinMax {
		t.Errorf("imported full export: %+v, encoder_only %v", cfg, encOnly)
	}
}
