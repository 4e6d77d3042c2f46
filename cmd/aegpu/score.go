package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/aegpu/aegpu/anomaly"
	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
)

func scoreCommand() *cli.Command {
	return &cli.Command{
		Name:  "score",
		Usage: "anomaly detection: score every row by its reconstruction error and flag outliers",
		Description: `Writes each row's anomaly score (its reconstruction error: the mean over the
features of the squared (mse) or absolute (mae) error, in the model's scaled
space) and a 0/1 flag to --out (.csv columns score,flag; .npy rows×2).

The threshold comes from, in order: --threshold (a fixed value such as 0.035,
or a rule: mean+3std, median+3mad, q0.99, p99), --contamination q (flag the
top q fraction), or the threshold saved with the model. Rules are fitted on
the errors of --fit-on FILE (normally the training data) or, without it, of
--data; a fitted threshold is saved with the model (threshold.json) and used
by later calls that give no rule, or with --threshold-out FILE saved there
instead. A fixed --threshold value is used as it is and saves nothing.

With --labels FILE (1 = anomaly, 0 = normal, one per row; IDX, .npy or .csv)
or --anomalies FILE (rows known to be anomalies, appended after --data's
rows), it prints ROC-AUC, PR-AUC (average precision) and precision, recall
and F1 at the threshold. --explain k lists the k features with the largest
error of each flagged row; --per-feature FILE writes every feature's error.

Examples:
  aegpu score --model mnist-ae --data data/mnist/t10k-images-idx3-ubyte.gz \
      --anomalies data/fashion-mnist/t10k-images-idx3-ubyte.gz --contamination 0.5 --out scores.csv
  aegpu score --model tab-ae --data new.csv --fit-on train.csv --threshold mean+3std --explain 3 --out s.csv`,
		Flags: append(slices.Clone(inferFlags),
			&cli.StringFlag{Name: "metric", Value: "mse", Usage: "row error: mse or mae"},
			&cli.StringFlag{Name: "threshold", Usage: "fixed threshold, or rule: mean+3std, median+3mad, q0.99, p99"},
			&cli.Float64Flag{Name: "contamination", Usage: "expected fraction q of anomalies: threshold at the (1−q) quantile"},
			&cli.StringFlag{Name: "fit-on", Usage: "fit the threshold rule on this `FILE`'s errors (default: --data)"},
			&cli.StringFlag{Name: "threshold-out", Usage: "save a fitted threshold to `FILE` (JSON) instead of the model directory, e.g. when that is read-only"},
			&cli.StringFlag{Name: "labels", Usage: "ground-truth `FILE` (1 = anomaly) for ROC-AUC, PR-AUC, precision/recall/F1"},
			&cli.StringFlag{Name: "anomalies", Usage: "rows known to be anomalies (`FILE`), scored after --data's and labelled 1"},
			&cli.IntFlag{Name: "explain", Usage: "list the k features with the largest error of each flagged row"},
			&cli.IntFlag{Name: "explain-rows", Value: 20, Usage: "at most this many flagged rows are explained"},
			&cli.StringFlag{Name: "per-feature", Usage: "write every feature's error (rows × features) to `FILE`"},
		),
		Action: runScore,
	}
}

