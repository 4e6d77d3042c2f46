package autoencoder

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/aegpu/aegpu/engine"
)

// ErrInterrupted is returned by Train when its context was cancelled: the
// current step finished and a checkpoint was saved.
var ErrInterrupted = errors.New("training interrupted")

// NaNError reports a training loss that became NaN or infinite. Training
// stops without saving: what the model directory held stays.
type NaNError struct {
	Epoch    int   // 1-based epoch in which it was seen
	Step     int64 // optimizer steps done when it was seen
	LastGood int64 // the last step at which the loss was read finite
	// Saved: a checkpoint of this run (or the one it resumed from) is
	// kept, after LastSaved epochs and SavedBatch batches of the next,
	// at step SavedStep. LastSaved is 0 when nothing was saved.
	Saved      bool
	LastSaved  int
	SavedBatch int
	SavedStep  int64
	// Dir is the model directory ("" for none). When no checkpoint was
	// saved, Kept says what it holds: "absent" (it was not created),
	// "empty", "leftovers" (files of an earlier failed run) or "earlier
	// model" (the model it held before the run, unchanged).
	Dir, Kept string
}

// Detail is the error without the advice: what happened and what was kept.
func (e *NaNError) Detail() string {
	what := fmt.Sprintf("training loss became NaN/Inf in epoch %d, between steps %d and %d", e.Epoch, e.LastGood+1, e.Step)
	in := ""
	if e.Dir != "" {
		in = " in " + e.Dir
	}
	switch {
	case e.Saved:
		at := fmt.Sprintf("after epoch %d (step %d)", e.LastSaved, e.SavedStep)
		if e.SavedBatch > 0 {
			at = fmt.Sprintf("in epoch %d at batch %d (step %d)", e.LastSaved+1, e.SavedBatch, e.SavedStep)
		}
		return fmt.Sprintf("%s; the last good checkpoint, saved %s, is kept%s", what, at, in)
	case e.Dir == "":
		return what + "; nothing was saved"
	case e.Kept == "absent":
		return fmt.Sprintf("%s; no checkpoint was saved: %s was not created", what, e.Dir)
	case e.Kept == "empty":
		return fmt.Sprintf("%s; no checkpoint was saved: %s is still empty", what, e.Dir)
	case e.Kept == "earlier model":
		return fmt.Sprintf("%s; no checkpoint of this run was saved: %s still holds the model it held before, not this run's", what, e.Dir)
	default:
		return fmt.Sprintf("%s; no checkpoint was saved%s", what, in)
	}
}

func (e *NaNError) Error() string {
	return e.Detail() + " — try a lower learning rate or gradient clipping"
}

// nanError is the *NaNError of epoch e (0-based).
func (t *Trainer) nanError(e int, lastGood int64) *NaNError {
	ne := &NaNError{Epoch: e + 1, Step: t.State.Step, LastGood: lastGood}
	if s := t.lastSave; s != nil {
		ne.Saved, ne.LastSaved, ne.SavedBatch, ne.SavedStep = true, s.Epoch, s.Batch, s.Step
	}
	return ne
}

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

// EpochMetrics is one line of metrics.jsonl.
type EpochMetrics struct {
	Epoch         int      `json:"epoch"`
	Step          int64    `json:"step"`
	TrainLoss     float64  `json:"train_loss"`
	ValLoss       *float64 `json:"val_loss,omitempty"`
	LR            float64  `json:"lr"`
	Seconds       float64  `json:"seconds"`
	SamplesPerSec float64  `json:"samples_per_sec"`
	Best          bool     `json:"best,omitempty"`
	// Denoising models: validation MSE of the corrupted input and of the
	// reconstruction against the clean rows, and their PSNR in dB (for
	// data in [0,1]: 10·log10(1/MSE)).
	ValNoisyMSE     *float64 `json:"val_noisy_mse,omitempty"`
	ValDenoisedMSE  *float64 `json:"val_denoised_mse,omitempty"`
	ValPSNRNoisy    *float64 `json:"val_psnr_noisy_db,omitempty"`
	ValPSNRDenoised *float64 `json:"val_psnr_denoised_db,omitempty"`
	// Sparse and contractive models (and any with L2): the mean penalty
	// added to the training objective (train_loss + train_penalty is the
	// objective minimised).
	TrainPenalty *float64 `json:"train_penalty,omitempty"`
	// Sparse models: each penalized layer's mean activation per unit on
	// the validation rows, and its mean over the units.
	MeanActivation    map[string][]float64 `json:"mean_activation,omitempty"`
	MeanActivationAvg *float64             `json:"mean_activation_avg,omitempty"`
	// VAEs: the mean KL divergence per row (nats) and the β in force at
	// the epoch's end.
	TrainKL *float64 `json:"train_kl,omitempty"`
	KLBeta  *float64 `json:"kl_beta,omitempty"`
}

