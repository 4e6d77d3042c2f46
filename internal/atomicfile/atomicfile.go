// Package atomicfile writes files so that a reader never sees a partial one:
// the content goes to a temporary file in the destination's directory, is
// flushed to disk, and only then renamed over the final name.
//
// Beyond single files it offers the pieces a multi-file commit is built
// from (autoencoder's checkpoints): Prepare writes and syncs a temporary
// file and returns its SHA-256 without renaming it; KeepPrev keeps the
// current version of a file under a second name; SyncDir makes renames
// durable; RemoveTemps removes what killed writers left; Lock takes an
// exclusive lock naming its holder; Exchange swaps two directories
// atomically.
package atomicfile

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// TempInfix marks temporary files: path's temporary files are named
// "." + base(path) + TempInfix + a random suffix, in path's directory.
const TempInfix = ".tmp-"

// Pending is a temporary file written and synced by Prepare, not yet
// renamed to its final name.
type Pending struct {
	Path   string // the final name
	Tmp    string // the temporary file
	SHA256 string // hex digest of the content
	Size   int64
}

// Commit renames the temporary file to its final name (the directory is
// not synced: call SyncDir once after a batch of commits).
func (p *Pending) Commit() error {
	if err := os.Rename(p.Tmp, p.Path); err != nil {
		return fmt.Errorf("write %s: %w", p.Path, err)
	}
	return nil
}

// Discard removes the temporary file.
func (p *Pending) Discard() { os.Remove(p.Tmp) }

// countingHash hashes and counts what is written through it.
type countingHash struct {
	h hash.Hash
	n int64
}

func (c *countingHash) Write(b []byte) (int, error) {
	c.h.Write(b)
	c.n += int64(len(b))
	return len(b), nil
}

// Prepare writes the content fill produces to a new temporary file next to
// path, syncs and closes it, and returns it with its SHA-256; path itself
// is not touched. On error nothing is left behind.
func Prepare(path string, fill func(w io.Writer) error) (p *Pending, err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+TempInfix+"*")
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	ch := &countingHash{h: sha256.New()}
	bw := bufio.NewWriterSize(io.MultiWriter(f, ch), 1<<20)
	if err = fill(bw); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	if err = bw.Flush(); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return nil, fmt.Errorf("write %s: sync: %w", path, err)
	}
	if err = f.Chmod(0o644); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return nil, fmt.Errorf("write %s: close: %w", path, err)
	}
	return &Pending{Path: path, Tmp: tmp, SHA256: hex.EncodeToString(ch.h.Sum(nil)), Size: ch.n}, nil
}

// Write creates path with the content written by fill. On any error (from
// fill, the disk, or a rename) the temporary file is removed and path is left
// as it was: absent, or its previous complete content.
func Write(path string, fill func(w io.Writer) error) error {
	p, err := Prepare(path, fill)
	if err != nil {
		return err
	}
	if err := p.Commit(); err != nil {
		p.Discard()
		return err
	}
	SyncDir(filepath.Dir(path))
	return nil
}

// WriteBytes is Write for content already in memory.
func WriteBytes(path string, b []byte) error {
	return Write(path, func(w io.Writer) error { _, err := w.Write(b); return err })
}

// KeepPrev makes prev a second name of path's current content, replacing
// whatever prev held, so that path can then be replaced while prev keeps
// the old version. It links (no copy) where the filesystem allows, else
// copies; either way prev appears atomically. A missing path is not an
// error (there is nothing to keep).
func KeepPrev(path, prev string) error {
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	dir := filepath.Dir(prev)
	// A free temporary name for the link: CreateTemp reserves one, which
	// is removed for os.Link (it does not replace).
	f, err := os.CreateTemp(dir, "."+filepath.Base(prev)+TempInfix+"*")
	if err != nil {
		return fmt.Errorf("keep %s: %w", path, err)
	}
	tmp := f.Name()
	f.Close()
	os.Remove(tmp)
	if err := os.Link(path, tmp); err != nil {
		// No hard links here: copy.
		src, oerr := os.Open(path)
		if oerr != nil {
			return fmt.Errorf("keep %s: %w", path, oerr)
		}
		defer src.Close()
		p, perr := Prepare(prev, func(w io.Writer) error { _, err := io.Copy(w, src); return err })
		if perr != nil {
			return fmt.Errorf("keep %s: %w", path, perr)
		}
		tmp = p.Tmp
	}
	if err := os.Rename(tmp, prev); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("keep %s: %w", path, err)
	}
	return nil
}

// SyncDir makes the renames in dir durable. Failure is returned but may be
// ignored: some filesystems do not support syncing a directory.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// TempOf reports whether name (a base name) is a temporary file of one of
// the given base names, as Prepare and Write name them.
func TempOf(name string, bases ...string) bool {
	for _, b := range bases {
		if strings.HasPrefix(name, "."+b+TempInfix) {
			return true
		}
	}
	return false
}

// RemoveTemps removes from dir the temporary files of the given base names
// (left by writers that were killed) and returns how many files and bytes
// it removed.
func RemoveTemps(dir string, bases ...string) (files int, bytes int64, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0, err
	}
	for _, e := range ents {
		if e.IsDir() || !TempOf(e.Name(), bases...) {
			continue
		}
		var size int64
		if fi, err := e.Info(); err == nil {
			size = fi.Size()
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err == nil {
			files++
			bytes += size
		}
	}
	return files, bytes, nil
}

// FileSHA256 returns the hex SHA-256 of the file at path and its content.
func FileSHA256(path string) (sum string, content []byte, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", nil, err
	}
	return BytesSHA256(b), b, nil
}

// BytesSHA256 is the hex SHA-256 of b.
func BytesSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
