package autoencoder

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/internal/atomicfile"
	"github.com/aegpu/aegpu/internal/safetensors"
)

// Files of a model directory. Each is written atomically; state.json is
// written last and names the step that model.safetensors and
// optimizer.safetensors must carry, so a run killed between two files is
// detected rather than resumed from mismatched pieces.
const (
	ConfigFile    = "config.json"
	WeightsFile   = "model.safetensors"
	OptimizerFile = "optimizer.safetensors"
	BestFile      = "best.safetensors"
	StateFile     = "state.json"
	MetricsFile   = "metrics.jsonl"
)

// Version is the aegpu version recorded in model directories.
var Version = "0.1.0-dev"

func stepMeta(step int64, extra map[string]string) map[string]string {
	m := map[string]string{"format": "pt", "aegpu_step": strconv.FormatInt(step, 10)}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// SaveWeights writes the model's parameters to dir/model.safetensors.
func SaveWeights(path string, m *Model, step int64) error {
	ts, err := m.Tensors()
	if err != nil {
		return err
	}
	return safetensors.WriteFile(path, ts, stepMeta(step, map[string]string{"aegpu_arch": m.Arch.String()}))
}

// WriteConfig writes dir/config.json.
func WriteConfig(dir string, c Config) error {
	b, err := c.marshal()
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(filepath.Join(dir, ConfigFile), b)
}

// ReadConfig reads dir/config.json.
func ReadConfig(dir string) (Config, error) {
	var c Config
	p := filepath.Join(dir, ConfigFile)
	b, err := os.ReadFile(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return c, fmt.Errorf("%s is not a model directory: %s is missing", dir, ConfigFile)
		}
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("read %s: %w", p, err)
	}
	if c.Format != FormatVersion {
		return c, fmt.Errorf("read %s: model format %d, this aegpu reads format %d", p, c.Format, FormatVersion)
	}
	return c, nil
}

// LoadModel reads a model directory's config and weights onto b.
func LoadModel(dir string, b engine.Backend) (*Model, Config, error) {
	c, err := ReadConfig(dir)
	if err != nil {
		return nil, c, err
	}
	a, err := c.Arch()
	if err != nil {
		return nil, c, fmt.Errorf("%s: %w", filepath.Join(dir, ConfigFile), err)
	}
	m, err := NewModel(b, a)
	if err != nil {
		return nil, c, err
	}
	if _, err := loadWeights(filepath.Join(dir, WeightsFile), m); err != nil {
		m.Free()
		return nil, c, err
	}
	return m, c, nil
}

func loadWeights(path string, m *Model) (int64, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return 0, err
	}
	if err := m.SetTensors(f.Tensors); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	step, _ := strconv.ParseInt(f.Metadata["aegpu_step"], 10, 64)
	return step, nil
}

// SaveModel writes a usable model directory (config.json and
// model.safetensors; no training state) into dir.
func SaveModel(dir string, m *Model, c Config) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create model directory: %w", err)
	}
	if err := WriteConfig(dir, c); err != nil {
		return err
	}
	return SaveWeights(filepath.Join(dir, WeightsFile), m, 0)
}

// SaveCheckpoint writes everything needed to use the model and to resume
// training into dir: config, weights, optimizer state, best weights, the
// trainer state and metrics.jsonl.
func (t *Trainer) SaveCheckpoint(dir string, c Config) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create model directory: %w", err)
	}
	if err := WriteConfig(dir, c); err != nil {
		return err
	}
	step := t.State.Step
	if err := SaveWeights(filepath.Join(dir, WeightsFile), t.Model, step); err != nil {
		return err
	}
	s1, s2, err := t.OptimizerState()
	if err != nil {
		return err
	}
	ts := []safetensors.Tensor{{Name: "state1", Shape: []int{len(s1)}, Data: s1}}
	if s2 != nil {
		ts = append(ts, safetensors.Tensor{Name: "state2", Shape: []int{len(s2)}, Data: s2})
	}
	if err := safetensors.WriteFile(filepath.Join(dir, OptimizerFile), ts, stepMeta(step, map[string]string{"optimizer": t.Cfg.Optimizer})); err != nil {
		return err
	}
	if t.best != nil && t.bestSaved != t.State.BestEpoch {
		meta := stepMeta(step, map[string]string{"aegpu_best_epoch": strconv.Itoa(t.State.BestEpoch)})
		if err := safetensors.WriteFile(filepath.Join(dir, BestFile), []safetensors.Tensor{{Name: "params", Shape: []int{len(t.best)}, Data: t.best}}, meta); err != nil {
			return err
		}
		t.bestSaved = t.State.BestEpoch
	}
	sb, err := json.MarshalIndent(t.State, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(filepath.Join(dir, StateFile), append(sb, '\n')); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, MetricsFile), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for _, m := range t.State.Metrics {
			if err := enc.Encode(m); err != nil {
				return err
			}
		}
		return nil
	})
}

// LoadCheckpoint restores weights, optimizer state, best weights and the
// trainer state saved by SaveCheckpoint.
func (t *Trainer) LoadCheckpoint(dir string) error {
	sp := filepath.Join(dir, StateFile)
	sb, err := os.ReadFile(sp)
	if err != nil {
		return fmt.Errorf("cannot resume from %s: %w", dir, err)
	}
	var st State
	if err := json.Unmarshal(sb, &st); err != nil {
		return fmt.Errorf("read %s: %w", sp, err)
	}
	wstep, err := loadWeights(filepath.Join(dir, WeightsFile), t.Model)
	if err != nil {
		return err
	}
	if wstep != st.Step {
		return fmt.Errorf("checkpoint in %s is inconsistent: %s is from step %d but %s from step %d (a run was killed while saving); retrain or restore a backup", dir, WeightsFile, wstep, StateFile, st.Step)
	}
	op := filepath.Join(dir, OptimizerFile)
	of, err := safetensors.ReadFile(op)
	if err != nil {
		return err
	}
	if s := of.Metadata["aegpu_step"]; s != strconv.FormatInt(st.Step, 10) {
		return fmt.Errorf("checkpoint in %s is inconsistent: %s is from step %s but %s from step %d", dir, OptimizerFile, s, StateFile, st.Step)
	}
	if err := t.SetOptimizerState(of.Tensors["state1"].Data, of.Tensors["state2"].Data); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if st.BestEpoch > 0 {
		bp := filepath.Join(dir, BestFile)
		bf, err := safetensors.ReadFile(bp)
		if err != nil {
			return err
		}
		if e := bf.Metadata["aegpu_best_epoch"]; e != strconv.Itoa(st.BestEpoch) {
			return fmt.Errorf("checkpoint in %s is inconsistent: %s holds epoch %s, %s says %d", dir, BestFile, e, StateFile, st.BestEpoch)
		}
		p := bf.Tensors["params"].Data
		if len(p) != t.Model.Params.Len() {
			return fmt.Errorf("%s has %d parameters, the model %d", bp, len(p), t.Model.Params.Len())
		}
		t.best, t.bestSaved = p, st.BestEpoch
	}
	t.State = st
	return nil
}
