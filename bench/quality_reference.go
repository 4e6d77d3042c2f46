package bench

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
)

// QualityScript is bench/reference/pytorch_quality.py, embedded so that
// `aegpu bench --quality --reference` works from the binary alone.
//
//go:embed reference/pytorch_quality.py
var QualityScript []byte

// RefQuality is the PyTorch reference's result on one set.
type RefQuality struct {
	TestMSE float64 `json:"test_mse"`
	Torch   string  `json:"torch"`
	Threads int     `json:"threads"`
	Seconds float64 `json:"seconds"`
}

// RunQualityReference trains the old recipe in PyTorch (python, with
// torch) on the rows aegpu trained on: split by autoencoder.Split with the
// same seed and scaled by the aegpu run's scaler sc, for s.Epochs epochs,
// the best validation epoch's weights kept; it returns the held-out MSE.
func RunQualityReference(python string, s QualitySet, train, test *dataset.Table, sc dataset.Scaler, seed uint64, timeout time.Duration) (RefQuality, error) {
	dir, err := os.MkdirTemp("", "aegpu-quality-")
	if err != nil {
		return RefQuality{}, err
	}
	defer os.RemoveAll(dir)
	cfg := autoencoder.DefaultTrainConfig()
	tr, va := autoencoder.Split(train.Rows, cfg.ValSplit, seed)
	for name, rows := range map[string][]float32{"train": train.Gather(tr), "val": train.Gather(va), "test": append([]float32(nil), test.Data...)} {
		if err := sc.Apply(rows, train.Cols); err != nil {
			return RefQuality{}, err
		}
		if err := dataset.WriteNPY(filepath.Join(dir, name+".npy"), len(rows)/train.Cols, train.Cols, rows); err != nil {
			return RefQuality{}, err
		}
	}
	script := filepath.Join(dir, "pytorch_quality.py")
	if err := os.WriteFile(script, QualityScript, 0o644); err != nil {
		return RefQuality{}, err
	}
	layers := make([]string, len(s.Layers))
	for i, l := range s.Layers {
		layers[i] = fmt.Sprint(l)
	}
	out := "linear"
	if s.Output == engine.Sigmoid {
		out = "sigmoid"
	}
	cmd := exec.Command(python, script, "--dir", dir, "--layers", strings.Join(layers, ","), "--output", out,
		"--epochs", fmt.Sprint(s.Epochs), "--batch", "256", "--lr", "1e-3", "--seed", fmt.Sprint(seed))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	done := make(chan struct{})
	timer := time.AfterFunc(timeout, func() {
		if cmd.Process != nil {
			cmd.Process.Kill()
		}
		close(done)
	})
	b, err := cmd.Output()
	if !timer.Stop() {
		<-done
		return RefQuality{}, fmt.Errorf("the PyTorch reference on %s ran past %s and was stopped", s.Name, timeout)
	}
	if err != nil {
		return RefQuality{}, fmt.Errorf("the PyTorch reference on %s: %v: %s", s.Name, err, lastLine(stderr.String()))
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var r RefQuality
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		return RefQuality{}, fmt.Errorf("the PyTorch reference on %s printed %q: %w", s.Name, lines[len(lines)-1], err)
	}
	r.Seconds = time.Since(start).Seconds()
	return r, nil
}
