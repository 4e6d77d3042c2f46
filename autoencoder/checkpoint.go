package autoencoder

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/internal/safetensors"
)

// SaveCheckpoint writes everything needed to use the model and to resume
// training into dir, as one checkpoint (see the Files comment): config,
// weights, optimizer state, best weights, the trainer state and
// metrics.jsonl. Unchanged files are not rewritten. A missing dir is
// created (a Run creates its directory whole instead: see FitOptions.Dir).
func (t *Trainer) SaveCheckpoint(dir string, c Config) error {
	if !exists(dir) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create model directory: %w", err)
		}
	}
	prev := t.ckpt
	if t.ckptDir != dir || t.ckptDirty {
		m, _, _, err := repairDir(dir)
		if err != nil {
			return err
		}
		prev = m
	}
	cb, err := c.marshal()
	if err != nil {
		return err
	}
	step := t.State.Step
	wf, ots, err := t.checkpointTensors(step)
	if err != nil {
		return err
	}
	ometa := stepMeta(step, map[string]string{"optimizer": t.Cfg.Optimizer})
	sb, err := json.MarshalIndent(t.State, "", "  ")
	if err != nil {
		return err
	}
	var mb bytes.Buffer
	enc := json.NewEncoder(&mb)
	for _, m := range t.State.Metrics {
		if err := enc.Encode(m); err != nil {
			return err
		}
	}
	files := []genFile{
		{name: ConfigFile, data: cb}, wf,
		{name: OptimizerFile, fill: func(w io.Writer) error { return safetensors.Encode(w, ots, ometa) }},
		{name: StateFile, data: append(sb, '\n')},
		{name: MetricsFile, data: mb.Bytes()},
	}
	var keep []string
	bestEpoch := t.State.BestEpoch
	if t.best != nil && bestEpoch > 0 {
		if t.bestSaved == bestEpoch && prev != nil && prev.Files[BestFile].SHA256 != "" {
			keep = append(keep, BestFile) // unchanged since the last checkpoint
		} else {
			best := []safetensors.Tensor{{Name: "params", Shape: []int{len(t.best)}, Data: slices.Clone(t.best)}}
			meta := stepMeta(step, map[string]string{"aegpu_best_epoch": strconv.Itoa(bestEpoch)})
			files = append(files, genFile{name: BestFile, fill: func(w io.Writer) error { return safetensors.Encode(w, best, meta) }})
		}
	}
	m, err := commitGeneration(dir, prev, Manifest{Step: step, Epoch: t.State.Epoch, Batch: t.State.Batch}, files, keep)
	if m != nil { // committed (a failure after the commit is in the cleanup)
		t.ckpt, t.ckptDir, t.ckptDirty = m, dir, err != nil
		t.bestSaved = bestEpoch
		return err
	}
	t.ckptDirty = true
	return err
}

// checkpointTensors returns model.safetensors (the averaged weights, with
// --ema) and the tensors of optimizer.safetensors: the optimizer's
// moments, and with --ema the raw weights and the average's accumulator.
func (t *Trainer) checkpointTensors(step int64) (genFile, []safetensors.Tensor, error) {
	wasIn := t.ema != nil && t.ema.in
	if err := t.useAverage(); err != nil {
		return genFile{}, nil, err
	}
	wf, err := weightsFile(t.Model, step)
	if err != nil {
		return genFile{}, nil, err
	}
	s1, s2, err := t.OptimizerState()
	if err != nil {
		return genFile{}, nil, err
	}
	ots := []safetensors.Tensor{{Name: "state1", Shape: []int{len(s1)}, Data: s1}}
	if s2 != nil {
		ots = append(ots, safetensors.Tensor{Name: "state2", Shape: []int{len(s2)}, Data: s2})
	}
	if t.ema != nil {
		for _, x := range []struct {
			name string
			m    engine.Matrix
		}{{"params", t.rawParams()}, {"ema", t.ema.acc}} {
			v := make([]float32, x.m.Len())
			if err := t.Model.Backend.Download(v, x.m); err != nil {
				return genFile{}, nil, err
			}
			ots = append(ots, safetensors.Tensor{Name: x.name, Shape: []int{len(v)}, Data: v})
		}
	}
	if !wasIn {
		if err := t.useRaw(); err != nil {
			return genFile{}, nil, err
		}
	}
	return wf, ots, nil
}

