package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aegpu/aegpu/autoencoder"
)

// reporter prints training progress: a redrawn bar on a terminal, one line
// per epoch otherwise, nothing but errors with --quiet.
type reporter struct {
	w     io.Writer
	tty   bool
	quiet bool
	drawn bool
	// starred: the legend of the "*" after a validation loss was printed.
	starred bool
}

func newReporter(w *os.File, quiet bool) *reporter {
	return &reporter{w: w, tty: isTerminal(w), quiet: quiet}
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (r *reporter) printf(format string, args ...any) {
	if r.quiet {
		return
	}
	r.clear()
	fmt.Fprintf(r.w, format, args...)
}

func (r *reporter) clear() {
	if r.drawn {
		fmt.Fprint(r.w, "\r\033[K")
		r.drawn = false
	}
}

func (r *reporter) progress(p autoencoder.Progress) {
	if r.quiet || !r.tty {
		return
	}
	const width = 24
	fill := width * p.EpochSampleDone / max(p.EpochSamples, 1)
	bar := strings.Repeat("=", fill)
	if fill < width {
		bar += ">" + strings.Repeat(" ", width-fill-1)
	}
	fmt.Fprintf(r.w, "\r\033[Kepoch %d/%d [%s] %d/%d  loss %.5f  %s samples/s  ETA %s",
		p.Epoch, p.Epochs, bar, p.Batch, p.Batches, p.Loss, humanRate(p.SamplesPerSec), shortDuration(p.ETA))
	r.drawn = true
}

func (r *reporter) epoch(m autoencoder.EpochMetrics, epochs int) {
	val := ""
	if m.ValLoss != nil {
		val = fmt.Sprintf("  val %.5f", *m.ValLoss)
		if m.Best {
			val += " *"
		}
	}
	if m.ValNoisyMSE != nil {
		val += fmt.Sprintf("  (denoised MSE %.5f vs noisy %.5f", *m.ValDenoisedMSE, *m.ValNoisyMSE)
		if m.ValPSNRDenoised != nil {
			val += fmt.Sprintf(", PSNR %.1f → %.1f dB", *m.ValPSNRNoisy, *m.ValPSNRDenoised)
		}
		val += ")"
	}
	train := fmt.Sprintf("%.5f", m.TrainLoss)
	if m.TrainPenalty != nil {
		train += fmt.Sprintf(" + penalty %.5f", *m.TrainPenalty)
	}
	if m.TrainKL != nil {
		train += fmt.Sprintf(" + KL %.3f nats (β %.3g)", *m.TrainKL, *m.KLBeta)
	}
	if m.MeanActivationAvg != nil {
		val += fmt.Sprintf("  mean activation %.4f", *m.MeanActivationAvg)
	}
	legend := ""
	if m.Best && !r.starred {
		r.starred = true
		legend = "  (* = best validation loss so far: these weights are kept in best.safetensors)"
	}
	r.printf("epoch %d/%d  train %s%s  %.1fs  %s samples/s%s\n", m.Epoch, epochs, train, val, m.Seconds, humanRate(m.SamplesPerSec), legend)
}

func humanRate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func shortDuration(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%d:%02d", m, s)
}
