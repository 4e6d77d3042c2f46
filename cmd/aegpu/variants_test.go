package main

import (
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/internal/safetensors"
)

// TestVariantsFromTheCLI trains each variant through the command line on
// built-in digits cut down to a small file, and uses the models.
func TestVariantsFromTheCLI(t *testing.T) {
	dir := t.TempDir()
	digits, _, err := dataset.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	small := filepath.Join(dir, "digits.npy")
	if err := dataset.WriteNPY(small, 300, 784, digits.Data[:300*784]); err != nil {
		t.Fatal(err)
	}
	common := []string{"--data", small, "--layers", "784,64,8", "--epochs", "2", "--batch", "64", "--device", "cpu", "--quiet", "--json", "--image-shape", "28x28", "--scale", "global"}
	for _, c := range []struct {
		name string
		args []string
		want []string // keys of metrics.jsonl's last line
	}{
		{"sparse", []string{"--variant", "sparse", "--sparsity-beta", "0.5"}, []string{"train_penalty", "mean_activation"}},
		{"sparse-l1", []string{"--variant", "sparse", "--sparsity-beta", "0", "--l1", "0.001", "--tied"}, []string{"train_penalty"}},
		{"contractive", []string{"--variant", "contractive", "--contractive-lambda", "0.01", "--projections", "2"}, []string{"train_penalty"}},
		{"contractive-exact", []string{"--variant", "contractive", "--layers", "784,16", "--latent-act", "sigmoid"}, []string{"train_penalty"}},
		{"vae", []string{"--variant", "vae", "--kl-warmup", "1", "--loss", "bce"}, []string{"train_kl", "kl_beta"}},
		{"denoising-tied", []string{"--noise", "masking:0.25", "--tied"}, []string{"val_denoised_mse"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			model := filepath.Join(dir, c.name)
			img := filepath.Join(dir, c.name+".png")
			if _, err := run(t, append(append(append([]string{"train"}, common...), c.args...), "--out", model, "--images", img)...); err != nil {
				t.Fatal(err)
			}
			lines, err := os.ReadFile(filepath.Join(model, "metrics.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			ls := strings.Split(strings.TrimSpace(string(lines)), "\n")
			var last map[string]any
			if err := json.Unmarshal([]byte(ls[len(ls)-1]), &last); err != nil {
				t.Fatal(err)
			}
			for _, k := range c.want {
				if last[k] == nil {
					t.Errorf("metrics.jsonl lacks %s: %v", k, last)
				}
			}
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := png.Decode(f); err != nil {
				t.Errorf("--images: %v", err)
			}
		})
	}
	// A tied model stores no decoder weights.
	st, err := safetensors.ReadFile(filepath.Join(dir, "sparse-l1", "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Tensors["decoder.0.weight"]; ok {
		t.Error("tied model stores decoder.0.weight")
	}
	if _, ok := st.Tensors["decoder.0.bias"]; !ok {
		t.Error("tied model lacks decoder.0.bias")
	}

	// generate: prior samples and an interpolation from the VAE.
	vae := filepath.Join(dir, "vae")
	samples, codes, grid := filepath.Join(dir, "s.npy"), filepath.Join(dir, "c.csv"), filepath.Join(dir, "s.png")
	if _, err := run(t, "generate", "--model", vae, "-n", "10", "--out", samples, "--codes", codes, "--images", grid, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	tab, err := dataset.Load(samples, dataset.LoadOptions{})
	if err != nil || tab.Rows != 10 || tab.Cols != 784 {
		t.Fatalf("samples: %v %+v", err, tab)
	}
	for _, v := range tab.Data {
		if v < 0 || v > 255.001 {
			t.Fatalf("sample value %v outside the data's range [0,255]", v)
		}
	}
	path := filepath.Join(dir, "path.npy")
	if _, err := run(t, "generate", "--model", vae, "--data", small, "--interpolate", "3,7", "--steps", "5", "--out", path, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	if tab, err := dataset.Load(path, dataset.LoadOptions{}); err != nil || tab.Rows != 5 {
		t.Fatalf("interpolation: %v", err)
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"generate", "--model", filepath.Join(dir, "sparse"), "--out", samples}, "needs a VAE"},
		{[]string{"generate", "--model", vae, "--interpolate", "3", "--out", samples}, "two row numbers"},
		{[]string{"generate", "--model", vae, "--data", small, "--interpolate", "3,900", "--out", samples}, "rows 0..299"},
		{append(append([]string{"train"}, common...), "--variant", "vae", "--l1", "0.1", "--out", filepath.Join(dir, "x")), "--l1 is a setting of --variant sparse"},
		{append(append([]string{"train"}, common...), "--variant", "vae", "--tied", "--out", filepath.Join(dir, "x")), "not VAEs"},
		{append(append([]string{"train"}, common...), "--variant", "sparse", "--latent-act", "relu", "--out", filepath.Join(dir, "x")), "needs sigmoid units"},
		{append(append([]string{"train"}, common...), "--variant", "denoising", "--out", filepath.Join(dir, "x")), "needs a noise"},
		{append(append([]string{"train"}, common...), "--variant", "bogus", "--out", filepath.Join(dir, "x")), "unknown variant"},
	} {
		_, err := run(t, append(bad.args, "--device", "cpu", "--quiet")...)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%v: error %v, want one containing %q", bad.args, err, bad.want)
		}
	}
}
