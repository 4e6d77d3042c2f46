package main

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegpu/aegpu/autoencoder"
)

// TestTrainLRAuto: train --lr auto runs the range test, trains at its pick
// (recorded in config.json) and draws the curve with --lr-plot; the
// printed curve marks the pick.
func TestTrainLRAuto(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "toy.csv")
	writeToyCSV(t, csv, 400)
	model, plot := filepath.Join(dir, "m"), filepath.Join(dir, "lr.png")
	if _, err := run(t, "train", "--data", csv, "--layers", "6,4,2", "--epochs", "2", "--scale", "standard",
		"--lr", "auto", "--lr-plot", plot, "--out", model, "-q"); err != nil {
		t.Fatal(err)
	}
	cfg, err := autoencoder.ReadConfig(model)
	if err != nil {
		t.Fatal(err)
	}
	if lr := cfg.Train.LR; lr == autoencoder.DefaultTrainConfig().LR || !(lr > 1e-7 && lr < 10) {
		t.Errorf("config.json lr %v: not a pick of the sweep from 1e-7 to 10", lr)
	}
	f, err := os.Open(plot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	var red, blue int
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			red += boolInt(r>>8 > 200 && g>>8 < 80 && bl>>8 < 80)
			blue += boolInt(bl>>8 > 180 && r>>8 < 60)
		}
	}
	if b.Dx() != 720 || b.Dy() != 420 || red < 300 || blue < 300 {
		t.Errorf("plot %v: %d red (pick) and %d blue (curve) pixels", b, red, blue)
	}

	// The printed curve: 13 points, the pick's marked, the pick stated.
	var out bytes.Buffer
	r := &autoencoder.LRRange{Stopped: "diverged", Pick: 0.01, PickStep: 50}
	for i := range 100 {
		r.LR = append(r.LR, 1e-4*float64(i+1))
		r.Smoothed = append(r.Smoothed, 1/float64(i+1))
	}
	if err := reportLRRange(&reporter{w: &out}, r, ""); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if strings.Count(s, "\n") != 16 || strings.Count(s, "← steepest descent") != 1 || !strings.Contains(s, "learning rate: 0.01 (steepest descent of the smoothed loss, step 51)") {
		t.Errorf("printed curve:\n%s", s)
	}
	if !strings.Contains(s, "0.0049  ") && !strings.Contains(s, "0.005") {
		t.Errorf("printed curve lacks the sampled rates:\n%s", s)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestTrainBudget: --samples gives ⌈samples / training rows⌉ epochs;
// --time trains at least one epoch, records the budget and stops for the
// epochs or the time.
func TestTrainBudget(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "toy.csv")
	writeToyCSV(t, csv, 400) // 360 training rows
	model := filepath.Join(dir, "m")
	if _, err := run(t, "train", "--data", csv, "--layers", "6,3", "--samples", "2k", "--out", model, "-q"); err != nil {
		t.Fatal(err)
	}
	cfg, err := autoencoder.ReadConfig(model)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Train.Epochs != 6 || cfg.Train.TimeBudget != 0 { // ⌈2000/360⌉
		t.Errorf("--samples 2k on 360 training rows: %d epochs, time budget %v", cfg.Train.Epochs, cfg.Train.TimeBudget)
	}
	model = filepath.Join(dir, "m2")
	out, err := run(t, "train", "--data", csv, "--layers", "6,3", "--time", "1s", "--out", model, "-q", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err = autoencoder.ReadConfig(model); err != nil || cfg.Train.TimeBudget != 1 || cfg.Train.Epochs < 1 {
		t.Fatalf("--time 1s: %v, %+v", err, cfg.Train)
	}
	if !strings.Contains(out, `"stop_reason": "epochs"`) && !strings.Contains(out, `"stop_reason": "time"`) {
		t.Errorf("summary: %s", out)
	}
}
