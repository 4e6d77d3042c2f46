package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/viz"
)

// numericFlagRanges gives, for every numeric flag of every command, the
// values it accepts, as an interval: "[0, 1)", "(0, max32]" (max32 is the
// largest float32: the kernels compute in float32), "[1, inf)". Every
// numeric flag must have an entry (TestNumericFlags walks the commands);
// checkNumericFlags refuses any other value, NaN and ±Inf included, before
// the command does any work.
var numericFlagRanges = map[string]map[string]string{
	"train": {
		"l2":                 "[0, max32]",
		"l1":                 "[0, max32]",
		"sparsity-beta":      "[0, max32]",
		"sparsity-target":    "(0, 1)",
		"contractive-lambda": "(0, max32]",
		"projections":        "[1, 64]",
		"kl-beta":            "[0, max32]",
		"kl-warmup":          "[0, 1000000]", // epochs
		"batch":              "[1, inf)",     // cut to the training rows
		"weight-decay":       "[0, max32]",
		"momentum":           "[0, 1)",
		"beta1":              "[0, 1)",
		"beta2":              "[0, 1)",
		"eps":                "(0, 1]",
		"min-lr":             "[0, max32]",
		"warmup":             "[0, 1000000]", // epochs
		"ema":                "[0, 1)",
		"step-size":          "[1, inf)",
		"gamma":              "(0, max32]",
		"clip-norm":          "[0, max32]",
		"seed":               "[0, inf)",
		"val-split":          "[0, 1)",
		"patience":           "[0, inf)",
		"chunk-rows":         "[1, 2147483648]",
	},
	"encode": {
		"chunk":       "[1, inf)", // cut to the rows there are and to the buffer budget
		"batch":       "[1, inf)", // cut to the chunk
		"shard-count": "[1, inf)",
	},
	"reconstruct": {"batch": "[1, inf)"}, // cut to the rows
	"denoise":     {"batch": "[1, inf)"},
	"score": {
		"batch":         "[1, inf)",
		"shard-count":   "[1, inf)",
		"contamination": "(0, 0.5]",
		"explain":       "[0, inf)",
		"explain-rows":  "[0, inf)",
	},
	"generate": {
		"n":     "[1, 1048576]",
		"seed":  "[0, inf)",
		"steps": "[2, 1048576]",
	},
	"corrupt": {"seed": "[0, inf)"},
	"export":  {"opset": "[" + strconv.Itoa(autoencoder.ONNXOpsetDefault) + ", " + strconv.Itoa(autoencoder.ONNXOpsetMax) + "]"},
	"bench": {
		"windows": "[1, 1000]",
		"iters":   "[1, 1000000]",
		"warmup":  "[0, 1000000]",
		"seeds":   "[1, 1000]",
	},
	"serve": {
		"max-batch": "[1, inf)",
		"max-rows":  "[1, inf)",
		"max-body":  "[1, inf)",
		"max-queue": "[1, inf)",
		"max-conns": "[1, inf)",
	},
	"viz": {
		"seed":     "[0, inf)",
		"patience": "[0, " + strconv.Itoa(viz.MaxPatience) + "]",
	},
}

// flagRange is a parsed entry of numericFlagRanges.
type flagRange struct {
	spec           string
	lo, hi         float64
	loOpen, hiOpen bool
}

// parseRange parses an interval such as "[0, 1)" or "(0, max32]".
func parseRange(spec string) (flagRange, error) {
	r := flagRange{spec: spec}
	bad := fmt.Errorf("bad range %q: want an interval such as [0, 1) or (0, max32]", spec)
	if len(spec) < 5 {
		return r, bad
	}
	open, close := spec[0], spec[len(spec)-1]
	lo, hi, ok := strings.Cut(spec[1:len(spec)-1], ",")
	if !ok || open != '[' && open != '(' || close != ']' && close != ')' {
		return r, bad
	}
	r.loOpen, r.hiOpen = open == '(', close == ')'
	num := func(s string) (float64, error) {
		switch s = strings.TrimSpace(s); s {
		case "max32":
			return math.MaxFloat32, nil
		case "inf":
			return math.Inf(1), nil
		case "-inf":
			return math.Inf(-1), nil
		}
		return strconv.ParseFloat(s, 64)
	}
	var err1, err2 error
	r.lo, err1 = num(lo)
	r.hi, err2 = num(hi)
	if err1 != nil || err2 != nil || !(r.lo <= r.hi) {
		return r, bad
	}
	return r, nil
}

// contains reports whether v lies in r (NaN never does).
func (r flagRange) contains(v float64) bool {
	return (v > r.lo || !r.loOpen && v == r.lo) && (v < r.hi || !r.hiOpen && v == r.hi)
}

// describe says what r accepts: "a number in [0, 1)", "an integer ≥ 1".
func (r flagRange) describe(integer bool) string {
	what := "a number"
	if integer {
		what = "an integer"
	}
	if math.IsInf(r.hi, 1) && !r.loOpen {
		return fmt.Sprintf("%s ≥ %s", what, strconv.FormatFloat(r.lo, 'g', -1, 64))
	}
	return fmt.Sprintf("%s in %s", what, strings.ReplaceAll(r.spec, "max32", "3.4e38"))
}