// State is the trainer's position, saved in checkpoints so a resumed run
// continues exactly where the interrupted one stopped.
type State struct {
	Epoch        int            `json:"epoch"`                   // epochs completed
	Batch        int            `json:"batch"`                   // batches done in the current epoch
	Step         int64          `json:"step"`                    // optimizer steps done
	EpochLoss    float32        `json:"epoch_loss"`              // the device loss accumulator mid-epoch
	EpochPen     float32        `json:"epoch_penalty,omitempty"` // the penalty accumulator mid-epoch
	EpochKL      float32        `json:"epoch_kl,omitempty"`      // a VAE's KL accumulator mid-epoch
	EpochSecs    float64        `json:"epoch_secs"`              // time spent in the current epoch so far
	BestVal      float64        `json:"best_val"`                // best validation loss (when BestEpoch > 0)
	BestEpoch    int            `json:"best_epoch"`              // epoch of BestVal
	BadEpochs    int            `json:"bad_epochs"`              // epochs since BestVal improved
	Finished     bool           `json:"finished"`                // the run completed
	StopReason   string         `json:"stop_reason"`             // "", "epochs", "early_stopping"
	Metrics      []EpochMetrics `json:"metrics"`
	TrainSeconds float64        `json:"train_seconds"`
}

// Trainer trains a Model on host data held in memory.
type Trainer struct {
	Model *Model
	Cfg   TrainConfig
	State State

	// OnProgress is called about every ProgressEvery; OnEpoch after each
	// epoch; Checkpoint after each epoch, on interruption and at the end.
	OnProgress    func(Progress)
	OnEpoch       func(EpochMetrics)
	Checkpoint    func(t *Trainer) error
	ProgressEvery time.Duration
	// NoReplay runs every step op by op even on a backend that can record.
	NoReplay bool

	src            TrainSource
	val            []float32 // scaled validation rows
	nTrain, nVal   int
	cols           int
	loss           engine.Loss
	logits         bool
	ws             *workspace
	acc, tmp, norm engine.Matrix // 1×1 device scalars
	valAcc, rowErr engine.Matrix
	s1, s2         engine.Matrix // optimizer moments
	opt            engine.OptKind
	noise          engine.Noise // NoiseNone: a plain autoencoder
	noiseLevel     float32
	valNoisy       engine.Matrix // 1×1 accumulators of the denoising metrics
	valDenoised    engine.Matrix
	lastVal        valStats
	host           []float32        // one gathered batch
	best           []float32        // host copy of the best parameters
	bestSaved      int              // BestEpoch last written to best.safetensors
	replays        [2]engine.Replay // per input buffer (a recording binds ws.x)
	reg            regularizer

	// Checkpoints: the manifest last committed in ckptDir (trusted for the
	// next save unless ckptDirty: a save failed or the load used .prev
	// files), and where the last checkpoint of this run was saved.
	ckpt      *Manifest
	ckptDir   string
	ckptDirty bool
	lastSave  *savePoint

	// Double-buffered input on backends with a copy stream (prefetch).
	xAlt       engine.Matrix // the spare input buffer
	cur        int           // which of the two buffers ws.x is
	prefetched bool          // the next batch is already in ws.x
	prevMark   engine.Marker // queue point after the previous step
}

// NewTrainer prepares training of m on train (and optionally val) rows of
// width cols, already scaled.
func NewTrainer(m *Model, cfg TrainConfig, train, val []float32, cols int) (*Trainer, error) {
	if cols <= 0 || len(train) == 0 || len(train)%cols != 0 {
		return nil, fmt.Errorf("training data must be a non-empty whole number of %d-wide rows", cols)
	}
	return NewTrainerFrom(m, cfg, newMemSource(train, cols, cfg.Seed, cfg.Shuffle), val)
}

