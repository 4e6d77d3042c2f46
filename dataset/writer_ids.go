package dataset

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// idsFile is the file of ids beside a .npy file that a Writer writes with
// ids: <path without .npy>.ids.csv, a header line with the id column's
// name, then one id per line, CSV-quoted. It is written to a temporary
// file that the Writer's Close renames just before the .npy file.
type idsFile struct {
	path, tmp string
	f         *os.File
	bw        *bufio.Writer
	buf       []byte
}

// IDsPath returns the file of ids that a Writer with WriterOptions.IDName
// writes beside the .npy file at path: <path without .npy>.ids.csv.
func IDsPath(npyPath string) string {
	return npyPath[:len(npyPath)-len(".npy")] + ".ids.csv"
}

// newIDsFile starts the ids file of the .npy file at npyPath.
func newIDsFile(npyPath, name string) (*idsFile, error) {
	p := IDsPath(npyPath)
	f, err := createTemp(p)
	if err != nil {
		return nil, err
	}
	d := &idsFile{path: p, tmp: f.Name(), f: f, bw: bufio.NewWriterSize(f, 256<<10)}
	if err := d.write([]string{name}); err != nil {
		d.discard()
		return nil, fmt.Errorf("write %s: %w", p, unwrapPathError(err))
	}
	return d, nil
}

// write appends one line per id.
func (d *idsFile) write(ids []string) error {
	for _, id := range ids {
		d.buf = append(appendCSVField(d.buf[:0], id), '\n')
		if _, err := d.bw.Write(d.buf); err != nil {
			return err
		}
	}
	return nil
}

// commit completes the ids file and renames it over its final name.
func (d *idsFile) commit() error {
	if err := d.bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", d.path, unwrapPathError(err))
	}
	if err := closeSynced(d.f, d.path); err != nil {
		return err
	}
	if err := os.Rename(d.tmp, d.path); err != nil {
		return fmt.Errorf("write %s: %w", d.path, err)
	}
	return nil
}

// discard closes and removes the temporary file.
func (d *idsFile) discard() {
	d.f.Close()
	os.Remove(d.tmp)
}

// appendCSVField appends s as one CSV field: quoted, with its quotes
// doubled, when it is empty (so that a line of one empty id is not blank)
// or holds a comma, a quote, a line break or leading or trailing space.
func appendCSVField(buf []byte, s string) []byte {
	if s != "" && !strings.ContainsAny(s, ",\"\r\n") && strings.TrimSpace(s) == s {
		return append(buf, s...)
	}
	buf = append(buf, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			buf = append(buf, '"')
		}
		buf = append(buf, s[i])
	}
	return append(buf, '"')
}

// createTemp creates the temporary file of path, in its directory.
func createTemp(path string) (*os.File, error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("write %s: directory %s does not exist", path, dir)
		}
		return nil, fmt.Errorf("write %s: %w", path, unwrapPathError(err))
	}
	return f, nil
}

// closeSynced flushes f to disk, makes it readable and closes it.
func closeSynced(f *os.File, path string) error {
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: sync: %w", path, unwrapPathError(err))
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, unwrapPathError(err))
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: close: %w", path, unwrapPathError(err))
	}
	return nil
}

// syncDir makes a rename in dir durable; failure is ignored (some
// filesystems cannot sync a directory).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
