package autoencoder

import (
	"fmt"
	"math"
	"time"
)

// The learning-rate range test (Smith, "Cyclical learning rates for
// training neural networks", 2017): train for a few hundred steps while
// the rate grows geometrically from Min to Max, smooth the batch losses,
// and take the rate where the smoothed loss falls fastest against
// log(rate). Below it the rate is too small to make progress; past it the
// loss soon turns up and diverges.

// LRFindOptions tunes FindLR; zero values take the defaults.
type LRFindOptions struct {
	Min, Max float64 // the rates swept (default 1e-7 … 10)
	Steps    int     // optimizer steps (default 300)
	// Smoothing is the exponential smoothing factor of the batch losses
	// (default 0.9; debiased as Adam's moments are).
	Smoothing float64
	// Diverge stops the sweep once the smoothed loss exceeds this multiple
	// of its minimum (default 4), or turns NaN.
	Diverge float64
}

func (o LRFindOptions) withDefaults() LRFindOptions {
	if o.Min == 0 {
		o.Min = 1e-7
	}
	if o.Max == 0 {
		o.Max = 10
	}
	if o.Steps == 0 {
		o.Steps = 300
	}
	if o.Smoothing == 0 {
		o.Smoothing = 0.9
	}
	if o.Diverge == 0 {
		o.Diverge = 4
	}
	return o
}

// LRRange is a range test's curve and its pick.
type LRRange struct {
	LR, Loss, Smoothed []float64 // per step swept (the sweep may stop early)
	// Pick is the rate of the steepest descent of the smoothed loss
	// against log(rate), to two significant digits (consecutive steps
	// are 6% apart); PickStep its step.
	Pick     float64
	PickStep int
	Stopped  string // why the sweep ended: "steps" or "diverged"
	Seconds  float64
}

// FindLR runs the range test on t, which it trains: use a trainer made for
// it (Run.FindLR does) and discard it. The optimizer and every setting but
// the rate are t's; the schedule, warm-up and average are not used.
func (t *Trainer) FindLR(o LRFindOptions) (LRRange, error) {
	o = o.withDefaults()
	if !(o.Min > 0 && o.Max > o.Min && o.Steps >= 10 && o.Smoothing > 0 && o.Smoothing < 1 && o.Diverge > 1) {
		return LRRange{}, fmt.Errorf("range test: want 0 < Min < Max, ≥ 10 steps, smoothing in (0, 1) and a divergence factor > 1; got %+v", o)
	}
	start := time.Now()
	var r LRRange
	ratio := math.Log(o.Max / o.Min)
	t.lrFn = func(step int64) float64 {
		return o.Min * math.Exp(ratio*float64(step)/float64(o.Steps-1))
	}
	defer func() { t.lrFn = nil }()
	rc := &runClock{start: start, total: int64(o.Steps), batches: t.batchesPerEpoch()}
	ec := &epochClock{start: start, lastReport: start, segStart: start}
	avg, best := 0.0, math.Inf(1)
	r.Stopped = "steps"
	for i := range o.Steps {
		// The step's loss is the growth of the epoch's sum, which a step
		// that starts an epoch (freeStep) restarts from 0.
		batch, before := t.State.Batch, float32(0)
		if batch == rc.batches {
			batch = 0
		}
		if batch > 0 {
			var err error
			if before, err = t.globalScalar(t.obj.sum); err != nil {
				return r, err
			}
		}
		rows := min(t.ws.batch, t.in.nTrain-batch*t.ws.batch)
		lr := t.lrFn(t.State.Step)
		if err := t.freeStep(ec, rc); err != nil {
			return r, err
		}
		after, err := t.globalScalar(t.obj.sum)
		if err != nil {
			return r, err
		}
		loss := float64(after-before) / float64(rows)
		avg = o.Smoothing*avg + (1-o.Smoothing)*loss
		s := avg / (1 - math.Pow(o.Smoothing, float64(i+1)))
		r.LR, r.Loss, r.Smoothed = append(r.LR, lr), append(r.Loss, loss), append(r.Smoothed, s)
		if math.IsNaN(s) || math.IsInf(s, 0) || s > o.Diverge*best {
			r.Stopped = "diverged"
			break
		}
		best = math.Min(best, s)
	}
	r.Seconds = time.Since(start).Seconds()
	var ok bool
	if r.PickStep, ok = steepest(r.LR, r.Smoothed); !ok {
		return r, fmt.Errorf("range test: the loss did not fall over %d steps from rate %g to %g (%s); give --lr", len(r.LR), o.Min, r.LR[len(r.LR)-1], r.Stopped)
	}
	r.Pick = roundSignificant(r.LR[r.PickStep], 2) // the sweep's grid is no finer
	return r, nil
}

// roundSignificant rounds v > 0 to d significant digits.
func roundSignificant(v float64, d int) float64 {
	p := math.Pow(10, float64(d-1)-math.Floor(math.Log10(v)))
	return math.Round(v*p) / p
}

// steepest returns the step where the smoothed loss s falls fastest
// against log(lr) (a central difference over a window of a twentieth of
// the steps, so that one noisy batch does not decide), among the finite
// points after the first tenth of the sweep (the smoothing's start-up);
// false when it never falls.
func steepest(lr, s []float64) (int, bool) {
	n := len(s)
	for n > 0 && (math.IsNaN(s[n-1]) || math.IsInf(s[n-1], 0)) {
		n--
	}
	w := max(1, n/20)
	best, at := 0.0, -1
	for i := max(w, n/10); i+w < n; i++ {
		g := (s[i+w] - s[i-w]) / math.Log(lr[i+w]/lr[i-w])
		if g < best {
			best, at = g, i
		}
	}
	return at, at >= 0
}
