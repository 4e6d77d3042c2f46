package autoencoder

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"sort"

	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
)

// FitOptions describes a training run from raw data to a model directory.
type FitOptions struct {
	Data       *dataset.Table // unscaled data, rows × features
	Source     string         // where the data came from (recorded in config.json)
	Arch       Arch
	Train      TrainConfig
	Scale      string // none, minmax, standard
	ImageShape []int  // e.g. [28 28], recorded for image tools
	Dir        string // model directory (created)
	Backend    engine.Backend

	OnProgress func(Progress)
	OnEpoch    func(EpochMetrics)
}

// Run is a prepared training run.
type Run struct {
	Trainer *Trainer
	Config  Config
	Dir     string
	disk    *DiskSource // streamed runs
}

// Fingerprint identifies data by content: FNV-1a over the float32 bits.
func Fingerprint(data []float32) string {
	h := fnv.New64a()
	var b [4]byte
	for _, v := range data {
		u := math.Float32bits(v)
		b[0], b[1], b[2], b[3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
		h.Write(b[:])
	}
	return fmt.Sprintf("fnv1a64:%016x", h.Sum64())
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

func gatherRows(t *dataset.Table, rows []int) []float32 {
	out := make([]float32, len(rows)*t.Cols)
	for i, r := range rows {
		copy(out[i*t.Cols:], t.Data[r*t.Cols:(r+1)*t.Cols])
	}
	return out
}

// prepare splits and scales the data for training.
func prepare(data *dataset.Table, cfg TrainConfig, scaler *dataset.Scaler, scale string) (train, val []float32, err error) {
	tr, va := Split(data.Rows, cfg.ValSplit, cfg.Seed)
	train, val = gatherRows(data, tr), gatherRows(data, va)
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
		return checkDirWritable(opts.Dir)
	}
	return nil
}

// NewRun prepares a fresh training run: splits and scales the data, builds
// and initialises the model, and sets up checkpointing into opts.Dir (none
// when it is empty).
func NewRun(opts FitOptions) (*Run, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if opts.Data.Cols != opts.Arch.Input() {
		return nil, fmt.Errorf("%s has %d columns but the layers start at %d: use --layers %d,… (the first width is the data width)",
			opts.Source, opts.Data.Cols, opts.Arch.Input(), opts.Data.Cols)
	}
	if opts.Data.Rows < 2 {
		return nil, fmt.Errorf("%s has %d row(s); training needs at least 2", opts.Source, opts.Data.Rows)
	}
	var scaler dataset.Scaler
	train, val, err := prepare(opts.Data, opts.Train, &scaler, opts.Scale)
	if err != nil {
		return nil, err
	}
	cfg := Config{Format: FormatVersion, Version: Version, Variant: opts.Train.Variant(), Scaler: scaler,
		ImageShape: opts.ImageShape, Train: opts.Train,
		Data: DataInfo{Source: opts.Source, Rows: opts.Data.Rows, Cols: opts.Data.Cols,
			Fingerprint: Fingerprint(opts.Data.Data), TrainRows: len(train) / opts.Data.Cols, ValRows: len(val) / opts.Data.Cols}}
	cfg.SetArch(opts.Arch)
	m, err := NewModel(opts.Backend, opts.Arch)
	if err != nil {
		return nil, err
	}
	if err := m.Init(opts.Train.Seed); err != nil {
		m.Free()
		return nil, err
	}
	t, err := NewTrainer(m, opts.Train, train, val, opts.Data.Cols)
	if err != nil {
		m.Free()
		return nil, err
	}
	r := &Run{Trainer: t, Config: cfg, Dir: opts.Dir}
	r.hook(opts.OnProgress, opts.OnEpoch)
	return r, nil
}

// ResumeRun reopens the run saved in dir on new data (which must be the
// data it was trained on). epochs > 0 changes the number of epochs.
func ResumeRun(dir string, data *dataset.Table, b engine.Backend, epochs int, onProgress func(Progress), onEpoch func(EpochMetrics)) (*Run, error) {
	cfg, err := ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	if err := resumable(dir, cfg); err != nil {
		return nil, err
	}
	if cfg.Data.Streamed {
		return nil, fmt.Errorf("%s was trained with --stream; resume it with --stream", dir)
	}
	a, err := cfg.Arch()
	if err != nil {
		return nil, err
	}
	if data.Rows != cfg.Data.Rows || data.Cols != cfg.Data.Cols {
		return nil, fmt.Errorf("cannot resume %s: it was trained on %d×%d data (%s), this data is %d×%d", dir, cfg.Data.Rows, cfg.Data.Cols, cfg.Data.Source, data.Rows, data.Cols)
	}
	if fp := Fingerprint(data.Data); fp != cfg.Data.Fingerprint {
		return nil, fmt.Errorf("cannot resume %s: the data differs from the data it was trained on (%s); fingerprint %s, expected %s", dir, cfg.Data.Source, fp, cfg.Data.Fingerprint)
	}
	if epochs > 0 {
		cfg.Train.Epochs = epochs
	}
	scaler := cfg.Scaler
	train, val, err := prepare(data, cfg.Train, &scaler, scaler.Kind)
	if err != nil {
		return nil, err
	}
	m, err := NewModel(b, a)
	if err != nil {
		return nil, err
	}
	t, err := NewTrainer(m, cfg.Train, train, val, data.Cols)
	if err != nil {
		m.Free()
		return nil, err
	}
	if err := t.LoadCheckpoint(dir); err != nil {
		t.Free()
		m.Free()
		return nil, err
	}
	if t.State.Finished && t.State.StopReason == "epochs" && t.State.Epoch < cfg.Train.Epochs {
		t.State.Finished, t.State.StopReason = false, ""
	}
	r := &Run{Trainer: t, Config: cfg, Dir: dir}
	r.hook(onProgress, onEpoch)
	return r, nil
}

// resumable refuses to resume an encoder-only model (it has no decoder to
// train).
func resumable(dir string, cfg Config) error {
	if cfg.EncoderOnly {
		return &EncoderOnlyError{Model: dir, Source: cfg.Data.Source, Op: "be trained",
			Hint: "resume the original model's directory instead, or train a new model (aegpu train)"}
	}
	return nil
}

func (r *Run) hook(onProgress func(Progress), onEpoch func(EpochMetrics)) {
	r.Trainer.OnProgress = onProgress
	r.Trainer.OnEpoch = onEpoch
	if r.Dir != "" {
		r.Trainer.Checkpoint = func(t *Trainer) error { return t.SaveCheckpoint(r.Dir, r.Config) }
	}
}

// Train runs the prepared run to its end (see Trainer.Train).
func (r *Run) Train(ctx context.Context) error { return r.Trainer.Train(ctx) }

// Close frees the run's device memory (and closes a streamed run's files).
func (r *Run) Close() {
	r.Trainer.Free()
	r.Trainer.Model.Free()
	if r.disk != nil {
		r.disk.Close()
	}
}

// NewStreamRun is NewRun for .npy data larger than memory, read from paths
// in chunks of chunk rows (opts.Data is ignored): one pass fits the scaler
// on the training rows, collects the validation rows and fingerprints the
// data; training then holds one chunk at a time.
func NewStreamRun(opts FitOptions, paths []string, chunk int) (*Run, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	src, prep, err := OpenDiskSource(paths, chunk, opts.Train, opts.Scale, dataset.Scaler{})
	if err != nil {
		return nil, err
	}
	if src.Cols() != opts.Arch.Input() {
		src.Close()
		return nil, fmt.Errorf("%v has %d columns but the layers start at %d", paths, src.Cols(), opts.Arch.Input())
	}
	cfg := Config{Format: FormatVersion, Version: Version, Variant: opts.Train.Variant(), Scaler: prep.Scaler,
		ImageShape: opts.ImageShape, Train: opts.Train,
		Data: DataInfo{Source: opts.Source, Rows: int(prep.Rows), Cols: src.Cols(), Fingerprint: prep.Fingerprint,
			TrainRows: prep.TrainRows, ValRows: len(prep.Val) / src.Cols(), Streamed: true, Paths: paths, ChunkRows: chunk}}
	cfg.SetArch(opts.Arch)
	m, err := NewModel(opts.Backend, opts.Arch)
	if err != nil {
		src.Close()
		return nil, err
	}
	if err := m.Init(opts.Train.Seed); err != nil {
		m.Free()
		src.Close()
		return nil, err
	}
	t, err := NewTrainerFrom(m, opts.Train, src, prep.Val)
	if err != nil {
		m.Free()
		src.Close()
		return nil, err
	}
	r := &Run{Trainer: t, Config: cfg, Dir: opts.Dir, disk: src}
	r.hook(opts.OnProgress, opts.OnEpoch)
	return r, nil
}

// ResumeStreamRun reopens a streamed run saved in dir on paths (the same
// data, checked by fingerprint).
func ResumeStreamRun(dir string, paths []string, b engine.Backend, epochs int, onProgress func(Progress), onEpoch func(EpochMetrics)) (*Run, error) {
	cfg, err := ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	if err := resumable(dir, cfg); err != nil {
		return nil, err
	}
	if !cfg.Data.Streamed {
		return nil, fmt.Errorf("%s was not trained with --stream; resume it without --stream", dir)
	}
	a, err := cfg.Arch()
	if err != nil {
		return nil, err
	}
	if epochs > 0 {
		cfg.Train.Epochs = epochs
	}
	src, prep, err := OpenDiskSource(paths, cfg.Data.ChunkRows, cfg.Train, cfg.Scaler.Kind, cfg.Scaler)
	if err != nil {
		return nil, err
	}
	if prep.Fingerprint != cfg.Data.Fingerprint || prep.Rows != int64(cfg.Data.Rows) {
		src.Close()
		return nil, fmt.Errorf("cannot resume %s: the data differs from the data it was trained on (%s); fingerprint %s, expected %s", dir, cfg.Data.Source, prep.Fingerprint, cfg.Data.Fingerprint)
	}
	m, err := NewModel(b, a)
	if err != nil {
		src.Close()
		return nil, err
	}
	t, err := NewTrainerFrom(m, cfg.Train, src, prep.Val)
	if err != nil {
		m.Free()
		src.Close()
		return nil, err
	}
	if err := t.LoadCheckpoint(dir); err != nil {
		t.Free()
		m.Free()
		src.Close()
		return nil, err
	}
	if t.State.Finished && t.State.StopReason == "epochs" && t.State.Epoch < cfg.Train.Epochs {
		t.State.Finished, t.State.StopReason = false, ""
	}
	r := &Run{Trainer: t, Config: cfg, Dir: dir, disk: src}
	r.hook(onProgress, onEpoch)
	return r, nil
}

// checkDirWritable creates dir and checks a file can be written in it,
// so a run does not train for an hour and then fail to save.
func checkDirWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create model directory: %w", err)
	}
	f, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		return fmt.Errorf("model directory %s is not writable: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// IsInterrupted reports whether err is (or wraps) ErrInterrupted.
func IsInterrupted(err error) bool { return errors.Is(err, ErrInterrupted) }
