package autoencoder

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/aegpu/aegpu/engine"
)

// Progress is reported during an epoch.
type Progress struct {
	Epoch, Epochs   int // 1-based epoch
	Batch, Batches  int // batches done in this epoch
	Step            int64
	Loss            float64 // mean training loss so far in this epoch
	SamplesPerSec   float64
	ETA             time.Duration // for the whole run
	LR              float64
	EpochSamples    int
	EpochSampleDone int
}

// runClock is what Train keeps across epochs.
type runClock struct {
	start    time.Time
	prevSecs float64 // training seconds before this call (a resumed run's)
	lastGood int64   // the last step at which the loss was read finite
	total    int64   // steps of the whole run
	batches  int     // per epoch
}

// epochClock is what an epoch keeps across its batches.
type epochClock struct {
	start, lastReport, segStart time.Time
	samplesAtStart              int
	lr                          float64
}

// Train runs (or continues) training until the configured epochs are done,
// early stopping triggers, ctx is cancelled (ErrInterrupted), or the loss
// becomes NaN (*NaNError). Checkpoint is called at the end of every epoch,
// and before returning ErrInterrupted.
func (t *Trainer) Train(ctx context.Context) error {
	if !t.State.Finished {
		if err := t.useRaw(); err != nil { // a finished run resumed for more epochs
			return err
		}
	}
	rc := &runClock{start: time.Now(), prevSecs: t.State.TrainSeconds, lastGood: t.State.Step,
		total: t.TotalSteps(), batches: t.batchesPerEpoch()}
	for t.State.Epoch < t.Cfg.Epochs && !t.State.Finished {
		if err := t.epoch(ctx, rc); err != nil {
			return err
		}
	}
	return nil
}

// epoch runs the rest of the current epoch, then its end: metrics,
// validation, the checkpoint.
func (t *Trainer) epoch(ctx context.Context, rc *runClock) error {
	e := t.State.Epoch
	if err := t.startEpoch(e); err != nil {
		return err
	}
	now := time.Now()
	ec := &epochClock{start: now.Add(-time.Duration(t.State.EpochSecs * float64(time.Second))),
		lastReport: now, segStart: now, samplesAtStart: t.State.Batch * t.ws.batch}
	for t.State.Batch < rc.batches {
		if t.stopRequested(ctx) {
			return t.interrupt(e, ec, rc)
		}
		if err := t.trainBatch(e, ec, rc); err != nil {
			return err
		}
	}
	return t.endEpoch(e, ec, rc)
}

// startEpoch positions the source and restores the epoch's accumulators
// (zero, or a resumed epoch's).
func (t *Trainer) startEpoch(e int) error {
	b := t.Model.Backend
	if err := t.in.src.Epoch(e, t.State.Batch*t.ws.batch); err != nil {
		return err
	}
	for _, a := range []struct {
		m engine.Matrix
		v float32
	}{{t.obj.sum, t.State.EpochLoss}, {t.obj.pen, t.State.EpochPen}, {t.obj.kl, t.State.EpochKL}} {
		if !t.ownsGlobalTerms() { // a resumed epoch's sums are rank 0's to carry
			a.v = 0
		}
		if err := b.Fill(a.m, a.v); err != nil {
			return err
		}
	}
	t.in.prevMark, t.in.prefetched = nil, false
	if t.dist != nil {
		t.dist.local = 0
	}
	return nil
}

// trainBatch uploads the epoch's next batch (unless prefetched), runs a
// step on it, starts the next upload and reports progress.
func (t *Trainer) trainBatch(e int, ec *epochClock, rc *runClock) error {
	lo := t.State.Batch * t.ws.batch
	n := min(t.ws.batch, t.in.nTrain-lo)
	if !t.in.prefetched {
		if err := t.next(n); err != nil {
			return err
		}
	}
	t.in.prefetched = false
	if ec.lr = t.Cfg.lrAt(t.State.Step, e, rc.total, int64(rc.batches)); t.lrFn != nil {
		ec.lr = t.lrFn(t.State.Step)
	}
	if err := t.step(n, ec.lr); err != nil {
		return err
	}
	t.State.Step++
	t.State.Batch++
	if err := t.prefetch(); err != nil {
		return err
	}
	if t.OnProgress == nil || (time.Since(ec.lastReport) < t.ProgressEvery && t.State.Batch != rc.batches) {
		return nil
	}
	return t.report(e, ec, rc)
}

