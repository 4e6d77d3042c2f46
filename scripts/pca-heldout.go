//go:build ignore

// pca-heldout prints the held-out reconstruction MSE of PCA at a model's
// latent size, the baseline of the recipe study (scripts/recipe-study.sh):
// PCA is fitted on every row of -train and evaluated on -test, both in the
// model's scaled space (its config.json scaler), the space in which
// 'aegpu encode --compare-pca' reports the autoencoder's error. (That
// command fits its PCA on the evaluated rows themselves, which flatters
// PCA on a small test set.)
//
//	go run scripts/pca-heldout.go -model M -train TRAIN -test TEST
//
// Output: one line, "pca_test_mse K MSE".
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/internal/pca"
)

func main() {
	model := flag.String("model", "", "model directory (its scaler and latent size are used)")
	trainPath := flag.String("train", "", "rows to fit PCA on")
	testPath := flag.String("test", "", "held-out rows to evaluate on")
	flag.Parse()
	if *model == "" || *trainPath == "" || *testPath == "" {
		fail(fmt.Errorf("need -model, -train and -test"))
	}
	cfg, err := autoencoder.ReadConfig(*model)
	if err != nil {
		fail(err)
	}
	k := cfg.Layers[len(cfg.Layers)-1]
	tr, err := dataset.Load(*trainPath, dataset.LoadOptions{})
	if err != nil {
		fail(err)
	}
	te, err := dataset.Load(*testPath, dataset.LoadOptions{})
	if err != nil {
		fail(err)
	}
	if tr.Cols != te.Cols {
		fail(fmt.Errorf("train has %d columns, test %d", tr.Cols, te.Cols))
	}
	for _, t := range []*dataset.Table{tr, te} {
		if err := cfg.Scaler.Apply(t.Data, t.Cols); err != nil {
			fail(err)
		}
	}
	m, err := pca.Fit(tr.Data, tr.Rows, tr.Cols, min(k, tr.Cols))
	if err != nil {
		fail(err)
	}
	fmt.Printf("pca_test_mse %d %.6g\n", k, m.ReconstructionMSE(te.Data))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "pca-heldout:", err)
	os.Exit(1)
}
