package autoencoder

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/internal/atomicfile"
)

// FitOptions describes a training run from raw data to a model directory.
type FitOptions struct {
	Data       *dataset.Table // unscaled data, rows × features
	Source     string         // where the data came from (recorded in config.json)
	Arch       Arch
	Train      TrainConfig
	Scale      string // none, minmax, standard
	ImageShape []int  // e.g. [28 28], recorded for image tools
	// Columns are the feature columns selected from Parquet/Arrow input
	// (names or patterns), recorded so that the model reads the same
	// columns of new data by default.
	Columns []string
	// Dir is the model directory ("" for none). It is created by the first
	// checkpoint, complete (see the Files comment in checkpoint.go): a run
	// that fails before leaves nothing there. The run holds the
	// directory's lock (a file beside it) until Close.
	Dir string
	// Replace lets Dir hold a model already: the run's first complete
	// checkpoint replaces the directory as a whole, and the old model
	// stays until then. Without it such a Dir is an error wrapping
	// ErrHoldsModel.
	Replace bool
	Backend engine.Backend

	OnProgress func(Progress)
	OnEpoch    func(EpochMetrics)
	// LRFind, when set, runs the learning-rate range test (FindLR) on a
	// model of its own before a fresh run and trains at its pick instead
	// of Train.LR; Run.LRRange holds the curve.
	LRFind *LRFindOptions
	// Budget, when set, replaces Train.Epochs by the epochs that fit it
	// (budget.go).
	Budget *Budget
}

// Run is a prepared training run.
type Run struct {
	Trainer *Trainer
	Config  Config
	Dir     string
	disk    *DiskSource // streamed runs
	// LRRange is the range test's curve and pick (FitOptions.LRFind).
	LRRange *LRRange
	// BudgetEpochSeconds is the epoch time measured for a time budget.
	BudgetEpochSeconds float64

	lock      *atomicfile.FileLock // Dir's lock, held until Close
	target    target               // Dir as a new run found it
	fresh     bool                 // the first checkpoint creates or replaces Dir as a whole
	published bool                 // a checkpoint of this run is in Dir
	// Cleaned and CleanedBytes count the leftovers of killed runs (temporary
	// and .prev files) that taking Dir removed.
	Cleaned      int
	CleanedBytes int64
}

// Split returns the sorted row indices of the training and validation parts
// of n rows, holding out round(frac·n) rows chosen by seed.
func Split(n int, frac float64, seed uint64) (train, val []int) {
	nVal := int(math.Round(frac * float64(n)))
	if frac > 0 && nVal == 0 && n > 1 {
		nVal = 1
	}
	if nVal >= n {
		nVal = n - 1
	}
	perm := engine.NewRand(seed, engine.StreamSplit).Perm(n)
	val, train = append([]int(nil), perm[:nVal]...), append([]int(nil), perm[nVal:]...)
	sort.Ints(val)
	sort.Ints(train)
	return train, val
}

// prepare splits and scales the data for training.
func prepare(data *dataset.Table, cfg TrainConfig, scaler *dataset.Scaler, scale string) (train, val []float32, err error) {
	tr, va := Split(data.Rows, cfg.ValSplit, cfg.Seed)
	train, val = data.Gather(tr), data.Gather(va)
	if scaler.Kind == "" {
		*scaler, err = dataset.FitScaler(scale, &dataset.Table{Rows: len(tr), Cols: data.Cols, Data: train})
		if err != nil {
			return nil, nil, err
		}
	}
	if err := scaler.Apply(train, data.Cols); err != nil {
		return nil, nil, err
	}
	if err := scaler.Apply(val, data.Cols); err != nil {
		return nil, nil, err
	}
	return train, val, nil
}

// InUnitRange reports whether every value lies in [0, 1], the range a
// sigmoid output can reproduce.
func InUnitRange(data []float32) bool {
	for _, v := range data {
		if !(v >= 0 && v <= 1) {
			return false
		}
	}
	return true
}

// validate checks the settings, the architecture, that they agree, and
// that the model directory (if any) is writable.
func (opts FitOptions) validate() error {
	if err := opts.Train.Validate(); err != nil {
		return err
	}
	if err := opts.Arch.Validate(); err != nil {
		return err
	}
	if opts.Arch.EncoderOnly {
		return fmt.Errorf("an encoder-only architecture has no decoder to train")
	}
	if opts.Arch.VAE != (opts.Train.Variant() == "vae") {
		return fmt.Errorf("the architecture (VAE heads: %v) does not match the variant %s", opts.Arch.VAE, opts.Train.Variant())
	}
	if opts.Dir != "" {
		t, err := inspectDir(opts.Dir)
		if err != nil {
			return err
		}
		return checkTarget(t, opts.Replace)
	}
	return nil
}

