package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/internal/imagegrid"
)

var inferFlags = []cli.Flag{
	&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Required: true, Usage: "model `DIR` written by aegpu train"},
	&cli.StringFlag{Name: "data", Usage: "input `FILE` (.npy, .csv, IDX); default: the data the model was trained on"},
	&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Required: true, Usage: "output `FILE` (.npy or .csv)"},
	&cli.IntFlag{Name: "batch", Value: 1024, Usage: "rows per device batch"},
	&cli.StringFlag{Name: "nan", Value: "error", Usage: "rows with NaN/Inf: error, skip, zero"},
	deviceFlag,
	&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing but errors"},
}

func reconstructCommand() *cli.Command {
	return &cli.Command{
		Name:  "reconstruct",
		Usage: "write each row's reconstruction, and its reconstruction error",
		Description: `Runs every row of --data through the encoder and decoder and writes the
reconstructions, in the data's own units, to --out. Each row's mean squared
error (in the model's scaled space, as during training) goes to --errors
when given; a summary is printed either way.

Example:
  aegpu reconstruct --model aegpu-model --data x.npy --out recon.npy --errors err.csv`,
		Flags: append(slices.Clone(inferFlags),
			&cli.StringFlag{Name: "errors", Usage: "per-row reconstruction error `FILE` (.npy or .csv)"},
			&cli.StringFlag{Name: "images", Usage: "also draw the first rows as a PNG grid (inputs, [noisy inputs,] reconstructions) to `FILE`; image models only"}),
		Action: runReconstruct,
	}
}

func denoiseCommand() *cli.Command {
	return &cli.Command{
		Name:  "denoise",
		Usage: "write the denoised version of every row (denoising models)",
		Description: `Runs every (noisy) row of --data through a denoising autoencoder and writes
the cleaned rows, in the data's own units, to --out. Any model reconstructs;
denoise asks for one trained with --noise, which is what learns to remove
noise. --images draws the first rows and their denoised versions.

Example:
  aegpu train --data clean.npy --noise gaussian:0.3 --out dae
  aegpu denoise --model dae --data noisy.npy --out cleaned.npy`,
		Flags: append(slices.Clone(inferFlags),
			&cli.StringFlag{Name: "images", Usage: "also draw the first rows and their denoised versions as a PNG grid to `FILE`; image models only"}),
		Action: runDenoise,
	}
}

func runDenoise(c *cli.Context) error {
	p, data, done, err := openPredictor(c)
	if err != nil {
		return err
	}
	defer done()
	if p.Config.Train.Noise == "" {
		return fmt.Errorf("%s is a %s autoencoder, not trained to remove noise (train with --noise, e.g. --noise gaussian:0.3); aegpu reconstruct runs any model", c.String("model"), p.Config.Variant)
	}
	clean, _, err := p.Reconstruct(data.Data, data.Cols)
	if err != nil {
		return err
	}
	out := c.String("out")
	if err := dataset.Save(out, data.Header, data.Rows, data.Cols, clean); err != nil {
		return err
	}
	if path := c.String("images"); path != "" {
		h, w, ch, err := imageDims(p.Config, data.Cols)
		if err != nil {
			return err
		}
		n := min(gridColumns, data.Rows)
		in, res := slices.Clone(data.Data[:n*data.Cols]), slices.Clone(clean[:n*data.Cols])
		for _, r := range [][]float32{in, res} {
			if err := p.Config.Scaler.Apply(r, data.Cols); err != nil {
				return err
			}
		}
		g := imagegrid.Grid{H: h, W: w, C: ch, Scale: 3, Gap: 4}
		for _, r := range [][]float32{in, res} {
			var cells [][]float32
			for i := range n {
				cells = append(cells, r[i*data.Cols:(i+1)*data.Cols])
			}
			g.Rows = append(g.Rows, cells)
		}
		if err := g.WritePNG(path); err != nil {
			return err
		}
	}
	if !c.Bool("quiet") {
		fmt.Fprintf(os.Stderr, "wrote %s: %d denoised rows\n", out, data.Rows)
		if path := c.String("images"); path != "" {
			fmt.Fprintf(os.Stderr, "wrote %s: the first %d rows, noisy above and denoised below\n", path, min(gridColumns, data.Rows))
		}
	}
	return nil
}