// NewTrainerFrom prepares training of m on the rows of src (and the
// scaled validation rows val, held in memory).
func NewTrainerFrom(m *Model, cfg TrainConfig, src TrainSource, val []float32) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cols := src.Cols()
	if cols != m.Arch.Input() {
		return nil, fmt.Errorf("the data has %d columns but the model's input layer is %d wide (layers %v)", cols, m.Arch.Input(), m.Arch.Layers)
	}
	if src.Rows() == 0 || len(val)%cols != 0 {
		return nil, fmt.Errorf("training data must be a non-empty whole number of %d-wide rows", cols)
	}
	t := &Trainer{Model: m, Cfg: cfg, src: src, val: val, cols: cols,
		nTrain: src.Rows(), nVal: len(val) / cols, ProgressEvery: time.Second / 2}
	t.opt, _ = engine.ParseOpt(cfg.Optimizer)
	if cfg.Noise != "" {
		t.noise, t.noiseLevel, _ = engine.ParseNoise(cfg.Noise)
	}
	switch cfg.Loss {
	case "mse":
		t.loss = engine.MSE
	case "bce":
		t.loss = engine.BCE
		if m.Arch.Output == engine.Sigmoid {
			t.loss, t.logits = engine.BCEWithLogits, true
		} else {
			return nil, fmt.Errorf("loss bce needs a sigmoid output activation, the model's is %s", m.Arch.Output)
		}
	}
	batch := min(cfg.Batch, max(t.nTrain, t.nVal))
	b := m.Backend
	var err error
	if t.ws, err = m.newWorkspace(batch, true, t.logits, t.denoising()); err != nil {
		return nil, err
	}
	for _, p := range []*engine.Matrix{&t.acc, &t.tmp, &t.norm, &t.valAcc, &t.valNoisy, &t.valDenoised} {
		if *p, err = b.Alloc(1, 1); err != nil {
			t.Free()
			return nil, err
		}
	}
	if t.rowErr, err = b.Alloc(batch, 1); err != nil {
		t.Free()
		return nil, err
	}
	if t.s1, err = b.Alloc(1, m.Params.Len()); err != nil {
		t.Free()
		return nil, fmt.Errorf("allocate optimizer state: %w", err)
	}
	if t.opt != engine.SGD {
		if t.s2, err = b.Alloc(1, m.Params.Len()); err != nil {
			t.Free()
			return nil, fmt.Errorf("allocate optimizer state: %w", err)
		}
	}
	if err := t.initRegularizer(batch); err != nil {
		t.Free()
		return nil, err
	}
	if _, ok := b.(engine.AsyncUploader); ok {
		if t.xAlt, err = t.ws.alloc(batch, cols); err != nil {
			t.Free()
			return nil, err
		}
	}
	t.host = make([]float32, batch*cols)
	return t, nil
}

// Free releases the trainer's device memory (not the model's).
func (t *Trainer) Free() {
	for i, r := range t.replays {
		if r != nil {
			r.Free()
			t.replays[i] = nil
		}
	}
	if t.ws != nil {
		t.ws.free()
	}
	for _, m := range []engine.Matrix{t.acc, t.tmp, t.norm, t.valAcc, t.valNoisy, t.valDenoised, t.rowErr, t.s1, t.s2} {
		if !m.Empty() {
			t.Model.Backend.Free(m)
		}
	}
}

// denoising reports whether the input is corrupted (the target is then the
// clean batch in ws.target).
func (t *Trainer) denoising() bool { return t.noise != engine.NoiseNone }

// in is the buffer clean batches are uploaded into: the target of a
// denoising model (its input is a corrupted copy), else the input itself.
func (t *Trainer) in() *engine.Matrix {
	if t.denoising() {
		return &t.ws.target
	}
	return &t.ws.x
}

// corrupt writes the corrupted first n rows of ws.target into ws.x, drawing
// from the given Philox stream.
func (t *Trainer) corrupt(n int, stream uint64) error {
	return t.Model.Backend.Corrupt(rowsOf(t.ws.x, n), rowsOf(t.ws.target, n), t.noise, t.noiseLevel, t.Cfg.Seed, stream)
}

func (t *Trainer) batchesPerEpoch() int { return (t.nTrain + t.ws.batch - 1) / t.ws.batch }

// TotalSteps is the number of optimizer steps of the whole run.
func (t *Trainer) TotalSteps() int64 { return int64(t.Cfg.Epochs) * int64(t.batchesPerEpoch()) }

