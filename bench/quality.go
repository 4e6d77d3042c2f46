package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/internal/pca"
)

// The quality benchmark (aegpu bench --quality): fixed recipes trained on
// fixed data sets for a fixed number of epochs, judged by the
// reconstruction error on held-out rows, beside PCA with as many
// components as the latent code. It measures what a recipe reaches for its
// compute, where the speed benchmark measures how fast a step runs.

// QualitySet is a data set of the quality benchmark: its training and
// held-out rows, the model and the epoch budget.
type QualitySet struct {
	Name string
	// Train and Test are files under the data directory (make data), or
	// empty for a set generated here (Generate).
	Train, Test string
	Generate    func() (train, test *dataset.Table)
	Layers      []int
	Scale       string     // dataset.Scale*
	Output      engine.Act // the output activation
	Epochs      int
}

// QualitySets are the benchmark's data sets: MNIST and Fashion-MNIST
// (60 000 training images, the 10 000 test images held out), the benign
// rows of the Wisconsin breast-cancer table (268 to train on, 89 held out)
// and a synthetic low-rank table (rank 8 in 64 columns plus noise).
var QualitySets = []QualitySet{
	{Name: "mnist", Train: "mnist/train-images-idx3-ubyte.gz", Test: "mnist/t10k-images-idx3-ubyte.gz",
		Layers: []int{784, 512, 256, 32}, Scale: dataset.ScaleGlobal, Output: engine.Sigmoid, Epochs: 10},
	{Name: "fashion-mnist", Train: "fashion-mnist/train-images-idx3-ubyte.gz", Test: "fashion-mnist/t10k-images-idx3-ubyte.gz",
		Layers: []int{784, 512, 256, 32}, Scale: dataset.ScaleGlobal, Output: engine.Sigmoid, Epochs: 10},
	{Name: "breast-cancer", Train: "breast-cancer/benign-train.csv", Test: "breast-cancer/benign-test.csv",
		Layers: []int{30, 16, 4}, Scale: dataset.ScaleStandard, Output: engine.Linear, Epochs: 200},
	{Name: "lowrank", Generate: LowRank, Layers: []int{64, 48, 8}, Scale: dataset.ScaleStandard, Output: engine.Linear, Epochs: 10},
}

// LowRank generates the synthetic set: 20 000 training and 5 000 test rows
// of 64 columns, x = z·V + 0.05·ε with z ~ N(0, I₈) and V a fixed 8×64
// matrix of N(0, 1/8) entries, ε ~ N(0, I₆₄); seeded, the same every time.
func LowRank() (train, test *dataset.Table) {
	const d, k = 64, 8
	v := make([]float32, k*d)
	engine.FillNormal(v, 2026, 1, 0, 0, float32(1/math.Sqrt(k)))
	gen := func(rows int, stream uint64) *dataset.Table {
		z := make([]float32, rows*k)
		engine.FillNormal(z, 2026, stream, 0, 0, 1)
		x := make([]float32, rows*d)
		engine.FillNormal(x, 2026, stream+1, 0, 0, 0.05)
		for r := range rows {
			for i := range k {
				zi := z[r*k+i]
				for j := range d {
					x[r*d+j] += zi * v[i*d+j]
				}
			}
		}
		return &dataset.Table{Rows: rows, Cols: d, Data: x, Shape: []int{rows, d}}
	}
	return gen(20000, 2), gen(5000, 4)
}

// Recipe is a named set of training settings.
type Recipe struct {
	Name  string
	Apply func(c *autoencoder.TrainConfig)
}

// OldRecipe is aegpu's first default: Adam at 1e-3, a constant rate, batch
// 256, nn.Linear's init, no warm-up and no weight average.
var OldRecipe = Recipe{Name: "old", Apply: func(c *autoencoder.TrainConfig) { *c = autoencoder.LegacyTrainConfig() }}

// DefaultRecipe is autoencoder.DefaultTrainConfig as it is.
var DefaultRecipe = Recipe{Name: "default", Apply: func(*autoencoder.TrainConfig) {}}

// QualityResult is one training run of the quality benchmark.
type QualityResult struct {
	Set     string  `json:"set"`
	Recipe  string  `json:"recipe"`
	Epochs  int     `json:"epochs"`
	Seed    uint64  `json:"seed"`
	TestMSE float64 `json:"test_mse"` // per value, in the model's scaled space
	PCAMSE  float64 `json:"pca_mse"`  // PCA at the latent size, on the same rows
	Cols    int     `json:"cols"`
	Seconds float64 `json:"seconds"`
	// Scaler is the run's, for the PyTorch reference to see the same rows.
	Scaler dataset.Scaler `json:"-"`
}

// LoadQualitySet reads (or generates) s's rows from dataDir; a missing
// file is an error that says how to get it.
func LoadQualitySet(s QualitySet, dataDir string) (train, test *dataset.Table, err error) {
	if s.Generate != nil {
		train, test = s.Generate()
		return train, test, nil
	}
	for _, f := range []string{s.Train, s.Test} {
		if _, err := os.Stat(filepath.Join(dataDir, f)); err != nil {
			return nil, nil, fmt.Errorf("%s: %w (make data puts the benchmark's data sets in data/)", s.Name, err)
		}
	}
	if train, err = dataset.Load(filepath.Join(dataDir, s.Train), dataset.LoadOptions{}); err != nil {
		return nil, nil, err
	}
	if test, err = dataset.Load(filepath.Join(dataDir, s.Test), dataset.LoadOptions{}); err != nil {
		return nil, nil, err
	}
	for _, t := range []*dataset.Table{train, test} { // images: one row each
		t.Shape = []int{t.Rows, t.Cols}
	}
	return train, test, nil
}

