package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/internal/imagegrid"
)

// gridColumns is how many samples an --images grid shows.
const gridColumns = 8

// writeImageGrid draws up to gridColumns rows of data (unscaled) as a PNG:
// one grid row of inputs, one of their corrupted versions for a denoising
// model, one of reconstructions (of the corrupted input when denoising),
// and for a VAE one of samples from the prior, all in the model's scaled
// space.
//
// It returns what the grid's rows show, for the message that names the file.
func writeImageGrid(path string, p *autoencoder.Predictor, data []float32, cols int, seed uint64) (string, error) {
	h, w, ch, err := imageDims(p.Config, cols)
	if err != nil {
		return "", err
	}
	n := min(gridColumns, len(data)/cols)
	x := slices.Clone(data[:n*cols])
	if err := p.Config.Scaler.Apply(x, cols); err != nil {
		return "", err
	}
	in := x
	rows, what := [][]float32{x}, []string{fmt.Sprintf("%d inputs", n)}
	if p.Config.Train.Noise != "" {
		if in, err = p.CorruptScaled(x, cols, seed, engine.StreamImageNoise); err != nil {
			return "", err
		}
		rows, what = append(rows, in), append(what, "the same with noise")
	}
	rec, err := p.ReconstructScaled(in, cols)
	if err != nil {
		return "", err
	}
	rows, what = append(rows, rec), append(what, "reconstructions")
	if p.Model.Arch.VAE {
		codes := make([]float32, n*p.Model.Arch.LatentDim())
		engine.FillNormal(codes, seed, engine.StreamSample, 0, 0, 1)
		gen, err := p.DecodeScaled(codes)
		if err != nil {
			return "", err
		}
		rows, what = append(rows, gen), append(what, "samples from the prior")
	}
	g := imagegrid.Grid{H: h, W: w, C: ch, Scale: 3, Gap: 4}
	for _, r := range rows {
		var cells [][]float32
		for i := 0; i < n; i++ {
			cells = append(cells, r[i*cols:(i+1)*cols])
		}
		g.Rows = append(g.Rows, cells)
	}
	return "rows of " + strings.Join(what, ", "), g.WritePNG(path)
}

// imageDims is the model's image shape, checked against its cols inputs.
func imageDims(cfg autoencoder.Config, cols int) (h, w, ch int, err error) {
	ch = 1
	switch shape := cfg.ImageShape; len(shape) {
	case 2:
		h, w = shape[0], shape[1]
	case 3:
		h, w, ch = shape[0], shape[1], shape[2]
	}
	if h*w*ch != cols {
		return 0, 0, 0, fmt.Errorf("--images: the model has no image shape matching its %d inputs (train with --image-shape HxW)", cols)
	}
	return h, w, ch, nil
}
