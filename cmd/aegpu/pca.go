package main

import (
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/internal/pca"
)

var comparePCAFlag = &cli.BoolFlag{Name: "compare-pca", Usage: "also fit PCA with as many components as the latent code and print both reconstruction errors (MSE in the model's scaled space)"}

// pcaComparison fits PCA with k components on fit (scaled rows) and
// returns its reconstruction MSE on eval and the explained variance.
func pcaComparison(fit, eval []float32, cols, k int) (mse, explained float64, err error) {
	m, err := pca.Fit(fit, len(fit)/cols, cols, k)
	if err != nil {
		return 0, 0, err
	}
	for _, v := range m.ExplainedVariance() {
		explained += v
	}
	return m.ReconstructionMSE(eval), explained, nil
}

// printPCAComparison compares the autoencoder p with PCA at its latent
// size: PCA is fitted on fitRows and both are evaluated on evalRows
// (unscaled rows of data; the model's scaler is applied).
func printPCAComparison(p *autoencoder.Predictor, fitRows, evalRows []float32, cols int, what string) error {
	start := time.Now()
	sc := p.Config.Scaler
	fit, eval := slices.Clone(fitRows), slices.Clone(evalRows)
	if err := sc.Apply(fit, cols); err != nil {
		return err
	}
	if err := sc.Apply(eval, cols); err != nil {
		return err
	}
	k := p.Model.Arch.LatentDim()
	pm, explained, err := pcaComparison(fit, eval, cols, min(k, cols))
	if err != nil {
		return fmt.Errorf("--compare-pca: %w", err)
	}
	ae, _, err := p.Errors(evalRows, cols, engine.MSE, false)
	if err != nil {
		return err
	}
	aeMSE := 0.0
	for _, v := range ae {
		aeMSE += float64(v)
	}
	aeMSE /= float64(len(ae))
	fmt.Fprintf(os.Stderr, "reconstruction MSE on %s at %d dimensions: autoencoder %.6g, PCA %.6g (%.1f%% of the variance; fitted in %.1fs) — the autoencoder's error is %.2f× PCA's\n",
		what, k, aeMSE, pm, 100*explained, time.Since(start).Seconds(), aeMSE/pm)
	return nil
}

// trainPCAComparison runs the comparison after training: PCA fitted on the
// training rows, both evaluated on the validation rows (the training rows
// when there is no validation split).
func trainPCAComparison(run *autoencoder.Run, data *dataset.Table) error {
	cfg := run.Config
	tr, va := autoencoder.Split(data.Rows, cfg.Train.ValSplit, cfg.Train.Seed)
	what := fmt.Sprintf("the %d validation rows", len(va))
	if len(va) == 0 {
		va, what = tr, fmt.Sprintf("the %d training rows", len(tr))
	}
	p, err := autoencoder.NewPredictor(run.Trainer.Model, cfg, min(1024, len(va)))
	if err != nil {
		return err
	}
	defer p.Free()
	return printPCAComparison(p, data.Gather(tr), data.Gather(va), data.Cols, what)
}
