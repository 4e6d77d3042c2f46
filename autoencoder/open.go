package autoencoder

import (
	"fmt"
	"hash"
	"hash/fnv"
	"math"
	"strings"

	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
)

// RunSpec says which run OpenRun opens: fresh or resumed, on data in
// memory or streamed from .npy files.
type RunSpec struct {
	// Fit describes a fresh run. A resumed run uses only its Data,
	// Backend, OnProgress and OnEpoch: the rest is the saved run's.
	Fit FitOptions
	// Resume is the model directory of a run to continue ("": a fresh run
	// into Fit.Dir). It must be given the data it was trained on.
	Resume string
	// Epochs > 0 changes a resumed run's number of epochs.
	Epochs int
	// Paths, when set, are uncompressed .npy, Parquet or Arrow files (the
	// features Fit.Columns selects) read as one dataset in chunks of
	// ChunkRows rows instead of Fit.Data (a run larger than memory). A
	// resumed run reads its recorded chunk size.
	Paths     []string
	ChunkRows int
	// Follower opens a resumed run as a rank of a data-parallel job other
	// than rank 0: it reads the checkpoint in Resume without taking the
	// directory's lock or repairing it, and the run writes nothing there.
	// Rank 0 opens the run first (under the lock); the followers after it.
	Follower bool
	// Job is the data-parallel job whose ranks all open the run at once
	// (nil: one process). A resumed run's followers wait for its leader
	// (rank 0, without Follower) to take and repair the directory. A
	// streamed run's preparing pass is split over the ranks: each reads
	// its range of the chunks, and they exchange the scaler's statistics,
	// the validation rows and the chunks' hashes. What a rank measures is
	// rank 0's for all (a time budget's epoch, the range test's pick), so
	// that every rank trains the same run.
	Job Collective
}

// opening is a run being opened: what each step found, and what to undo
// when a later one fails.
type opening struct {
	spec    RunSpec
	resume  *resumeDir // a resumed run's directory, under its lock
	cfg     Config     // the run's config.json (a fresh one is filled in as the data is read)
	arch    Arch
	src     TrainSource
	disk    *DiskSource // a streamed run's source, closed on failure
	val     []float32
	model   *Model
	tr      *Trainer
	lrRange *LRRange // the range test's, when the fresh run asked for one
	// budgetEpochSecs is a time budget's measured epoch (seconds).
	budgetEpochSecs float64
}

// OpenRun opens a training run: a fresh one (the data split and scaled,
// the model built and initialised, Fit.Dir taken) or a resumed one (its
// directory locked, repaired and checked, its data checked against the
// saved fingerprint, its state restored). The run holds its directory's
// lock until Close.
func OpenRun(spec RunSpec) (r *Run, err error) {
	o := &opening{spec: spec}
	defer func() {
		if err != nil {
			o.undo()
		}
	}()
	// A job's ranks open a resumed run together once its leader (rank 0)
	// has taken and repaired the directory, which the followers then read.
	inJob := spec.Job != nil && spec.Resume != ""
	if inJob && spec.Follower {
		if err := leaderReady(spec.Job, nil); err != nil {
			return nil, err
		}
	}
	perr := o.plan()
	if inJob && !spec.Follower {
		if err := leaderReady(spec.Job, perr); err != nil {
			return nil, err
		}
	}
	if perr != nil {
		return nil, perr
	}
	if err := o.openData(); err != nil {
		return nil, err
	}
	if err := o.findLR(); err != nil {
		return nil, err
	}
	if err := o.fitBudget(); err != nil {
		return nil, err
	}
	if err := o.build(); err != nil {
		return nil, err
	}
	r = &Run{Trainer: o.tr, Config: o.cfg, disk: o.disk, LRRange: o.lrRange, BudgetEpochSeconds: o.budgetEpochSecs}
	if rd := o.resume; rd != nil && spec.Follower {
		r.published = true // the leader's: this run writes nothing
	} else if rd != nil {
		r.Dir, r.lock, r.published, r.Cleaned, r.CleanedBytes = rd.dir, rd.lock, true, rd.cleaned, rd.cleanedBytes
	} else if r.Dir = spec.Fit.Dir; r.Dir != "" {
		if err := r.takeDir(spec.Fit.Replace); err != nil {
			return nil, err
		}
	}
	r.hook(spec.Fit.OnProgress, spec.Fit.OnEpoch)
	return r, nil
}

