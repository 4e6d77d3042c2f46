package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/aegpu/aegpu/dataset"
)

// trialValues are the values every numeric flag is tried with: NaN, ±Inf,
// negative, zero and huge (1e300, or the type's largest integer).
func trialValues(f cli.Flag) []string {
	vals := []string{"NaN", "Inf", "-Inf", "-1", "0"}
	switch f.(type) {
	case *cli.Float64Flag:
		return append(vals, "1e300")
	case *cli.IntFlag, *cli.Int64Flag:
		return append(vals, strconv.Itoa(math.MaxInt))
	case *cli.UintFlag, *cli.Uint64Flag:
		return append(vals, strconv.FormatUint(math.MaxUint64, 10))
	}
	return nil
}

// numericCase is one command × numeric flag × value.
type numericCase struct {
	cmd, flag, value string
	valid            bool // the value parses and lies in the flag's range
}

// numericCases walks newApp()'s commands and flags: every numeric flag of
// every command, with each of trialValues. A flag without a range in
// numericFlagRanges fails the test.
func numericCases(t *testing.T) []numericCase {
	t.Helper()
	var cases []numericCase
	for _, cmd := range newApp().Commands {
		for _, f := range cmd.Flags {
			if !isNumericFlag(f) {
				continue
			}
			name := f.Names()[0]
			spec, ok := numericFlagRanges[cmd.Name][name]
			if !ok {
				t.Errorf("%s %s: no range in numericFlagRanges", cmd.Name, flagName(name))
				continue
			}
			r, err := parseRange(spec)
			if err != nil {
				t.Errorf("%s %s: %v", cmd.Name, flagName(name), err)
				continue
			}
			for _, v := range trialValues(f) {
				// Valid: the value parses as the flag's type and lies in
				// its range.
				var x float64
				var err error
				switch f.(type) {
				case *cli.Float64Flag:
					x, err = strconv.ParseFloat(v, 64)
				case *cli.UintFlag, *cli.Uint64Flag:
					var u uint64
					u, err = strconv.ParseUint(v, 0, 64)
					x = float64(u)
				default:
					var i int64
					i, err = strconv.ParseInt(v, 0, 64)
					x = float64(i)
				}
				valid := err == nil && r.contains(x)
				cases = append(cases, numericCase{cmd.Name, name, v, valid})
			}
		}
	}
	return cases
}

