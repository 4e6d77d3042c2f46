package autoencoder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/aegpu/aegpu/engine"
)

// TestLegacyDirectoryLoadsAndResumes: a model directory written before
// checkpoint.json existed loads, resumes (and then gets a manifest), and
// one killed mid-save by that version is still refused as inconsistent.
func TestLegacyDirectoryLoadsAndResumes(t *testing.T) {
	base, opts := midEpochDir(t)
	b := opts.Backend
	dir := filepath.Join(t.TempDir(), "m")
	copyDir(t, base, dir)
	os.Remove(filepath.Join(dir, ManifestFile))
	m, _, err := LoadModel(dir, b)
	if err != nil {
		t.Fatal(err)
	}
	m.Free()
	if rep := Verify(dir, b); !rep.Legacy || rep.Damaged() {
		t.Errorf("Verify: %+v", rep)
	}
	r, err := ResumeRun(dir, opts.Data, b, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := ReadManifest(dir); err != nil || m == nil || m.Step != 13 {
		t.Errorf("after resuming: manifest %+v, %v", m, err)
	}
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if rep := Verify(dir, b); rep.Legacy || rep.Damaged() {
		t.Errorf("Verify after the resumed run: %+v", rep)
	}
	// Written by the earlier version and killed between two files.
	dir = filepath.Join(t.TempDir(), "m")
	copyDir(t, base, dir)
	os.Remove(filepath.Join(dir, ManifestFile))
	mdl, _, _ := LoadModel(dir, b)
	SaveWeights(filepath.Join(dir, WeightsFile), mdl, 25)
	mdl.Free()
	if _, err := ResumeRun(dir, opts.Data, b, 0, nil, nil); err == nil || !strings.Contains(err.Error(), "inconsistent") {
		t.Errorf("a legacy directory with mismatched steps: %v", err)
	}
}

// TestNaNMessageSaysWhatIsKept: the NaN error says what the directory
// holds: nothing (not created), the earlier model, or this run's last
// checkpoint with its position; the advice names no CLI flag.
func TestNaNMessageSaysWhatIsKept(t *testing.T) {
	b := cpu(t)
	diverge := func(dir string, replace bool) (*NaNError, *Run) {
		opts := fitOpts(t, b, dir)
		opts.Replace = replace
		opts.Arch.Output = engine.Linear
		opts.Train.Optimizer, opts.Train.Momentum, opts.Train.LR = "sgd", 0, 1e30
		r, err := NewRun(opts)
		if err != nil {
			t.Fatal(err)
		}
		err = r.Train(context.Background())
		var ne *NaNError
		if !errors.As(err, &ne) {
			t.Fatalf("err = %v, want a NaNError", err)
		}
		if strings.Contains(err.Error(), "--") {
			t.Errorf("the library's message names a flag: %v", err)
		}
		return ne, r
	}
	dir := filepath.Join(t.TempDir(), "new")
	ne, r := diverge(dir, false)
	r.Close()
	if ne.Saved || ne.Kept != "absent" || !strings.Contains(ne.Error(), dir+" was not created") || strings.Contains(ne.Error(), "was kept") {
		t.Errorf("a new directory: %+v: %v", ne, ne)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("%s was created", dir)
	}
	// Over an earlier model (replace): it is still there, unchanged.
	earlier := filepath.Join(t.TempDir(), "earlier")
	o := fitOpts(t, b, earlier)
	o.Train.Epochs = 1
	trainTo(t, o)
	before, _, _ := committedWeights(earlier)
	ne, r = diverge(earlier, true)
	r.Close()
	if ne.Saved || !strings.Contains(ne.Error(), "still holds the model it held before, not this run's") {
		t.Errorf("over an earlier model: %v", ne)
	}
	if after, _, err := committedWeights(earlier); err != nil || !bytes.Equal(before, after) {
		t.Errorf("the earlier model changed: %v", err)
	}
	// A resumed run diverging: the checkpoint it resumed from, mid-epoch.
	base, opts := midEpochDir(t)
	r, err := ResumeRun(base, opts.Data, opts.Backend, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Trainer.Cfg.LR = 1e30
	r.Trainer.Cfg.Optimizer = "sgd"
	err = r.Train(context.Background())
	r.Close()
	if !errors.As(err, &ne) || !ne.Saved || !strings.Contains(err.Error(), "saved in epoch 2 at batch 4 (step 13), is kept in "+base) {
		t.Errorf("a resumed run: %v", err)
	}
}

// TestFailedFirstSaveLeavesNothing: a run that fails before or during its
// first checkpoint leaves no directory, and a rerun needs no --force; the
// checks come before anything is created.
func TestFailedFirstSaveLeavesNothing(t *testing.T) {
	b := cpu(t)
	parent := t.TempDir()
	dir := filepath.Join(parent, "m")
	opts := fitOpts(t, b, dir)
	opts.Arch.Layers = []int{10, 4}
	if _, err := NewRun(opts); err == nil {
		t.Fatal("a width mismatch was accepted")
	}
	opts = fitOpts(t, b, dir)
	boom := errors.New("disk full")
	crashHook = func(p string) error {
		if p == "temp "+OptimizerFile {
			return boom
		}
		return nil
	}
	r, err := NewRun(opts)
	if err != nil {
		t.Fatal(err)
	}
	err = r.Train(context.Background())
	crashHook = nil
	r.Close()
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
	trainTo(t, opts) // no --force needed
	// A directory an earlier version left after failing (a config only)
	// does not block a new run.
	dir2 := filepath.Join(parent, "old-failed")
	os.Mkdir(dir2, 0o755)
	os.WriteFile(filepath.Join(dir2, ConfigFile), []byte("{}"), 0o644)
	os.WriteFile(filepath.Join(dir2, ".model.safetensors.tmp-123"), make([]byte, 1<<20), 0o644)
	trainTo(t, fitOpts(t, b, dir2))
	checkNoLeftovers(t, dir2)
	// A model, and files that are not part of a model, are refused.
	if _, err := NewRun(fitOpts(t, b, dir)); !errors.Is(err, ErrHoldsModel) {
		t.Errorf("over a model without Replace: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "notes.txt"), nil, 0o644)
	o := fitOpts(t, b, dir)
	o.Replace = true
	if _, err := NewRun(o); err == nil || !strings.Contains(err.Error(), "notes.txt") {
		t.Errorf("replacing a directory with other files: %v", err)
	}
	other := filepath.Join(parent, "data")
	os.Mkdir(other, 0o755)
	os.WriteFile(filepath.Join(other, "x.csv"), nil, 0o644)
	if _, err := NewRun(fitOpts(t, b, other)); err == nil || !strings.Contains(err.Error(), "x.csv") {
		t.Errorf("a directory with other files: %v", err)
	}
}

// TestLeftoversAreCleaned: temporary files of killed saves, .prev files
// and staging directories go when the next run takes the directory.
func TestLeftoversAreCleaned(t *testing.T) {
	base, opts := midEpochDir(t)
	junk := []string{".model.safetensors.tmp-111", ".optimizer.safetensors.tmp-222", ".checkpoint.json.tmp-3", "best.safetensors.prev"}
	for _, j := range junk {
		os.WriteFile(filepath.Join(base, j), make([]byte, 13<<20/4), 0o644)
	}
	stage := filepath.Join(filepath.Dir(base), ".m.new-4711")
	os.Mkdir(stage, 0o755)
	os.WriteFile(filepath.Join(stage, WeightsFile), []byte("partial"), 0o644)
	if rep := Verify(base, nil); len(rep.Leftovers) != len(junk)+1 || rep.Damaged() {
		t.Errorf("Verify: leftovers %v, damaged %v", rep.Leftovers, rep.Damaged())
	}
	r, err := ResumeRun(base, opts.Data, opts.Backend, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Cleaned != len(junk) || r.CleanedBytes != int64(len(junk))*(13<<20/4) {
		t.Errorf("cleaned %d files, %d bytes", r.Cleaned, r.CleanedBytes)
	}
	r.Close()
	checkNoLeftovers(t, base)
}

// TestSecondHolderIsRefused: while another process holds the directory's
// lock (here: a flock on the lock file through another descriptor, with
// that process's PID in it), a new run and a resume are refused naming
// the PID; the lock file goes with the run that held it.
func TestSecondHolderIsRefused(t *testing.T) {
	base, opts := midEpochDir(t)
	lockFile := filepath.Join(filepath.Dir(base), ".m.lock")
	f, err := os.OpenFile(lockFile, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	f.WriteString("4242\n")
	var iu *InUseError
	if _, err := ResumeRun(base, opts.Data, opts.Backend, 0, nil, nil); !errors.As(err, &iu) || iu.PID != 4242 || !strings.Contains(err.Error(), "PID 4242") {
		t.Errorf("resume: %v", err)
	}
	o := fitOpts(t, opts.Backend, base)
	o.Replace = true
	if _, err := NewRun(o); !errors.As(err, &iu) || iu.PID != 4242 {
		t.Errorf("new run: %v", err)
	}
	if err := CheckNewDir(base, true); !errors.As(err, &iu) {
		t.Errorf("CheckNewDir: %v", err)
	}
	f.Close() // the other process ends
	r, err := ResumeRun(base, opts.Data, opts.Backend, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(lockFile); strings.TrimSpace(string(b)) != fmt.Sprint(os.Getpid()) {
		t.Errorf("lock file holds %q, want this process's PID", b)
	}
	r.Close()
	if _, err := os.Stat(lockFile); err == nil {
		t.Error("the lock file stays after the run")
	}
}

// TestSaveModelAndWriteConfigKeepTheManifest: SaveModel over a training
// checkpoint and WriteConfig leave a directory that verifies and loads.
func TestSaveModelAndWriteConfigKeepTheManifest(t *testing.T) {
	base, opts := midEpochDir(t)
	b := opts.Backend
	m, cfg, err := LoadModel(base, b)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	cfg.ImageShape = []int{2, 4}
	if err := WriteConfig(base, cfg); err != nil {
		t.Fatal(err)
	}
	if c, err := ReadConfig(base); err != nil || len(c.ImageShape) != 2 {
		t.Errorf("after WriteConfig: %v %v", c.ImageShape, err)
	}
	if rep := Verify(base, b); rep.Damaged() {
		t.Errorf("Verify after WriteConfig: %+v", rep)
	}
	if err := SaveModel(base, m, cfg); err != nil {
		t.Fatal(err)
	}
	rep := Verify(base, b)
	if rep.Damaged() || len(rep.Files) != 2 || len(rep.Leftovers) > 0 {
		t.Errorf("Verify after SaveModel: %+v", rep)
	}
	fresh := filepath.Join(t.TempDir(), "saved")
	if err := SaveModel(fresh, m, cfg); err != nil {
		t.Fatal(err)
	}
	m2, _, err := LoadModel(fresh, b)
	if err != nil {
		t.Fatal(err)
	}
	m2.Free()
	checkNoLeftovers(t, fresh)
}
