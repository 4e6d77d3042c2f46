package dataset

import (
	"bufio"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// npyRowDigits is how many digits the row count of a Writer's .npy header
// has room for: 21, as NumPy reserves for arrays that grow in place (more
// than any int64).
const npyRowDigits = 21

// WriterOptions tunes NewWriterWith.
type WriterOptions struct {
	// Header holds the names of the cols value columns, or nil: a .csv
	// file then has no header line, a Parquet or Arrow file names its
	// columns z0, z1, …
	Header []string
	// IDName, when not "", gives each row an id (text, WriteIDs), written
	// as a leading column of that name (.csv, Parquet, Arrow) or, for .npy,
	// into a second file beside it, <path without .npy>.ids.csv: a header
	// line IDName, then one id per line, CSV-quoted. The two files are
	// committed together on Close (both or neither).
	IDName string
	// ListColumn, Parquet and Arrow only: when not "", the values go in one
	// fixed_size_list<float>[cols] column of this name instead of one
	// column per value.
	ListColumn string
}

// Writer writes a table to a .npy or .csv file a chunk of rows at a time,
// so that output larger than memory can be produced. The rows go to a
// temporary file in the destination's directory, which Close renames over
// the final name once it is complete and on disk; until then, and for
// ever if Close is not reached, the final name is left as it was.
type Writer struct {
	path, tmp string
	npy       bool
	cols      int
	rows      int64
	hdrLen    int // .npy: bytes reserved for the header
	f         *os.File
	bw        *bufio.Writer
	buf       []byte
	err       error // the first error; Close returns it
	done      bool  // closed or aborted
}

// NewWriter creates a Writer of rows of cols values to path, whose
// extension says the format: .npy (float32, C order, format version 1.0;
// header is ignored) or .csv (numbers formatted as WriteCSV does, preceded
// by a header line when header is not nil, which must then hold cols
// names).
func NewWriter(path string, cols int, header []string) (*Writer, error) {
	w := &Writer{path: path, cols: cols}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".npy":
		w.npy = true
	case ".csv":
	default:
		return nil, fmt.Errorf("write %s: unsupported output type %q: use .npy or .csv", path, filepath.Ext(path))
	}
	if cols < 1 {
		return nil, fmt.Errorf("write %s: invalid number of columns %d", path, cols)
	}
	if !w.npy && header != nil && len(header) != cols {
		return nil, fmt.Errorf("write %s: header has %d names for %d columns", path, len(header), cols)
	}
	var hdr []byte
	if w.npy {
		var err error
		if hdr, err = npyGrowableHeader(0, cols, 0); err != nil {
			return nil, fmt.Errorf("write %s: %w", path, err)
		}
		w.hdrLen = len(hdr)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("write %s: directory %s does not exist", path, dir)
		}
		return nil, fmt.Errorf("write %s: %w", path, unwrapPathError(err))
	}
	w.f, w.tmp = f, f.Name()
	w.bw = bufio.NewWriterSize(f, 1<<20)
	if w.npy {
		w.bw.Write(hdr)
	} else if header != nil {
		cw := csv.NewWriter(w.bw)
		cw.Write(header)
		cw.Flush()
		if err := cw.Error(); err != nil {
			w.Abort()
			return nil, fmt.Errorf("write %s: %w", path, err)
		}
	}
	return w, nil
}

// Write appends rows, whose length must be a multiple of the number of
// columns. After an error every later Write and Close fail with it, and
// Close removes the temporary file.
func (w *Writer) Write(rows []float32) error {
	if w.done {
		return fmt.Errorf("write %s: the writer is closed", w.path)
	}
	if w.err != nil {
		return w.err
	}
	if len(rows)%w.cols != 0 {
		w.err = fmt.Errorf("write %s: %d values are not whole rows of %d", w.path, len(rows), w.cols)
		return w.err
	}
	for len(rows) > 0 {
		k := min(len(rows), max(64<<10/w.cols, 1)*w.cols) // whole rows, about 64K values
		w.buf = w.buf[:0]
		if w.npy {
			for _, v := range rows[:k] {
				w.buf = binary.LittleEndian.AppendUint32(w.buf, math.Float32bits(v))
			}
		} else {
			for r := 0; r < k; r += w.cols {
				w.buf = appendCSVRow(w.buf, rows[r:r+w.cols])
			}
		}
		if _, err := w.bw.Write(w.buf); err != nil {
			w.err = fmt.Errorf("write %s: %w", w.path, unwrapPathError(err))
			return w.err
		}
		w.rows += int64(k / w.cols)
		rows = rows[k:]
	}
	return nil
}

// Rows returns the number of rows written so far.
func (w *Writer) Rows() int64 { return w.rows }

// Close completes the file: for .npy it writes the true row count into the
// header, then flushes the file to disk and renames it over the final name.
// If a Write failed, or Close itself fails, the temporary file is removed
// and the error returned. Close after Close or Abort does nothing.
func (w *Writer) Close() (err error) {
	if w.done {
		return nil
	}
	w.done = true
	defer func() {
		if err != nil {
			w.f.Close()
			os.Remove(w.tmp)
			w.err = err
		}
	}()
	if w.err != nil {
		return w.err
	}
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", w.path, unwrapPathError(err))
	}
	if w.npy {
		hdr, err := npyGrowableHeader(w.rows, w.cols, w.hdrLen)
		if err != nil {
			return fmt.Errorf("write %s: %w", w.path, err)
		}
		if _, err := w.f.WriteAt(hdr, 0); err != nil {
			return fmt.Errorf("write %s: %w", w.path, unwrapPathError(err))
		}
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("write %s: sync: %w", w.path, unwrapPathError(err))
	}
	if err := w.f.Chmod(0o644); err != nil {
		return fmt.Errorf("write %s: %w", w.path, unwrapPathError(err))
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("write %s: close: %w", w.path, unwrapPathError(err))
	}
	if err := os.Rename(w.tmp, w.path); err != nil {
		return fmt.Errorf("write %s: %w", w.path, err)
	}
	syncDir(filepath.Dir(w.path))
	return nil
}

// Abort discards what was written: the temporary file is removed and the
// final name left as it was. It does nothing after Close or Abort.
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.f.Close()
	os.Remove(w.tmp)
}

// syncDir makes a rename in dir durable; failure is ignored (some
// filesystems cannot sync a directory).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// npyGrowableHeader returns the .npy header (format version 1.0) of a
// rows×cols float32 C-order array, padded with spaces so that any row count
// fits in the same length: a multiple of 64 bytes, newline-terminated. With
// size 0 the length is the one this padding gives; else it must be size
// (the length chosen when the file was started).
func npyGrowableHeader(rows int64, cols, size int) ([]byte, error) {
	const pre = 10 // magic 6 + version 2 + uint16 length
	dict := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", rows, cols)
	// Room for npyRowDigits digits in the row count, and the newline.
	room := len(dict) + npyRowDigits - len(fmt.Sprint(rows)) + 1
	total := (pre + room + 63) / 64 * 64
	if size == 0 {
		size = total
	}
	if pre+len(dict)+1 > size {
		return nil, fmt.Errorf("a .npy header for shape (%d, %d) does not fit in %d bytes", rows, cols, size)
	}
	if size-pre > math.MaxUint16 {
		return nil, fmt.Errorf("a .npy header for %d columns is too long", cols)
	}
	b := make([]byte, 0, size)
	b = append(b, npyMagic...)
	b = append(b, 1, 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(size-pre))
	b = append(b, dict...)
	for len(b) < size-1 {
		b = append(b, ' ')
	}
	return append(b, '\n'), nil
}
