package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/dataset"
)

// listDir names the entries of dir, sorted.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

// trainToy trains small models on toy data in dir: plain, denoising and
// VAE, the VAE and denoising ones with an image shape.
func trainToyModels(t *testing.T, dir string) (data string, models map[string]string) {
	t.Helper()
	data = filepath.Join(dir, "toy.csv")
	writeToyCSV(t, data, 60)
	common := []string{"--data", data, "--layers", "6,4,2", "--epochs", "1", "--batch", "16", "--device", "cpu", "--quiet"}
	models = map[string]string{}
	for kind, extra := range map[string][]string{
		"plain": nil, "dae": {"--noise", "gaussian:0.1", "--image-shape", "2x3"}, "vae": {"--variant", "vae", "--image-shape", "2x3"},
	} {
		models[kind] = filepath.Join(dir, kind)
		if _, err := run(t, append(append(append([]string{"train"}, common...), extra...), "--out", models[kind])...); err != nil {
			t.Fatal(err)
		}
	}
	return data, models
}

// TestOutputsAllOrNone: every output path is checked before any work (its
// extension, its directory, no two outputs the same file), and a command
// that fails, before or after computing, leaves none of its outputs and no
// temporary file; one that succeeds leaves all of them.
func TestOutputsAllOrNone(t *testing.T) {
	dir := t.TempDir()
	data, models := trainToyModels(t, dir)
	missing := filepath.Join(dir, "no-such-dir")
	labels := filepath.Join(dir, "labels.csv") // one class only: ROC-AUC fails after the scores are computed
	if err := os.WriteFile(labels, []byte(strings.Repeat("0\n", 60)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string // OUT/ is a fresh directory
		want string   // error prefix; "" for success
		made []string // the outputs of a success
	}{
		{"reconstruct bad --errors dir", []string{"reconstruct", "--model", models["plain"], "--out", "OUT/r.npy", "--errors", missing + "/e.npy"}, "--errors " + missing + "/e.npy: directory " + missing + " does not exist", nil},
		{"reconstruct bad --errors ext", []string{"reconstruct", "--model", models["plain"], "--out", "OUT/r.npy", "--errors", "OUT/e.txt"}, `--errors OUT/e.txt: unsupported extension ".txt" (want .npy, .csv, .parquet, .arrow or .feather)`, nil},
		{"reconstruct bad --images ext", []string{"reconstruct", "--model", models["plain"], "--out", "OUT/r.npy", "--images", "OUT/g.jpg"}, `--images OUT/g.jpg: unsupported extension ".jpg" (want .png)`, nil},
		{"reconstruct --images without image shape", []string{"reconstruct", "--model", models["plain"], "--out", "OUT/r.npy", "--images", "OUT/g.png"}, "--images: the model has no image shape", nil},
		{"reconstruct same file twice", []string{"reconstruct", "--model", models["plain"], "--out", "OUT/r.npy", "--errors", "OUT/r.npy"}, "--errors OUT/r.npy: the same file as --out", nil},
		{"reconstruct --out a directory", []string{"reconstruct", "--model", models["plain"], "--out", dir + "/dir.npy"}, "--out " + dir + "/dir.npy: is a directory", nil},
		{"reconstruct ok", []string{"reconstruct", "--model", models["plain"], "--out", "OUT/r.npy", "--errors", "OUT/e.csv"}, "", []string{"e.csv", "r.npy"}},
		{"denoise bad --images dir", []string{"denoise", "--model", models["dae"], "--out", "OUT/d.npy", "--images", missing + "/g.png"}, "--images " + missing + "/g.png: directory", nil},
		{"denoise ok", []string{"denoise", "--model", models["dae"], "--out", "OUT/d.npy", "--images", "OUT/g.png"}, "", []string{"d.npy", "g.png"}},
		{"score bad --per-feature", []string{"score", "--model", models["plain"], "--out", "OUT/s.csv", "--per-feature", missing + "/f.npy"}, "--per-feature " + missing + "/f.npy: directory", nil},
		{"score fails after computing", []string{"score", "--model", models["plain"], "--out", "OUT/s.csv", "--per-feature", "OUT/f.npy", "--labels", labels}, "labels: metrics: ROC-AUC needs both classes", nil},
		{"score ok", []string{"score", "--model", models["plain"], "--out", "OUT/s.csv", "--per-feature", "OUT/f.npy"}, "", []string{"f.npy", "s.csv"}},
		{"generate bad --codes", []string{"generate", "--model", models["vae"], "--out", "OUT/g.npy", "--codes", missing + "/c.npy"}, "--codes " + missing + "/c.npy: directory", nil},
		{"generate bad --images", []string{"generate", "--model", models["vae"], "--out", "OUT/g.npy", "--images", "OUT/g.gif"}, "--images OUT/g.gif: unsupported extension", nil},
		{"generate ok", []string{"generate", "--model", models["vae"], "-n", "3", "--out", "OUT/g.npy", "--codes", "OUT/c.csv", "--images", "OUT/g.png"}, "", []string{"c.csv", "g.npy", "g.png"}},
		{"encode bad --out dir", []string{"encode", "--model", models["plain"], "--out", missing + "/c.npy"}, "--out " + missing + "/c.npy: directory", nil},
		{"encode ok", []string{"encode", "--model", models["plain"], "--out", "OUT/c.npy"}, "", []string{"c.npy"}},
		{"corrupt bad --out", []string{"corrupt", "--data", data, "--noise", "gaussian:0.1", "--out", missing + "/n.npy"}, "--out " + missing + "/n.npy: directory", nil},
		{"corrupt ok", []string{"corrupt", "--data", data, "--noise", "gaussian:0.1", "--out", "OUT/n.csv"}, "", []string{"n.csv"}},
		{"export bad ext", []string{"export", "--model", models["plain"], "--out", "OUT/m.pt"}, `--out OUT/m.pt: unsupported extension ".pt" (want .safetensors)`, nil},
		{"export bad dir", []string{"export", "--model", models["plain"], "--out", missing + "/m.safetensors"}, "--out " + missing + "/m.safetensors: directory", nil},
		{"export ok", []string{"export", "--model", models["plain"], "--out", "OUT/m.safetensors"}, "", []string{"m.safetensors"}},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			out := t.TempDir()
			if strings.Contains(c.name, "a directory") {
				os.Mkdir(filepath.Join(dir, "dir.npy"), 0o755)
			}
			args := slices.Clone(c.args)
			for i, a := range args {
				args[i] = strings.ReplaceAll(a, "OUT/", out+"/")
			}
			if c.args[0] != "corrupt" && c.args[0] != "export" {
				args = append(args, "--device", "cpu")
			}
			if !strings.Contains(c.name, "after computing") { // the metrics are computed unless quiet
				args = append(args, "--quiet")
			}
			_, _, err := runBoth(t, args...)
			want := strings.ReplaceAll(c.want, "OUT/", out+"/")
			switch {
			case want == "" && err != nil:
				t.Fatal(err)
			case want != "" && (err == nil || !strings.HasPrefix(err.Error(), want)):
				t.Fatalf("got %v, want %q", err, want)
			}
			if got := listDir(t, out); !slices.Equal(got, c.made) {
				t.Errorf("the output directory holds %q, want %q", got, c.made)
			}
		})
	}
	// The model directories hold no output or temporary file either.
	for _, m := range models {
		for _, n := range listDir(t, m) {
			if strings.Contains(n, ".part-") || strings.Contains(n, ".probe-") {
				t.Errorf("%s: %s left behind", m, n)
			}
		}
	}
}

