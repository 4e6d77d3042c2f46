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

--shard i/n, --shard auto and --gather split the rows between processes as
for aegpu encode (see its --help): each process writes part i of n of --out
and --per-feature, 'aegpu gather' or --gather joins them. The threshold
must be the same for every shard: a fixed value, the one saved with the
model, or a rule fitted on --fit-on FILE (shard 0 saves it); a rule fitted
on --data, --labels and --anomalies are refused under sharding, as a shard
has only its rows. The summary each process prints is of its shard's rows.

Examples:
  aegpu score --model mnist-ae --data data/mnist/t10k-images-idx3-ubyte.gz \
      --anomalies data/fashion-mnist/t10k-images-idx3-ubyte.gz --contamination 0.5 --out scores.csv
  aegpu score --model tab-ae --data new.csv --fit-on train.csv --threshold mean+3std --explain 3 --out s.csv
  mpirun -n 8 aegpu score --model tab-ae --data big.parquet --id-column id --gather --out scores.parquet`,
		Flags: append(slices.Clone(inferFlags),
			shardFlag,
			shardCountFlag,
			gatherFlag,
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
	sh, comm, err := shardOf(c)
	if err != nil {
		return err
	}
	pfs, err := scoreShard(c, sh)
	if comm == nil {
		return err
	}
	// Under --gather: the ranks' parts, joined in order by rank 0.
	outs := []string{c.String("out")}
	if p := c.String("per-feature"); p != "" {
		outs = append(outs, p)
	}
	if pfs == nil {
		pfs = make([]*partFormat, len(outs))
	}
	return gatherRanks(comm, sh, outs, pfs, c.Bool("quiet"), err)
}

// scoreShard scores the rows of shard sh and writes its outputs (--out
// and --per-feature, or their parts); it returns what the parts hold, for
// --gather.
func scoreShard(c *cli.Context, sh shardPlan) ([]*partFormat, error) {
	quiet := c.Bool("quiet")
	shard, shards := sh.Shard()
	sharded := shards > 1
	var outs outputSet // --out and --per-feature: both or neither
	defer outs.abort()
	outName := sh.output(c.String("out"))
	outPath, err := outs.addPath("out", outName, dataExts...)
	if err != nil {
		return nil, err
	}
	perFeatureName := ""
	if p := c.String("per-feature"); p != "" {
		perFeatureName = sh.output(p)
	}
	perFeature, err := outs.addPath("per-feature", perFeatureName, dataExts...)
	if err != nil {
		return nil, err
	}
	kind, err := engine.ParseLoss(c.String("metric"))
	if err != nil || (kind != engine.MSE && kind != engine.MAE) {
		return nil, fmt.Errorf("--metric %q: want mse or mae", c.String("metric"))
	}
	var rule *anomaly.Rule
	switch {
	case c.IsSet("threshold") && c.IsSet("contamination"):
		return nil, fmt.Errorf("give --threshold or --contamination, not both")
	case c.IsSet("threshold"):
		r, err := anomaly.ParseRule(c.String("threshold"))
		if err != nil {
			return nil, fmt.Errorf("--threshold: %w", err)
		}
		rule = &r
	case c.IsSet("contamination"):
		r, err := anomaly.ContaminationRule(c.Float64("contamination"))
		if err != nil {
			return nil, fmt.Errorf("--contamination: %w", err)
		}
		rule = &r
	}
	if c.IsSet("labels") && c.IsSet("anomalies") {
		return nil, fmt.Errorf("give --labels or --anomalies, not both")
	}
	if sharded {
		// A shard sees only its rows: what needs them all is refused.
		switch {
		case c.IsSet("labels") || c.IsSet("anomalies"):
			return nil, fmt.Errorf("--labels and --anomalies evaluate the scores of all rows, and shard %d/%d has only its own: score without sharding to evaluate, or join the parts first (aegpu gather)", shard, shards)
		case rule != nil && !rule.IsFixed() && c.String("fit-on") == "":
			return nil, fmt.Errorf("with shard %d/%d, a threshold rule fitted on --data would be fitted on this shard's rows alone and differ between shards: "+
				"give --fit-on FILE (every shard fits the same), a fixed --threshold value, or fit the threshold first in one process so that it is saved with the model", shard, shards)
		}
	}
	data, lo, err := loadShard(c, sh, quiet)
	if err != nil {
		return nil, err
	}
	announceShard(quiet, sh, lo, lo+int64(data.Rows), outName)
	p, data, done, err := openPredictorOn(c, data)
	if err != nil {
		return nil, err
	}
	defer done()
	dir := c.String("model")
	var labels []bool
	if path := c.String("anomalies"); path != "" {
		extra, err := dataset.Load(path, dataset.LoadOptions{})
		if err != nil {
			return nil, err
		}
		merged, ls, err := anomaly.MergeAnomalies(data, extra)
		if err != nil { // a *anomaly.WidthError, the only one
			return nil, fmt.Errorf("--anomalies %s has %d columns, --data has %d", path, extra.Cols, data.Cols)
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
			return nil, err
		}
		labels, err = anomaly.Labels(ls, data.Rows)
		var count *anomaly.LabelCountError
		var value *anomaly.LabelValueError
		switch {
		case errors.As(err, &count):
			return nil, fmt.Errorf("--labels %s has %d labels, --data has %d rows", path, count.Labels, count.Rows)
		case errors.As(err, &value):
			return nil, fmt.Errorf("--labels %s row %d: label %d, want 0 (normal) or 1 (anomaly)", path, value.Row, value.Label)
		case err != nil:
			return nil, err
		}
	}
	explain := c.Int("explain")
	rowErr, featErr, err := p.Errors(data.Data, data.Cols, kind, explain > 0 || c.String("per-feature") != "")
	if err != nil {
		return nil, err
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
				return nil, err
			}
			fe, _, err := p.Errors(fit.Data, fit.Cols, kind, false)
			if err != nil {
				return nil, fmt.Errorf("--fit-on %s: %w", path, err)
			}
			sample, src = anomaly.Scores(fe), path
		} else {
			d, err := chooseData(c, dir)
			if err != nil {
				return nil, err
			}
			src = d.Name()
			if c.String("anomalies") != "" {
				src += " and " + c.String("anomalies")
			}
		}
		t := anomaly.FitThreshold(*rule, sample)
		t.Metric, t.FittedOn = kind.String(), src
		where := fmt.Sprintf("saved by shard 0 of %d", shards) // every shard fits the same on --fit-on; one writes it
		if shard == 0 {
			if where, err = keepThreshold(c.String("threshold-out"), dir, t); err != nil {
				return nil, err
			}
			where = "saved in " + where
		}
		th = &t
		if !quiet {
			fmt.Fprintf(os.Stderr, "threshold %.6g (%s on %d rows of %s), %s\n", t.Value, t.Rule, t.Rows, src, where)
		}
	} else if t, ok, err := anomaly.LoadThreshold(dir); err != nil {
		return nil, err
	} else if ok {
		if t.Metric != kind.String() {
			return nil, fmt.Errorf("the threshold saved with %s is for --metric %s, not %s: refit it with --threshold or --contamination", dir, t.Metric, kind)
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
	idName, ids := rowIDsFrom(c, data, lo)
	if err := outs.save(outPath, []string{"score", "flag"}, len(scores), 2, out, idName, ids); err != nil {
		return nil, err
	}
	if perFeature != "" {
		if err := outs.save(perFeature, data.Header, data.Rows, data.Cols, featErr, idName, ids); err != nil {
			return nil, err
		}
	}
	var rep anomaly.Report // before the outputs are published: an error leaves none
	if !quiet {
		if rep, err = anomaly.Evaluate(scores, labels, th); err != nil {
			return nil, fmt.Errorf("labels: %w", err)
		}
	}
	if err := outs.commit(); err != nil {
		return nil, err
	}
	pfs := []*partFormat{{CSVHeader: true, IDName: idName}}
	if perFeature != "" {
		pfs = append(pfs, &partFormat{CSVHeader: data.Header != nil || idName != "", Header: data.Header, IDName: idName})
	}
	if quiet {
		return pfs, nil
	}
	which := ""
	if sharded {
		which = fmt.Sprintf(" (shard %d/%d's rows only)", shard, shards)
	}
	fmt.Fprintf(os.Stderr, "wrote %s: %d rows; %s mean %.6g, std %.6g, median %.6g, p99 %.6g%s\n", outName, rep.Rows, kind, rep.Mean, rep.Std,
		rep.Median, rep.P99, which)
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
		printExplanations(scores, featErr, data, lo, th.Value, explain, c.Int("explain-rows"))
	} else if explain > 0 {
		fmt.Fprintln(os.Stderr, "--explain: no threshold (give --threshold or --contamination), so no row is flagged")
	}
	return pfs, nil
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
// with the largest error; data's first row is row lo of the whole.
func printExplanations(scores []float64, featErr []float32, data *dataset.Table, lo int64, th float64, k, maxRows int) {
	rows, more := anomaly.Explain(scores, featErr, data.Cols, data.Header, th, k, maxRows)
	for _, r := range rows {
		parts := make([]string, len(r.Features))
		for i, f := range r.Features {
			parts[i] = fmt.Sprintf("%s %.4g", f.Name, f.Error)
		}
		fmt.Fprintf(os.Stderr, "row %d: score %.5g; largest errors: %s\n", lo+int64(r.Row), r.Score, strings.Join(parts, ", "))
	}
	if more {
		fmt.Fprintf(os.Stderr, "… (more flagged rows; --explain-rows raises the limit, --per-feature writes them all)\n")
	}
}