// TestNumericFlagRangesTable: every entry of numericFlagRanges is a flag
// that exists and a range that parses, so the table cannot go stale.
func TestNumericFlagRangesTable(t *testing.T) {
	numeric := map[string]map[string]bool{}
	for _, cmd := range newApp().Commands {
		numeric[cmd.Name] = map[string]bool{}
		for _, f := range cmd.Flags {
			if isNumericFlag(f) {
				numeric[cmd.Name][f.Names()[0]] = true
			}
		}
	}
	// Every default lies in its range, or means "not given".
	for _, cmd := range newApp().Commands {
		for _, f := range cmd.Flags {
			if !isNumericFlag(f) {
				continue
			}
			name := f.Names()[0]
			r, err := parseRange(numericFlagRanges[cmd.Name][name])
			if err != nil {
				continue // reported by TestNumericFlags
			}
			v, _ := strconv.ParseFloat(f.(cli.DocGenerationFlag).GetValue(), 64)
			if !r.contains(v) && !unsetDefaults[cmd.Name+" "+flagName(name)] {
				t.Errorf("%s %s: default %v outside %s", cmd.Name, flagName(name), v, r.spec)
			}
		}
	}
	for cmd, flags := range numericFlagRanges {
		for name, spec := range flags {
			if !numeric[cmd][name] {
				t.Errorf("numericFlagRanges[%q][%q]: %s has no numeric flag %s", cmd, name, cmd, flagName(name))
			}
			if _, err := parseRange(spec); err != nil {
				t.Error(err)
			}
		}
	}
	for _, c := range []struct {
		spec string
		in   []float64
		out  []float64
		desc string
	}{
		{"[0, 1)", []float64{0, 0.5}, []float64{1, -1e-300, math.NaN(), math.Inf(1)}, "a number in [0, 1)"},
		{"(0, max32]", []float64{1e-300, math.MaxFloat32}, []float64{0, 1e39, math.Inf(1)}, "a number in (0, 3.4e38]"},
		{"[1, inf)", []float64{1, math.MaxInt64}, []float64{0, math.NaN()}, "a number ≥ 1"},
	} {
		r, err := parseRange(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range c.in {
			if !r.contains(v) {
				t.Errorf("%s does not contain %v", c.spec, v)
			}
		}
		for _, v := range c.out {
			if r.contains(v) {
				t.Errorf("%s contains %v", c.spec, v)
			}
		}
		if got := r.describe(false); got != c.desc {
			t.Errorf("%s: %q", c.spec, got)
		}
	}
	for _, bad := range []string{"", "[0 1]", "[1, 0]", "{0, 1}", "[x, 1]"} {
		if _, err := parseRange(bad); err == nil {
			t.Errorf("parseRange(%q) accepted", bad)
		}
	}
}

// namesFlag matches an error that names the flag: --name or -name, as a
// word (the CLI library's parse errors write -name).
func namesFlag(msg, name string) bool {
	return regexp.MustCompile(`(^|[^\w-])--?` + regexp.QuoteMeta(name) + `([^\w-]|$)`).MatchString(msg)
}

var errReached = errors.New("the command's action was reached")

// runApp runs the CLI in-process, turning a panic into an error; with
// stub, every command's action is replaced by one that returns errReached,
// so only the flag parsing and checks run.
func runApp(args []string, stub bool) (err error, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			err, panicked = fmt.Errorf("panic: %v", r), true
		}
	}()
	app := newApp()
	if stub {
		for _, c := range app.Commands {
			c.Action = func(*cli.Context) error { return errReached }
		}
	}
	return app.Run(append([]string{"aegpu"}, args...)), false
}

// requiredArgs are what each command needs besides the flag under test to
// get past its required flags (the checks run before any of them is used).
var requiredArgs = map[string][]string{
	"encode":      {"--model", "m", "--out", "o.npy"},
	"reconstruct": {"--model", "m", "--out", "o.npy"},
	"denoise":     {"--model", "m", "--out", "o.npy"},
	"score":       {"--model", "m", "--out", "o.npy"},
	"generate":    {"--model", "m", "--out", "o.npy"},
	"corrupt":     {"--data", "d.npy", "--noise", "gaussian:0.1", "--out", "o.npy"},
	"export":      {"--model", "m", "--out", "o.safetensors"},
	"import":      {"--weights", "w.safetensors", "--out", "m"},
	"gather":      {"--out", "o.npy"},
	"serve":       {"--model", "m"},
}

// unsetDefaults are the numeric defaults that mean "not given" and lie
// outside the flag's range.
var unsetDefaults = map[string]bool{"score --contamination": true, "encode --shard-count": true, "score --shard-count": true}

func flagArg(name, value string) string { return flagName(name) + "=" + value }

