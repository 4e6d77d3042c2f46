package autoencoder

import (
	"fmt"
	"time"

	"github.com/aegpu/aegpu/engine"
)

// Trainer trains a Model on rows from a TrainSource (in memory or read
// from disk), validating on rows held in memory. The step is step.go's,
// the epochs and validation epoch.go's, the saved state state.go's.
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

	in      input      // the training rows, uploaded batch by batch
	val     []float32  // scaled validation rows
	nVal    int        // validation rows
	ws      *workspace // one batch's activations and gradients
	obj     objective
	opt     optimizer
	parts   []part // the variant's (and regularizers') additions to the step
	book    gradBook
	replays [2]engine.Replay         // per input buffer (a recording binds ws.x)
	dist    *distState               // one rank of a data-parallel job (nil: a single process)
	ema     *emaState                // the weight average (nil: --ema off)
	lrFn    func(step int64) float64 // the range test's rates (nil: the schedule's)

	best      []float32 // host copy of the best parameters
	bestSaved int       // BestEpoch last written to best.safetensors
	// Checkpoints: the manifest last committed in ckptDir (trusted for the
	// next save unless ckptDirty: a save failed or the load used .prev
	// files), and where the last checkpoint of this run was saved.
	ckpt      *Manifest
	ckptDir   string
	ckptDirty bool
	lastSave  *savePoint
}

// objective is the training loss and the device scalars that accumulate
// the objective's terms over an epoch.
type objective struct {
	loss   engine.Loss
	logits bool // BCE fused with the output sigmoid: the loss reads z
	// 1×1: Σ over the epoch of n·loss, of n·penalty (sparse, contractive,
	// L2) and of the batch KL sums (VAE).
	sum, pen, kl engine.Matrix
	// 1×1 scratch: a penalty's batch sum, a validation batch's mean loss,
	// the gradient norm of clipping.
	penTmp, tmp, norm engine.Matrix
	valSum            engine.Matrix // 1×1: Σ over the validation rows of the loss
	rowErr            engine.Matrix // [batch×1] per-row validation losses
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
	t := &Trainer{Model: m, Cfg: cfg, val: val, nVal: len(val) / cols, ProgressEvery: time.Second / 2,
		in: input{src: src, fill: src.Next, cols: cols, nTrain: src.Rows()}, book: newGradBook(len(m.Layers))}
	t.opt.kind, _ = engine.ParseOpt(cfg.Optimizer)
	t.obj.loss = engine.MSE
	if cfg.Loss == "bce" {
		if m.Arch.Output != engine.Sigmoid {
			return nil, fmt.Errorf("loss bce needs a sigmoid output activation, the model's is %s", m.Arch.Output)
		}
		t.obj.loss, t.obj.logits = engine.BCEWithLogits, true
	}
	batch := min(cfg.Batch, max(t.in.nTrain, t.nVal))
	var err error
	if t.ws, err = m.newWorkspace(batch, true, t.obj.logits, cfg.noisy()); err != nil {
		return nil, err
	}
	if err := t.alloc(batch); err != nil {
		t.Free()
		return nil, err
	}
	return t, nil
}

// alloc allocates the trainer's device buffers (in its workspace, freed
// with it) and its parts'.
func (t *Trainer) alloc(batch int) error {
	o, ws := &t.obj, t.ws
	var err error
	for _, p := range []*engine.Matrix{&o.sum, &o.pen, &o.kl, &o.penTmp, &o.tmp, &o.norm, &o.valSum} {
		if *p, err = ws.allocRaw(1, 1); err != nil {
			return err
		}
	}
	if o.rowErr, err = ws.allocRaw(batch, 1); err != nil {
		return err
	}
	params := t.Model.Params.Len()
	if t.opt.s1, err = ws.allocRaw(1, params); err != nil {
		return fmt.Errorf("allocate optimizer state: %w", err)
	}
	if t.opt.kind != engine.SGD {
		if t.opt.s2, err = ws.allocRaw(1, params); err != nil {
			return fmt.Errorf("allocate optimizer state: %w", err)
		}
	}
	if err := t.allocEMA(); err != nil {
		return fmt.Errorf("allocate the weight average: %w", err)
	}
	if err := t.newParts(batch); err != nil {
		return err
	}
	if _, ok := t.Model.Backend.(engine.AsyncUploader); ok {
		if t.in.spare, err = ws.alloc(batch, t.in.cols); err != nil {
			return err
		}
	}
	t.in.host = make([]float32, batch*t.in.cols)
	return nil
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
}

func (t *Trainer) batchesPerEpoch() int { return (t.in.nTrain + t.ws.batch - 1) / t.ws.batch }

// TotalSteps is the number of optimizer steps of the whole run.
func (t *Trainer) TotalSteps() int64 { return int64(t.Cfg.Epochs) * int64(t.batchesPerEpoch()) }

// hasPenalty reports whether the objective has a penalty term.
func (t *Trainer) hasPenalty() bool { return t.Cfg.penalized() }

func (t *Trainer) readScalar(m engine.Matrix) (float32, error) {
	var v [1]float32
	err := t.Model.Backend.Download(v[:], m)
	return v[0], err
}
