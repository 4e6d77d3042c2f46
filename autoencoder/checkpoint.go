package autoencoder

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/internal/atomicfile"
	"github.com/aegpu/aegpu/internal/safetensors"
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

// crashHook, when set (by tests), is called at every boundary of a
// checkpoint's writing: after each temporary file, each kept .prev, each
// rename, the manifest's commit and the cleanup. An error makes the writer
// fail there; a hook that exits the process is a kill at that instant.
var crashHook func(point string) error

func boundary(point string) error {
	if crashHook != nil {
		return crashHook(point)
	}
	return nil
}

// exchange swaps two directories atomically (a variable so tests can take
// the fallback of filesystems without it).
var exchange = atomicfile.Exchange

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

// genFile is one file of a generation: its content, produced by fill.
type genFile struct {
	name string
	data []byte // content known in advance (then fill is nil)
	fill func(io.Writer) error
	from string  // or: a file already written and synced (on dir's filesystem), with its sum
	sum  FileSum // of from
}

// commitGeneration publishes files as the new checkpoint of dir (see the
// Files comment above): prev is the checkpoint dir holds now (nil: none),
// next the new manifest, whose Files it fills. Entries of prev named in
// keep stay as they are; prev's other files that files does not replace
// are removed after the commit. On an error before the commit the
// directory is put back as it was.
func commitGeneration(dir string, prev *Manifest, next Manifest, files []genFile, keep []string) (*Manifest, error) {
	next.Format, next.Version, next.Files = ManifestFormat, Version, map[string]FileSum{}
	if prev != nil {
		for _, k := range keep {
			if s, ok := prev.Files[k]; ok {
				next.Files[k] = s
			}
		}
	}
	var pending []*atomicfile.Pending
	renamed := []string{}
	kept := map[string]bool{} // files whose previous version is in NAME.prev
	fail := func(err error) (*Manifest, error) {
		for _, p := range pending {
			p.Discard()
		}
		for i := len(renamed) - 1; i >= 0; i-- { // roll back, newest first
			p := filepath.Join(dir, renamed[i])
			if kept[renamed[i]] {
				os.Rename(p+PrevSuffix, p)
			} else {
				os.Remove(p) // new in this generation
			}
		}
		atomicfile.SyncDir(dir)
		return nil, err
	}
	order := map[string]int{}
	for i, n := range checkpointFiles {
		order[n] = i
	}
	slices.SortStableFunc(files, func(a, b genFile) int { return order[a.name] - order[b.name] })
	for _, f := range files {
		if f.data != nil && prev != nil && prev.Files[f.name].SHA256 == atomicfile.BytesSHA256(f.data) {
			next.Files[f.name] = prev.Files[f.name] // unchanged: not rewritten
			continue
		}
		if f.from != "" {
			p := &atomicfile.Pending{Path: filepath.Join(dir, f.name), SHA256: f.sum.SHA256, Size: f.sum.Size}
			p.Tmp = unusedName(filepath.Join(dir, "."+f.name+atomicfile.TempInfix))
			if err := os.Rename(f.from, p.Tmp); err != nil {
				return fail(err)
			}
			pending = append(pending, p)
			next.Files[f.name] = f.sum
			if err := boundary("temp " + f.name); err != nil {
				return fail(err)
			}
			continue
		}
		fill := f.fill
		if fill == nil {
			data := f.data
			fill = func(w io.Writer) error { _, err := w.Write(data); return err }
		}
		p, err := atomicfile.Prepare(filepath.Join(dir, f.name), fill)
		if err != nil {
			return fail(err)
		}
		pending = append(pending, p)
		next.Files[f.name] = FileSum{SHA256: p.SHA256, Size: p.Size}
		if err := boundary("temp " + f.name); err != nil {
			return fail(err)
		}
	}
	for len(pending) > 0 {
		p := pending[0]
		name := filepath.Base(p.Path)
		had := exists(p.Path)
		if err := atomicfile.KeepPrev(p.Path, p.Path+PrevSuffix); err != nil {
			return fail(err)
		}
		kept[name] = had
		if err := boundary("prev " + name); err != nil {
			return fail(err)
		}
		if err := p.Commit(); err != nil {
			return fail(err)
		}
		pending, renamed = pending[1:], append(renamed, name)
		if err := boundary("rename " + name); err != nil {
			return fail(err)
		}
	}
	atomicfile.SyncDir(dir) // not fatal: some filesystems cannot sync a directory
	mb, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return fail(err)
	}
	mp, err := atomicfile.Prepare(filepath.Join(dir, ManifestFile), func(w io.Writer) error { _, err := w.Write(append(mb, '\n')); return err })
	if err != nil {
		return fail(err)
	}
	pending = append(pending, mp)
	if err := boundary("temp " + ManifestFile); err != nil {
		return fail(err)
	}
	if err := mp.Commit(); err != nil {
		return fail(err)
	}
	pending = nil
	atomicfile.SyncDir(dir)
	// Committed: from here on the new generation is the checkpoint.
	if err := boundary("commit"); err != nil {
		return &next, err
	}
	for _, n := range renamed {
		os.Remove(filepath.Join(dir, n+PrevSuffix))
	}
	for _, n := range checkpointFiles { // prev's files that next drops, and strays
		if _, ok := next.Files[n]; !ok {
			os.Remove(filepath.Join(dir, n))
		}
	}
	if err := boundary("cleanup"); err != nil {
		return &next, err
	}
	return &next, nil
}

