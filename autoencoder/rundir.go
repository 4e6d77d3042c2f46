package autoencoder

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/aegpu/aegpu/internal/atomicfile"
)

// exchange swaps two directories atomically (a variable so tests can take
// the fallback of filesystems without it).
var exchange = atomicfile.Exchange

// ErrHoldsModel is returned when a new run's directory already holds a
// model and FitOptions.Replace is not set.
var ErrHoldsModel = errors.New("already holds a model")

// InUseError reports a model directory locked by another process (a
// training run, or a save).
type InUseError struct {
	Dir      string
	PID      int // 0: unknown
	LockFile string
}

func (e *InUseError) Error() string {
	who := "another aegpu process"
	if e.PID > 0 {
		who = fmt.Sprintf("another aegpu process (PID %d)", e.PID)
	}
	return fmt.Sprintf("%s is in use by %s; wait for it to finish or stop it (lock file %s)", e.Dir, who, e.LockFile)
}

// dirKind is what a model directory's path holds.
type dirKind int

const (
	dirAbsent dirKind = iota // nothing
	dirEmpty                 // an empty directory
	dirDebris                // only files aegpu writes, but no model (left by a failed run of an earlier version)
	dirModel                 // a model
)

// target is a model directory's path and what it holds.
type target struct {
	dir          string // as given
	path         string // absolute, symbolic links resolved
	parent, name string
	kind         dirKind
	foreign      []string // files aegpu did not write
}

// targetOf resolves dir's path.
func targetOf(dir string) (target, error) {
	t := target{dir: dir}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return t, err
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	t.path, t.parent, t.name = abs, filepath.Dir(abs), filepath.Base(abs)
	if t.name == string(filepath.Separator) || t.name == "." || t.parent == abs {
		return t, fmt.Errorf("%s cannot be a model directory", dir)
	}
	return t, nil
}