func runScore(c *cli.Context) error {
	quiet := c.Bool("quiet")
	var outs outputSet // --out and --per-feature: both or neither
	defer outs.abort()
	outPath, err := outs.add(c, "out", dataExts...)
	if err != nil {
		return err
	}
	perFeature, err := outs.add(c, "per-feature", dataExts...)
	if err != nil {
		return err
	}
	kind, err := engine.ParseLoss(c.String("metric"))
	if err != nil || (kind != engine.MSE && kind != engine.MAE) {
		return fmt.Errorf("--metric %q: want mse or mae", c.String("metric"))
	}
	var rule *anomaly.Rule
	switch {
	case c.IsSet("threshold") && c.IsSet("contamination"):
		return fmt.Errorf("give --threshold or --contamination, not both")
	case c.IsSet("threshold"):
		r, err := anomaly.ParseRule(c.String("threshold"))
		if err != nil {
			return fmt.Errorf("--threshold: %w", err)
		}
		rule = &r
	case c.IsSet("contamination"):
		r, err := anomaly.ContaminationRule(c.Float64("contamination"))
		if err != nil {
			return fmt.Errorf("--contamination: %w", err)
		}
		rule = &r
	}
	if c.IsSet("labels") && c.IsSet("anomalies") {
		return fmt.Errorf("give --labels or --anomalies, not both")
	}
	p, data, done, err := openPredictor(c)
	if err != nil {
		return err
	}
	defer done()
	dir := c.String("model")
	var labels []bool
	if path := c.String("anomalies"); path != "" {
		extra, err := dataset.Load(path, dataset.LoadOptions{})
		if err != nil {
			return err
		}
		merged, ls, err := anomaly.MergeAnomalies(data, extra)
		if err != nil { // a *anomaly.WidthError, the only one
			return fmt.Errorf("--anomalies %s has %d columns, --data has %d", path, extra.Cols, data.Cols)
		}
		if !quiet {
			fmt.Fprintf(os.Stderr, "scoring %d rows: 0–%d from the data (label 0), %d–%d from --anomalies %s (label 1); --out keeps this order\n",
				merged.Rows, data.Rows-1, data.Rows, merged.Rows-1, path)
		}
		data, labels = merged, ls
	}
	if path := c.String("labels"); path != "" {
		ls, err := dataset.LoadLabels(path)
		if err != nil {
			return err
		}
		labels, err = anomaly.Labels(ls, data.Rows)
		var count *anomaly.LabelCountError
		var value *anomaly.LabelValueError
		switch {
		case errors.As(err, &count):
			return fmt.Errorf("--labels %s has %d labels, --data has %d rows", path, count.Labels, count.Rows)
		case errors.As(err, &value):
			return fmt.Errorf("--labels %s row %d: label %d, want 0 (normal) or 1 (anomaly)", path, value.Row, value.Label)
		case err != nil:
			return err
		}
	}
	explain := c.Int("explain")
	rowErr, featErr, err := p.Errors(data.Data, data.Cols, kind, explain > 0 || c.String("per-feature") != "")
	if err != nil {
		return err
	}
	scores := anomaly.Scores(rowErr)

	// The threshold: fitted now, or the one saved with the model.
	var th *anomaly.Threshold
	if rule != nil && rule.IsFixed() {
		// Given, not fitted: used as it is; nothing is written (the model
		// directory may well be read-only).
		t := anomaly.FitThreshold(*rule, nil)
		t.Metric = kind.String()
		th = &t
		if !quiet {
			fmt.Fprintf(os.Stderr, "threshold %.6g (given; not saved)\n", t.Value)
		}
	} else if rule != nil {
		sample, src := scores, "--data"
		if path := c.String("fit-on"); path != "" {
			fit, err := dataset.Load(path, dataset.LoadOptions{})
			if err != nil {
				return err
			}
			fe, _, err := p.Errors(fit.Data, fit.Cols, kind, false)
			if err != nil {
				return fmt.Errorf("--fit-on %s: %w", path, err)
			}
			sample, src = anomaly.Scores(fe), path
		} else {
			d, err := chooseData(c, dir)
			if err != nil {
				return err
			}
			src = d.Name()
			if c.String("anomalies") != "" {
				src += " and " + c.String("anomalies")
			}
		}
		t := anomaly.FitThreshold(*rule, sample)
		t.Metric, t.FittedOn = kind.String(), src
		where, err := keepThreshold(c.String("threshold-out"), dir, t)
		if err != nil {
			return err
		}
		th = &t
		if !quiet {
			fmt.Fprintf(os.Stderr, "threshold %.6g (%s on %d rows of %s), saved in %s\n", t.Value, t.Rule, t.Rows, src, where)
		}
	} else if t, ok, err := anomaly.LoadThreshold(dir); err != nil {
		return err
	} else if ok {
		if t.Metric != kind.String() {
			return fmt.Errorf("the threshold saved with %s is for --metric %s, not %s: refit it with --threshold or --contamination", dir, t.Metric, kind)
		}
		th = &t
		if !quiet {
			fmt.Fprintf(os.Stderr, "threshold %.6g from %s/%s (%s on %s)\n", t.Value, dir, anomaly.ThresholdFile, t.Rule, t.FittedOn)
		}
	}

	flags, _ := anomaly.Flags(scores, th)
	out := make([]float32, 2*len(scores))
	for i, s := range scores {
		out[2*i] = float32(s)
		if flags[i] {
			out[2*i+1] = 1
		}
	}
	idName, ids := rowIDs(c, data)
	if err := outs.save(outPath, []string{"score", "flag"}, len(scores), 2, out, idName, ids); err != nil {
		return err
	}
	if perFeature != "" {
		if err := outs.save(perFeature, data.Header, data.Rows, data.Cols, featErr, idName, ids); err != nil {
			return err
		}
	}
	var rep anomaly.Report // before the outputs are published: an error leaves none
	if !quiet {
		if rep, err = anomaly.Evaluate(scores, labels, th); err != nil {
			return fmt.Errorf("labels: %w", err)
		}
	}
	if err := outs.commit(); err != nil {
		return err
	}
	if quiet {
		return nil
	}
	fmt.Fprintf(os.Stderr, "wrote %s: %d rows; %s mean %.6g, std %.6g, median %.6g, p99 %.6g\n", c.String("out"), rep.Rows, kind, rep.Mean, rep.Std,
		rep.Median, rep.P99)
	if th != nil {
		fmt.Fprintf(os.Stderr, "flagged %d of %d rows (%.2f%%) above %.6g\n", rep.Flagged, rep.Rows, 100*rep.FlaggedFraction(), th.Value)
	}
	if rep.Labelled {
		fmt.Fprintf(os.Stderr, "ROC-AUC %.4f, PR-AUC (average precision) %.4f", rep.ROCAUC, rep.AP)
		if th != nil {
			k := rep.Counts
			fmt.Fprintf(os.Stderr, "; at the threshold: precision %.4f, recall %.4f, F1 %.4f (TP %d, FP %d, TN %d, FN %d)",
				k.Precision(), k.Recall(), k.F1(), k.TP, k.FP, k.TN, k.FN)
		}
		fmt.Fprintln(os.Stderr)
	}
	if explain > 0 && th != nil {
		printExplanations(scores, featErr, data, th.Value, explain, c.Int("explain-rows"))
	} else if explain > 0 {
		fmt.Fprintln(os.Stderr, "--explain: no threshold (give --threshold or --contamination), so no row is flagged")
	}
	return nil
}

