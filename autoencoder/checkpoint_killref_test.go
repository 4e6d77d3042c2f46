package autoencoder

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// killRef is what an uninterrupted run writes: the weights of each
// checkpoint; and the directories the scenarios start from.
type killRef struct {
	gens   [][]byte // committed model.safetensors after save i
	steps  []int64
	old    []byte // the earlier model of the replace scenarios
	legacy string // a template legacy directory (after epoch 1)
	model  string // a template earlier model
}

func committedWeights(dir string) ([]byte, int64, error) {
	m, files, err := readChecked(dir, ConfigFile, WeightsFile)
	if err != nil {
		return nil, 0, err
	}
	step := int64(-1) // a directory without a manifest
	if m != nil {
		step = m.Step
	}
	return files[WeightsFile], step, nil
}

func buildKillRef(t *testing.T) *killRef {
	t.Helper()
	ref := &killRef{}
	base := fastTempDir(t)
	// The uninterrupted run, recording the boundaries.
	dir := filepath.Join(base, "ref")
	opts := killOpts(t, dir)
	r, err := NewRun(opts)
	if err != nil {
		t.Fatal(err)
	}
	save := r.Trainer.Checkpoint
	r.Trainer.Checkpoint = func(tr *Trainer) error {
		if err := boundary("save-begin"); err != nil {
			return err
		}
		if err := save(tr); err != nil {
			return err
		}
		w, step, err := committedWeights(dir)
		if err != nil {
			return err
		}
		ref.gens, ref.steps = append(ref.gens, w), append(ref.steps, step)
		return nil
	}
	err = r.Train(context.Background())
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(ref.gens) != 4 {
		t.Fatalf("%d checkpoints, want 4", len(ref.gens))
	}
	// An earlier, different model for the replace scenarios.
	ref.model = filepath.Join(base, "earlier")
	o := killOpts(t, ref.model)
	o.Train.Seed, o.Train.Epochs = 99, 1
	trainTo(t, o)
	ref.old, _, _ = committedWeights(ref.model)
	// A directory of an earlier aegpu: this run's checkpoint after epoch
	// 1 without checkpoint.json.
	ref.legacy = filepath.Join(base, "legacy")
	o = killOpts(t, ref.legacy)
	r, err = NewRun(o)
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop after epoch 1")
	save = r.Trainer.Checkpoint
	r.Trainer.Checkpoint = func(tr *Trainer) error {
		if err := save(tr); err != nil {
			return err
		}
		return stop
	}
	if err := r.Train(context.Background()); !errors.Is(err, stop) {
		t.Fatalf("legacy template: %v", err)
	}
	r.Close()
	if err := os.Remove(filepath.Join(ref.legacy, ManifestFile)); err != nil {
		t.Fatal(err)
	}
	return ref
}

func trainTo(t *testing.T, opts FitOptions) {
	t.Helper()
	r, err := NewRun(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// prepareScenario makes a fresh directory for scenario sc.
func prepareScenario(t *testing.T, ref *killRef, sc string) string {
	t.Helper()
	dir := filepath.Join(fastTempDir(t), "m")
	switch sc {
	case "empty":
		os.Mkdir(dir, 0o755)
	case "replace", "replace-noexchange", "replace-mount":
		copyDir(t, ref.model, dir)
	case "legacy":
		copyDir(t, ref.legacy, dir)
	}
	return dir
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
}

// fastTempDir is a temporary directory on a memory filesystem when there is
// one (/dev/shm): the kill tests save thousands of checkpoints, and a
// disk's fsyncs would make them slow. The protocol is the same on any
// filesystem; cmd/aegpu's random-kill test runs on the disk.
func fastTempDir(t *testing.T) string {
	t.Helper()
	if d, err := os.MkdirTemp("/dev/shm", "aegpu-test-"); err == nil {
		t.Cleanup(func() { os.RemoveAll(d) })
		return d
	}
	return t.TempDir()
}

// midEpochDir trains the fitOpts run (3 epochs) into a new directory and