// plan checks a fresh run's options, or opens the directory of a resumed
// run and takes its settings.
func (o *opening) plan() error {
	s := o.spec
	if s.Resume == "" {
		if err := s.Fit.validate(); err != nil {
			return err
		}
		o.arch = s.Fit.Arch
		return nil
	}
	open := openResume
	if s.Follower {
		open = followResume
	}
	rd, err := open(s.Resume)
	if err != nil {
		return err
	}
	o.resume, o.cfg = rd, rd.cfg
	if streamed := len(s.Paths) > 0; o.cfg.Data.Streamed != streamed {
		return &ResumeModeError{Dir: s.Resume, Streamed: o.cfg.Data.Streamed}
	}
	if o.arch, err = o.cfg.Arch(); err != nil {
		return err
	}
	if s.Epochs > 0 {
		o.cfg.Train.Epochs = s.Epochs
	}
	return nil
}

// openData reads the data, checks it against the model (a fresh run) or
// the saved run (a resumed one), and prepares the scaled training source
// and validation rows.
func (o *opening) openData() error {
	if len(o.spec.Paths) > 0 {
		return o.openDisk()
	}
	return o.openMemory()
}

func (o *opening) openMemory() error {
	f, data := o.spec.Fit, o.spec.Fit.Data
	if o.resume == nil {
		if err := o.checkShape(f.Source, data.Cols); err != nil {
			return err
		}
		if data.Rows < 2 {
			return fmt.Errorf("%s has %d row(s); training needs at least 2", f.Source, data.Rows)
		}
	} else if err := o.checkSame(data.Rows, data.Cols, Fingerprint(data.Data)); err != nil {
		return err
	}
	train := o.trainConfig()
	scaler, scale := o.cfg.Scaler, o.cfg.Scaler.Kind
	if o.resume == nil {
		scaler, scale = dataset.Scaler{}, f.Scale
	}
	tr, va, err := prepare(data, train, &scaler, scale)
	if err != nil {
		return err
	}
	o.src, o.val = newMemSource(tr, data.Cols, train.Seed, train.Shuffle), va
	if o.resume == nil {
		o.newConfig(scaler, DataInfo{Source: f.Source, Rows: data.Rows, Cols: data.Cols,
			Fingerprint: Fingerprint(data.Data), TrainRows: len(tr) / data.Cols, ValRows: len(va) / data.Cols})
	}
	return nil
}

func (o *opening) openDisk() error {
	f, paths := o.spec.Fit, o.spec.Paths
	chunk, scale, scaler, columns := o.spec.ChunkRows, f.Scale, dataset.Scaler{}, f.Columns
	if o.resume != nil {
		chunk, scale, scaler, columns = o.cfg.Data.ChunkRows, o.cfg.Scaler.Kind, o.cfg.Scaler, o.cfg.Data.Columns
	}
	pass := diskPass{job: o.spec.Job}
	if o.resume != nil {
		pass.legacy = strings.HasPrefix(o.cfg.Data.Fingerprint, legacyFingerprint)
	}
	src, prep, err := openDiskSource(paths, columns, chunk, o.trainConfig(), scale, scaler, pass)
	if err != nil {
		return err
	}
	o.src, o.disk, o.val = src, src, prep.Val
	if o.resume != nil {
		if prep.Fingerprint != o.cfg.Data.Fingerprint || prep.Rows != int64(o.cfg.Data.Rows) {
			return o.differs(prep.Fingerprint)
		}
		return nil
	}
	if err := o.checkShape(fmt.Sprint(paths), src.Cols()); err != nil {
		return err
	}
	o.newConfig(prep.Scaler, DataInfo{Source: f.Source, Rows: int(prep.Rows), Cols: src.Cols(), Fingerprint: prep.Fingerprint,
		TrainRows: prep.TrainRows, ValRows: len(prep.Val) / src.Cols(), Streamed: true, Paths: paths, ChunkRows: chunk})
	return nil
}