// LoadCheckpoint restores weights, optimizer state, best weights and the
// trainer state saved by SaveCheckpoint, after checking every file against
// the checkpoint's manifest and the state against the configuration (dir's
// config.json) and this trainer's data.
func (t *Trainer) LoadCheckpoint(dir string) error {
	m, files, err := readChecked(dir, ConfigFile, StateFile)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cannot resume from %s: %w", dir, err)
		}
		return err
	}
	if m != nil {
		if _, ok := m.Files[StateFile]; !ok {
			return fmt.Errorf("cannot resume from %s: it holds a model but no training state (%s lists no %s)", dir, ManifestFile, StateFile)
		}
	}
	cfg, err := parseConfig(filepath.Join(dir, ConfigFile), files[ConfigFile])
	if err != nil {
		return err
	}
	sp := filepath.Join(dir, StateFile)
	var st State
	if err := json.Unmarshal(files[StateFile], &st); err != nil {
		return fmt.Errorf("read %s: %w", sp, err)
	}
	if err := st.validate(sp, cfg, t.batchesPerEpoch(), t.nVal); err != nil {
		return err
	}
	if m != nil && m.Step != st.Step {
		return fmt.Errorf("checkpoint in %s is inconsistent: %s names step %d but %s holds step %d", dir, ManifestFile, m.Step, StateFile, st.Step)
	}
	read := func(name string) ([]byte, error) {
		if m == nil {
			return os.ReadFile(filepath.Join(dir, name))
		}
		b, from, err := readVerified(dir, m, name)
		if err == nil && strings.HasSuffix(from, PrevSuffix) {
			t.ckptDirty = true // an interrupted save: repair before the next one
		}
		return b, err
	}
	wb, err := read(WeightsFile)
	if err != nil {
		return err
	}
	wstep, err := setWeights(filepath.Join(dir, WeightsFile), wb, t.Model)
	if err != nil {
		return err
	}
	if wstep != st.Step {
		return fmt.Errorf("checkpoint in %s is inconsistent: %s is from step %d but %s from step %d (a run was killed while saving); retrain or restore a backup", dir, WeightsFile, wstep, StateFile, st.Step)
	}
	if err := t.loadOptimizer(dir, st, read); err != nil {
		return err
	}
	if st.BestEpoch > 0 {
		if err := t.loadBest(dir, st, read); err != nil {
			return err
		}
	}
	t.State = st
	t.ckpt, t.ckptDir = m, dir
	t.lastSave = &savePoint{Epoch: st.Epoch, Batch: st.Batch, Step: st.Step}
	return nil
}

// loadOptimizer restores the optimizer's moments saved with state st.
func (t *Trainer) loadOptimizer(dir string, st State, read func(string) ([]byte, error)) error {
	op := filepath.Join(dir, OptimizerFile)
	ob, err := read(OptimizerFile)
	if err != nil {
		return err
	}
	of, err := safetensors.Decode(ob)
	if err != nil {
		return fmt.Errorf("read %s: %w", op, err)
	}
	if s := of.Metadata["aegpu_step"]; s != strconv.FormatInt(st.Step, 10) {
		return fmt.Errorf("checkpoint in %s is inconsistent: %s is from step %s but %s from step %d", dir, OptimizerFile, s, StateFile, st.Step)
	}
	if err := t.SetOptimizerState(of.Tensors["state1"].Data, of.Tensors["state2"].Data); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return t.loadEMA(op, of.Tensors, st.Finished)
}

// loadEMA restores the raw weights and the average's accumulator (--ema)
// saved in the optimizer file op. The weights file holds the average (or
// the best epoch's): a finished run keeps them in Params, as it ended, and
// the raw weights aside until it trains again.
func (t *Trainer) loadEMA(op string, ts map[string]safetensors.Tensor, finished bool) error {
	if t.ema == nil {
		return nil
	}
	raw := t.Model.Params
	if t.ema.in = finished; finished {
		raw = t.ema.raw
	}
	for _, x := range []struct {
		name string
		m    engine.Matrix
	}{{"params", raw}, {"ema", t.ema.acc}} {
		v, ok := ts[x.name]
		if !ok {
			return fmt.Errorf("%s holds no tensor %q: the run averages its weights (ema %v) and cannot resume without the raw weights and the average", op, x.name, t.ema.decay)
		}
		if len(v.Data) != x.m.Len() {
			return fmt.Errorf("%s: tensor %q has %d values, the model %d", op, x.name, len(v.Data), x.m.Len())
		}
		if err := t.Model.Backend.Upload(x.m, v.Data); err != nil {
			return err
		}
	}
	return nil
}

// loadBest restores the best epoch's parameters saved with state st.
func (t *Trainer) loadBest(dir string, st State, read func(string) ([]byte, error)) error {
	bp := filepath.Join(dir, BestFile)
	bb, err := read(BestFile)
	if err != nil {
		return err
	}
	bf, err := safetensors.Decode(bb)
	if err != nil {
		return fmt.Errorf("read %s: %w", bp, err)
	}
	if e := bf.Metadata["aegpu_best_epoch"]; e != strconv.Itoa(st.BestEpoch) {
		return fmt.Errorf("checkpoint in %s is inconsistent: %s holds epoch %s, %s says %d", dir, BestFile, e, StateFile, st.BestEpoch)
	}
	p := bf.Tensors["params"].Data
	if len(p) != t.Model.Params.Len() {
		return fmt.Errorf("%s has %d parameters, the model %d", bp, len(p), t.Model.Params.Len())
	}
	t.best, t.bestSaved = p, st.BestEpoch
	return nil
}

// batchesFor is the number of batches of an epoch of the run cfg
// describes (as NewTrainer sizes them).
func batchesFor(cfg Config) int {
	tr, va := cfg.Data.TrainRows, cfg.Data.ValRows
	batch := min(cfg.Train.Batch, max(tr, va))
	if batch <= 0 || tr <= 0 {
		return 0
	}
	return (tr + batch - 1) / batch
}

