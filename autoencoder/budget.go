package autoencoder

import (
	"fmt"
	"math"
	"time"
)

// Budget sets a fresh run's number of epochs from what it may spend
// (FitOptions.Budget), so that the schedule (cosine, warm-up) spans the
// run that fits: Samples rows visited, or Seconds of training and
// validation. A time budget is measured first (a few steps and one
// validation pass on a model of its own) and then also enforced: the run
// stops after the epoch past which another would end beyond the budget
// (stop reason "time"). Give one of the two.
type Budget struct {
	Samples int64
	Seconds float64
}

// MaxBudgetEpochs caps the epochs a budget can give.
const MaxBudgetEpochs = 1000000

// timeSlack is how far past TimeBudget the next epoch may be expected to
// end before a run stops for time (measurements vary by a few percent).
const timeSlack = 1.05

// fitBudget sets a fresh run's epochs from its budget.
func (o *opening) fitBudget() error {
	f := o.spec.Fit
	if o.resume != nil || f.Budget == nil {
		return nil
	}
	b := *f.Budget
	nTrain := int64(o.src.Rows())
	var epochs int64
	switch {
	case b.Samples > 0 && b.Seconds == 0:
		epochs = (b.Samples + nTrain - 1) / nTrain
	case b.Seconds > 0 && b.Samples == 0:
		secs, err := o.epochSeconds()
		if err != nil {
			return err
		}
		if o.spec.Job != nil { // the ranks' epochs are rank 0's
			if secs, err = rootValue(o.spec.Job, secs); err != nil {
				return err
			}
		}
		epochs = int64(b.Seconds / secs)
		o.budgetEpochSecs = secs
		o.spec.Fit.Train.TimeBudget, o.cfg.Train.TimeBudget = b.Seconds, b.Seconds
	default:
		return fmt.Errorf("a budget is samples > 0 or seconds > 0, one of them; got %+v", b)
	}
	epochs = max(1, min(epochs, MaxBudgetEpochs))
	if w := o.spec.Fit.Train.Warmup; w > float64(epochs) {
		return fmt.Errorf("the budget gives %d epochs, fewer than the warm-up's %v: a larger budget, or a shorter --warmup", epochs, w)
	}
	o.spec.Fit.Train.Epochs, o.cfg.Train.Epochs = int(epochs), int(epochs)
	return nil
}

// epochSeconds measures the time of an epoch of the run on a model and
// trainer of its own: two steps to warm up (a GPU records its step graph
// on the first), then timed steps (at least 8, and about a second's worth
// when they are fast), and one validation pass.
func (o *opening) epochSeconds() (float64, error) {
	f := o.spec.Fit
	m, err := NewModel(f.Backend, o.arch)
	if err != nil {
		return 0, err
	}
	defer m.Free()
	if err := m.InitWith(f.Train.Seed, f.Train.Init); err != nil {
		return 0, err
	}
	tr, err := NewTrainerFrom(m, f.Train, o.src, o.val)
	if err != nil {
		return 0, err
	}
	defer tr.Free()
	rc := &runClock{start: time.Now(), total: tr.TotalSteps(), batches: tr.batchesPerEpoch()}
	ec := &epochClock{start: rc.start, lastReport: rc.start, segStart: rc.start}
	for range 2 {
		if err := tr.freeStep(ec, rc); err != nil {
			return 0, err
		}
	}
	if err := m.Backend.Sync(); err != nil {
		return 0, err
	}
	start, steps := time.Now(), 0
	for steps < 8 || (time.Since(start) < time.Second && steps < 1000) {
		if err := tr.freeStep(ec, rc); err != nil {
			return 0, err
		}
		steps++
		if steps%8 == 0 {
			if err := m.Backend.Sync(); err != nil {
				return 0, err
			}
		}
	}
	if err := m.Backend.Sync(); err != nil {
		return 0, err
	}
	perStep := time.Since(start).Seconds() / float64(steps)
	valStart := time.Now()
	if _, err := tr.Validate(); err != nil {
		return 0, err
	}
	secs := perStep*float64(rc.batches) + time.Since(valStart).Seconds()
	if !(secs > 0) || math.IsInf(secs, 0) {
		return 0, fmt.Errorf("could not time an epoch (%v s)", secs)
	}
	return secs, nil
}

// freeStep trains one step of a trainer that is not a run's (the range
// test, the budget's timing), moving on to the next epoch at the end of
// one; no validation, metrics or checkpoints.
func (t *Trainer) freeStep(ec *epochClock, rc *runClock) error {
	if t.State.Batch == rc.batches {
		t.State.Epoch++
		t.State.Batch = 0
	}
	if t.State.Batch == 0 {
		if err := t.startEpoch(t.State.Epoch); err != nil {
			return err
		}
	}
	return t.trainBatch(t.State.Epoch, ec, rc)
}