// repairDir finishes what an interrupted save left in dir: it puts back
// the .prev version of each file that the manifest names, removes .prev
// files, files of a checkpoint the manifest does not list, and temporary
// files. It returns the manifest (nil when dir has none) and what it
// removed.
func repairDir(dir string) (*Manifest, int, int64, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, 0, 0, err
	}
	if m != nil {
		for name := range m.Files {
			_, from, err := readVerified(dir, m, name)
			if err != nil {
				return m, 0, 0, err
			}
			if strings.HasSuffix(from, PrevSuffix) {
				if err := os.Rename(from, filepath.Join(dir, name)); err != nil {
					return m, 0, 0, err
				}
			}
		}
		for _, name := range checkpointFiles {
			if _, ok := m.Files[name]; !ok {
				os.Remove(filepath.Join(dir, name))
			}
		}
	}
	files, nbytes := 0, int64(0)
	for _, name := range checkpointFiles {
		p := filepath.Join(dir, name+PrevSuffix)
		if fi, err := os.Lstat(p); err == nil && os.Remove(p) == nil {
			files, nbytes = files+1, nbytes+fi.Size()
		}
	}
	tf, tb, _ := atomicfile.RemoveTemps(dir, ownBaseNames()...)
	probes, _ := filepath.Glob(filepath.Join(dir, ".write-test-*")) // earlier versions' write probes
	for _, p := range probes {
		if os.Remove(p) == nil {
			tf++
		}
	}
	atomicfile.SyncDir(dir)
	return m, files + tf, nbytes + tb, nil
}

// ownBaseNames are the names of the files aegpu writes in a model
// directory, whose temporary files RemoveTemps may remove.
func ownBaseNames() []string {
	out := append(slices.Clone(checkpointFiles), ManifestFile, ThresholdFile)
	for _, n := range checkpointFiles {
		out = append(out, n+PrevSuffix)
	}
	return out
}

// ownFile reports whether name is a file aegpu itself writes in a model
// directory (or left there: temporary files, .prev files, the write probe
// of earlier versions).
func ownFile(name string) bool {
	base := ownBaseNames()
	return slices.Contains(base, name) || atomicfile.TempOf(name, base...) || strings.HasPrefix(name, ".write-test-")
}

// adoptLegacy gives a directory written before manifests existed (already
// checked for consistency by its loader) a manifest of the files it holds,
// so that saving over it is as safe as over any other.
func adoptLegacy(dir string, step int64, epoch, batch int) (*Manifest, error) {
	m := Manifest{Format: ManifestFormat, Version: Version, Step: step, Epoch: epoch, Batch: batch, Files: map[string]FileSum{}}
	for _, n := range checkpointFiles {
		sum, b, err := atomicfile.FileSHA256(filepath.Join(dir, n))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		m.Files[n] = FileSum{SHA256: sum, Size: int64(len(b))}
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteBytes(filepath.Join(dir, ManifestFile), append(mb, '\n')); err != nil {
		return nil, err
	}
	return &m, nil
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
	wf, err := weightsFile(t.Model, step)
	if err != nil {
		return err
	}
	s1, s2, err := t.OptimizerState()
	if err != nil {
		return err
	}
	ots := []safetensors.Tensor{{Name: "state1", Shape: []int{len(s1)}, Data: s1}}
	if s2 != nil {
		ots = append(ots, safetensors.Tensor{Name: "state2", Shape: []int{len(s2)}, Data: s2})
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
	if st.BestEpoch > 0 {
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
	}
	t.State = st
	t.ckpt, t.ckptDir = m, dir
	t.lastSave = &savePoint{Epoch: st.Epoch, Batch: st.Batch, Step: st.Step}
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
			return bad("stop_reason", `""`, `"epochs" or "early_stopping" (finished is true)`)
		}
	case "epochs":
		if !st.Finished || st.Epoch != epochs {
			return bad("stop_reason", st.StopReason, fmt.Sprintf(`"" (finished %v after %d of %d epochs)`, st.Finished, st.Epoch, epochs))
		}
	case "early_stopping":
		if !st.Finished || cfg.Train.Patience <= 0 || st.BadEpochs < cfg.Train.Patience {
			return bad("stop_reason", st.StopReason, fmt.Sprintf(`"" (finished %v, patience %d, %d epochs without improvement)`, st.Finished, cfg.Train.Patience, st.BadEpochs))
		}
	default:
		return bad("stop_reason", strconv.Quote(st.StopReason), `"", "epochs" or "early_stopping"`)
	}
	return nil
}

