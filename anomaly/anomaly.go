// Package anomaly is the anomaly-scoring policy of aegpu: it turns rows'
// reconstruction errors (autoencoder.Predictor.Errors) into flags and
// reports.
//
// A Rule (ParseRule, ContaminationRule, FixedRule) is fitted on a sample of
// errors, normally those of the training data, by FitThreshold; the
// Threshold it returns is kept with the model (SaveThreshold, threshold.json)
// or in a file of its own (SaveThresholdFile) and read back by
// LoadThreshold. A row is flagged when its score is strictly greater than
// the threshold (Flags). Evaluate summarises the scores and, given labels
// (Labels, or MergeAnomalies for rows known to be anomalies), measures
// ROC-AUC, PR-AUC and the confusion counts at the threshold; Explain lists
// the features with the largest error of each flagged row. Detector puts
// it together for the Go API: NewDetector fits a rule on a fitted
// Autoencoder's errors, Score scores and flags rows, Save and LoadDetector
// keep the threshold beside the model, as `aegpu score` does.
//
// Imports point one way: anomaly → autoencoder, dataset.
package anomaly

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/internal/metrics"
)

// Rule turns a sample of reconstruction errors into a threshold. Its forms
// (a fixed number, "mean+3std", "median+3mad", "q0.99", "p99",
// "contamination=0.05") are those ParseRule reads and Rule.String writes.
type Rule = metrics.Rule

// Counts are the cells of a binary confusion matrix at a threshold
// (positive: an anomaly; flagged: score > threshold), with Precision,
// Recall and F1 methods.
type Counts = metrics.Counts

// Threshold is a fitted anomaly threshold as it is saved (JSON): a row is
// flagged when its error is greater than Value.
type Threshold = autoencoder.Threshold

// ThresholdFile is the name of the threshold saved in a model directory.
const ThresholdFile = autoencoder.ThresholdFile

// ParseRule parses a threshold rule such as "mean+3std" or "0.035"; the
// error names the spec and lists the accepted forms.
func ParseRule(spec string) (Rule, error) { return metrics.ParseThreshold(spec) }

// ContaminationRule returns the rule for an expected anomaly fraction q in
// (0, 0.5]: the threshold is the (1 − q)-quantile of the errors.
func ContaminationRule(q float64) (Rule, error) { return metrics.ContaminationRule(q) }

// FixedRule returns the rule whose threshold is v (finite) whatever the
// errors.
func FixedRule(v float64) (Rule, error) { return metrics.FixedRule(v) }

// FitThreshold fits rule on sample, the errors of rows assumed mostly
// normal, and returns the threshold with its Value, Rule and Rows (the size
// of the sample; 0 for a fixed rule, which ignores the sample). The caller
// fills in Metric and FittedOn; Fitted is set when it is saved.
func FitThreshold(rule Rule, sample []float64) Threshold {
	if rule.IsFixed() {
		return Threshold{Value: rule.Fit(nil), Rule: rule.String()}
	}
	return Threshold{Value: rule.Fit(sample), Rule: rule.String(), Rows: len(sample)}
}

// SaveThreshold writes t to dir/threshold.json (atomically), beside the
// model, and returns that path. The file is not part of the checkpoint.
func SaveThreshold(dir string, t Threshold) (string, error) {
	if err := autoencoder.SaveThreshold(dir, t); err != nil {
		return "", err
	}
	return filepath.Join(dir, ThresholdFile), nil
}

// SaveThresholdFile writes t to the JSON file path (atomically).
func SaveThresholdFile(path string, t Threshold) error {
	return autoencoder.SaveThresholdFile(path, t)
}

// LoadThreshold reads the threshold saved in the model directory dir; ok is
// false when there is none.
func LoadThreshold(dir string) (t Threshold, ok bool, err error) {
	return autoencoder.ReadThreshold(dir)
}

// WidthError reports rows of known anomalies whose width differs from the
// data's.
type WidthError struct {
	Data, Anomalies int // columns
}

func (e *WidthError) Error() string {
	return fmt.Sprintf("anomaly: the anomalies have %d columns, the data has %d", e.Anomalies, e.Data)
}

// LabelCountError reports labels whose number differs from the rows'.
type LabelCountError struct {
	Labels, Rows int
}

func (e *LabelCountError) Error() string {
	return fmt.Sprintf("anomaly: %d labels for %d rows", e.Labels, e.Rows)
}

// LabelValueError reports a label that is neither 0 (normal) nor 1
// (anomaly).
type LabelValueError struct {
	Row, Label int
}

func (e *LabelValueError) Error() string {
	return fmt.Sprintf("anomaly: row %d: label %d, want 0 (normal) or 1 (anomaly)", e.Row, e.Label)
}

