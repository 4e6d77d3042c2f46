package anomaly_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/aegpu/aegpu/anomaly"
)

// Fit a rule on the errors of normal rows, keep the threshold, and measure
// new rows' scores against their labels.
func Example() {
	train := []float64{0.010, 0.012, 0.011, 0.009, 0.010, 0.013, 0.011, 0.012}
	rule, err := anomaly.ParseRule("mean+3std")
	if err != nil {
		panic(err)
	}
	th := anomaly.FitThreshold(rule, train)
	th.Metric, th.FittedOn = "mse", "train.csv"

	dir, err := os.MkdirTemp("", "model")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	where, err := anomaly.SaveThreshold(dir, th)
	if err != nil {
		panic(err)
	}
	saved, ok, err := anomaly.LoadThreshold(dir)
	if err != nil || !ok {
		panic(err)
	}
	fmt.Printf("%s: %.4f (%s on %d rows)\n", filepath.Base(where), saved.Value, saved.Rule, saved.Rows)

	scores := []float64{0.011, 0.010, 0.090, 0.012, 0.040, 0.016}
	labels := []bool{false, false, true, false, true, false}
	rep, err := anomaly.Evaluate(scores, labels, &saved)
	if err != nil {
		panic(err)
	}
	k := rep.Counts
	fmt.Printf("flagged %d of %d; ROC-AUC %.2f, PR-AUC %.2f; precision %.2f, recall %.2f\n",
		rep.Flagged, rep.Rows, rep.ROCAUC, rep.AP, k.Precision(), k.Recall())
	// Output:
	// threshold.json: 0.0147 (mean+3std on 8 rows)
	// flagged 3 of 6; ROC-AUC 1.00, PR-AUC 1.00; precision 0.67, recall 1.00
}