// gather copies the given rows of src into t.host and uploads them to dst.
func (t *Trainer) gather(dst engine.Matrix, src []float32, rows []int) error {
	c := t.cols
	for i, r := range rows {
		copy(t.host[i*c:(i+1)*c], src[r*c:(r+1)*c])
	}
	return t.Model.Backend.Upload(dst.RowSlice(0, len(rows)), t.host[:len(rows)*c])
}

// next uploads the epoch's next n training rows into dst.
func (t *Trainer) next(dst engine.Matrix, n int) error {
	h := t.host[:n*t.cols]
	if err := t.src.Next(h); err != nil {
		return err
	}
	return t.Model.Backend.Upload(dst.RowSlice(0, n), h)
}

func (t *Trainer) readScalar(m engine.Matrix) (float32, error) {
	var v [1]float32
	err := t.Model.Backend.Download(v[:], m)
	return v[0], err
}

// forwardBackward runs the forward pass, adds the batch loss to t.acc (and
// the variant's penalty to its accumulator) and leaves the gradients of the
// first n rows of ws.x in the model's Grads.
func (t *Trainer) forwardBackward(n int) error {
	m, ws, b := t.Model, t.ws, t.Model.Backend
	last := len(m.Layers) - 1
	x := rowsOf(ws.x, n)
	if _, err := m.forward(ws, x, n, true); err != nil {
		return err
	}
	pred := rowsOf(ws.y[last], n)
	if t.logits {
		pred = rowsOf(ws.z[last], n)
	}
	target := x
	if !ws.target.Empty() {
		target = rowsOf(ws.target, n)
	}
	if err := b.LossGrad(t.loss, t.acc, rowsOf(ws.g[last], n), pred, target, float32(n)); err != nil {
		return err
	}
	t.beginBackward()
	ds := m.decStart()
	code := rowsOf(ws.y[ds-1], n)
	gcode := rowsOf(ws.g[ds-1], n)
	if m.Arch.VAE {
		code, gcode = rowsOf(ws.code, n), rowsOf(ws.gcode, n)
	}
	for i := last; i >= ds; i-- {
		L := m.Layers[i]
		in, dx := rowsOf(ws.y[i-1], n), rowsOf(ws.g[i-1], n)
		if i == ds {
			in, dx = code, gcode
		}
		act := L.Act
		if i == last && t.logits {
			act = engine.Linear // σ′ is folded into the loss gradient
		}
		if err := t.backward(i, dx, rowsOf(ws.g[i], n), rowsOf(ws.y[i], n), rowsOf(ws.z[i], n), in, act, 0, false); err != nil {
			return err
		}
	}
	body := ds
	if m.Arch.VAE {
		body = ds - 2
		mu, lv := ds-2, ds-1
		d0 := m.Arch.Input()
		if err := b.ReparamBackward(rowsOf(ws.g[mu], n), rowsOf(ws.g[lv], n), t.reg.kl, t.reg.beta, gcode,
			rowsOf(ws.y[mu], n), rowsOf(ws.y[lv], n), rowsOf(ws.eps, n), float32(1/float64(n*d0)), 1); err != nil {
			return err
		}
		in, dx := x, engine.Matrix{}
		if body > 0 {
			in, dx = rowsOf(ws.y[body-1], n), rowsOf(ws.g[body-1], n)
		}
		if err := t.backward(mu, dx, rowsOf(ws.g[mu], n), engine.Matrix{}, engine.Matrix{}, in, engine.Linear, 0, false); err != nil {
			return err
		}
		if err := t.backward(lv, dx, rowsOf(ws.g[lv], n), engine.Matrix{}, engine.Matrix{}, in, engine.Linear, engine.AccumulateDX, false); err != nil {
			return err
		}
	}
	tangent := !t.reg.proj.Empty()
	if tangent {
		if err := t.contractiveTangent(x, n); err != nil {
			return err
		}
	}
	for i := body - 1; i >= 0; i-- {
		L := m.Layers[i]
		if err := t.sparsity(i, n); err != nil {
			return err
		}
		if t.reg.exactCA {
			if err := t.contractiveExact(x, n); err != nil {
				return err
			}
			continue
		}
		in, dx := x, engine.Matrix{}
		if i > 0 {
			in, dx = rowsOf(ws.y[i-1], n), rowsOf(ws.g[i-1], n)
		}
		dy, y, z, act := rowsOf(ws.g[i], n), rowsOf(ws.y[i], n), rowsOf(ws.z[i], n), L.Act
		if tangent {
			if err := b.ActBackward(dy, rowsOf(t.reg.tex[i], n), y, z, act); err != nil {
				return err
			}
			act = engine.Linear
		}
		if err := t.backward(i, dx, dy, y, z, in, act, 0, false); err != nil {
			return err
		}
	}
	return t.l2(n)
}