// CheckNewDir reports, before any work, whether a new run could write the
// model directory dir: nil, an error wrapping ErrHoldsModel (it holds a
// model and replace is false), an *InUseError (another process holds its
// lock), or why not (it holds other files, it is not a directory). It
// creates nothing.
func CheckNewDir(dir string, replace bool) error {
	t, err := inspectDir(dir)
	if err != nil {
		return err
	}
	if err := checkTarget(t, replace); err != nil {
		return err
	}
	if !exists(t.parent) {
		return nil // created when the run starts; nobody holds a lock there
	}
	l, err := lockDir(dir)
	if err != nil {
		return err
	}
	return l.Unlock()
}

// checkTarget checks that a new run may write the directory t.
func checkTarget(t target, replace bool) error {
	switch {
	case t.kind == dirModel && !replace:
		return fmt.Errorf("%s %w", t.dir, ErrHoldsModel)
	case t.kind == dirModel && len(t.foreign) > 0:
		return fmt.Errorf("%s is replaced as a whole, which would delete files in it that are not part of the model (%s): move them or choose another directory", t.dir, listNames(t.foreign))
	case len(t.foreign) > 0:
		return fmt.Errorf("%s holds files that are not part of a model (%s): give a new or empty directory", t.dir, listNames(t.foreign))
	}
	return nil
}

func listNames(names []string) string {
	if len(names) > 5 {
		return strings.Join(names[:5], ", ") + fmt.Sprintf(" and %d more", len(names)-5)
	}
	return strings.Join(names, ", ")
}

// takeDir takes the lock of a new run's directory and checks it again
// under the lock; leftovers of killed runs beside and inside it go.
func (r *Run) takeDir(replace bool) error {
	lock, err := lockDir(r.Dir)
	if err != nil {
		return err
	}
	t, err := r.inspectLocked()
	if err == nil {
		err = checkTarget(t, replace)
	}
	if err != nil {
		lock.Unlock()
		return err
	}
	r.lock, r.target, r.fresh = lock, t, true
	if t.kind == dirModel || t.kind == dirDebris {
		if _, n, b, err := repairDir(t.path); err == nil || t.kind == dirDebris {
			r.Cleaned, r.CleanedBytes = n, b
		}
	}
	return nil
}

// inspectLocked finishes or removes what killed runs left beside Dir and
// says what Dir holds; the caller holds the lock.
func (r *Run) inspectLocked() (target, error) {
	t, err := targetOf(r.Dir)
	if err != nil {
		return t, err
	}
	if err := cleanStale(t); err != nil {
		return t, err
	}
	return inspectDir(r.Dir)
}

// checkpoint saves a checkpoint of t into the run's directory. The first
// one of a new run goes into a staging directory that then replaces Dir as
// a whole, or, where directories cannot be swapped (see stageable), is
// committed in place over what Dir holds; the others are saved in place.
func (r *Run) checkpoint(t *Trainer) error {
	if !r.fresh || r.published {
		return t.SaveCheckpoint(r.Dir, r.Config)
	}
	if !stageable(r.target) {
		prev, err := prepareInPlace(r.target)
		if err != nil {
			return err
		}
		t.ckpt, t.ckptDir, t.ckptDirty, t.bestSaved = prev, r.Dir, false, 0
		if err := t.SaveCheckpoint(r.Dir, r.Config); err != nil {
			return err
		}
		r.published = true
		return nil
	}
	stage, err := newStage(r.target)
	if err != nil {
		return err
	}
	if err := t.SaveCheckpoint(stage, r.Config); err != nil {
		os.RemoveAll(stage)
		t.ckptDir = ""
		return err
	}
	if err := publish(stage, r.target); err != nil {
		os.RemoveAll(stage)
		t.ckptDir = ""
		return err
	}
	r.published = true
	t.ckptDir = r.Dir // the same checkpoint, now in place
	return nil
}

