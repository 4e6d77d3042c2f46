package autoencoder

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/aegpu/aegpu/internal/atomicfile"
)

// ThresholdFile holds a model's fitted anomaly threshold (aegpu score).
const ThresholdFile = "threshold.json"

// Threshold is an anomaly threshold fitted on a sample of reconstruction
// errors: a row is flagged when its error is greater than Value.
//
// Package anomaly fits, saves, loads and applies it (anomaly.FitThreshold,
// anomaly.SaveThreshold, anomaly.LoadThreshold, anomaly.Evaluate); the type
// and its file stay here because they belong to the model directory.
type Threshold struct {
	Value    float64 `json:"value"`
	Rule     string  `json:"rule"`   // as anomaly.ParseRule reads it
	Metric   string  `json:"metric"` // mse or mae, per row in the scaled space
	FittedOn string  `json:"fitted_on"`
	Rows     int     `json:"rows"`
	Fitted   string  `json:"fitted_at"`
}

// SaveThreshold writes dir/threshold.json (atomically). It is not part of
// the checkpoint (a model directory's checkpoint.json does not list it).
func SaveThreshold(dir string, t Threshold) error {
	return SaveThresholdFile(filepath.Join(dir, ThresholdFile), t)
}

// SaveThresholdFile writes t to the JSON file path (atomically).
func SaveThresholdFile(path string, t Threshold) error {
	if t.Fitted == "" {
		t.Fitted = time.Now().UTC().Format(time.RFC3339)
	}
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, append(b, '\n'))
}

// ReadThreshold reads dir/threshold.json; ok is false when there is none.
func ReadThreshold(dir string) (t Threshold, ok bool, err error) {
	p := filepath.Join(dir, ThresholdFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return t, false, nil
	}
	if err != nil {
		return t, false, err
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return t, false, fmt.Errorf("%s: %w", p, err)
	}
	return t, true, nil
}