// prefetch, on a backend with a copy stream, starts copying the next batch
// of the epoch into the spare input buffer while the step just queued
// computes, then swaps the buffers. The copy waits only for the step before
// that one, the last reader of the spare buffer.
func (t *Trainer) prefetch() error {
	au, ok := t.Model.Backend.(engine.AsyncUploader)
	if !ok || t.xAlt.Empty() || t.State.Batch*t.ws.batch >= t.nTrain {
		return nil
	}
	mark, err := au.Mark()
	if err != nil {
		return err
	}
	lo := t.State.Batch * t.ws.batch
	n := min(t.ws.batch, t.nTrain-lo)
	if err := t.src.Next(t.host[:n*t.cols]); err != nil {
		return err
	}
	if err := au.UploadAfter(t.xAlt.RowSlice(0, n), t.host[:n*t.cols], t.prevMark); err != nil {
		return err
	}
	t.prevMark = mark
	in := t.in()
	*in, t.xAlt = t.xAlt, *in
	t.cur ^= 1
	t.prefetched = true
	return nil
}

// gradients runs forwardBackward and the optional gradient clipping: the
// part of a step that is the same every step (no per-step scalar), which a
// Recorder backend captures once and replays.
func (t *Trainer) gradients(n int) error {
	if err := t.forwardBackward(n); err != nil {
		return err
	}
	if t.Cfg.ClipNorm > 0 {
		return t.Model.Backend.ClipGradNorm(t.Model.Grads, t.norm, float32(t.Cfg.ClipNorm))
	}
	return nil
}

// step runs one optimizer step on the rows of the batch already in ws.x.
// Full batches replay a recording when the backend can record (a CUDA
// graph: one launch instead of dozens); the optimizer, whose learning rate
// and step count change every step, runs after it.
func (t *Trainer) step(n int, lr float64) error {
	m, b := t.Model, t.Model.Backend
	// Fresh noise every step: outside any recording, whose arguments (the
	// streams) would be fixed.
	if err := t.preStep(n); err != nil {
		return err
	}
	rec, ok := b.(engine.Recorder)
	switch {
	case ok && n == t.ws.batch && !t.NoReplay:
		if t.replays[t.cur] == nil {
			r, err := rec.Record(func() error { return t.gradients(n) })
			if err != nil {
				return fmt.Errorf("record the training step: %w", err)
			}
			t.replays[t.cur] = r
		}
		if err := t.replays[t.cur].Run(); err != nil {
			return err
		}
	default:
		if err := t.gradients(n); err != nil {
			return err
		}
	}
	o := engine.OptStep{Kind: t.opt, LR: float32(lr), Beta1: float32(t.Cfg.Beta1), Beta2: float32(t.Cfg.Beta2),
		Eps: float32(t.Cfg.Eps), Momentum: float32(t.Cfg.Momentum), WeightDecay: float32(t.Cfg.WeightDecay),
		Step: int(t.State.Step + 1)}
	if t.opt == engine.SGD && t.Cfg.Momentum == 0 {
		o.Momentum = 0
	}
	return b.OptimizerStep(o, m.Params, m.Grads, t.s1, t.s2)
}