// resumeDir is a model directory opened for resuming, under its lock.
type resumeDir struct {
	dir          string
	lock         *atomicfile.FileLock
	follower     bool // opened without the lock (RunSpec.Follower)
	cfg          Config
	manifest     *Manifest // nil: a directory of an earlier aegpu
	cleaned      int
	cleanedBytes int64
}

// openResume takes dir's lock, finishes or removes what killed runs left
// (beside it, and in it: .prev and temporary files), and reads its config.
func openResume(dir string) (*resumeDir, error) {
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	rd := &resumeDir{dir: dir, lock: lock}
	fail := func(err error) (*resumeDir, error) {
		lock.Unlock()
		return nil, err
	}
	t, err := targetOf(dir)
	if err != nil {
		return fail(err)
	}
	if err := cleanStale(t); err != nil {
		return fail(err)
	}
	if !exists(t.path) {
		return fail(fmt.Errorf("%s is not a model directory: it does not exist", dir))
	}
	if rd.manifest, rd.cleaned, rd.cleanedBytes, err = repairDir(dir); err != nil {
		return fail(fmt.Errorf("cannot resume: %w", err))
	}
	if rd.cfg, err = ReadConfig(dir); err != nil {
		return fail(err)
	}
	if err := resumable(dir, rd.cfg); err != nil {
		return fail(err)
	}
	return rd, nil
}

// followResume opens dir for a follower rank (RunSpec.Follower): its
// config, read without the lock; the leader has repaired the directory.
func followResume(dir string) (*resumeDir, error) {
	rd := &resumeDir{dir: dir, follower: true}
	var err error
	if rd.cfg, err = ReadConfig(dir); err != nil {
		return nil, err
	}
	return rd, resumable(dir, rd.cfg)
}

// load restores t from the checkpoint; a directory of an earlier aegpu
// then gets a manifest, so that saving over it is safe.
func (rd *resumeDir) load(t *Trainer) error {
	if err := t.LoadCheckpoint(rd.dir); err != nil {
		return err
	}
	if rd.manifest == nil && !rd.follower {
		st := t.State
		m, err := adoptLegacy(rd.dir, st.Step, st.Epoch, st.Batch)
		if err != nil {
			return err
		}
		t.ckpt, t.ckptDir = m, rd.dir
	}
	if t.State.Finished && t.State.StopReason == "epochs" && t.State.Epoch < t.Cfg.Epochs {
		t.State.Finished, t.State.StopReason = false, ""
	}
	return nil
}

// resumable refuses to resume an encoder-only model (it has no decoder to
// train).
func resumable(dir string, cfg Config) error {
	if cfg.EncoderOnly {
		return &EncoderOnlyError{Model: dir, Source: cfg.Data.Source, Op: "be trained", Resume: true}
	}
	return nil
}

func (r *Run) hook(onProgress func(Progress), onEpoch func(EpochMetrics)) {
	r.Trainer.OnProgress = onProgress
	r.Trainer.OnEpoch = onEpoch
	if r.Dir != "" {
		r.Trainer.Checkpoint = r.checkpoint
	}
}

// Train runs the prepared run to its end (see Trainer.Train). A *NaNError
// it returns says what the model directory holds.
func (r *Run) Train(ctx context.Context) error {
	err := r.Trainer.Train(ctx)
	var ne *NaNError
	if errors.As(err, &ne) && r.Dir != "" {
		ne.Dir = r.Dir
		if !ne.Saved {
			ne.Kept = map[dirKind]string{dirAbsent: "absent", dirEmpty: "empty", dirDebris: "leftovers", dirModel: "earlier model"}[r.target.kind]
		}
	}
	return err
}

// Close frees the run's device memory (and closes a streamed run's files)
// and releases its directory.
func (r *Run) Close() {
	r.Trainer.Free()
	r.Trainer.Model.Free()
	if r.disk != nil {
		r.disk.Close()
	}
	r.release()
}

// release lets other processes have the run's directory.
func (r *Run) release() {
	r.lock.Unlock()
	r.lock = nil
}

// IsInterrupted reports whether err is (or wraps) ErrInterrupted.
func IsInterrupted(err error) bool { return errors.Is(err, ErrInterrupted) }

// StreamPass is what a streamed run's preparing pass did in this process:
// the rows it read and its seconds (zeros for a run in memory). In a job
// each rank reads its share of the chunks.
func (r *Run) StreamPass() (rows int64, seconds float64) {
	if r.disk == nil {
		return 0, 0
	}
	return r.disk.prepRows, r.disk.prepSecs
}