// openModel opens the device (spec "" = --device) and loads --model on it;
// done frees both.
func openModel(c *cli.Context, spec string) (m *autoencoder.Model, cfg autoencoder.Config, done func(), err error) {
	var b engine.Backend
	if spec == "" {
		b, err = openDevice(c, c.Bool("quiet"))
	} else {
		b, _, err = engine.Open(spec)
	}
	if err != nil {
		return nil, cfg, nil, err
	}
	if m, cfg, err = autoencoder.LoadModel(c.String("model"), b); err != nil {
		b.Close()
		return nil, cfg, nil, err
	}
	if err := checkEncoderOnly(c, cfg); err != nil {
		m.Free()
		b.Close()
		return nil, cfg, nil, err
	}
	return m, cfg, func() { m.Free(); b.Close() }, nil
}

func openPredictor(c *cli.Context) (*autoencoder.Predictor, *dataset.Table, func(), error) {
	quiet := c.Bool("quiet")
	if err := checkOutputPath(c.String("out")); err != nil {
		return nil, nil, nil, err
	}
	data, _, err := loadData(c, quiet, c.String("model"))
	if err != nil {
		return nil, nil, nil, err
	}
	m, cfg, done, err := openModel(c, "")
	if err != nil {
		return nil, nil, nil, err
	}
	p, err := autoencoder.NewPredictor(m, cfg, min(c.Int("batch"), data.Rows))
	if err != nil {
		done()
		return nil, nil, nil, err
	}
	return p, data, func() { p.Free(); done() }, nil
}

// checkOutputPath rejects an output extension we cannot write before any
// work is done.
func checkOutputPath(path string) error {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".npy", ".csv":
		return nil
	default:
		return fmt.Errorf("output %s: unsupported extension %q (want .npy or .csv)", path, ext)
	}
}

func runReconstruct(c *cli.Context) error {
	if e := c.String("errors"); e != "" {
		if err := checkOutputPath(e); err != nil {
			return err
		}
	}
	p, data, done, err := openPredictor(c)
	if err != nil {
		return err
	}
	defer done()
	recon, rowErr, err := p.Reconstruct(data.Data, data.Cols)
	if err != nil {
		return err
	}
	out := c.String("out")
	if err := dataset.Save(out, data.Header, data.Rows, data.Cols, recon); err != nil {
		return err
	}
	if e := c.String("errors"); e != "" {
		if err := dataset.Save(e, []string{"mse"}, data.Rows, 1, rowErr); err != nil {
			return err
		}
	}
	var imagesWhat string
	if path := c.String("images"); path != "" {
		if imagesWhat, err = writeImageGrid(path, p, data.Data, data.Cols, 1); err != nil {
			return err
		}
	}
	if !c.Bool("quiet") {
		s := slices.Clone(rowErr)
		slices.Sort(s)
		mean := 0.0
		for _, v := range s {
			mean += float64(v)
		}
		mean /= float64(len(s))
		fmt.Fprintf(os.Stderr, "wrote %s: %d rows; reconstruction MSE mean %.6g, median %.6g, p99 %.6g, max %.6g\n",
			out, data.Rows, mean, s[len(s)/2], s[min(len(s)-1, len(s)*99/100)], s[len(s)-1])
		if e := c.String("errors"); e != "" {
			fmt.Fprintf(os.Stderr, "wrote %s: each row's reconstruction MSE\n", e)
		}
		if path := c.String("images"); path != "" {
			fmt.Fprintf(os.Stderr, "wrote %s: %s\n", path, imagesWhat)
		}
	}
	return nil
}