// RunQuality trains recipe r on s's training rows (10% held out for
// validation, the best validation epoch's weights kept, as aegpu train
// does) for s.Epochs epochs with seed, and measures the reconstruction MSE
// on the test rows, and PCA's at the latent size fitted on the training
// rows.
func RunQuality(b engine.Backend, s QualitySet, r Recipe, train, test *dataset.Table, seed uint64) (QualityResult, error) {
	cfg := autoencoder.DefaultTrainConfig()
	r.Apply(&cfg)
	cfg.Epochs, cfg.Seed = s.Epochs, seed
	arch := autoencoder.Arch{Layers: s.Layers, Hidden: engine.ReLU, Latent: engine.Linear, Output: s.Output}
	start := time.Now()
	run, err := autoencoder.NewRun(autoencoder.FitOptions{Data: train, Source: s.Name, Arch: arch, Train: cfg, Scale: s.Scale, Backend: b})
	if err != nil {
		return QualityResult{}, fmt.Errorf("%s, %s recipe: %w", s.Name, r.Name, err)
	}
	defer run.Close()
	if err := run.Train(context.Background()); err != nil {
		return QualityResult{}, fmt.Errorf("%s, %s recipe: %w", s.Name, r.Name, err)
	}
	res := QualityResult{Set: s.Name, Recipe: r.Name, Epochs: s.Epochs, Seed: seed, Cols: train.Cols, Seconds: time.Since(start).Seconds(),
		Scaler: run.Config.Scaler}
	p, err := autoencoder.NewPredictor(run.Trainer.Model, run.Config, min(1024, test.Rows))
	if err != nil {
		return res, err
	}
	defer p.Free()
	rowErr, _, err := p.Errors(test.Data, test.Cols, engine.MSE, false)
	if err != nil {
		return res, err
	}
	for _, v := range rowErr {
		res.TestMSE += float64(v)
	}
	res.TestMSE /= float64(len(rowErr))
	if res.PCAMSE, err = pcaMSE(run.Config.Scaler, train, test, arch.LatentDim()); err != nil {
		return res, err
	}
	return res, nil
}

// pcaMSE fits PCA with k components on the scaled training rows and
// returns its reconstruction MSE on the scaled test rows.
func pcaMSE(sc dataset.Scaler, train, test *dataset.Table, k int) (float64, error) {
	fit, eval := append([]float32(nil), train.Data...), append([]float32(nil), test.Data...)
	if err := sc.Apply(fit, train.Cols); err != nil {
		return 0, err
	}
	if err := sc.Apply(eval, test.Cols); err != nil {
		return 0, err
	}
	m, err := pca.Fit(fit, train.Rows, train.Cols, min(k, train.Cols))
	if err != nil {
		return 0, err
	}
	return m.ReconstructionMSE(eval), nil
}

// QualityTable renders results (every recipe of every set, any seeds) as
// a Markdown table: per set, the mean test MSE of each recipe over its
// seeds with the range, the default's ratio to the old recipe's, and PCA.
// For images the error per image (the MSE × the pixels) follows in
// brackets, the figure papers quote.
func QualityTable(rs []QualityResult, recipes []string, note map[string]string) string {
	var sb strings.Builder
	sb.WriteString("| data set | epochs |")
	for _, r := range recipes {
		fmt.Fprintf(&sb, " %s recipe |", r)
	}
	sb.WriteString(" default ÷ old | PCA |\n|---|---|")
	for range recipes {
		sb.WriteString("---|")
	}
	sb.WriteString("---|---|\n")
	var sets []string
	for _, r := range rs {
		if len(sets) == 0 || sets[len(sets)-1] != r.Set {
			sets = append(sets, r.Set)
		}
	}
	for _, set := range sets {
		mean := map[string]float64{}
		var pcaV float64
		var cols, epochs int
		fmt.Fprintf(&sb, "| %s |", set)
		cells := make([]string, len(recipes))
		for i, name := range recipes {
			lo, hi, sum, n := math.Inf(1), math.Inf(-1), 0.0, 0
			for _, r := range rs {
				if r.Set == set && r.Recipe == name {
					lo, hi, sum, n = math.Min(lo, r.TestMSE), math.Max(hi, r.TestMSE), sum+r.TestMSE, n+1
					pcaV, cols, epochs = r.PCAMSE, r.Cols, r.Epochs
				}
			}
			if n == 0 {
				cells[i] = " – |"
				continue
			}
			mean[name] = sum / float64(n)
			cells[i] = " " + mseCell(mean[name], cols)
			if n > 1 {
				cells[i] += fmt.Sprintf(" (%.4g–%.4g, %d seeds)", lo, hi, n)
			}
			cells[i] += " |"
		}
		fmt.Fprintf(&sb, " %d |%s", epochs, strings.Join(cells, ""))
		if o, d := mean["old"], mean["default"]; o > 0 && d > 0 {
			fmt.Fprintf(&sb, " %.3f |", d/o)
		} else {
			sb.WriteString(" – |")
		}
		fmt.Fprintf(&sb, " %s |", mseCell(pcaV, cols))
		if note[set] != "" {
			fmt.Fprintf(&sb, " %s", note[set])
		}
		sb.WriteString("\n")
	}
	return sb.String()
}

// mseCell prints an MSE, with the error per image for 784-pixel images.
func mseCell(v float64, cols int) string {
	if cols == 784 {
		return fmt.Sprintf("%.4g [%.2f]", v, v*float64(cols))
	}
	return fmt.Sprintf("%.4g", v)
}