// report calls OnProgress with the mean loss so far in the epoch: of the
// whole batch in a single process (a NaN is a *NaNError), of this rank's
// rows on one rank of a job (dist.go: the ranks report at different
// steps, so none waits for the others).
func (t *Trainer) report(e int, ec *epochClock, rc *runClock) error {
	ec.lastReport = time.Now()
	done := min(t.State.Batch*t.ws.batch, t.in.nTrain)
	var loss float64
	if t.dist != nil {
		acc, err := t.readScalar(t.obj.sum)
		if err != nil {
			return err
		}
		loss = float64(acc) / float64(max(t.dist.local, 1))
	} else {
		acc, err := t.checkedLoss(e, &rc.lastGood)
		if err != nil {
			return err
		}
		loss = float64(acc) / float64(done)
	}
	sps := float64(done-ec.samplesAtStart) / max(time.Since(ec.segStart).Seconds(), 1e-9)
	remaining := float64(rc.total-t.State.Step) * float64(t.ws.batch)
	t.OnProgress(Progress{Epoch: e + 1, Epochs: t.Cfg.Epochs, Batch: t.State.Batch, Batches: rc.batches,
		Step: t.State.Step, Loss: loss, SamplesPerSec: sps,
		ETA: time.Duration(remaining / max(sps, 1e-9) * float64(time.Second)), LR: ec.lr,
		EpochSamples: t.in.nTrain, EpochSampleDone: done})
	return nil
}

// interrupt saves the mid-epoch position (unless the loss diverged) and
// returns ErrInterrupted. In a job, every rank returns once the save is
// done: rank 0 saves, and one all-reduce tells the others whether it
// saved, so that no rank exits (which makes a launcher end the job) while
// the checkpoint is being written.
func (t *Trainer) interrupt(e int, ec *epochClock, rc *runClock) error {
	if err := t.pause(ec.start, rc); err != nil {
		return err
	}
	if !finite(t.State.EpochLoss) { // never save diverged weights
		return t.nanError(e, rc.lastGood)
	}
	err := t.save()
	failed := []float32{0}
	if err != nil {
		failed[0] = 1
	}
	if aerr := t.allreduce(failed, "the outcome of the checkpoint"); aerr != nil {
		return aerr
	}
	if err != nil {
		return fmt.Errorf("%w; saving the checkpoint failed: %v", ErrInterrupted, err)
	}
	if failed[0] > 0 {
		return fmt.Errorf("%w; rank 0 could not save the checkpoint", ErrInterrupted)
	}
	return ErrInterrupted
}

// save calls Checkpoint, and records where the run was saved.
func (t *Trainer) save() error {
	if t.Checkpoint == nil {
		return nil
	}
	if err := t.Checkpoint(t); err != nil {
		return err
	}
	t.lastSave = &savePoint{Epoch: t.State.Epoch, Batch: t.State.Batch, Step: t.State.Step}
	return nil
}

// endEpoch measures the epoch, validates, advances the state, decides
// whether the run is finished, saves and reports.
func (t *Trainer) endEpoch(e int, ec *epochClock, rc *runClock) error {
	acc, err := t.checkedLoss(e, &rc.lastGood)
	if err != nil {
		return err
	}
	secs := time.Since(ec.start).Seconds()
	em := EpochMetrics{Epoch: e + 1, Step: t.State.Step, TrainLoss: float64(acc) / float64(t.in.nTrain),
		LR: ec.lr, Seconds: secs, SamplesPerSec: float64(t.in.nTrain) / max(secs, 1e-9)}
	if err := t.trainMetrics(&em, e); err != nil {
		return err
	}
	if t.nVal > 0 {
		if err := t.validateEpoch(&em, e, rc); err != nil {
			return err
		}
	}
	t.advance(em, rc)
	if err := t.agreeTimeStop(); err != nil {
		return err
	}
	if t.State.Finished {
		// Finish with the averaged weights (--ema; the raw ones are kept
		// for the checkpoint), or those of the best validation epoch.
		if err := t.useAverage(); err != nil {
			return err
		}
		if t.best != nil && t.State.BestEpoch != t.State.Epoch {
			if err := t.Model.Backend.Upload(t.Model.Params, t.best); err != nil {
				return err
			}
		}
	}
	if err := t.save(); err != nil {
		return err
	}
	if !t.State.Finished {
		if err := t.useRaw(); err != nil { // validation saw the average
			return err
		}
	}
	if t.OnEpoch != nil {
		t.OnEpoch(em)
	}
	return nil
}

// trainMetrics adds the epoch's penalty and the parts' training figures.
func (t *Trainer) trainMetrics(em *EpochMetrics, e int) error {
	if t.hasPenalty() {
		p, err := t.globalScalar(t.obj.pen)
		if err != nil {
			return err
		}
		v := float64(p) / float64(t.in.nTrain)
		em.TrainPenalty = &v
	}
	return t.partMetrics(em, e, false)
}

func (t *Trainer) partMetrics(em *EpochMetrics, e int, val bool) error {
	for _, p := range t.parts {
		if err := p.metrics(t, em, e, val); err != nil {
			return err
		}
	}
	return nil
}

