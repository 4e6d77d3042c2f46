package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
)

// corruptBlock is the number of rows that share one random stream: the
// noise of a row depends on the seed and its position only.
const corruptBlock = 4096

func corruptCommand() *cli.Command {
	return &cli.Command{
		Name:  "corrupt",
		Usage: "write a noisy copy of a dataset (to try denoise, or to test a model on damaged inputs)",
		Description: `Adds the noise of a denoising autoencoder to every row of --data and writes
the noisy rows, in the data's own units, to --out (.npy, .csv, .parquet or .arrow).

The noise is applied where training applies it: in the model's scaled space
with --model (e.g. pixels/255, so gaussian:0.3 means 30% of the pixel range),
else after --scale (auto: pixels/255 for images, else the data's own units).
It is drawn from --seed: the same seed gives the same noisy copy. Salt and
pepper set values to the scaled range's ends (0 and 1).

Examples:
  aegpu corrupt --data data/mnist/t10k-images-idx3-ubyte.gz --noise gaussian:0.3 --out noisy.npy
  aegpu denoise --model dae --data noisy.npy --out cleaned.npy --images before-after.png`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data", Required: true, Usage: "input `FILE` (.npy, .csv, IDX)"},
			&cli.StringFlag{Name: "noise", Required: true, Usage: "gaussian:σ (additive N(0, σ²)), masking:p (each value zeroed with probability p), salt_pepper:p (each value set to 0 or 1 with probability p)"},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Required: true, Usage: "output `FILE` (.npy, .csv, .parquet or .arrow)"},
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "apply the noise in this model's scaled space (its scaler)"},
			&cli.StringFlag{Name: "scale", Value: "auto", Usage: "without --model: none, minmax, global, standard, auto (global for images outside [0,1], else none)"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of the noise"},
			&cli.StringFlag{Name: "nan", Value: "error", Usage: "rows with NaN/Inf: error, skip, zero"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing but errors"},
		},
		Action: runCorrupt,
	}
}

func runCorrupt(c *cli.Context) error {
	quiet := c.Bool("quiet")
	kind, level, err := engine.ParseNoise(c.String("noise"))
	if err != nil {
		return fmt.Errorf("--noise: %w", err)
	}
	var outs outputSet
	defer outs.abort()
	tmp, err := outs.add(c, "out", dataExts...)
	if err != nil {
		return err
	}
	out := c.String("out")
	if c.IsSet("model") && c.IsSet("scale") {
		return fmt.Errorf("--scale and --model exclude each other: the model's scaler is used")
	}
	data, err := dataChoice{Paths: []string{c.String("data")}}.load(c, quiet)
	if err != nil {
		return err
	}
	var sc dataset.Scaler
	if dir := c.String("model"); dir != "" {
		cfg, err := autoencoder.ReadConfig(dir)
		if err != nil {
			return err
		}
		if cfg.Data.Cols != data.Cols {
			return fmt.Errorf("--data has %d columns but --model %s expects %d", data.Cols, dir, cfg.Data.Cols)
		}
		sc = cfg.Scaler
	} else {
		kindName := c.String("scale")
		if kindName == "auto" {
			kindName = autoencoder.AutoScale(data)
		}
		if sc, err = dataset.FitScaler(kindName, data); err != nil {
			return fmt.Errorf("--scale: %w", err)
		}
	}
	noisy, err := corruptRows(data.Data, data.Cols, sc, kind, level, c.Uint64("seed"))
	if err != nil {
		return err
	}
	if err := dataset.Save(tmp, data.Header, data.Rows, data.Cols, noisy); err != nil {
		return err
	}
	if err := outs.commit(); err != nil {
		return err
	}
	if !quiet {
		fmt.Fprintf(os.Stderr, "wrote %s: %d rows with %s noise (scaling %s, seed %d)\n", out, data.Rows, c.String("noise"), sc.Kind, c.Uint64("seed"))
	}
	return nil
}

// corruptRows returns a corrupted copy of rows: scaled by sc, corrupted by
// the CPU backend's Corrupt (the op training uses) block by block, each
// block on its own stream of seed, and scaled back.
func corruptRows(rows []float32, cols int, sc dataset.Scaler, kind engine.Noise, level float32, seed uint64) ([]float32, error) {
	b, _, err := engine.Open("cpu")
	if err != nil {
		return nil, err
	}
	defer b.Close()
	n := len(rows) / cols
	res := make([]float32, len(rows))
	copy(res, rows)
	if err := sc.Apply(res, cols); err != nil {
		return nil, err
	}
	blk := min(corruptBlock, max(n, 1))
	src, err := b.Alloc(blk, cols)
	if err != nil {
		return nil, err
	}
	defer b.Free(src)
	dst, err := b.Alloc(blk, cols)
	if err != nil {
		return nil, err
	}
	defer b.Free(dst)
	for i := 0; i < n; i += blk {
		m := min(blk, n-i)
		s, d := src.RowSlice(0, m), dst.RowSlice(0, m)
		part := res[i*cols : (i+m)*cols]
		if err := b.Upload(s, part); err != nil {
			return nil, err
		}
		if err := b.Corrupt(d, s, kind, level, seed, engine.StreamCorrupt+uint64(i/corruptBlock)); err != nil {
			return nil, err
		}
		if err := b.Download(part, d); err != nil {
			return nil, err
		}
	}
	if err := sc.Invert(res, cols); err != nil {
		return nil, err
	}
	return res, nil
}