// Validate returns the mean validation loss (NaN when there is no
// validation data).
func (t *Trainer) Validate() (float64, error) {
	if t.nVal == 0 {
		return math.NaN(), nil
	}
	m, ws, b := t.Model, t.ws, t.Model.Backend
	last := len(m.Layers) - 1
	for _, acc := range append([]engine.Matrix{t.valAcc, t.valNoisy, t.valDenoised}, t.reg.actSum...) {
		if err := b.Fill(acc, 0); err != nil {
			return 0, err
		}
	}
	// addRowMean adds n·mean(RowLoss(kind, p, q)) to acc, on the device.
	addRowMean := func(acc engine.Matrix, kind engine.Loss, p, q engine.Matrix, n int) error {
		re := rowsOf(t.rowErr, n)
		if err := b.RowLoss(kind, re, p, q); err != nil {
			return err
		}
		if err := b.ColMean(t.tmp, re); err != nil {
			return err
		}
		return b.Axpy(float32(n), t.tmp, acc)
	}
	idx := make([]int, 0, ws.batch)
	for start := 0; start < t.nVal; start += ws.batch {
		n := min(ws.batch, t.nVal-start)
		idx = idx[:0]
		for i := 0; i < n; i++ {
			idx = append(idx, start+i)
		}
		if err := t.gather(*t.in(), t.val, idx); err != nil {
			return 0, err
		}
		x, target := rowsOf(ws.x, n), rowsOf(ws.x, n)
		if t.denoising() {
			// The same corruption every epoch, so epochs compare.
			target = rowsOf(ws.target, n)
			if err := t.corrupt(n, engine.StreamValNoise+uint64(start/ws.batch)); err != nil {
				return 0, err
			}
		}
		if _, err := m.forward(ws, x, n, false); err != nil {
			return 0, err
		}
		pred := rowsOf(ws.y[last], n)
		if t.logits {
			pred = rowsOf(ws.z[last], n)
		}
		if err := addRowMean(t.valAcc, t.loss, pred, target, n); err != nil {
			return 0, err
		}
		for s, l := range t.reg.sparse {
			if err := b.ColMean(t.reg.rowTmp[s], rowsOf(ws.y[l], n)); err != nil {
				return 0, err
			}
			if err := b.Axpy(float32(n), t.reg.rowTmp[s], t.reg.actSum[s]); err != nil {
				return 0, err
			}
		}
		if t.denoising() {
			if err := addRowMean(t.valNoisy, engine.MSE, x, target, n); err != nil {
				return 0, err
			}
			if err := addRowMean(t.valDenoised, engine.MSE, rowsOf(ws.y[last], n), target, n); err != nil {
				return 0, err
			}
		}
	}
	v, err := t.readScalar(t.valAcc)
	if err != nil {
		return 0, err
	}
	if t.denoising() {
		noisy, err := t.readScalar(t.valNoisy)
		if err != nil {
			return 0, err
		}
		den, err := t.readScalar(t.valDenoised)
		if err != nil {
			return 0, err
		}
		t.lastVal = valStats{noisy: float64(noisy) / float64(t.nVal), denoised: float64(den) / float64(t.nVal)}
	}
	return float64(v) / float64(t.nVal), nil
}

// valStats are the denoising metrics of the last Validate.
type valStats struct{ noisy, denoised float64 }

// psnr is the peak signal-to-noise ratio in dB of an MSE on [0,1] data.
func psnr(mse float64) float64 { return 10 * math.Log10(1/mse) }