// TestNumericFlags tries every numeric flag of every command with NaN,
// ±Inf, a negative, zero and a huge value, up to the command's action (not
// run): each value in the flag's range passes the checks, each other one
// is refused by an error that names the flag, and nothing panics. The
// defaults pass too.
func TestNumericFlags(t *testing.T) {
	cases := numericCases(t)
	var passed, refused, panics int
	for _, cmd := range newApp().Commands {
		if err, p := runApp(append([]string{cmd.Name}, requiredArgs[cmd.Name]...), true); err != errReached || p {
			t.Errorf("%s with its defaults: %v", cmd.Name, err)
		}
	}
	for _, c := range cases {
		args := append(append([]string{c.cmd}, requiredArgs[c.cmd]...), flagArg(c.flag, c.value))
		err, p := runApp(args, true)
		switch {
		case p:
			panics++
			t.Errorf("aegpu %s: %v", strings.Join(args, " "), err)
		case err == errReached:
			passed++
			if !c.valid {
				t.Errorf("aegpu %s: accepted", strings.Join(args, " "))
			}
		default:
			refused++
			if c.valid {
				t.Errorf("aegpu %s: refused a value in range: %v", strings.Join(args, " "), err)
			} else if !namesFlag(err.Error(), c.flag) {
				t.Errorf("aegpu %s: the error does not name %s: %v", strings.Join(args, " "), flagName(c.flag), err)
			}
		}
	}
	t.Logf("numeric flags, checks only: %d cases, %d passed the checks, %d refused with an error naming the flag, %d panics", len(cases), passed, refused, panics)
	if len(cases) < 200 {
		t.Errorf("only %d cases: the walk of the commands missed flags", len(cases))
	}
}

// runnable are the commands TestNumericFlagsRun runs for real (viz serves
// until interrupted and bench measures for minutes: checked above only).
var runnable = []string{"train", "encode", "reconstruct", "denoise", "score", "generate", "corrupt"}

// flagContext is what a flag needs to take effect in a real run.
var flagContext = map[string]map[string][]string{
	"train": {
		"l1": {"--variant", "sparse"}, "sparsity-beta": {"--variant", "sparse"}, "sparsity-target": {"--variant", "sparse"},
		"contractive-lambda": {"--variant", "contractive"}, "projections": {"--variant", "contractive"},
		"kl-beta": {"--variant", "vae"}, "kl-warmup": {"--variant", "vae"},
		"min-lr": {"--schedule", "cosine"}, "step-size": {"--schedule", "step"}, "gamma": {"--schedule", "step"},
		"momentum": {"--optimizer", "sgd"}, "chunk-rows": {"--stream"}, "patience": {"--epochs", "2"},
	},
	"score":    {"explain": {"--contamination", "0.2"}, "explain-rows": {"--contamination", "0.2", "--explain", "2"}},
	"generate": {"steps": {"--interpolate", "0,1", "--data", "DATA"}},
}