// savePoint is where a checkpoint of this run was saved.
type savePoint struct {
	Epoch, Batch int
	Step         int64
}

// ---- The model directory as a whole: lock, inspection, publication.

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

// unusedName is prefix followed by a random number, naming nothing yet
// (the caller holds the lock: no other aegpu creates such names).
func unusedName(prefix string) string {
	for {
		p := prefix + strconv.FormatUint(uint64(rand.Uint32()), 10)
		if !exists(p) {
			return p
		}
	}
}

// ---- Verification.

// VerifyReport is what Verify found in a model directory.
type VerifyReport struct {
	Dir string
	// Legacy: the directory has no checkpoint.json (an earlier aegpu wrote
	// it): there are no checksums, only the files' structure is checked.
	Legacy             bool
	Step               int64
	Epoch, Batch       int
	Files              []FileReport
	Leftovers          []string // of interrupted saves and killed runs; the next run that takes the directory removes them
	Other              []string // files that are not part of the checkpoint
	Problems           []string // damage found beyond the checksums
	State              *State   // the trainer state, when there is one and it is valid
	ConfigEpochs       int
	InterruptedSaveFix bool // some files are the .prev versions: a save was interrupted
}

// FileReport is one file of a checkpoint.
type FileReport struct {
	Name   string
	Size   int64
	SHA256 string // as found (the recorded one when Status is "ok")
	Want   string // as recorded in the manifest
	// Status: "ok", "ok (.prev)" (the checkpoint's version is NAME.prev: a
	// save was interrupted; the next run puts it back), "damaged",
	// "missing", or "unchecked" (a directory without checkpoint.json).
	Status string
}

// Damaged reports whether a file of the checkpoint is damaged or missing,
// or its content is inconsistent.
func (r *VerifyReport) Damaged() bool {
	for _, f := range r.Files {
		if f.Status == "damaged" || f.Status == "missing" {
			return true
		}
	}
	return len(r.Problems) > 0
}