// flagName is how the user writes a flag: -n, --batch.
func flagName(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// numericValue returns the value of a numeric flag as a float64 (exact
// for every value the checks compare), its text as given, and whether f
// is numeric and an integer.
func numericValue(c *cli.Context, f cli.Flag) (v float64, text string, integer, numeric bool) {
	name := f.Names()[0]
	switch f.(type) {
	case *cli.Float64Flag:
		x := c.Float64(name)
		return x, strconv.FormatFloat(x, 'g', -1, 64), false, true
	case *cli.IntFlag:
		x := c.Int(name)
		return float64(x), strconv.Itoa(x), true, true
	case *cli.Int64Flag:
		x := c.Int64(name)
		return float64(x), strconv.FormatInt(x, 10), true, true
	case *cli.UintFlag:
		x := c.Uint(name)
		return float64(x), strconv.FormatUint(uint64(x), 10), true, true
	case *cli.Uint64Flag:
		x := c.Uint64(name)
		return float64(x), strconv.FormatUint(x, 10), true, true
	}
	return 0, "", false, false
}

// isNumericFlag reports whether f takes a number.
func isNumericFlag(f cli.Flag) bool {
	switch f.(type) {
	case *cli.Float64Flag, *cli.IntFlag, *cli.Int64Flag, *cli.UintFlag, *cli.Uint64Flag:
		return true
	}
	return false
}

// checkNumbers checks every numeric flag given to c's command against its
// range. (A default may lie outside it when it means "not given", as
// score's --contamination 0; the tests check the others.)
func checkNumbers(c *cli.Context, cmd *cli.Command) error {
	ranges := numericFlagRanges[cmd.Name]
	for _, f := range cmd.Flags {
		name := f.Names()[0]
		if !c.IsSet(name) {
			continue
		}
		v, text, integer, numeric := numericValue(c, f)
		if !numeric {
			continue
		}
		spec, ok := ranges[name]
		if !ok {
			continue // TestNumericFlags fails on it
		}
		r, err := parseRange(spec)
		if err != nil {
			return fmt.Errorf("%s: %w", flagName(name), err)
		}
		if !r.contains(v) {
			return fmt.Errorf("%s must be %s, got %s", flagName(name), r.describe(integer), text)
		}
	}
	return nil
}

// crossChecks are the checks of a command's flags taken together, run
// after each flag is checked on its own and before any work.
var crossChecks = map[string]func(c *cli.Context) error{
	"train": func(c *cli.Context) error {
		lr, auto, err := parseLR(c)
		if err != nil {
			return err
		}
		if c.IsSet("norm") && c.String("resume") != "" {
			return fmt.Errorf("--norm is part of the architecture; a resumed run keeps its own (config.json): leave --norm out")
		}
		if _, err := autoencoder.ParseNorm(c.String("norm")); err != nil {
			return fmt.Errorf("--norm: %w", err)
		}
		if c.String("norm") == "layer" && c.String("variant") == "contractive" {
			return fmt.Errorf("--norm layer: the contractive penalty's Jacobian does not pass through a LayerNorm; train a contractive autoencoder without --norm")
		}
		if auto && c.String("resume") != "" {
			return fmt.Errorf("--lr auto picks a fresh run's rate; a resumed run keeps its own (config.json): leave --lr out")
		}
		if c.IsSet("lr-plot") && !auto {
			return fmt.Errorf("--lr-plot draws the range test of --lr auto: give --lr auto, or leave --lr-plot out")
		}
		if !auto && c.String("schedule") == "cosine" && c.Float64("min-lr") > lr {
			return fmt.Errorf("--min-lr %v: must not exceed --lr %v (the cosine schedule falls from --lr to --min-lr)", c.Float64("min-lr"), lr)
		}
		epochs, autoEpochs, err := parseEpochs(c)
		if err != nil {
			return err
		}
		if autoEpochs && c.String("resume") != "" {
			return fmt.Errorf("--epochs auto (--time, --samples) sets a fresh run's epochs; a resumed run keeps its own: give --epochs N to change them")
		}
		if _, err := budgetOf(c); err != nil {
			return err
		}
		if !autoEpochs && c.IsSet("warmup") && c.Float64("warmup") > float64(epochs) {
			return fmt.Errorf("--warmup %v: must not exceed --epochs %d (the warm-up is part of the run)", c.Float64("warmup"), epochs)
		}
		if c.String("variant") == "sparse" && c.Float64("l1") == 0 && c.Float64("sparsity-beta") == 0 {
			return fmt.Errorf("--sparsity-beta 0 with --l1 0: a sparse autoencoder needs one of them > 0")
		}
		if c.Bool("stream") && dataset.IsPipe(c.String("data")) {
			return fmt.Errorf("--data %s is a pipe, which can be read once from its start, and --stream reads its rows at random: drop --stream to read it into memory", c.String("data"))
		}
		return nil
	},
}

// checkNumericFlags makes cmd check its numeric flags (numericFlagRanges)
// and their combinations (crossChecks) before it runs: a value out of
// range is one error line that names the flag, its range and the value,
// e.g. "--beta1 must be a number in [0, 1), got NaN".
func checkNumericFlags(cmd *cli.Command) {
	before := cmd.Before
	cmd.Before = func(c *cli.Context) error {
		if err := checkNumbers(c, cmd); err != nil {
			return err
		}
		if x := crossChecks[cmd.Name]; x != nil {
			if err := x(c); err != nil {
				return err
			}
		}
		if before != nil {
			return before(c)
		}
		return nil
	}
}

// checkImageShapeFlag checks --image-shape (spec, parsed as shape) against
// the data's cols columns: train calls it once it knows them.
func checkImageShapeFlag(spec string, shape []int, cols int) error {
	if err := autoencoder.CheckImageShape(shape, cols); err != nil {
		n := 1
		for _, d := range shape {
			if d > cols {
				n = cols + 1
				break
			}
			if n *= max(d, 1); n > cols {
				break
			}
		}
		if n > cols {
			return fmt.Errorf("--image-shape %s: more values per image than the data's %d columns", spec, cols)
		}
		return fmt.Errorf("--image-shape %s: %d values per image, but the data has %d columns", spec, n, cols)
	}
	return nil
}
