package autoencoder

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/aegpu/aegpu/internal/atomicfile"
)

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
	g := &generation{dir: dir, kept: map[string]bool{}}
	sortGeneration(files)
	if err := g.writeTemps(prev, &next, files); err != nil {
		return nil, g.rollback(err)
	}
	if err := g.renameAll(); err != nil {
		return nil, g.rollback(err)
	}
	if err := g.commitManifest(next); err != nil {
		return nil, g.rollback(err)
	}
	// Committed: from here on the new generation is the checkpoint.
	if err := boundary("commit"); err != nil {
		return &next, err
	}
	g.removeReplaced(next)
	if err := boundary("cleanup"); err != nil {
		return &next, err
	}
	return &next, nil
}

// generation is a commitGeneration in progress: what it has written and
// renamed into dir so far, which rollback undoes.
type generation struct {
	dir     string
	pending []*atomicfile.Pending // temporary files not yet renamed into place
	renamed []string              // files renamed into place, in that order
	kept    map[string]bool       // files whose previous version is in NAME.prev
}

// rollback puts dir back as it was before the generation (after an error
// before its commit) and returns err.
func (g *generation) rollback(err error) error {
	for _, p := range g.pending {
		p.Discard()
	}
	for i := len(g.renamed) - 1; i >= 0; i-- { // roll back, newest first
		p := filepath.Join(g.dir, g.renamed[i])
		if g.kept[g.renamed[i]] {
			os.Rename(p+PrevSuffix, p)
		} else {
			os.Remove(p) // new in this generation
		}
	}
	atomicfile.SyncDir(g.dir)
	return err
}

// sortGeneration puts files in the order of checkpointFiles, the order in
// which they are renamed into place.
func sortGeneration(files []genFile) {
	order := map[string]int{}
	for i, n := range checkpointFiles {
		order[n] = i
	}
	slices.SortStableFunc(files, func(a, b genFile) int { return order[a.name] - order[b.name] })
}

// writeTemps writes each of files whose content changed since prev to a
// temporary file beside its name, and records every file's sum in next.
func (g *generation) writeTemps(prev, next *Manifest, files []genFile) error {
	for _, f := range files {
		if f.data != nil && prev != nil && prev.Files[f.name].SHA256 == atomicfile.BytesSHA256(f.data) {
			next.Files[f.name] = prev.Files[f.name] // unchanged: not rewritten
			continue
		}
		sum, err := g.writeTemp(f)
		if err != nil {
			return err
		}
		next.Files[f.name] = sum
		if err := boundary("temp " + f.name); err != nil {
			return err
		}
	}
	return nil
}

// writeTemp writes f to a temporary file beside its name (a file already
// written, f.from, is renamed there) and returns its sum.
func (g *generation) writeTemp(f genFile) (FileSum, error) {
	if f.from != "" {
		p := &atomicfile.Pending{Path: filepath.Join(g.dir, f.name), SHA256: f.sum.SHA256, Size: f.sum.Size}
		p.Tmp = unusedName(filepath.Join(g.dir, "."+f.name+atomicfile.TempInfix))
		if err := os.Rename(f.from, p.Tmp); err != nil {
			return FileSum{}, err
		}
		g.pending = append(g.pending, p)
		return f.sum, nil
	}
	fill := f.fill
	if fill == nil {
		data := f.data
		fill = func(w io.Writer) error { _, err := w.Write(data); return err }
	}
	p, err := atomicfile.Prepare(filepath.Join(g.dir, f.name), fill)
	if err != nil {
		return FileSum{}, err
	}
	g.pending = append(g.pending, p)
	return FileSum{SHA256: p.SHA256, Size: p.Size}, nil
}

// renameAll renames the temporary files into place, in order, each after
// keeping the file's current version as NAME.prev.
func (g *generation) renameAll() error {
	for len(g.pending) > 0 {
		p := g.pending[0]
		name := filepath.Base(p.Path)
		had := exists(p.Path)
		if err := atomicfile.KeepPrev(p.Path, p.Path+PrevSuffix); err != nil {
			return err
		}
		g.kept[name] = had
		if err := boundary("prev " + name); err != nil {
			return err
		}
		if err := p.Commit(); err != nil {
			return err
		}
		g.pending, g.renamed = g.pending[1:], append(g.renamed, name)
		if err := boundary("rename " + name); err != nil {
			return err
		}
	}
	atomicfile.SyncDir(g.dir) // not fatal: some filesystems cannot sync a directory
	return nil
}

// commitManifest writes next as checkpoint.json (temporary file, rename,
// directory fsync): the commit.
func (g *generation) commitManifest(next Manifest) error {
	mb, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return err
	}
	mp, err := atomicfile.Prepare(filepath.Join(g.dir, ManifestFile), func(w io.Writer) error { _, err := w.Write(append(mb, '\n')); return err })
	if err != nil {
		return err
	}
	g.pending = append(g.pending, mp)
	if err := boundary("temp " + ManifestFile); err != nil {
		return err
	}
	if err := mp.Commit(); err != nil {
		return err
	}
	g.pending = nil
	atomicfile.SyncDir(g.dir)
	return nil
}

// removeReplaced removes, once next is committed, the previous versions
// of the files renamed in, and the files of a checkpoint next does not
// list.
func (g *generation) removeReplaced(next Manifest) {
	for _, n := range g.renamed {
		os.Remove(filepath.Join(g.dir, n+PrevSuffix))
	}
	for _, n := range checkpointFiles { // prev's files that next drops, and strays
		if _, ok := next.Files[n]; !ok {
			os.Remove(filepath.Join(g.dir, n))
		}
	}
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