// Verify checks every file of the model directory dir: against the
// SHA-256 its checkpoint.json records, then their content: config.json and
// state.json parse, the state is valid for the configuration, the weight
// files carry the state's step, and (when b is not nil) the weights load
// onto a model of the configured architecture.
func Verify(dir string, b engine.Backend) *VerifyReport {
	r := &VerifyReport{Dir: dir}
	problem := func(format string, a ...any) { r.Problems = append(r.Problems, fmt.Sprintf(format, a...)) }
	m, err := ReadManifest(dir)
	if err != nil {
		problem("%v", err)
		return r
	}
	content := map[string][]byte{}
	if m == nil {
		r.Legacy = true
		for _, n := range checkpointFiles {
			b, err := os.ReadFile(filepath.Join(dir, n))
			if err != nil {
				continue
			}
			content[n] = b
			r.Files = append(r.Files, FileReport{Name: n, Size: int64(len(b)), SHA256: atomicfile.BytesSHA256(b), Status: "unchecked"})
		}
		if content[ConfigFile] == nil {
			problem("%s is not a model directory: %s is missing", dir, ConfigFile)
			return r
		}
	} else {
		r.Step, r.Epoch, r.Batch = m.Step, m.Epoch, m.Batch
		for _, n := range checkpointFiles {
			want, ok := m.Files[n]
			if !ok {
				continue
			}
			fr := FileReport{Name: n, Want: want.SHA256, Size: want.Size}
			b, from, err := readVerified(dir, m, n)
			var de *DamagedError
			switch {
			case err == nil:
				fr.SHA256, fr.Status = want.SHA256, "ok"
				if strings.HasSuffix(from, PrevSuffix) {
					fr.Status, r.InterruptedSaveFix = "ok (.prev)", true
				}
				content[n] = b
			case errors.As(err, &de) && de.Got == "":
				fr.Status = "missing"
			case errors.As(err, &de):
				fr.Status, fr.SHA256 = "damaged", de.Got
				if fi, err := os.Stat(filepath.Join(dir, n)); err == nil {
					fr.Size = fi.Size()
				}
			default:
				fr.Status = "missing"
				problem("%s: %v", n, err)
			}
			r.Files = append(r.Files, fr)
		}
	}
	// What else is there.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		n := e.Name()
		switch {
		case n == ManifestFile:
		case slices.Contains(checkpointFiles, n):
			if m != nil {
				if _, ok := m.Files[n]; !ok {
					r.Leftovers = append(r.Leftovers, n)
				}
			}
		case strings.HasSuffix(n, PrevSuffix) && slices.Contains(checkpointFiles, strings.TrimSuffix(n, PrevSuffix)):
			name := strings.TrimSuffix(n, PrevSuffix)
			used := false
			for _, f := range r.Files {
				used = used || (f.Name == name && f.Status == "ok (.prev)")
			}
			if !used {
				r.Leftovers = append(r.Leftovers, n)
			}
		case ownFile(n) && n != ThresholdFile:
			r.Leftovers = append(r.Leftovers, n)
		default:
			r.Other = append(r.Other, n)
		}
	}
	if t, err := targetOf(dir); err == nil {
		for _, pat := range []string{".new-*", ".old-*"} {
			ds, _ := filepath.Glob(filepath.Join(t.parent, "."+t.name+pat))
			for _, d := range ds {
				r.Leftovers = append(r.Leftovers, d)
			}
		}
	}
	// The content.
	cb := content[ConfigFile]
	if cb == nil {
		return r
	}
	cfg, err := parseConfig(filepath.Join(dir, ConfigFile), cb)
	if err != nil {
		problem("%v", err)
		return r
	}
	r.ConfigEpochs = cfg.Train.Epochs
	var st *State
	if sb := content[StateFile]; sb != nil {
		var s State
		sp := filepath.Join(dir, StateFile)
		if err := json.Unmarshal(sb, &s); err != nil {
			problem("read %s: %v", sp, err)
		} else if err := s.validate(sp, cfg, batchesFor(cfg), cfg.Data.ValRows); err != nil {
			problem("%v", err)
		} else {
			st, r.State = &s, &s
			if m != nil && m.Step != s.Step {
				problem("%s names step %d but %s holds step %d", ManifestFile, m.Step, StateFile, s.Step)
			}
		}
	}
	decode := func(n string) *safetensors.File {
		b := content[n]
		if b == nil {
			return nil
		}
		f, err := safetensors.Decode(b)
		if err != nil {
			problem("read %s: %v", filepath.Join(dir, n), err)
			return nil
		}
		if st != nil && n != BestFile && f.Metadata["aegpu_step"] != strconv.FormatInt(st.Step, 10) {
			problem("%s is from step %s but %s from step %d", n, f.Metadata["aegpu_step"], StateFile, st.Step)
		}
		return f
	}
	wf := decode(WeightsFile)
	if content[WeightsFile] == nil && !slices.ContainsFunc(r.Files, func(f FileReport) bool { return f.Name == WeightsFile }) {
		problem("%s is missing", WeightsFile)
	}
	decode(OptimizerFile)
	bf := decode(BestFile)
	if st != nil && st.BestEpoch > 0 {
		if bf == nil && content[BestFile] == nil && !slices.ContainsFunc(r.Files, func(f FileReport) bool { return f.Name == BestFile }) {
			problem("%s says the best epoch is %d but there is no %s", StateFile, st.BestEpoch, BestFile)
		} else if bf != nil && bf.Metadata["aegpu_best_epoch"] != strconv.Itoa(st.BestEpoch) {
			problem("%s holds epoch %s, %s says %d", BestFile, bf.Metadata["aegpu_best_epoch"], StateFile, st.BestEpoch)
		}
	}
	if b != nil && wf != nil {
		a, err := cfg.Arch()
		if err != nil {
			problem("%s: %v", ConfigFile, err)
			return r
		}
		mdl, err := NewModel(b, a)
		if err != nil {
			problem("%v", err)
			return r
		}
		defer mdl.Free()
		if err := mdl.SetTensors(wf.Tensors); err != nil {
			problem("%s: %v", WeightsFile, err)
		}
		if bf != nil && len(bf.Tensors["params"].Data) != mdl.Params.Len() {
			problem("%s has %d parameters, the model %d", BestFile, len(bf.Tensors["params"].Data), mdl.Params.Len())
		}
	}
	return r
}
