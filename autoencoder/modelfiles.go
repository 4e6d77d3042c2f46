package autoencoder

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/internal/atomicfile"
	"github.com/aegpu/aegpu/internal/safetensors"
)

func stepMeta(step int64, extra map[string]string) map[string]string {
	m := map[string]string{"format": "pt", "aegpu_step": strconv.FormatInt(step, 10)}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// SaveWeights writes the model's parameters to the safetensors file path
// (one file, atomically; not a checkpoint).
func SaveWeights(path string, m *Model, step int64) error {
	ts, err := m.Tensors()
	if err != nil {
		return err
	}
	return safetensors.WriteFile(path, ts, stepMeta(step, map[string]string{"aegpu_arch": m.Arch.String()}))
}

// WriteConfig writes dir/config.json. In a directory with a checkpoint it
// is a new generation that changes config.json only.
func WriteConfig(dir string, c Config) error {
	b, err := c.marshal()
	if err != nil {
		return err
	}
	lock, _ := lockQuiet(dir)
	defer lock.Unlock()
	m, _, _, err := repairDir(dir)
	if err != nil {
		return err
	}
	if m == nil {
		return atomicfile.WriteBytes(filepath.Join(dir, ConfigFile), b)
	}
	keep := slices.Collect(func(yield func(string) bool) {
		for n := range m.Files {
			if !yield(n) {
				return
			}
		}
	})
	_, err = commitGeneration(dir, m, Manifest{Step: m.Step, Epoch: m.Epoch, Batch: m.Batch}, []genFile{{name: ConfigFile, data: b}}, keep)
	return err
}

// ReadConfig reads dir/config.json (checked against the checkpoint's
// manifest when there is one).
func ReadConfig(dir string) (Config, error) {
	_, files, err := readChecked(dir, ConfigFile)
	if err != nil {
		return Config{}, err
	}
	return parseConfig(filepath.Join(dir, ConfigFile), files[ConfigFile])
}

func parseConfig(p string, b []byte) (Config, error) {
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("read %s: %w", p, err)
	}
	if c.Format != FormatVersion {
		return c, fmt.Errorf("read %s: model format %d, this aegpu reads format %d", p, c.Format, FormatVersion)
	}
	return c, nil
}

// LoadModel reads a model directory's config and weights onto b, checking
// both against the checkpoint's manifest (a directory written before
// manifests existed is read as it is).
func LoadModel(dir string, b engine.Backend) (*Model, Config, error) {
	_, files, err := readChecked(dir, ConfigFile, WeightsFile)
	if err != nil {
		var c Config
		return nil, c, err
	}
	c, err := parseConfig(filepath.Join(dir, ConfigFile), files[ConfigFile])
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
	if _, err := setWeights(filepath.Join(dir, WeightsFile), files[WeightsFile], m); err != nil {
		m.Free()
		return nil, c, err
	}
	return m, c, nil
}

// setWeights decodes the safetensors content b (from path) onto m and
// returns the step it records.
func setWeights(path string, b []byte, m *Model) (int64, error) {
	f, err := safetensors.Decode(b)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	if err := m.SetTensors(f.Tensors); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	step, _ := strconv.ParseInt(f.Metadata["aegpu_step"], 10, 64)
	return step, nil
}

func weightsFile(m *Model, step int64) (genFile, error) {
	ts, err := m.Tensors()
	if err != nil {
		return genFile{}, err
	}
	meta := stepMeta(step, map[string]string{"aegpu_arch": m.Arch.String()})
	return genFile{name: WeightsFile, fill: func(w io.Writer) error { return safetensors.Encode(w, ts, meta) }}, nil
}

// SaveModel writes a usable model directory (config.json and
// model.safetensors, with their manifest; no training state) into dir,
// replacing any model there as a unit. A new directory appears complete
// or not at all.
func SaveModel(dir string, m *Model, c Config) error {
	cb, err := c.marshal()
	if err != nil {
		return err
	}
	wf, err := weightsFile(m, 0)
	if err != nil {
		return err
	}
	files := []genFile{{name: ConfigFile, data: cb}, wf}
	lock, err := lockQuiet(dir)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	tg, err := inspectDir(dir)
	if err != nil {
		return err
	}
	if tg.kind == dirAbsent {
		stage, err := newStage(tg)
		if err != nil {
			return err
		}
		if _, err := commitGeneration(stage, nil, Manifest{}, files, nil); err != nil {
			os.RemoveAll(stage)
			return err
		}
		return publish(stage, tg)
	}
	prev, _, _, err := repairDir(tg.path)
	if err != nil {
		prev = nil // a damaged model: replaced all the same
	}
	if prev == nil && tg.kind == dirModel {
		if prev, err = adoptLegacy(tg.path, 0, 0, 0); err != nil {
			return err
		}
	}
	_, err = commitGeneration(tg.path, prev, Manifest{}, files, nil)
	return err
}

// ModelFiles are a model directory's config and weights, read and checked
// against its manifest but not yet on a device: a server reads a new
// version of a model while the old one keeps the device busy, and puts it
// on the device (Load) between two batches.
type ModelFiles struct {
	Dir    string
	Config Config
	Arch   Arch
	// Version is the SHA-256 (hex) of model.safetensors: the checksum the
	// manifest records for it, when the directory has a manifest.
	Version string
	weights []byte
}

// ReadModelFiles reads and checks dir's config and weights (see LoadModel).
func ReadModelFiles(dir string) (*ModelFiles, error) {
	_, files, err := readChecked(dir, ConfigFile, WeightsFile)
	if err != nil {
		return nil, err
	}
	c, err := parseConfig(filepath.Join(dir, ConfigFile), files[ConfigFile])
	if err != nil {
		return nil, err
	}
	a, err := c.Arch()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ConfigFile), err)
	}
	sum := sha256.Sum256(files[WeightsFile])
	return &ModelFiles{Dir: dir, Config: c, Arch: a, Version: hex.EncodeToString(sum[:]), weights: files[WeightsFile]}, nil
}

// Load puts the model on b.
func (f *ModelFiles) Load(b engine.Backend) (*Model, error) {
	m, err := NewModel(b, f.Arch)
	if err != nil {
		return nil, err
	}
	if _, err := setWeights(filepath.Join(f.Dir, WeightsFile), f.weights, m); err != nil {
		m.Free()
		return nil, err
	}
	return m, nil
}