// validateEpoch validates (the averaged weights, with --ema: they stay in
// Params until endEpoch has saved them), adds the figures to em and keeps
// the best epoch's parameters.
func (t *Trainer) validateEpoch(em *EpochMetrics, e int, rc *runClock) error {
	if err := t.useAverage(); err != nil {
		return err
	}
	v, err := t.Validate()
	if err != nil {
		return err
	}
	if !finite(float32(v)) {
		return t.nanError(e, rc.lastGood)
	}
	em.ValLoss = &v
	if err := t.partMetrics(em, e, true); err != nil {
		return err
	}
	if t.State.BestEpoch != 0 && v >= t.State.BestVal {
		t.State.BadEpochs++
		return nil
	}
	t.State.BestVal, t.State.BestEpoch, t.State.BadEpochs = v, e+1, 0
	em.Best = true
	if t.best == nil {
		t.best = make([]float32, t.Model.Params.Len())
	}
	return t.Model.Backend.Download(t.best, t.Model.Params)
}

// advance moves the state past the finished epoch and decides whether the
// run is done.
func (t *Trainer) advance(em EpochMetrics, rc *runClock) {
	st := &t.State
	st.Epoch++
	st.Batch = 0
	st.EpochLoss, st.EpochPen, st.EpochKL = 0, 0, 0
	st.EpochSecs = 0
	st.Metrics = append(st.Metrics, em)
	prev := st.TrainSeconds
	st.TrainSeconds = rc.prevSecs + time.Since(rc.start).Seconds()
	if t.Cfg.Patience > 0 && st.BadEpochs >= t.Cfg.Patience {
		st.StopReason, st.Finished = "early_stopping", true
	} else if st.Epoch >= t.Cfg.Epochs {
		st.StopReason, st.Finished = "epochs", true
	} else if b := t.Cfg.TimeBudget; b > 0 && st.TrainSeconds+(st.TrainSeconds-prev) > timeSlack*b {
		st.StopReason, st.Finished = "time", true
	}
}

// checkedLoss reads the epoch's loss accumulator; a NaN or infinite value
// is a *NaNError naming epoch e and the steps since the last finite read.
func (t *Trainer) checkedLoss(e int, lastGood *int64) (float32, error) {
	acc, err := t.globalScalar(t.obj.sum)
	if err != nil {
		return 0, err
	}
	if !finite(acc) {
		return 0, t.nanError(e, *lastGood)
	}
	*lastGood = t.State.Step
	return acc, nil
}

func finite(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }

// Validate returns the mean validation loss (NaN when there is no
// validation data), and lets the parts collect their validation figures.
func (t *Trainer) Validate() (float64, error) {
	if t.nVal == 0 {
		return math.NaN(), nil
	}
	if err := t.Model.Backend.Fill(t.obj.valSum, 0); err != nil {
		return 0, err
	}
	if err := t.partValidate(nil, valStart, 0); err != nil {
		return 0, err
	}
	lo, hi := t.rankRows(t.nVal) // all of them in a single process
	for start := lo; start < hi; {
		// Within one batch of the single process's (whose noise a
		// denoising model draws per batch; dist.go).
		n := min(t.ws.batch-start%t.ws.batch, hi-start)
		if err := t.validateBatch(start, n); err != nil {
			return 0, err
		}
		start += n
	}
	v, err := t.globalScalar(t.obj.valSum)
	if err != nil {
		return 0, err
	}
	if err := t.partValidate(nil, valEnd, 0); err != nil {
		return 0, err
	}
	return float64(v) / float64(t.nVal), nil
}

// validateBatch adds the loss of the n validation rows from start.
func (t *Trainer) validateBatch(start, n int) error {
	m, c := t.Model, t.in.cols
	if err := m.Backend.Upload(t.dst().RowSlice(0, n), t.val[start*c:(start+n)*c]); err != nil {
		return err
	}
	v := t.ws.rows(n)
	if err := t.partValidate(v, valInput, start); err != nil {
		return err
	}
	if _, err := m.forward(v, false); err != nil {
		return err
	}
	last := len(m.Layers) - 1
	pred := v.y[last]
	if t.obj.logits {
		pred = v.z[last]
	}
	if err := t.addRowMean(t.obj.valSum, t.obj.loss, pred, v.target, n); err != nil {
		return err
	}
	return t.partValidate(v, valBatch, start)
}

// partValidate runs the parts' validation hooks; row is the batch's first
// validation row.
func (t *Trainer) partValidate(v *batchView, at valPoint, row int) error {
	for _, p := range t.parts {
		if err := p.validate(t, v, at, row); err != nil {
			return err
		}
	}
	return nil
}

// addRowMean adds n·mean(RowLoss(kind, p, q)) to acc, on the device.
func (t *Trainer) addRowMean(acc engine.Matrix, kind engine.Loss, p, q engine.Matrix, n int) error {
	b := t.Model.Backend
	re := rowsOf(t.obj.rowErr, n)
	if err := b.RowLoss(kind, re, p, q); err != nil {
		return err
	}
	if err := b.ColMean(t.obj.tmp, re); err != nil {
		return err
	}
	return b.Axpy(float32(n), t.obj.tmp, acc)
}

// psnr is the peak signal-to-noise ratio in dB of an MSE on [0,1] data.
func psnr(mse float64) float64 { return 10 * math.Log10(1/mse) }
