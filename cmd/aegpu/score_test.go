package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/dataset"
)

// TestScore trains on normal rows, scores normal and corrupted rows, and
// checks flags, the saved threshold, labels and the errors of bad input.
func TestScore(t *testing.T) {
	dir := t.TempDir()
	train, model := filepath.Join(dir, "train.csv"), filepath.Join(dir, "m")
	writeToyCSV(t, train, 400)
	if _, err := run(t, "train", "--data", train, "--layers", "6,4,2", "--hidden", "tanh", "--scale", "standard", "--epochs", "30", "--batch", "32",
		"--lr", "0.003", "--out", model, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	// 100 normal rows, then 20 anomalies: the same generator with one
	// feature broken.
	var sb strings.Builder
	sb.WriteString("a,b,c,d,e,f\n")
	var labels strings.Builder
	for r := 0; r < 120; r++ {
		u, v := math.Sin(float64(r+1000)*0.37), math.Cos(float64(r+1000)*0.11)
		row := []float64{10 * u, 3 * v, u + v, 5*u - v, 2 + u*v, -v}
		lab := 0
		if r >= 100 {
			row[3] += 20 // breaks d = 5u − v by ~5 standard deviations
			lab = 1
		}
		fmt.Fprintf(&sb, "%g,%g,%g,%g,%g,%g\n", row[0], row[1], row[2], row[3], row[4], row[5])
		fmt.Fprintf(&labels, "%d\n", lab)
	}
	test, lab := filepath.Join(dir, "test.csv"), filepath.Join(dir, "labels.csv")
	os.WriteFile(test, []byte(sb.String()), 0o644)
	os.WriteFile(lab, []byte(labels.String()), 0o644)

	out, feat := filepath.Join(dir, "s.csv"), filepath.Join(dir, "f.npy")
	if _, err := run(t, "score", "--model", model, "--data", test, "--fit-on", train, "--threshold", "q0.99", "--labels", lab,
		"--explain", "2", "--per-feature", feat, "--out", out, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	s, err := dataset.Load(out, dataset.LoadOptions{})
	if err != nil || s.Rows != 120 || s.Cols != 2 {
		t.Fatalf("scores: %v", err)
	}
	th, ok, err := autoencoder.ReadThreshold(model)
	if err != nil || !ok || th.Rule != "q0.99" || th.Rows != 400 || th.Metric != "mse" {
		t.Fatalf("saved threshold %+v, %v, %v", th, ok, err)
	}
	hit, fa := 0, 0
	for r := range 120 {
		score, flag := s.Data[2*r], s.Data[2*r+1]
		if (float64(score) > th.Value) != (flag == 1) {
			t.Fatalf("row %d: score %v, threshold %v, flag %v", r, score, th.Value, flag)
		}
		if r >= 100 && flag == 1 {
			hit++
		}
		if r < 100 && flag == 1 {
			fa++
		}
	}
	// The broken feature stands far outside the training distribution.
	if hit < 18 || fa > 5 {
		t.Errorf("flagged %d of 20 anomalies and %d of 100 normal rows", hit, fa)
	}
	f, err := dataset.Load(feat, dataset.LoadOptions{})
	if err != nil || f.Rows != 120 || f.Cols != 6 {
		t.Fatalf("per-feature errors: %v", err)
	}
	// Per-feature errors average to the row score (mse).
	for r := range 120 {
		sum := 0.0
		for j := range 6 {
			sum += float64(f.Data[r*6+j])
		}
		if math.Abs(sum/6-float64(s.Data[2*r])) > 1e-5*float64(s.Data[2*r])+1e-7 {
			t.Fatalf("row %d: per-feature mean %v, score %v", r, sum/6, s.Data[2*r])
		}
	}
	// --compare-pca on encode and train runs PCA at the latent size.
	if _, err := run(t, "encode", "--model", model, "--data", test, "--out", filepath.Join(dir, "z.npy"), "--compare-pca", "--device", "cpu"); err != nil {
		t.Errorf("encode --compare-pca: %v", err)
	}
	if _, err := run(t, "train", "--data", train, "--layers", "6,3", "--epochs", "1", "--out", filepath.Join(dir, "p"), "--compare-pca", "--device", "cpu"); err != nil {
		t.Errorf("train --compare-pca: %v", err)
	}
	// No rule: the saved threshold is used.
	out2 := filepath.Join(dir, "s2.npy")
	if _, err := run(t, "score", "--model", model, "--data", test, "--out", out2, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	s2, _ := dataset.Load(out2, dataset.LoadOptions{})
	for i := range s.Data {
		if s.Data[i] != s2.Data[i] {
			t.Fatalf("re-scoring with the saved threshold differs at %d", i)
		}
	}
	// --contamination flags about that fraction of the sample it fits on.
	if _, err := run(t, "score", "--model", model, "--data", test, "--contamination", "0.25", "--out", out2, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	s2, _ = dataset.Load(out2, dataset.LoadOptions{})
	n := 0
	for r := range 120 {
		n += int(s2.Data[2*r+1])
	}
	if n != 30 && n != 29 {
		t.Errorf("--contamination 0.25 flagged %d of 120", n)
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--labels", train}, "labels"},
		{[]string{"--metric", "mae"}, "is for --metric mse"},
		{[]string{"--metric", "bce"}, "want mse or mae"},
		{[]string{"--threshold", "mean+xstd"}, "--threshold"},
		{[]string{"--contamination", "0.9"}, "--contamination"},
		{[]string{"--threshold", "1", "--contamination", "0.1"}, "not both"},
	} {
		_, err := run(t, append([]string{"score", "--model", model, "--data", test, "--out", out2, "--device", "cpu", "--quiet"}, bad.args...)...)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%v: %v, want an error containing %q", bad.args, err, bad.want)
		}
	}
}