// TestNumericFlagsRun runs the commands that finish quickly for real, with
// every numeric flag at every trial value on small data: no panic, and
// each run succeeds or fails with an error that names the flag.
func TestNumericFlagsRun(t *testing.T) {
	if testing.Short() {
		t.Skip("trains models and runs every command some 400 times")
	}
	dir := t.TempDir()
	csv, npy := filepath.Join(dir, "toy.csv"), filepath.Join(dir, "toy.npy")
	writeToyCSV(t, csv, 60)
	tab, err := dataset.Load(csv, dataset.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := dataset.Save(npy, nil, tab.Rows, tab.Cols, tab.Data); err != nil {
		t.Fatal(err)
	}
	common := []string{"--data", csv, "--layers", "6,4,2", "--epochs", "1", "--batch", "16", "--device", "cpu", "--quiet"}
	models := map[string]string{}
	for kind, extra := range map[string][]string{"plain": nil, "dae": {"--noise", "gaussian:0.1"}, "vae": {"--variant", "vae"}} {
		models[kind] = filepath.Join(dir, kind)
		if err, _ := runApp(append(append(append([]string{"train"}, common...), extra...), "--out", models[kind]), false); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	base := map[string][]string{
		"train":       common,
		"encode":      {"--model", models["plain"], "--data", csv, "--device", "cpu", "--quiet"},
		"reconstruct": {"--model", models["plain"], "--data", csv, "--device", "cpu", "--quiet"},
		"denoise":     {"--model", models["dae"], "--data", csv, "--device", "cpu", "--quiet"},
		"score":       {"--model", models["plain"], "--data", csv, "--device", "cpu", "--quiet"},
		"generate":    {"--model", models["vae"], "-n", "4", "--device", "cpu", "--quiet"},
		"corrupt":     {"--data", csv, "--noise", "gaussian:0.1", "--quiet"},
	}
	var cases, ok, refused, panics int
	for i, c := range numericCases(t) {
		if !slices.Contains(runnable, c.cmd) {
			continue
		}
		cases++
		// The base arguments without the flag under test (and its value),
		// then what the flag needs, then the flag.
		var args []string
		b := base[c.cmd]
		for j := 0; j < len(b); j++ {
			if b[j] == flagName(c.flag) {
				j++
				continue
			}
			args = append(args, b[j])
		}
		ctx := slices.Clone(flagContext[c.cmd][c.flag])
		if i := slices.Index(ctx, "DATA"); i >= 0 {
			ctx[i] = csv
		}
		if c.flag == "chunk-rows" {
			args[slices.Index(args, "--data")+1] = npy
		}
		target := filepath.Join(out, fmt.Sprintf("%d.npy", i))
		if c.cmd == "train" {
			target = filepath.Join(out, fmt.Sprintf("m%d", i))
		}
		args = append(append(append(append([]string{c.cmd}, args...), ctx...), "--out", target), flagArg(c.flag, c.value))
		err, p := runApp(args, false)
		switch {
		case p:
			panics++
			t.Errorf("aegpu %s: %v", strings.Join(args, " "), err)
		case err == nil:
			ok++
			if !c.valid {
				t.Errorf("aegpu %s: ran with a value out of range", strings.Join(args, " "))
			}
		default:
			refused++
			if !namesFlag(err.Error(), c.flag) {
				t.Errorf("aegpu %s: the error does not name %s: %v", strings.Join(args, " "), flagName(c.flag), err)
			} else if c.valid {
				t.Logf("%s %s: in range alone, refused in this run: %v", c.cmd, flagArg(c.flag, c.value), err)
			}
		}
	}
	t.Logf("numeric flags, real runs: %d cases, %d ran to success, %d refused with an error naming the flag, %d panics", cases, ok, refused, panics)
	// Nothing but the outputs of the runs that succeeded.
	entries, _ := os.ReadDir(out)
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) > 0 {
		t.Errorf("temporary files left: %v", names)
	}
}

// TestCrossFlagChecks: flags that are valid alone but not together are
// refused before any work, naming the flags.
func TestCrossFlagChecks(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "pipe")
	if err := mkfifo(p); err != nil {
		t.Skip(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--schedule", "cosine", "--lr", "0.01", "--min-lr", "0.1"}, "--min-lr 0.1: must not exceed --lr 0.01"},
		{[]string{"train", "--schedule", "constant", "--lr", "0.01", "--min-lr", "0.1"}, ""},
		{[]string{"train", "--epochs", "2", "--warmup", "2.5"}, "--warmup 2.5: must not exceed --epochs 2"},
		{[]string{"train", "--epochs", "2", "--warmup", "2"}, ""},
		{[]string{"train", "--epochs", "auto"}, "--epochs auto needs a budget: --time (e.g. 10m) or --samples (e.g. 50M)"},
		{[]string{"train", "--epochs", "0"}, "--epochs must be an integer in [1, 1000000] or auto, got 0"},
		{[]string{"train", "--epochs", "3", "--time", "1m"}, "--epochs 3 with a budget (--time, --samples): the budget sets the epochs"},
		{[]string{"train", "--time", "1m", "--samples", "5M"}, "--time and --samples are two budgets: give one"},
		{[]string{"train", "--time", "-5s"}, "--time must be a positive duration"},
		{[]string{"train", "--samples", "lots"}, `--samples: want a count ≥ 1 such as 20000, 50M or 1.5G, got "lots"`},
		{[]string{"train", "--samples", "5M", "--resume", "m"}, "--epochs auto (--time, --samples) sets a fresh run's epochs"},
		{[]string{"train", "--epochs", "auto", "--samples", "1.5k", "--warmup", "3"}, ""},
		{[]string{"train", "--lr", "fast"}, "--lr must be a number in (0, 3.4e38] or auto, got fast"},
		{[]string{"train", "--lr", "0"}, "--lr must be a number in (0, 3.4e38] or auto, got 0"},
		{[]string{"train", "--lr", "NaN"}, "--lr must be a number in (0, 3.4e38] or auto, got NaN"},
		{[]string{"train", "--lr", "0.01", "--lr-plot", "x.png"}, "--lr-plot draws the range test of --lr auto"},
		{[]string{"train", "--lr", "auto", "--resume", "m"}, "--lr auto picks a fresh run's rate"},
		{[]string{"train", "--variant", "sparse", "--l1", "0", "--sparsity-beta", "0"}, "--sparsity-beta 0 with --l1 0"},
		{[]string{"train", "--stream", "--data", p}, "--data " + p + " is a pipe"},
		{[]string{"train", "--eps", "-1"}, "--eps must be a number in (0, 1], got -1"},
		{[]string{"train", "--min-lr", "-5"}, "--min-lr must be a number in [0, 3.4e38], got -5"},
		{[]string{"train", "--projections", "0"}, "--projections must be an integer in [1, 64], got 0"},
		{[]string{"train", "--val-split", "NaN"}, "--val-split must be a number in [0, 1), got NaN"},
		{[]string{"train", "--beta1", "NaN"}, "--beta1 must be a number in [0, 1), got NaN"},
		{[]string{"train", "--kl-warmup", "Inf"}, "--kl-warmup must be a number in [0, 1000000], got +Inf"},
		{[]string{"train", "--clip-norm", "NaN"}, "--clip-norm must be a number in [0, 3.4e38], got NaN"},
		{[]string{"train", "--gamma", "Inf"}, "--gamma must be a number in (0, 3.4e38], got +Inf"},
		{[]string{"train", "--eps", "NaN"}, "--eps must be a number in (0, 1], got NaN"},
		{[]string{"train", "--weight-decay", "NaN"}, "--weight-decay must be a number in [0, 3.4e38], got NaN"},
		{[]string{"train", "--l2", "Inf"}, "--l2 must be a number in [0, 3.4e38], got +Inf"},
		{[]string{"train", "--min-lr", "NaN"}, "--min-lr must be a number in [0, 3.4e38], got NaN"},
		{[]string{"train", "--seed", "-1"}, `invalid value "-1" for flag -seed`},
		{[]string{"generate", "--model", "m", "--out", "o.npy", "-n", "0"}, "-n must be an integer in [1, 1048576], got 0"},
		{[]string{"encode", "--model", "m", "--out", "o.npy", "--batch", "0"}, "--batch must be an integer ≥ 1, got 0"},
	} {
		err, _ := runApp(c.args, true)
		if c.want == "" && err != errReached || c.want != "" && (err == nil || !strings.HasPrefix(err.Error(), c.want)) {
			t.Errorf("aegpu %s: %v, want %q", strings.Join(c.args, " "), err, c.want)
		}
	}
}

func TestCheckImageShapeFlag(t *testing.T) {
	for _, c := range []struct {
		spec string
		cols int
		want string
	}{
		{"2x4", 8, ""},
		{"3x3", 8, "--image-shape 3x3: more values per image than the data's 8 columns"},
		{"2x3", 8, "--image-shape 2x3: 6 values per image, but the data has 8 columns"},
		{"9223372036854775807x2", 8, "--image-shape 9223372036854775807x2: more values"},
	} {
		shape, err := parseImageShape(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		err = checkImageShapeFlag(c.spec, shape, c.cols)
		if (err == nil) != (c.want == "") || err != nil && !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s on %d columns: %v, want %q", c.spec, c.cols, err, c.want)
		}
	}
}
