package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/internal/imagegrid"
)

func generateCommand() *cli.Command {
	return &cli.Command{
		Name:  "generate",
		Usage: "sample new rows from a variational autoencoder",
		Description: `Draws -n codes from the prior N(0, I) of a VAE (trained with --variant vae),
decodes them and writes the samples, in the data's own units, to --out.
With --interpolate A,B it instead encodes rows A and B (0-based) of --data
and decodes --steps codes evenly spaced between their means, A first.
The same --seed gives the same samples on every device.

Examples:
  aegpu generate --model vae -n 64 --out samples.npy --images samples.png
  aegpu generate --model vae --data digits.npy --interpolate 3,7 --steps 10 --out path.npy`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Required: true, Usage: "VAE model `DIR` written by aegpu train --variant vae"},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Required: true, Usage: "output `FILE` (.npy, .csv, .parquet or .arrow), one sample per row"},
			&cli.IntFlag{Name: "n", Value: 64, Usage: "number of samples from the prior"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of the prior draws"},
			&cli.StringFlag{Name: "interpolate", Usage: "decode the path between the codes of rows `A,B` of --data instead of sampling"},
			&cli.IntFlag{Name: "steps", Value: 8, Usage: "points on the --interpolate path, both ends included"},
			&cli.StringFlag{Name: "data", Usage: "rows for --interpolate (default: the data the model was trained on)"},
			&cli.StringFlag{Name: "nan", Value: "error", Usage: "rows of --data with NaN/Inf: error, skip, zero"},
			&cli.StringFlag{Name: "codes", Usage: "also write the latent codes decoded to `FILE` (.npy, .csv, .parquet or .arrow)"},
			&cli.StringFlag{Name: "images", Usage: "also draw the samples as a PNG grid to `FILE` (image models)"},
			deviceFlag,
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing but errors"},
		},
		Action: runGenerate,
	}
}

func runGenerate(c *cli.Context) error {
	quiet := c.Bool("quiet")
	var outs outputSet
	defer outs.abort()
	outPath, err := outs.add(c, "out", dataExts...)
	if err != nil {
		return err
	}
	codesPath, err := outs.add(c, "codes", dataExts...)
	if err != nil {
		return err
	}
	imagesPath, err := outs.add(c, "images", ".png")
	if err != nil {
		return err
	}
	var a, bRow int
	interp := c.String("interpolate")
	if interp != "" {
		parts := strings.Split(interp, ",")
		var err1, err2 error
		if len(parts) == 2 {
			a, err1 = strconv.Atoi(strings.TrimSpace(parts[0]))
			bRow, err2 = strconv.Atoi(strings.TrimSpace(parts[1]))
		}
		if len(parts) != 2 || err1 != nil || err2 != nil {
			return fmt.Errorf("--interpolate %q: want two row numbers A,B such as 3,7", interp)
		}
	} else if c.IsSet("data") || c.IsSet("steps") {
		return fmt.Errorf("--data and --steps go with --interpolate A,B")
	}
	m, cfg, done, err := openModel(c, "")
	if err != nil {
		return err
	}
	defer done()
	if !m.Arch.VAE {
		return fmt.Errorf("%s is a %s autoencoder: generate needs a VAE (aegpu train --variant vae)", c.String("model"), cfg.Variant)
	}
	if imagesPath != "" {
		if _, _, _, err := imageDims(cfg, m.Arch.Input()); err != nil {
			return err
		}
	}
	n := c.Int("n")
	if interp != "" {
		n = c.Int("steps")
	}
	if n < 1 || n > 1<<20 {
		return fmt.Errorf("-n/--steps must be in 1..%d, got %d", 1<<20, n)
	}
	p, err := autoencoder.NewPredictor(m, cfg, min(n, 1024))
	if err != nil {
		return err
	}
	defer p.Free()
	var codes, out []float32
	if interp != "" {
		data, _, err := loadData(c, quiet, c.String("model"))
		if err != nil {
			return err
		}
		codes, out, err = p.Interpolate(data.Data, data.Cols, a, bRow, n)
		if err != nil {
			return err
		}
	} else if codes, out, err = p.Sample(n, c.Uint64("seed")); err != nil {
		return err
	}
	d, k := m.Arch.Input(), m.Arch.LatentDim()
	if err := dataset.Save(outPath, nil, n, d, out); err != nil {
		return err
	}
	if codesPath != "" {
		if err := dataset.Save(codesPath, nil, n, k, codes); err != nil {
			return err
		}
	}
	if imagesPath != "" {
		scaled, err := p.DecodeScaled(codes)
		if err != nil {
			return err
		}
		if err := writeSampleGrid(imagesPath, cfg, scaled, n); err != nil {
			return err
		}
	}
	if err := outs.commit(); err != nil {
		return err
	}
	if !quiet {
		fmt.Fprintf(os.Stderr, "wrote %s: %d samples × %d features\n", c.String("out"), n, d)
	}
	return nil
}

// writeSampleGrid draws n decoded rows (in the model's scaled space) as a
// PNG, gridColumns per grid row.
func writeSampleGrid(path string, cfg autoencoder.Config, rows []float32, n int) error {
	h, w, ch, err := imageDims(cfg, len(rows)/max(n, 1))
	if err != nil {
		return err
	}
	cols := h * w * ch
	g := imagegrid.Grid{H: h, W: w, C: ch, Scale: 3, Gap: 4}
	for lo := 0; lo < n; lo += gridColumns {
		var cells [][]float32
		for i := lo; i < min(n, lo+gridColumns); i++ {
			cells = append(cells, rows[i*cols:(i+1)*cols])
		}
		g.Rows = append(g.Rows, cells)
	}
	return g.WritePNG(path)
}