// findLR runs the range test of a fresh run that asks for one, on a model
// and trainer of its own (freed after), and sets the run's rate to its
// pick.
func (o *opening) findLR() error {
	f := o.spec.Fit
	if o.resume != nil || f.LRFind == nil {
		return nil
	}
	m, err := NewModel(f.Backend, o.arch)
	if err != nil {
		return err
	}
	defer m.Free()
	cfg := f.Train
	cfg.Schedule, cfg.Warmup, cfg.EMA, cfg.MinLR = "constant", 0, 0, 0
	if err := m.InitWith(cfg.Seed, cfg.Init); err != nil {
		return err
	}
	tr, err := NewTrainerFrom(m, cfg, o.src, nil)
	if err != nil {
		return err
	}
	defer tr.Free()
	r, err := tr.FindLR(*f.LRFind)
	if err != nil {
		return err
	}
	if o.spec.Job != nil { // every rank trains at rank 0's pick
		if r.Pick, err = rootValue(o.spec.Job, r.Pick); err != nil {
			return err
		}
	}
	o.lrRange = &r
	if f.Train.Schedule == "cosine" && f.Train.MinLR > r.Pick {
		return fmt.Errorf("the range test picked learning rate %.3g, below the cosine schedule's final rate %g: lower MinLR (--min-lr)", r.Pick, f.Train.MinLR)
	}
	o.spec.Fit.Train.LR, o.cfg.Train.LR = r.Pick, r.Pick
	return nil
}

// leaderReady is where a resumed run's followers wait for its leader to
// have opened the directory (one all-reduce): the leader passes what that
// gave, and a leader that failed fails the followers too.
func leaderReady(job Collective, leaderErr error) error {
	failed := []float32{0}
	if leaderErr != nil {
		failed[0] = 1
	}
	if err := job.AllreduceSum(failed); err != nil {
		return err
	}
	if failed[0] > 0 && leaderErr == nil {
		return fmt.Errorf("rank 0 could not open the run to resume (its error says why)")
	}
	return nil
}

// trainConfig is the run's training settings.
func (o *opening) trainConfig() TrainConfig {
	if o.resume != nil {
		return o.cfg.Train
	}
	return o.spec.Fit.Train
}

// newConfig fills in a fresh run's config.json.
func (o *opening) newConfig(scaler dataset.Scaler, data DataInfo) {
	f := o.spec.Fit
	data.Columns = f.Columns
	o.cfg = NewConfig(f.Arch, f.Train, scaler, data)
	o.cfg.ImageShape = f.ImageShape
}

// checkShape checks a fresh run's data width against the model's input
// and the image shape.
func (o *opening) checkShape(source string, cols int) error {
	f := o.spec.Fit
	if cols != f.Arch.Input() {
		return &InputWidthError{Source: source, Cols: cols, Input: f.Arch.Input()}
	}
	return CheckImageShape(f.ImageShape, cols)
}

// checkSame checks that a resumed run's data (in memory) is the data it
// was trained on.
func (o *opening) checkSame(rows, cols int, fp string) error {
	d := o.cfg.Data
	if rows != d.Rows || cols != d.Cols {
		return fmt.Errorf("cannot resume %s: it was trained on %d×%d data (%s), this data is %d×%d", o.resume.dir, d.Rows, d.Cols, d.Source, rows, cols)
	}
	if fp != d.Fingerprint {
		return o.differs(fp)
	}
	return nil
}

