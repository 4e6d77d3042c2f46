package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegpu/aegpu/dataset"
)

// corrupt adds the training noise in the scaled space, reproducibly from
// the seed, and writes the result in the data's units.
func TestCorrupt(t *testing.T) {
	dir := t.TempDir()
	const rows, cols = 5000, 7 // 5000 rows: two blocks of rows, the second partial
	x := make([]float32, rows*cols)
	for i := range x {
		x[i] = float32(i%251) + 10 // [10, 260]: --scale minmax maps it onto [0,1]
	}
	in := filepath.Join(dir, "x.npy")
	if err := dataset.WriteNPY(in, rows, cols, x); err != nil {
		t.Fatal(err)
	}
	load := func(p string) []float32 {
		tab, err := dataset.Load(p, dataset.LoadOptions{})
		if err != nil || tab.Rows != rows || tab.Cols != cols {
			t.Fatalf("%s: %v %v", p, tab, err)
		}
		return tab.Data
	}
	a, b, c := filepath.Join(dir, "a.npy"), filepath.Join(dir, "b.npy"), filepath.Join(dir, "c.npy")
	for _, args := range [][]string{
		{"--out", a},
		{"--out", b},
		{"--out", c, "--seed", "2"},
	} {
		if _, err := run(t, append([]string{"corrupt", "--data", in, "--noise", "gaussian:0.1", "--scale", "minmax", "--quiet"}, args...)...); err != nil {
			t.Fatal(err)
		}
	}
	ab, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	cb, _ := os.ReadFile(c)
	if !bytes.Equal(ab, bb) || bytes.Equal(ab, cb) {
		t.Errorf("same seed: equal %v (want true); other seed: equal %v (want false)", bytes.Equal(ab, bb), bytes.Equal(ab, cb))
	}
	// The noise, in scaled units (÷ 250, the data's range per feature): mean
	// 0 and std 0.1. With 35 000 draws the sample std is within ±2% of σ
	// (≈ 6 standard errors) and the mean within 0.003 (≈ 5.6 s.e.).
	noisy := load(a)
	var sum, sq float64
	for i := range noisy {
		d := float64(noisy[i]-x[i]) / 250
		sum += d
		sq += d * d
	}
	n := float64(len(noisy))
	mean, std := sum/n, math.Sqrt(sq/n-(sum/n)*(sum/n))
	if math.Abs(mean) > 0.003 || math.Abs(std-0.1) > 0.002 {
		t.Errorf("noise mean %.4g std %.4g, want 0 and 0.1", mean, std)
	}
	// Masking sets values to the scaled 0, i.e. the feature's minimum (10).
	if _, err := run(t, "corrupt", "--data", in, "--noise", "masking:0.25", "--scale", "minmax", "--out", a, "--quiet"); err != nil {
		t.Fatal(err)
	}
	masked := 0
	for i, v := range load(a) {
		switch {
		case v == 10 && x[i] != 10:
			masked++
		case v != 10 && v != x[i]:
			t.Fatalf("masking changed value %d from %v to %v", i, x[i], v)
		}
	}
	// 25% of 35 000 ≈ 8 750 ± 81 (binomial s.d.): ±500 is ≈ 6 s.d.
	if masked < 8250 || masked > 9250 {
		t.Errorf("masking:0.25 zeroed %d of %d values", masked, rows*cols)
	}
	for _, c := range []struct{ args, want string }{
		{"--noise gaussian", "give a level"},
		{"--noise blur:1", "unknown noise"},
		{"--noise gaussian:0.1 --model " + dir, "not a model directory"},
	} {
		args := append([]string{"corrupt", "--data", in, "--out", b}, strings.Fields(c.args)...)
		if _, err := run(t, args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.args, err, c.want)
		}
	}
}