// MergeAnomalies returns data's rows followed by those of anomalies (rows
// known to be anomalies), with their labels: false for data's rows, true
// for the others. Neither table is modified. Tables of different widths are
// a *WidthError.
func MergeAnomalies(data, anomalies *dataset.Table) (*dataset.Table, []bool, error) {
	if anomalies.Cols != data.Cols {
		return nil, nil, &WidthError{Data: data.Cols, Anomalies: anomalies.Cols}
	}
	labels := make([]bool, data.Rows+anomalies.Rows)
	for i := data.Rows; i < len(labels); i++ {
		labels[i] = true
	}
	merged := *data
	merged.Data = append(slices.Clone(data.Data), anomalies.Data...)
	merged.Rows += anomalies.Rows
	return &merged, labels, nil
}

// Labels converts 0/1 labels (dataset.LoadLabels) of rows rows to
// booleans (true: an anomaly). A count other than rows is a
// *LabelCountError, a label other than 0 or 1 a *LabelValueError.
func Labels(ls []int, rows int) ([]bool, error) {
	if len(ls) != rows {
		return nil, &LabelCountError{Labels: len(ls), Rows: rows}
	}
	labels := make([]bool, len(ls))
	for i, l := range ls {
		if l > 1 {
			return nil, &LabelValueError{Row: i, Label: l}
		}
		labels[i] = l == 1
	}
	return labels, nil
}

// Flags returns each score's flag (1 when it is greater than th, else 0)
// and the number flagged. With th nil nothing is flagged.
func Flags(scores []float64, th *Threshold) (flags []bool, flagged int) {
	flags = make([]bool, len(scores))
	for i, s := range scores {
		if th != nil && s > th.Value {
			flags[i] = true
			flagged++
		}
	}
	return flags, flagged
}

// Report summarises scores, and measures them against labels when there
// are any.
type Report struct {
	Rows                   int
	Mean, Std, Median, P99 float64
	Threshold              *Threshold // nil: none, and nothing is flagged
	Flagged                int        // rows above the threshold

	Labelled bool    // labels were given: the fields below are set
	ROCAUC   float64 // area under the ROC curve
	AP       float64 // average precision (PR-AUC)
	// Counts at the threshold; zero without one.
	Counts Counts
}

// FlaggedFraction returns the fraction of the rows that were flagged.
func (r Report) FlaggedFraction() float64 { return float64(r.Flagged) / float64(r.Rows) }

// Evaluate summarises scores (mean, population std, median, 99th
// percentile), counts the rows above th (nil: none), and with labels (nil:
// none; one per score, true for an anomaly) measures ROC-AUC, average
// precision and the confusion counts at th. The error is that of ROC-AUC or
// average precision, e.g. labels of one class only.
func Evaluate(scores []float64, labels []bool, th *Threshold) (Report, error) {
	r := Report{Rows: len(scores), Threshold: th}
	if labels != nil {
		var err error
		if r.ROCAUC, err = metrics.ROCAUC(scores, labels); err != nil {
			return Report{}, err
		}
		if r.AP, err = metrics.AveragePrecision(scores, labels); err != nil {
			return Report{}, err
		}
		r.Labelled = true
		if th != nil {
			r.Counts = metrics.Confusion(scores, labels, th.Value)
		}
	}
	r.Mean, r.Std = metrics.MeanStd(scores)
	r.Median, r.P99 = metrics.Quantile(scores, 0.5), metrics.Quantile(scores, 0.99)
	_, r.Flagged = Flags(scores, th)
	return r, nil
}

// FeatureError is one feature's reconstruction error in a row.
type FeatureError struct {
	Feature int
	Name    string // the header's name, or "#j"
	Error   float32
}

// Explanation is a flagged row with its largest feature errors, largest
// first.
type Explanation struct {
	Row      int
	Score    float64
	Features []FeatureError
}

// Explain lists, for up to maxRows rows whose score is greater than th, the
// k features with the largest error (ties in feature order). featErr holds
// rows × cols errors row by row; header names the features (missing or
// empty names become "#j"). more reports flagged rows left out.
func Explain(scores []float64, featErr []float32, cols int, header []string, th float64, k, maxRows int) (rows []Explanation, more bool) {
	for i, s := range scores {
		if s <= th {
			continue
		}
		if len(rows) == maxRows {
			return rows, true
		}
		idx := make([]int, cols)
		for j := range idx {
			idx[j] = j
		}
		fe := featErr[i*cols : (i+1)*cols]
		sort.SliceStable(idx, func(a, b int) bool { return fe[idx[a]] > fe[idx[b]] })
		e := Explanation{Row: i, Score: s}
		for _, j := range idx[:min(k, cols)] {
			name := fmt.Sprintf("#%d", j)
			if j < len(header) && header[j] != "" {
				name = header[j]
			}
			e.Features = append(e.Features, FeatureError{Feature: j, Name: name, Error: fe[j]})
		}
		rows = append(rows, e)
	}
	return rows, false
}