// Train runs (or continues) training until the configured epochs are done,
// early stopping triggers, ctx is cancelled (ErrInterrupted), or the loss
// becomes NaN (*NaNError). Checkpoint is called at the end of every epoch,
// and before returning ErrInterrupted.
func (t *Trainer) Train(ctx context.Context) error {
	m, b := t.Model, t.Model.Backend
	nb := t.batchesPerEpoch()
	total := t.TotalSteps()
	runStart := time.Now()
	prevTrainSecs := t.State.TrainSeconds
	lastGood := t.State.Step
	save := func() error {
		if t.Checkpoint == nil {
			return nil
		}
		if err := t.Checkpoint(t); err != nil {
			return err
		}
		t.lastSave = &savePoint{Epoch: t.State.Epoch, Batch: t.State.Batch, Step: t.State.Step}
		return nil
	}
	for t.State.Epoch < t.Cfg.Epochs && !t.State.Finished {
		e := t.State.Epoch
		if err := t.src.Epoch(e, t.State.Batch*t.ws.batch); err != nil {
			return err
		}
		if err := b.Fill(t.acc, t.State.EpochLoss); err != nil {
			return err
		}
		if err := b.Fill(t.reg.pen, t.State.EpochPen); err != nil {
			return err
		}
		if err := b.Fill(t.reg.kl, t.State.EpochKL); err != nil {
			return err
		}
		t.prevMark, t.prefetched = nil, false
		epochStart := time.Now().Add(-time.Duration(t.State.EpochSecs * float64(time.Second)))
		lastReport, segStart := time.Now(), time.Now()
		samplesAtStart := t.State.Batch * t.ws.batch
		var lr float64
		for t.State.Batch < nb {
			if err := ctx.Err(); err != nil {
				if err := t.pause(epochStart, runStart, prevTrainSecs); err != nil {
					return err
				}
				if !finite(t.State.EpochLoss) { // never save diverged weights
					return t.nanError(e, lastGood)
				}
				if err := save(); err != nil {
					return fmt.Errorf("%w; saving the checkpoint failed: %v", ErrInterrupted, err)
				}
				return ErrInterrupted
			}
			lo := t.State.Batch * t.ws.batch
			n := min(t.ws.batch, t.nTrain-lo)
			if !t.prefetched {
				if err := t.next(*t.in(), n); err != nil {
					return err
				}
			}
			t.prefetched = false
			lr = t.Cfg.lrAt(t.State.Step, e, total)
			if err := t.step(n, lr); err != nil {
				return err
			}
			t.State.Step++
			t.State.Batch++
			if err := t.prefetch(); err != nil {
				return err
			}
			if t.OnProgress != nil && (time.Since(lastReport) >= t.ProgressEvery || t.State.Batch == nb) {
				lastReport = time.Now()
				acc, err := t.checkedLoss(e, &lastGood)
				if err != nil {
					return err
				}
				done := min(t.State.Batch*t.ws.batch, t.nTrain)
				sps := float64(done-samplesAtStart) / max(time.Since(segStart).Seconds(), 1e-9)
				remaining := float64(total-t.State.Step) * float64(t.ws.batch)
				t.OnProgress(Progress{Epoch: e + 1, Epochs: t.Cfg.Epochs, Batch: t.State.Batch, Batches: nb,
					Step: t.State.Step, Loss: float64(acc) / float64(done), SamplesPerSec: sps,
					ETA: time.Duration(remaining / max(sps, 1e-9) * float64(time.Second)), LR: lr,
					EpochSamples: t.nTrain, EpochSampleDone: done})
			}
		}
		acc, err := t.checkedLoss(e, &lastGood)
		if err != nil {
			return err
		}
		secs := time.Since(epochStart).Seconds()
		em := EpochMetrics{Epoch: e + 1, Step: t.State.Step, TrainLoss: float64(acc) / float64(t.nTrain),
			LR: lr, Seconds: secs, SamplesPerSec: float64(t.nTrain) / max(secs, 1e-9)}
		if err := t.variantMetrics(&em, e); err != nil {
			return err
		}
		if t.nVal > 0 {
			v, err := t.Validate()
			if err != nil {
				return err
			}
			if !finite(float32(v)) {
				return t.nanError(e, lastGood)
			}
			em.ValLoss = &v
			if act, err := t.meanActivations(t.nVal); err != nil {
				return err
			} else if act != nil {
				em.MeanActivation = act
				var all []float64
				for _, v := range act {
					all = append(all, v...)
				}
				avg := meanOf(all)
				em.MeanActivationAvg = &avg
			}
			if t.denoising() {
				noisy, den := t.lastVal.noisy, t.lastVal.denoised
				em.ValNoisyMSE, em.ValDenoisedMSE = &noisy, &den
				if m.Arch.Output == engine.Sigmoid {
					pn, pd := psnr(noisy), psnr(den)
					em.ValPSNRNoisy, em.ValPSNRDenoised = &pn, &pd
				}
			}
			if t.State.BestEpoch == 0 || v < t.State.BestVal {
				t.State.BestVal, t.State.BestEpoch, t.State.BadEpochs = v, e+1, 0
				em.Best = true
				if t.best == nil {
					t.best = make([]float32, m.Params.Len())
				}
				if err := b.Download(t.best, m.Params); err != nil {
					return err
				}
			} else {
				t.State.BadEpochs++
			}
		}
		t.State.Epoch++
		t.State.Batch = 0
		t.State.EpochLoss, t.State.EpochPen, t.State.EpochKL = 0, 0, 0
		t.State.EpochSecs = 0
		t.State.Metrics = append(t.State.Metrics, em)
		t.State.TrainSeconds = prevTrainSecs + time.Since(runStart).Seconds()
		if t.Cfg.Patience > 0 && t.State.BadEpochs >= t.Cfg.Patience {
			t.State.StopReason = "early_stopping"
			t.State.Finished = true
		} else if t.State.Epoch >= t.Cfg.Epochs {
			t.State.StopReason = "epochs"
			t.State.Finished = true
		}
		if t.State.Finished && t.best != nil && t.State.BestEpoch != t.State.Epoch {
			// Finish with the weights of the best validation epoch.
			if err := b.Upload(m.Params, t.best); err != nil {
				return err
			}
		}
		if err := save(); err != nil {
			return err
		}
		if t.OnEpoch != nil {
			t.OnEpoch(em)
		}
	}
	return nil
}

