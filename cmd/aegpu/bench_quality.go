package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/aegpu/aegpu/bench"
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/internal/atomicfile"
)

// qualityFlags are bench --quality's own flags.
var qualityFlags = []cli.Flag{
	&cli.BoolFlag{Name: "quality", Usage: "instead of speed, measure reconstruction quality: the default recipe and the old one (Adam 1e-3, constant rate, batch 256, nn.Linear init) trained on MNIST, Fashion-MNIST, the breast-cancer table and a synthetic low-rank table for a fixed number of epochs, each judged by the MSE on held-out rows, beside PCA at the latent size"},
	&cli.StringFlag{Name: "sets", Value: "mnist,fashion-mnist,breast-cancer,lowrank", Usage: "with --quality: the data sets"},
	&cli.StringFlag{Name: "data-dir", Value: "data", Usage: "with --quality: where make data put the data sets"},
	&cli.IntFlag{Name: "seeds", Value: 1, Usage: "with --quality: seeds per recipe and data set (the table gives the mean and range)"},
	&cli.StringFlag{Name: "md", Usage: "with --quality: also write the Markdown table to `FILE`"},
}

// refRecipe names the PyTorch reference's column: the old recipe in PyTorch.
const refRecipe = "PyTorch, old"

// runBenchQuality runs bench --quality on the first device of --devices
// (all: a GPU if one answers, else the CPU).
func runBenchQuality(c *cli.Context) error {
	spec := "auto"
	if d := c.String("devices"); d != "all" {
		spec, _, _ = strings.Cut(d, ",")
	}
	b, note, err := engine.Open(spec)
	if err != nil {
		return err
	}
	defer b.Close()
	fmt.Fprintln(os.Stderr, note)
	want := strings.Split(c.String("sets"), ",")
	var sets []bench.QualitySet
	for _, w := range want {
		found := false
		for _, s := range bench.QualitySets {
			if s.Name == strings.TrimSpace(w) {
				sets, found = append(sets, s), true
			}
		}
		if !found {
			return fmt.Errorf("--sets: no data set %q (mnist, fashion-mnist, breast-cancer, lowrank)", w)
		}
	}
	recipes := []bench.Recipe{bench.OldRecipe, bench.DefaultRecipe}
	names := []string{"old", "default"}
	ref := c.Bool("reference")
	if ref { // before minutes of training, not after
		info, err := bench.CheckPython(c.String("python"), 30*time.Second)
		if err != nil {
			return fmt.Errorf("--reference: %w", err)
		}
		fmt.Fprintf(os.Stderr, "PyTorch reference: %s\n", info)
		names = append(names, refRecipe)
	}
	var rs []bench.QualityResult
	for _, s := range sets {
		train, test, err := bench.LoadQualitySet(s, c.String("data-dir"))
		if err != nil {
			return err
		}
		for _, r := range recipes {
			for seed := 1; seed <= c.Int("seeds"); seed++ {
				res, err := bench.RunQuality(b, s, r, train, test, uint64(seed))
				if err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "%s, %s recipe, seed %d: test MSE %.5g (PCA %.5g), %d epochs in %.1fs on %s\n",
					s.Name, r.Name, seed, res.TestMSE, res.PCAMSE, res.Epochs, res.Seconds, b.Info())
				rs = append(rs, res)
				if !ref || r.Name != bench.OldRecipe.Name {
					continue
				}
				pt, err := bench.RunQualityReference(c.String("python"), s, train, test, res.Scaler, uint64(seed), time.Hour)
				if err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "%s, PyTorch %s with the old recipe, seed %d: test MSE %.5g, in %.1fs (%d threads)\n",
					s.Name, pt.Torch, seed, pt.TestMSE, pt.Seconds, pt.Threads)
				res.Recipe, res.TestMSE, res.Seconds = refRecipe, pt.TestMSE, pt.Seconds
				rs = append(rs, res)
			}
		}
	}
	table := bench.QualityTable(rs, names, nil)
	fmt.Print(table)
	if p := c.String("md"); p != "" {
		if err := atomicfile.Write(p, func(w io.Writer) error { _, err := io.WriteString(w, table); return err }); err != nil {
			return err
		}
	}
	if p := c.String("json"); p != "" {
		return atomicfile.Write(p, func(w io.Writer) error {
			e := json.NewEncoder(w)
			e.SetIndent("", "  ")
			return e.Encode(rs)
		})
	}
	return nil
}