// keepThreshold saves a fitted threshold: to out when given, else with the
// model in dir; it returns where it went. A read-only model directory is
// an error that says to pass --threshold-out.
func keepThreshold(out, dir string, t anomaly.Threshold) (string, error) {
	if out != "" {
		if err := anomaly.SaveThresholdFile(out, t); err != nil {
			return "", fmt.Errorf("--threshold-out: %w", err)
		}
		return out, nil
	}
	where, err := anomaly.SaveThreshold(dir, t)
	switch {
	case errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS):
		return "", fmt.Errorf("cannot save the fitted threshold (%.6g) with the model: %s is read-only; pass --threshold-out FILE to save it elsewhere, or --threshold %.6g to use the value without saving it", t.Value, dir, t.Value)
	case err != nil:
		return "", fmt.Errorf("save the threshold with the model: %w", err)
	}
	return where, nil
}

// printExplanations lists, for up to maxRows flagged rows, the k features
// with the largest error.
func printExplanations(scores []float64, featErr []float32, data *dataset.Table, th float64, k, maxRows int) {
	rows, more := anomaly.Explain(scores, featErr, data.Cols, data.Header, th, k, maxRows)
	for _, r := range rows {
		parts := make([]string, len(r.Features))
		for i, f := range r.Features {
			parts[i] = fmt.Sprintf("%s %.4g", f.Name, f.Error)
		}
		fmt.Fprintf(os.Stderr, "row %d: score %.5g; largest errors: %s\n", r.Row, r.Score, strings.Join(parts, ", "))
	}
	if more {
		fmt.Fprintf(os.Stderr, "… (more flagged rows; --explain-rows raises the limit, --per-feature writes them all)\n")
	}
}
