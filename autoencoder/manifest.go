package autoencoder

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/aegpu/aegpu/internal/atomicfile"
)

// Files of a model directory.
//
// # How a checkpoint is written
//
// A checkpoint is one generation of the files below, published as a unit.
// Readers (aegpu encode, PyTorch) keep opening DIR/model.safetensors and
// DIR/config.json directly, so the files stay plain files under their own
// names; the unit is made by a manifest, checkpoint.json, that names the
// step and the SHA-256 of every file of the generation and is written last.
// Saving generation N+1 over N:
//
//  1. every changed file is written to a temporary name (.NAME.tmp-*) and
//     fsynced; a file whose content is unchanged (config.json, usually
//     best.safetensors) is not rewritten;
//  2. for each changed file, the current version is kept as NAME.prev (a
//     hard link: no copy) and the temporary file is renamed over NAME; the
//     directory is fsynced;
//  3. checkpoint.json is written the same way (temporary name, fsync,
//     rename, directory fsync): this rename is the commit;
//  4. the .prev files are removed.
//
// A kill at any instant therefore leaves checkpoint.json naming either
// generation N, whose every file is NAME or else NAME.prev (steps 1–3), or
// generation N+1, whose files are all in place (after 3). Loading picks,
// for each file the manifest lists, the one of NAME and NAME.prev whose
// SHA-256 matches, so it loads a complete generation or reports the file
// that matches neither (damage); the next run that takes the directory's
// lock puts the .prev files back and removes temporary files.
//
// The first checkpoint of a new directory is written complete into a
// sibling directory (.DIR.new-*) and moved into place by one rename (or,
// over an existing model that is being replaced, one atomic exchange of the
// two directories); until then DIR does not exist, or still holds the
// model it held. Where directories cannot be swapped (an empty directory,
// which may be a mount point; a mount point; the working directory; a
// filesystem without atomic exchange) the first checkpoint is a generation
// committed in place like any other, over the earlier model's files; into
// an empty directory config.json is renamed in last before the manifest,
// so a kill leaves a directory without config.json (leftovers, replaced by
// the next run without --force) or a complete checkpoint. Directories written before checkpoint.json existed
// (config.json, model.safetensors, state.json) still load; they get a
// manifest the first time a run resumes them.
const (
	ConfigFile    = "config.json"
	WeightsFile   = "model.safetensors"
	OptimizerFile = "optimizer.safetensors"
	BestFile      = "best.safetensors"
	StateFile     = "state.json"
	MetricsFile   = "metrics.jsonl"
	// ManifestFile names the checkpoint's step and every file's SHA-256;
	// it is written last and commits the checkpoint.
	ManifestFile = "checkpoint.json"
	// PrevSuffix marks the previous generation's version of a file, kept
	// while a new checkpoint is being written.
	PrevSuffix = ".prev"
)

// checkpointFiles are the files a manifest may list, in the order a
// generation renames them: config.json last, so that a directory without
// a manifest (a first save that could not use a staging directory) is
// either missing its config or complete.
var checkpointFiles = []string{WeightsFile, OptimizerFile, BestFile, StateFile, MetricsFile, ConfigFile}

// ManifestFormat is the format of checkpoint.json written by this version.
const ManifestFormat = 1

// Manifest is checkpoint.json: which step a checkpoint holds and the
// SHA-256 and size of each of its files.
type Manifest struct {
	Format  int                `json:"format"`
	Step    int64              `json:"step"`
	Epoch   int                `json:"epoch"`
	Batch   int                `json:"batch"`
	Version string             `json:"aegpu_version"`
	Files   map[string]FileSum `json:"files"`
}

// FileSum is one file's entry in the manifest.
type FileSum struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Version is the aegpu version recorded in model directories.
var Version = "0.1.0-dev"

// DamagedError reports a file of a checkpoint whose content is not what
// the manifest recorded (changed after it was saved, or damaged on disk),
// or that is missing.
type DamagedError struct {
	Dir, File string
	Want, Got string // SHA-256 recorded and found ("" when missing)
}

func (e *DamagedError) Error() string {
	if e.Got == "" {
		return fmt.Sprintf("checkpoint in %s is damaged or inconsistent: %s is missing (%s lists it)", e.Dir, e.File, ManifestFile)
	}
	return fmt.Sprintf("checkpoint in %s is damaged or inconsistent: %s does not match the SHA-256 %s records (%.12s…, found %.12s…): "+
		"it was changed or damaged after it was saved; restore the directory from a backup or retrain", e.Dir, e.File, ManifestFile, e.Want, e.Got)
}

// ReadManifest reads dir/checkpoint.json; it returns nil and no error when
// there is none (a directory of an earlier aegpu, or none at all).
func ReadManifest(dir string) (*Manifest, error) {
	p := filepath.Join(dir, ManifestFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if m.Format != ManifestFormat {
		return nil, fmt.Errorf("read %s: checkpoint format %d, this aegpu reads format %d", p, m.Format, ManifestFormat)
	}
	for name, s := range m.Files {
		if !slices.Contains(checkpointFiles, name) || len(s.SHA256) != 64 {
			return nil, fmt.Errorf("read %s: bad entry %q", p, name)
		}
	}
	return &m, nil
}

// readVerified reads the file name of the checkpoint m describes in dir:
// dir/name, or dir/name.prev when a save was interrupted before its
// commit. It returns the content and the path it came from.
func readVerified(dir string, m *Manifest, name string) ([]byte, string, error) {
	want, ok := m.Files[name]
	if !ok {
		return nil, "", &DamagedError{Dir: dir, File: name}
	}
	p := filepath.Join(dir, name)
	sum, b, err := atomicfile.FileSHA256(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, "", err
	}
	if err == nil && sum == want.SHA256 {
		return b, p, nil
	}
	if psum, pb, perr := atomicfile.FileSHA256(p + PrevSuffix); perr == nil && psum == want.SHA256 {
		return pb, p + PrevSuffix, nil
	}
	return nil, "", &DamagedError{Dir: dir, File: name, Want: want.SHA256, Got: sum}
}

// readChecked reads the files of dir's current checkpoint, verified
// against its manifest (m nil: a directory without one, read as it is).
// A writer may commit a new checkpoint while this reads: on a mismatch
// the manifest is read again and, if it changed, the files too.
func readChecked(dir string, names ...string) (*Manifest, map[string][]byte, error) {
	for attempt := 0; ; attempt++ {
		m, err := ReadManifest(dir)
		if err != nil {
			return nil, nil, err
		}
		out := make(map[string][]byte, len(names))
		var rerr error
		for _, n := range names {
			if m == nil {
				b, err := os.ReadFile(filepath.Join(dir, n))
				if err != nil {
					if errors.Is(err, fs.ErrNotExist) && n == ConfigFile {
						err = fmt.Errorf("%s is not a model directory: %s is missing", dir, ConfigFile)
					}
					return nil, nil, err
				}
				out[n] = b
				continue
			}
			b, _, err := readVerified(dir, m, n)
			if err != nil {
				rerr = err
				break
			}
			out[n] = b
		}
		if rerr == nil {
			return m, out, nil
		}
		if m2, err := ReadManifest(dir); attempt < 3 && err == nil && m2 != nil && !sameManifest(m, m2) {
			continue
		}
		return nil, nil, rerr
	}
}

func sameManifest(a, b *Manifest) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