// inspectDir says what dir holds.
func inspectDir(dir string) (target, error) {
	t, err := targetOf(dir)
	if err != nil {
		return t, err
	}
	fi, err := os.Stat(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		t.kind = dirAbsent
		return t, nil
	}
	if err != nil {
		return t, err
	}
	if !fi.IsDir() {
		return t, fmt.Errorf("%s exists and is not a directory", dir)
	}
	ents, err := os.ReadDir(t.path)
	if err != nil {
		return t, err
	}
	if len(ents) == 0 {
		t.kind = dirEmpty
		return t, nil
	}
	t.kind = dirDebris
	for _, e := range ents {
		if !ownFile(e.Name()) || e.IsDir() {
			t.foreign = append(t.foreign, e.Name())
		}
	}
	if exists(filepath.Join(t.path, ManifestFile)) || (exists(filepath.Join(t.path, ConfigFile)) && exists(filepath.Join(t.path, WeightsFile))) {
		t.kind = dirModel
	}
	return t, nil
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

func (t target) lockFile() string { return filepath.Join(t.parent, "."+t.name+".lock") }

// lockDir takes the exclusive lock of the model directory dir (a lock file
// beside it, PARENT/.NAME.lock, so that it survives replacing the
// directory as a whole), creating PARENT if needed. Another holder is an
// *InUseError naming its PID.
func lockDir(dir string) (*atomicfile.FileLock, error) {
	t, err := targetOf(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(t.parent, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create model directory %s: %w", dir, err)
	}
	l, err := atomicfile.Lock(t.lockFile())
	var le *atomicfile.LockedError
	if errors.As(err, &le) {
		return nil, &InUseError{Dir: dir, PID: le.PID, LockFile: le.Path}
	}
	if err != nil {
		return nil, fmt.Errorf("model directory %s: cannot take its lock: %w", dir, err)
	}
	return l, nil
}

// lockQuiet is lockDir for writers that worked without a lock before (an
// unwritable parent is no error there; another holder is).
func lockQuiet(dir string) (*atomicfile.FileLock, error) {
	l, err := lockDir(dir)
	var iu *InUseError
	if errors.As(err, &iu) {
		return nil, err
	}
	return l, nil
}

// cleanStale removes what runs killed while creating or replacing t's
// directory left beside it: staging directories (.NAME.new-*), and
// replaced directories (.NAME.old-*) of earlier versions. The caller
// holds the lock.
func cleanStale(t target) error {
	news, _ := filepath.Glob(filepath.Join(t.parent, "."+t.name+".new-*"))
	olds, _ := filepath.Glob(filepath.Join(t.parent, "."+t.name+".old-*"))
	for _, d := range append(news, olds...) {
		if err := os.RemoveAll(d); err != nil {
			return err
		}
	}
	return nil
}

// newStage creates the staging directory of t's first checkpoint.
func newStage(t target) (string, error) {
	if err := os.MkdirAll(t.parent, 0o755); err != nil {
		return "", fmt.Errorf("cannot create model directory %s: %w", t.dir, err)
	}
	stage, err := os.MkdirTemp(t.parent, "."+t.name+".new-")
	if err != nil {
		return "", fmt.Errorf("cannot create model directory %s: %w", t.dir, err)
	}
	if err := os.Chmod(stage, 0o755); err != nil {
		os.RemoveAll(stage)
		return "", err
	}
	return stage, nil
}

// publish moves the complete checkpoint in stage to t's path: one rename
// when nothing is there; over a model or leftovers, one atomic exchange of
// the two directories (then the old one is removed) or, where the
// filesystem cannot exchange, a generation committed in place over the
// old model's files (the old model stays until the new manifest is in
// place). (An empty directory, a mount point or the working directory is
// not staged: see Run.checkpoint.)
func publish(stage string, t target) error {
	if err := boundary("stage complete"); err != nil {
		return err
	}
	var err error
	switch t.kind {
	case dirAbsent:
		err = os.Rename(stage, t.path)
	default:
		switch err = exchange(stage, t.path); {
		case err == nil:
			if err := boundary("exchanged"); err != nil {
				return err
			}
		case errors.Is(err, atomicfile.ErrNoExchange):
			err = replaceInPlace(stage, t)
		}
	}
	if err != nil {
		os.RemoveAll(stage)
		return fmt.Errorf("cannot move the checkpoint into %s: %w", t.dir, err)
	}
	atomicfile.SyncDir(t.parent)
	if err := boundary("published"); err != nil {
		return err
	}
	if t.kind != dirAbsent {
		os.RemoveAll(stage) // now the replaced model, or an emptied stage
	}
	return nil
}

// stageable reports whether a new checkpoint for t can be staged beside it
// and moved in by renaming directories: not into an empty directory (it
// may be a mount point, and nothing needs replacing), a mount point
// (another filesystem than its parent's) or the working directory.
func stageable(t target) bool {
	return t.kind == dirAbsent || (t.kind != dirEmpty && !isWorkingDir(t.path) && !isMountPoint(t))
}

// isMountPoint reports whether t's directory is on another filesystem
// than its parent (a variable for tests).
var isMountPoint = func(t target) bool {
	var a, b syscall.Stat_t
	if syscall.Stat(t.path, &a) != nil || syscall.Stat(t.parent, &b) != nil {
		return false
	}
	return a.Dev != b.Dev
}

// prepareInPlace readies the directory t, which holds an earlier model,
// leftovers or nothing, for a first checkpoint committed in place over it:
// it returns the manifest of what is there (written now for a model of an
// earlier aegpu) and removes the earlier model's threshold.
func prepareInPlace(t target) (*Manifest, error) {
	if t.kind == dirEmpty {
		return nil, nil
	}
	prev, _, _, err := repairDir(t.path)
	if err != nil {
		prev = nil // a damaged model: replaced all the same
	}
	if prev == nil && t.kind == dirModel {
		if prev, err = adoptLegacy(t.path, 0, 0, 0); err != nil {
			return nil, err
		}
	}
	// The earlier model's threshold is not the new one's (removed first:
	// a kill must not leave it beside the new model).
	if err := os.Remove(filepath.Join(t.path, ThresholdFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return prev, nil
}

// isWorkingDir reports whether dir is the working directory or holds it.
func isWorkingDir(dir string) bool {
	wd, err := os.Getwd()
	if err != nil {
		return false
	}
	if r, err := filepath.EvalSymlinks(wd); err == nil {
		wd = r
	}
	return wd == dir || strings.HasPrefix(wd, dir+string(filepath.Separator))
}

// replaceInPlace commits the staged checkpoint as a new generation of the
// model directory t over what it holds (see commitGeneration): the staged
// files are renamed in as the generation's temporary files.
func replaceInPlace(stage string, t target) error {
	sm, err := ReadManifest(stage)
	if err != nil || sm == nil {
		return fmt.Errorf("internal: staged checkpoint without manifest: %v", err)
	}
	prev, err := prepareInPlace(t)
	if err != nil {
		return err
	}
	var files []genFile
	for n, sum := range sm.Files {
		files = append(files, genFile{name: n, from: filepath.Join(stage, n), sum: sum})
	}
	_, err = commitGeneration(t.path, prev, Manifest{Step: sm.Step, Epoch: sm.Epoch, Batch: sm.Batch}, files, nil)
	return err
}