func (o *opening) differs(fp string) error {
	d := o.cfg.Data
	return fmt.Errorf("cannot resume %s: the data differs from the data it was trained on (%s); fingerprint %s, expected %s", o.resume.dir, d.Source, fp, d.Fingerprint)
}

// build makes the model (initialised from the seed, or the saved
// weights) and its trainer.
func (o *opening) build() error {
	var err error
	if o.model, err = NewModel(o.spec.Fit.Backend, o.arch); err != nil {
		return err
	}
	train := o.trainConfig()
	if o.resume == nil {
		if err := o.model.InitWith(train.Seed, train.Init); err != nil {
			return err
		}
	}
	if o.tr, err = NewTrainerFrom(o.model, train, o.src, o.val); err != nil {
		return err
	}
	if o.resume != nil {
		return o.resume.load(o.tr)
	}
	return nil
}

// undo releases what a failed OpenRun acquired.
func (o *opening) undo() {
	if o.tr != nil {
		o.tr.Free()
	}
	if o.model != nil {
		o.model.Free()
	}
	if o.disk != nil {
		o.disk.Close()
	}
	if o.resume != nil {
		o.resume.lock.Unlock()
	}
}

// NewRun opens a fresh training run on data in memory: OpenRun with
// opts.
func NewRun(opts FitOptions) (*Run, error) { return OpenRun(RunSpec{Fit: opts}) }

// NewStreamRun is NewRun for data larger than memory (uncompressed .npy,
// Parquet or Arrow files, opts.Columns selecting the features), read from paths
// in chunks of chunk rows (opts.Data is ignored): one pass fits the scaler
// on the training rows, collects the validation rows and fingerprints the
// data; training then holds one chunk at a time.
func NewStreamRun(opts FitOptions, paths []string, chunk int) (*Run, error) {
	return OpenRun(RunSpec{Fit: opts, Paths: paths, ChunkRows: chunk})
}

// ResumeRun reopens the run saved in dir on data (which must be the data it
// was trained on). epochs > 0 changes the number of epochs. It takes dir's
// lock (an *InUseError when another process holds it), puts back what a
// killed save left, and checks every file of the checkpoint.
func ResumeRun(dir string, data *dataset.Table, b engine.Backend, epochs int, onProgress func(Progress), onEpoch func(EpochMetrics)) (*Run, error) {
	return OpenRun(RunSpec{Resume: dir, Epochs: epochs,
		Fit: FitOptions{Data: data, Backend: b, OnProgress: onProgress, OnEpoch: onEpoch}})
}

// ResumeStreamRun reopens a streamed run saved in dir on paths (the same
// data, checked by fingerprint); see ResumeRun.
func ResumeStreamRun(dir string, paths []string, b engine.Backend, epochs int, onProgress func(Progress), onEpoch func(EpochMetrics)) (*Run, error) {
	return OpenRun(RunSpec{Resume: dir, Epochs: epochs, Paths: paths,
		Fit: FitOptions{Backend: b, OnProgress: onProgress, OnEpoch: onEpoch}})
}

// fingerprint identifies data by content: FNV-1a over the float32 bits in
// row order, fed at once or chunk by chunk (a streamed pass).
type fingerprint struct {
	h hash.Hash64
	b [4]byte
}

func newFingerprint() *fingerprint { return &fingerprint{h: fnv.New64a()} }

func (f *fingerprint) add(data []float32) {
	for _, v := range data {
		u := math.Float32bits(v)
		f.b[0], f.b[1], f.b[2], f.b[3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
		f.h.Write(f.b[:])
	}
}

func (f *fingerprint) String() string { return fmt.Sprintf("fnv1a64:%016x", f.h.Sum64()) }

// Fingerprint identifies data by content (see fingerprint).
func Fingerprint(data []float32) string {
	f := newFingerprint()
	f.add(data)
	return f.String()
}