// variantMetrics adds the variant's training figures of epoch e (0-based).
func (t *Trainer) variantMetrics(em *EpochMetrics, e int) error {
	if t.hasPenalty() {
		p, err := t.readScalar(t.reg.pen)
		if err != nil {
			return err
		}
		v := float64(p) / float64(t.nTrain)
		em.TrainPenalty = &v
	}
	if t.Model.Arch.VAE {
		kl, err := t.readScalar(t.reg.kl)
		if err != nil {
			return err
		}
		v := float64(kl) / float64(t.nTrain)
		beta := t.klBeta(float64(e + 1))
		em.TrainKL, em.KLBeta = &v, &beta
	}
	return nil
}

// checkedLoss reads the epoch's loss accumulator; a NaN or infinite value
// is a *NaNError naming epoch e and the steps since the last finite read.
func (t *Trainer) checkedLoss(e int, lastGood *int64) (float32, error) {
	acc, err := t.readScalar(t.acc)
	if err != nil {
		return 0, err
	}
	if !finite(acc) {
		return 0, t.nanError(e, *lastGood)
	}
	*lastGood = t.State.Step
	return acc, nil
}

// pause records the mid-epoch position before an interrupted run saves.
func (t *Trainer) pause(epochStart, runStart time.Time, prevTrainSecs float64) error {
	acc, err := t.readScalar(t.acc)
	if err != nil {
		return err
	}
	t.State.EpochLoss = acc
	if t.State.EpochPen, err = t.readScalar(t.reg.pen); err != nil {
		return err
	}
	if t.State.EpochKL, err = t.readScalar(t.reg.kl); err != nil {
		return err
	}
	t.State.EpochSecs = time.Since(epochStart).Seconds()
	t.State.TrainSeconds = prevTrainSecs + time.Since(runStart).Seconds()
	return nil
}

func finite(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }

// BestParams is the host copy of the parameters at the best validation
// epoch so far (nil before one).
func (t *Trainer) BestParams() []float32 { return t.best }

// SetBestParams restores the best-epoch copy (used when resuming).
func (t *Trainer) SetBestParams(p []float32) { t.best = p }

// OptimizerState downloads the optimizer's moment buffers (s2 is nil for SGD).
func (t *Trainer) OptimizerState() (s1, s2 []float32, err error) {
	b := t.Model.Backend
	s1 = make([]float32, t.s1.Len())
	if err = b.Download(s1, t.s1); err != nil {
		return nil, nil, err
	}
	if !t.s2.Empty() {
		s2 = make([]float32, t.s2.Len())
		if err = b.Download(s2, t.s2); err != nil {
			return nil, nil, err
		}
	}
	return s1, s2, nil
}

// SetOptimizerState uploads saved moment buffers.
func (t *Trainer) SetOptimizerState(s1, s2 []float32) error {
	b := t.Model.Backend
	if len(s1) != t.s1.Len() || (!t.s2.Empty() && len(s2) != t.s2.Len()) {
		return fmt.Errorf("optimizer state has %d/%d values, the model needs %d", len(s1), len(s2), t.s1.Len())
	}
	if err := b.Upload(t.s1, s1); err != nil {
		return err
	}
	if !t.s2.Empty() {
		return b.Upload(t.s2, s2)
	}
	return nil
}

// Benchmark runs steps optimizer steps on one batch already resident on the
// device (uploaded once from the first rows of the training data), with no
// host transfer or loss read inside the loop, and waits for the device at
// the end: the timing protocol of bench/README.md.
func (t *Trainer) Benchmark(steps int) error {
	n := min(t.ws.batch, t.nTrain)
	if t.State.Step == 0 {
		if err := t.src.Epoch(0, 0); err != nil {
			return err
		}
		if err := t.next(*t.in(), n); err != nil {
			return err
		}
	}
	for i := 0; i < steps; i++ {
		if err := t.step(n, t.Cfg.LR); err != nil {
			return err
		}
		t.State.Step++
	}
	return t.Model.Backend.Sync()
}
