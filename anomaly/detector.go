package anomaly

import (
	"fmt"

	"github.com/aegpu/aegpu/autoencoder"
)

// Detector is anomaly detection from the Go API, as `aegpu score` does it:
// a fitted Autoencoder's per-row reconstruction error (MSE in its scaled
// space) against a Threshold.
type Detector struct {
	AE        *autoencoder.Autoencoder
	Threshold Threshold
}

// NewDetector fits rule on the errors of normal, rows (× the model's
// inputs) assumed mostly normal, usually the training data; fittedOn says
// what they were (recorded in the threshold). A fixed rule ignores them.
func NewDetector(ae *autoencoder.Autoencoder, normal []float32, rule Rule, fittedOn string) (*Detector, error) {
	var sample []float64
	if !rule.IsFixed() {
		e, err := ae.Score(normal)
		if err != nil {
			return nil, err
		}
		if len(e) == 0 {
			return nil, fmt.Errorf("anomaly: no rows to fit the threshold %s on", rule)
		}
		sample = Scores(e)
	}
	t := FitThreshold(rule, sample)
	t.Metric, t.FittedOn = "mse", fittedOn
	return &Detector{AE: ae, Threshold: t}, nil
}

// LoadDetector opens the model directory dir on device with the threshold
// saved beside it (threshold.json, written by `aegpu score` or Save).
func LoadDetector(dir, device string) (*Detector, error) {
	t, ok, err := LoadThreshold(dir)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("anomaly: %s holds no %s: fit one with NewDetector or aegpu score", dir, ThresholdFile)
	}
	if t.Metric != "" && t.Metric != "mse" {
		return nil, fmt.Errorf("anomaly: the threshold in %s is on %s errors; a Detector scores mse (use aegpu score --metric %s)", dir, t.Metric, t.Metric)
	}
	ae, err := autoencoder.Load(dir, device)
	if err != nil {
		return nil, err
	}
	return &Detector{AE: ae, Threshold: t}, nil
}

// Score returns each row's anomaly score and whether it is flagged
// (score > Threshold.Value).
func (d *Detector) Score(X []float32) (scores []float64, flags []bool, err error) {
	e, err := d.AE.Score(X)
	if err != nil {
		return nil, nil, err
	}
	scores = Scores(e)
	flags, _ = Flags(scores, &d.Threshold)
	return scores, flags, nil
}

// Save writes the threshold beside the model in dir (threshold.json);
// the model itself is saved by d.AE.Save.
func (d *Detector) Save(dir string) (string, error) { return SaveThreshold(dir, d.Threshold) }

// Scores widens per-row errors (autoencoder.Predictor.Errors, Autoencoder.Score)
// to the float64 scores the rules, Flags and Evaluate take.
func Scores(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}
