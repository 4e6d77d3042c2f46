package main

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/internal/atomicfile"
)

// parseLR reads --lr: a rate in (0, 3.4e38], or "auto" (the range test).
func parseLR(c *cli.Context) (lr float64, auto bool, err error) {
	s := strings.TrimSpace(c.String("lr"))
	if s == "auto" {
		return 0, true, nil
	}
	lr, err = strconv.ParseFloat(s, 64)
	if err != nil || !(lr > 0 && lr <= math.MaxFloat32) {
		return 0, false, fmt.Errorf("--lr must be a number in (0, 3.4e38] or auto, got %s", s)
	}
	return lr, false, nil
}

// reportLRRange prints the range test's curve (a dozen points of it) and
// its pick, and draws it into plot when that is set.
func reportLRRange(rep *reporter, r *autoencoder.LRRange, plot string) error {
	rep.printf("learning-rate range test: %d steps in %.1fs (%s); smoothed loss against the rate:\n", len(r.LR), r.Seconds, r.Stopped)
	rep.printf("  %10s  %12s\n", "rate", "loss")
	n := len(r.LR)
	for k := range 13 {
		i := min(n-1, k*(n-1)/12)
		mark := ""
		if i <= r.PickStep && (k == 12 || (k+1)*(n-1)/12 > r.PickStep) {
			mark = "  ← steepest descent"
		}
		rep.printf("  %10.3g  %12.5g%s\n", r.LR[i], r.Smoothed[i], mark)
	}
	rep.printf("learning rate: %.3g (steepest descent of the smoothed loss, step %d)\n", r.Pick, r.PickStep+1)
	if plot == "" {
		return nil
	}
	if err := writeLRPlot(plot, r); err != nil {
		return fmt.Errorf("--lr-plot: %w", err)
	}
	rep.printf("range test curve: %s\n", plot)
	return nil
}

// writeLRPlot draws the range test into a PNG file: the rate on a log
// axis, each batch's loss as a grey dot, the smoothed loss as a blue line
// and the pick as a red line; the loss axis spans the smoothed loss's
// range (clipped at four times its minimum). Gridlines mark each decade
// of the rate.
func writeLRPlot(path string, r *autoencoder.LRRange) error {
	const w, h, pad = 720, 420, 30
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fill := func(x0, y0, x1, y1 int, c color.RGBA) {
		for y := max(y0, 0); y < min(y1, h); y++ {
			for x := max(x0, 0); x < min(x1, w); x++ {
				img.SetRGBA(x, y, c)
			}
		}
	}
	fill(0, 0, w, h, color.RGBA{255, 255, 255, 255})
	lo, hi := math.Log10(r.LR[0]), math.Log10(r.LR[len(r.LR)-1])
	if hi <= lo {
		hi = lo + 1
	}
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for _, s := range r.Smoothed {
		if !math.IsNaN(s) && !math.IsInf(s, 0) {
			ymin, ymax = math.Min(ymin, s), math.Max(ymax, s)
		}
	}
	ymax = math.Min(ymax, 4*ymin)
	if !(ymax > ymin) {
		ymax = ymin + 1
	}
	px := func(lr float64) int { return pad + int(float64(w-2*pad)*(math.Log10(lr)-lo)/(hi-lo)) }
	py := func(v float64) int {
		v = math.Max(ymin, math.Min(ymax, v))
		return h - pad - int(float64(h-2*pad)*(v-ymin)/(ymax-ymin))
	}
	grid := color.RGBA{225, 225, 225, 255}
	for d := math.Ceil(lo); d <= hi; d++ {
		x := px(math.Pow(10, d))
		fill(x, pad, x+1, h-pad, grid)
	}
	axis := color.RGBA{0, 0, 0, 255}
	fill(pad, h-pad, w-pad, h-pad+1, axis)
	fill(pad, pad, pad+1, h-pad, axis)
	for i, v := range r.Loss {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			x, y := px(r.LR[i]), py(v)
			fill(x, y, x+2, y+2, color.RGBA{170, 170, 170, 255})
		}
	}
	x := px(r.Pick)
	fill(x, pad, x+2, h-pad, color.RGBA{220, 40, 40, 255})
	for i := 1; i < len(r.Smoothed); i++ { // the smoothed curve, segment by segment
		x0, y0, x1, y1 := px(r.LR[i-1]), py(r.Smoothed[i-1]), px(r.LR[i]), py(r.Smoothed[i])
		steps := max(abs(x1-x0), abs(y1-y0), 1)
		for k := 0; k <= steps; k++ {
			xx, yy := x0+(x1-x0)*k/steps, y0+(y1-y0)*k/steps
			fill(xx-1, yy-1, xx+2, yy+2, color.RGBA{30, 90, 200, 255})
		}
	}
	return atomicfile.Write(path, func(wr io.Writer) error { return png.Encode(wr, img) })
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// parseEpochs reads --epochs: an integer in [1, 1000000], or auto (also
// implied by --time and --samples).
func parseEpochs(c *cli.Context) (n int, auto bool, err error) {
	s := strings.TrimSpace(c.String("epochs"))
	budget := c.IsSet("time") || c.IsSet("samples")
	if s == "auto" || (budget && !c.IsSet("epochs")) {
		if !budget {
			return 0, true, fmt.Errorf("--epochs auto needs a budget: --time (e.g. 10m) or --samples (e.g. 50M)")
		}
		return 0, true, nil
	}
	n, err = strconv.Atoi(s)
	if err != nil || n < 1 || n > autoencoder.MaxBudgetEpochs {
		return 0, false, fmt.Errorf("--epochs must be an integer in [1, %d] or auto, got %s", autoencoder.MaxBudgetEpochs, s)
	}
	if budget {
		return 0, false, fmt.Errorf("--epochs %d with a budget (--time, --samples): the budget sets the epochs; leave --epochs out", n)
	}
	return n, false, nil
}

// epochsOf is --epochs' number, or the default's with a budget (until the
// budget replaces it); flagcheck has refused anything else.
func epochsOf(c *cli.Context) int {
	n, auto, err := parseEpochs(c)
	if auto || err != nil {
		return autoencoder.DefaultTrainConfig().Epochs
	}
	return n
}

// budgetOf reads --time and --samples: nil without either.
func budgetOf(c *cli.Context) (*autoencoder.Budget, error) {
	switch {
	case c.IsSet("time") && c.IsSet("samples"):
		return nil, fmt.Errorf("--time and --samples are two budgets: give one")
	case c.IsSet("time"):
		d := c.Duration("time")
		if d <= 0 {
			return nil, fmt.Errorf("--time must be a positive duration such as 90s, 10m or 1h30m, got %s", d)
		}
		return &autoencoder.Budget{Seconds: d.Seconds()}, nil
	case c.IsSet("samples"):
		n, err := parseCount(c.String("samples"))
		if err != nil {
			return nil, fmt.Errorf("--samples: %w", err)
		}
		return &autoencoder.Budget{Samples: n}, nil
	}
	return nil, nil
}

// parseCount parses a positive count with an optional K, M or G suffix
// (10³, 10⁶, 10⁹): "50M", "1.5G", "20000".
func parseCount(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := 1.0
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k', 'K':
			mult, t = 1e3, t[:n-1]
		case 'm', 'M':
			mult, t = 1e6, t[:n-1]
		case 'g', 'G':
			mult, t = 1e9, t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || !(v*mult >= 1) || v*mult > 1e18 {
		return 0, fmt.Errorf("want a count ≥ 1 such as 20000, 50M or 1.5G, got %q", s)
	}
	return int64(math.Round(v * mult)), nil
}