// validate checks a state read from path against the run's configuration:
// nb batches per epoch, nVal validation rows.
func (st State) validate(path string, cfg Config, nb, nVal int) error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("%s: %q is %v, want %s (the file was changed or damaged; restore the directory from a backup or retrain)", path, field, v, want)
	}
	finiteF := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	epochs := cfg.Train.Epochs
	if st.Epoch < 0 || st.Epoch > epochs {
		return bad("epoch", st.Epoch, fmt.Sprintf("0…%d (the run's epochs)", epochs))
	}
	if st.Batch < 0 || st.Batch >= max(nb, 1) || (st.Batch > 0 && st.Epoch == epochs) {
		return bad("batch", st.Batch, fmt.Sprintf("0…%d (an epoch has %d batches)", max(nb-1, 0), nb))
	}
	if want := int64(st.Epoch)*int64(nb) + int64(st.Batch); st.Step != want {
		return bad("step", st.Step, fmt.Sprintf("%d (epoch %d × %d batches + batch %d)", want, st.Epoch, nb, st.Batch))
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"epoch_loss", float64(st.EpochLoss)}, {"epoch_penalty", float64(st.EpochPen)}, {"epoch_kl", float64(st.EpochKL)}} {
		if !finiteF(f.v) {
			return bad(f.name, f.v, "a finite number")
		}
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"epoch_secs", st.EpochSecs}, {"train_seconds", st.TrainSeconds}} {
		if !finiteF(f.v) || f.v < 0 {
			return bad(f.name, f.v, "a finite number ≥ 0")
		}
	}
	if len(st.Metrics) != st.Epoch {
		return bad("metrics", fmt.Sprintf("%d entries", len(st.Metrics)), fmt.Sprintf("one per epoch done (%d)", st.Epoch))
	}
	for i, m := range st.Metrics {
		f := fmt.Sprintf("metrics[%d]", i)
		switch {
		case m.Epoch != i+1:
			return bad(f+".epoch", m.Epoch, strconv.Itoa(i+1))
		case m.Step != int64(i+1)*int64(nb):
			return bad(f+".step", m.Step, strconv.FormatInt(int64(i+1)*int64(nb), 10))
		case !finiteF(m.TrainLoss) || m.TrainLoss < 0:
			return bad(f+".train_loss", m.TrainLoss, "a finite loss ≥ 0")
		case m.ValLoss != nil && (!finiteF(*m.ValLoss) || *m.ValLoss < 0):
			return bad(f+".val_loss", *m.ValLoss, "a finite loss ≥ 0")
		}
	}
	switch {
	case st.BestEpoch < 0 || st.BestEpoch > st.Epoch:
		return bad("best_epoch", st.BestEpoch, fmt.Sprintf("0…%d (the epochs done)", st.Epoch))
	case nVal == 0 && st.BestEpoch != 0:
		return bad("best_epoch", st.BestEpoch, "0 (the run has no validation rows)")
	case nVal > 0 && st.Epoch > 0 && st.BestEpoch == 0:
		return bad("best_epoch", st.BestEpoch, fmt.Sprintf("1…%d (an epoch with a validation loss)", st.Epoch))
	case st.BestEpoch > 0 && (!finiteF(st.BestVal) || st.Metrics[st.BestEpoch-1].ValLoss == nil || *st.Metrics[st.BestEpoch-1].ValLoss != st.BestVal):
		return bad("best_val", st.BestVal, fmt.Sprintf("the validation loss of epoch %d", st.BestEpoch))
	case st.BadEpochs < 0 || st.BadEpochs > st.Epoch-st.BestEpoch:
		return bad("bad_epochs", st.BadEpochs, fmt.Sprintf("0…%d (epochs since the best)", st.Epoch-st.BestEpoch))
	}
	switch st.StopReason {
	case "":
		if st.Finished {
			return bad("stop_reason", `""`, `"epochs", "early_stopping" or "time" (finished is true)`)
		}
	case "epochs":
		if !st.Finished || st.Epoch != epochs {
			return bad("stop_reason", st.StopReason, fmt.Sprintf(`"" (finished %v after %d of %d epochs)`, st.Finished, st.Epoch, epochs))
		}
	case "early_stopping":
		if !st.Finished || cfg.Train.Patience <= 0 || st.BadEpochs < cfg.Train.Patience {
			return bad("stop_reason", st.StopReason, fmt.Sprintf(`"" (finished %v, patience %d, %d epochs without improvement)`, st.Finished, cfg.Train.Patience, st.BadEpochs))
		}
	case "time":
		if !st.Finished || cfg.Train.TimeBudget <= 0 {
			return bad("stop_reason", st.StopReason, fmt.Sprintf(`"" (finished %v, time budget %v s)`, st.Finished, cfg.Train.TimeBudget))
		}
	default:
		return bad("stop_reason", strconv.Quote(st.StopReason), `"", "epochs", "early_stopping" or "time"`)
	}
	return nil
}

// savePoint is where a checkpoint of this run was saved.
type savePoint struct {
	Epoch, Batch int
	Step         int64
}
