package main

import (
	"errors"
	"fmt"
	"io/fs"
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
	&cli.StringFlag{Name: "data", Usage: "input `FILE` (.npy, .csv, IDX, .parquet, .arrow); default: the data the model was trained on"},
	&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Required: true, Usage: "output `FILE` (.npy, .csv, .parquet or .arrow)"},
	&cli.IntFlag{Name: "batch", Value: 1024, Usage: "rows per device batch"},
	&cli.StringFlag{Name: "nan", Value: "error", Usage: "rows with NaN/Inf: error, skip, zero"},
	columnsFlag,
	idColumnFlag,
	withIndexFlag,
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
			&cli.StringFlag{Name: "errors", Usage: "per-row reconstruction error `FILE` (.npy, .csv, .parquet or .arrow)"},
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
	var outs outputSet
	defer outs.abort()
	out, err := outs.add(c, "out", dataExts...)
	if err != nil {
		return err
	}
	images, err := outs.add(c, "images", ".png")
	if err != nil {
		return err
	}
	p, data, done, err := openPredictor(c)
	if err != nil {
		return err
	}
	defer done()
	if p.Config.Train.Noise == "" {
		return fmt.Errorf("%s is a %s autoencoder, not trained to remove noise (train with --noise, e.g. --noise gaussian:0.3); aegpu reconstruct runs any model", c.String("model"), p.Config.Variant)
	}
	var h, w, ch int
	if images != "" {
		if h, w, ch, err = imageDims(p.Config, data.Cols); err != nil {
			return err
		}
	}
	clean, _, err := p.Reconstruct(data.Data, data.Cols)
	if err != nil {
		return err
	}
	idName, ids := rowIDs(c, data)
	if err := outs.save(out, data.Header, data.Rows, data.Cols, clean, idName, ids); err != nil {
		return err
	}
	if path := images; path != "" {
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
	if err := outs.commit(); err != nil {
		return err
	}
	if !c.Bool("quiet") {
		fmt.Fprintf(os.Stderr, "wrote %s: %d denoised rows\n", c.String("out"), data.Rows)
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

// openPredictor loads --data and --model and makes a predictor of them;
// the caller has checked its outputs first.
func openPredictor(c *cli.Context) (*autoencoder.Predictor, *dataset.Table, func(), error) {
	data, _, err := loadData(c, c.Bool("quiet"), c.String("model"))
	if err != nil {
		return nil, nil, nil, err
	}
	return openPredictorOn(c, data)
}

// openPredictorOn is openPredictor for data already read.
func openPredictorOn(c *cli.Context, data *dataset.Table) (*autoencoder.Predictor, *dataset.Table, func(), error) {
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

// dataExts are the extensions of the data files commands write.
var dataExts = []string{".npy", ".csv", ".parquet", ".arrow", ".feather"}

// outputSet holds the output files of one command until all of them are
// written, so that a command that fails leaves none behind. Each is
// checked before any work (add): its extension is one the command writes,
// its directory exists and takes a new file (a placeholder is created
// there), it is no other output of the command; it is written under that
// temporary name, and commit renames them all into place.
type outputSet struct {
	files []outputFile
	done  bool
}

type outputFile struct{ flag, path, tmp string }

// add checks the output named by flag (no output when the flag is empty)
// and returns the temporary name to write it to, or "".
func (o *outputSet) add(c *cli.Context, flag string, exts ...string) (string, error) {
	return o.addPath(flag, c.String(flag), exts...)
}

// addPath is add for the output path given with flag (a sharded command
// writes its part of the flag's file).
func (o *outputSet) addPath(flag, path string, exts ...string) (string, error) {
	if path == "" {
		return "", nil
	}
	if err := checkOutput(flag, path, exts...); err != nil {
		return "", err
	}
	abs, _ := filepath.Abs(path)
	for _, f := range o.files {
		if a, _ := filepath.Abs(f.path); a == abs {
			return "", fmt.Errorf("%s %s: the same file as %s: give each output its own name", flagName(flag), path, flagName(f.flag))
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".part-*"+filepath.Ext(path))
	if err != nil {
		return "", outputDirError(flag, path, err)
	}
	tmp.Close()
	o.files = append(o.files, outputFile{flag, path, tmp.Name()})
	return tmp.Name(), nil
}

// commit renames every output into place. After an error the outputs not
// yet renamed are removed.
func (o *outputSet) commit() error {
	defer o.abort()
	for i := range o.files {
		f := &o.files[i]
		if err := os.Rename(f.tmp, f.path); err != nil {
			return fmt.Errorf("write %s: %w", f.path, err)
		}
		f.tmp = ""
	}
	return nil
}

// abort removes the outputs not committed. It does nothing after commit.
func (o *outputSet) abort() {
	if o.done {
		return
	}
	o.done = true
	for _, f := range o.files {
		if f.tmp != "" {
			os.Remove(f.tmp)
		}
	}
}

// checkOutput checks, before any work, that the output path given with
// flag has one of the extensions exts, is not a directory, and that its
// directory exists and takes a new file (made and removed again).
// orList writes a list as a sentence does: "a", "a or b", "a, b or c".
func orList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

func checkOutput(flag, path string, exts ...string) error {
	ext := strings.ToLower(filepath.Ext(path))
	if !slices.Contains(exts, ext) {
		return fmt.Errorf("%s %s: unsupported extension %q (want %s)", flagName(flag), path, filepath.Ext(path), orList(exts))
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("%s %s: is a directory", flagName(flag), path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".probe-*")
	if err != nil {
		return outputDirError(flag, path, err)
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

// outputDirError says why no file can be made next to path.
func outputDirError(flag, path string, err error) error {
	dir := filepath.Dir(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s %s: directory %s does not exist", flagName(flag), path, dir)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%s %s: cannot create a file in %s: permission denied", flagName(flag), path, dir)
	}
	return fmt.Errorf("%s %s: cannot create a file in %s: %w", flagName(flag), path, dir, unwrapPathErr(err))
}

// unwrapPathErr drops an *fs.PathError's repetition of the path.
func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func runReconstruct(c *cli.Context) error {
	var outs outputSet
	defer outs.abort()
	out, err := outs.add(c, "out", dataExts...)
	if err != nil {
		return err
	}
	errPath, err := outs.add(c, "errors", dataExts...)
	if err != nil {
		return err
	}
	images, err := outs.add(c, "images", ".png")
	if err != nil {
		return err
	}
	p, data, done, err := openPredictor(c)
	if err != nil {
		return err
	}
	defer done()
	if images != "" {
		if _, _, _, err := imageDims(p.Config, data.Cols); err != nil {
			return err
		}
	}
	recon, rowErr, err := p.Reconstruct(data.Data, data.Cols)
	if err != nil {
		return err
	}
	idName, ids := rowIDs(c, data)
	if err := outs.save(out, data.Header, data.Rows, data.Cols, recon, idName, ids); err != nil {
		return err
	}
	if errPath != "" {
		if err := outs.save(errPath, []string{"mse"}, data.Rows, 1, rowErr, idName, ids); err != nil {
			return err
		}
	}
	var imagesWhat string
	if images != "" {
		if imagesWhat, err = writeImageGrid(images, p, data.Data, data.Cols, 1); err != nil {
			return err
		}
	}
	if err := outs.commit(); err != nil {
		return err
	}
	out = c.String("out")
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
