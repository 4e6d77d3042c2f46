package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/dataset"
)

// dataChoice is the data a command reads: what --data names or, without
// --data, the data the model was trained on (config.json records it), or,
// with no model, the built-in digits. Every command says which on stderr.
type dataChoice struct {
	Paths    []string // nil: the built-in digits
	Streamed bool     // the model was trained with --stream (a resume streams too)
	origin   string   // why these data, for the notice: "" (given), "the data DIR was trained on"
}

// Builtin reports whether the choice is the built-in digits.
func (d dataChoice) Builtin() bool { return d.Paths == nil }

// Name is how messages refer to the data.
func (d dataChoice) Name() string {
	if d.Builtin() {
		return dataset.BuiltinName
	}
	return strings.Join(d.Paths, " ")
}

// announce prints the one line saying which data the command uses.
func (d dataChoice) announce(quiet bool, rows, cols int) {
	if quiet {
		return
	}
	size := fmt.Sprintf("%d×%d", rows, cols)
	if rows < 0 {
		size = fmt.Sprintf("%d columns", cols)
	}
	switch {
	case d.origin != "":
		fmt.Fprintf(os.Stderr, "data: %s, %s (%s; --data to choose other data)\n", d.Name(), size, d.origin)
	case d.Builtin():
		fmt.Fprintf(os.Stderr, "data: %s, %s (no --data given)\n", d.Name(), size)
	default:
		fmt.Fprintf(os.Stderr, "data: %s, %s\n", d.Name(), size)
	}
}

// chooseData picks the data of a command: the --data flag's value(s) when
// given, else the data recorded in modelDir's config.json (modelDir ""
// means no model: the built-in digits).
func chooseData(c *cli.Context, modelDir string) (dataChoice, error) {
	var given []string
	if f := c.Command.Flags; f != nil {
		for _, fl := range f {
			if fl.Names()[0] != "data" {
				continue
			}
			if _, many := fl.(*cli.StringSliceFlag); many {
				given = c.StringSlice("data")
			} else if s := c.String("data"); s != "" {
				given = []string{s}
			}
		}
	}
	if len(given) > 0 {
		return dataChoice{Paths: given}, nil
	}
	if modelDir == "" {
		return dataChoice{}, nil
	}
	return recordedData(modelDir)
}

// recordedData is the data dir's model was trained on, when it can still be
// read from here.
func recordedData(dir string) (dataChoice, error) {
	cfg, err := autoencoder.ReadConfig(dir)
	if err != nil {
		return dataChoice{}, err
	}
	origin := "the data " + dir + " was trained on"
	d := cfg.Data
	if d.Rows == 0 && !d.Streamed && d.Source != dataset.BuiltinName { // aegpu import: weights only
		return dataChoice{}, fmt.Errorf("no --data given, and %s records no training data (%s): give the data with --data", dir, d.Source)
	}
	if d.Source == dataset.BuiltinName || d.Source == "" && !d.Streamed {
		return dataChoice{origin: origin}, nil
	}
	paths := []string{d.Source}
	if d.Streamed && len(d.Paths) > 0 {
		paths = d.Paths
	}
	for _, p := range paths {
		if dataset.IsPipe(p) { // opening it again would wait for a writer forever
			return dataChoice{}, fmt.Errorf("no --data given, and %s was trained on %s, a pipe, which cannot be read again: give the data with --data", dir, p)
		}
		if _, err := os.Stat(p); err != nil {
			why := "cannot be read"
			if errors.Is(err, fs.ErrNotExist) {
				why = "is not there"
				if !filepath.IsAbs(p) {
					why += " (relative to this directory)"
				}
			}
			return dataChoice{}, fmt.Errorf("no --data given, and %s was trained on %s, which %s: give the data with --data", dir, p, why)
		}
	}
	return dataChoice{Paths: paths, Streamed: d.Streamed, origin: origin}, nil
}

// columnsFlag selects the feature columns of Parquet and Arrow input.
var columnsFlag = &cli.StringFlag{Name: "columns", Usage: "the feature `COLUMNS` of Parquet/Arrow input: names or patterns (f_*), comma-separated, in this order (default: every numeric column; for a trained model, the columns it was trained on)"}

// columnsOf is --columns, or else the columns the model (--model, or the
// run --resume continues) was trained on, as recorded in its config.json.
func columnsOf(c *cli.Context) []string {
	if s := c.String("columns"); s != "" {
		var out []string
		for _, f := range strings.Split(s, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, f)
			}
		}
		return out
	}
	for _, dir := range []string{c.String("model"), c.String("resume")} {
		if dir == "" {
			continue
		}
		if cfg, err := autoencoder.ReadConfig(dir); err == nil {
			return cfg.Data.Columns
		}
	}
	return nil
}

// noteSkipped names, on one line, the columns of Parquet/Arrow input that
// were left out because they cannot be features.
func noteSkipped(quiet bool, name string, skipped []string) {
	if quiet || len(skipped) == 0 {
		return
	}
	fmt.Fprintf(os.Stderr, "data: %s: left out %s that cannot be features: %s (--columns chooses)\n", name, plural(len(skipped), "column"), strings.Join(skipped, ", "))
}

// load reads the choice into memory (one file, or the built-in digits).
func (d dataChoice) load(c *cli.Context, quiet bool) (*dataset.Table, error) {
	if err := checkIDFlags(c); err != nil {
		return nil, err
	}
	pol := dataset.NaNError // commands without --nan
	if s := c.String("nan"); s != "" {
		var err error
		if pol, err = dataset.ParseNaNPolicy(s); err != nil {
			return nil, fmt.Errorf("--nan: %w", err)
		}
	}
	var t *dataset.Table
	var err error
	switch {
	case d.Builtin():
		if t, _, err = dataset.Builtin(); err != nil {
			return nil, err
		}
	case len(d.Paths) == 1:
		if t, err = dataset.Load(d.Paths[0], dataset.LoadOptions{NaN: pol, Columns: columnsOf(c), IDColumn: c.String("id-column")}); err != nil {
			return nil, err
		}
		noteSkipped(quiet, d.Name(), t.Skipped)
	default:
		return nil, fmt.Errorf("%s: this command reads one file into memory, not %d (the model was trained with --stream on several; give one with --data)", d.Name(), len(d.Paths))
	}
	d.announce(quiet, t.Rows, t.Cols)
	return t, nil
}

// selfName is how the user can run this binary again, for the commands
// that messages suggest: "aegpu" when PATH finds this binary under that
// name, "go run ./cmd/aegpu" under go run, else the path it was started by.
func selfName() string {
	exe, err := os.Executable()
	if err != nil {
		return "aegpu"
	}
	if strings.Contains(exe, string(filepath.Separator)+"go-build") {
		return "go run ./cmd/aegpu"
	}
	base := filepath.Base(os.Args[0])
	if found, err := exec.LookPath(base); err == nil {
		if f, err := filepath.EvalSymlinks(found); err == nil {
			if e, err := filepath.EvalSymlinks(exe); err == nil && f == e {
				return base
			}
		}
	}
	return os.Args[0]
}

// plural is "1 epoch", "3 epochs".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