// TestOutputDirNotWritable: an output in a directory that takes no new
// file fails before any work, saying so.
func TestOutputDirNotWritable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes in any directory")
	}
	dir := t.TempDir()
	data, models := trainToyModels(t, dir)
	ro := filepath.Join(dir, "ro")
	os.Mkdir(ro, 0o555)
	_, err := run(t, "reconstruct", "--model", models["plain"], "--data", data, "--out", filepath.Join(dir, "r.npy"), "--errors", filepath.Join(ro, "e.npy"), "--quiet")
	if err == nil || !strings.Contains(err.Error(), "--errors "+filepath.Join(ro, "e.npy")+": cannot create a file in "+ro+": permission denied") {
		t.Errorf("got %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "r.npy")); err == nil {
		t.Error("r.npy written")
	}
}

// TestEncodeHugeChunk: --chunk 1000000000 encodes with buffers for the
// rows there are, or, when their number is not known (CSV), within the
// buffer budget with a notice; no temporary file is left.
func TestEncodeHugeChunk(t *testing.T) {
	dir := t.TempDir()
	data, models := trainToyModels(t, dir)
	npy := filepath.Join(dir, "toy.npy")
	tab, _ := dataset.Load(data, dataset.LoadOptions{})
	if err := dataset.Save(npy, nil, tab.Rows, tab.Cols, tab.Data); err != nil {
		t.Fatal(err)
	}
	old := autoencoder.StreamBudget
	autoencoder.StreamBudget = 1 << 20
	defer func() { autoencoder.StreamBudget = old }()
	for _, in := range []string{npy, data} {
		out := t.TempDir()
		codes := filepath.Join(out, "codes.npy")
		_, stderr, err := runBoth(t, "encode", "--model", models["plain"], "--data", in, "--chunk", "1000000000", "--batch", "1000000000", "--out", codes, "--device", "cpu")
		if err != nil {
			t.Fatal(err)
		}
		notice := strings.Contains(stderr, "--chunk 1000000000: chunks of 1000000000 rows of 6 values would take more than the 1 MiB the encoding buffers may have; reading at most 10922 rows at a time")
		if notice != (in == data) {
			t.Errorf("%s: notice %v: %s", in, notice, stderr)
		}
		c, err := dataset.Load(codes, dataset.LoadOptions{})
		if err != nil || c.Rows != 60 || c.Cols != 2 {
			t.Fatalf("codes: %v, %v", c, err)
		}
		if got := listDir(t, out); !slices.Equal(got, []string{"codes.npy"}) {
			t.Errorf("%s: the output directory holds %q", in, got)
		}
	}
}
