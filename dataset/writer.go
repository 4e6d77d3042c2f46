package dataset

import (
	"bufio"
	"encoding/binary"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
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

// Writer writes a table to a file a chunk of rows at a time, so that
// output larger than memory can be produced: .npy, .csv, and the formats
// registered with a Create (Parquet, Arrow IPC: dataset/columnar). The rows
// go to a temporary file in the destination's directory, which Close
// renames over the final name once it is complete and on disk; until then,
// and for ever if Close is not reached, the final name is left as it was.
type Writer struct {
	path, tmp string
	npy       bool
	cols      int
	opt       WriterOptions
	rows      int64
	hdrLen    int // .npy: bytes reserved for the header
	f         *os.File
	bw        *bufio.Writer // .npy, .csv
	rw        RowWriter     // a registered format
	ids       *idsFile      // .npy with ids: the file beside it
	buf       []byte
	err       error // the first error; Close returns it
	done      bool  // closed or aborted
}

// NewWriter creates a Writer of rows of cols values to path, whose
// extension says the format: .npy (float32, C order, format version 1.0;
// header is ignored) or .csv (numbers formatted as WriteCSV does, preceded
// by a header line when header is not nil, which must then hold cols
// names), or a registered format such as Parquet. It is NewWriterWith(path,
// cols, WriterOptions{Header: header}).
func NewWriter(path string, cols int, header []string) (*Writer, error) {
	return NewWriterWith(path, cols, WriterOptions{Header: header})
}

// NewWriterWith creates a Writer of rows of cols values to path, whose
// extension says the format: .npy, .csv, or one that a registered format
// writes (.parquet: snappy, float32 columns, row groups of at most about 8
// MiB of values; .arrow, .feather: the Arrow IPC file format; both need
// github.com/aegpu/aegpu/dataset/columnar). See WriterOptions. A .csv
// file with an id column has a header line: IDName, then the Header or,
// when it is nil, z0, z1, …
func NewWriterWith(path string, cols int, opt WriterOptions) (*Writer, error) {
	w := &Writer{path: path, cols: cols, opt: opt}
	ext := strings.ToLower(filepath.Ext(path))
	var reg *registered
	switch ext {
	case ".npy":
		w.npy = true
	case ".csv":
	default:
		var missing *registered
		if reg, missing = writableByExt(ext); reg == nil {
			return nil, unsupportedOutput(path, missing)
		}
	}
	if err := w.checkOptions(reg != nil); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	var hdr []byte
	if w.npy {
		var err error
		if hdr, err = npyGrowableHeader(0, cols, 0); err != nil {
			return nil, fmt.Errorf("write %s: %w", path, err)
		}
		w.hdrLen = len(hdr)
	}
	f, err := createTemp(path)
	if err != nil {
		return nil, err
	}
	w.f, w.tmp = f, f.Name()
	if reg != nil {
		if w.rw, err = reg.f.Create(f, cols, opt); err != nil {
			w.Abort()
			return nil, fmt.Errorf("write %s: %w", path, err)
		}
		return w, nil
	}
	w.bw = bufio.NewWriterSize(f, 1<<20)
	if w.npy {
		w.bw.Write(hdr)
		if opt.IDName != "" {
			if w.ids, err = newIDsFile(path, opt.IDName); err != nil {
				w.Abort()
				return nil, err
			}
		}
	} else if err := w.csvHeader(); err != nil {
		w.Abort()
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return w, nil
}

// unsupportedOutput is the error for an extension no writer takes.
func unsupportedOutput(path string, missing *registered) error {
	ext := filepath.Ext(path)
	if missing != nil {
		return fmt.Errorf("write %s: unsupported output type %q: %w; use %s", path, ext, missing.missing(), writableExts())
	}
	return fmt.Errorf("write %s: unsupported output type %q: use %s", path, ext, writableExts())
}

// checkOptions validates the columns and options of a new Writer (ext: a
// registered format).
func (w *Writer) checkOptions(ext bool) error {
	if w.cols < 1 {
		return fmt.Errorf("invalid number of columns %d", w.cols)
	}
	if !w.npy && w.opt.Header != nil && len(w.opt.Header) != w.cols {
		return fmt.Errorf("header has %d names for %d columns", len(w.opt.Header), w.cols)
	}
	if w.opt.ListColumn != "" && !ext {
		return fmt.Errorf("a list column (%q) needs Parquet or Arrow output", w.opt.ListColumn)
	}
	return nil
}

// csvHeader writes the header line of a .csv file, if it has one.
func (w *Writer) csvHeader() error {
	names := w.opt.Header
	if w.opt.IDName != "" {
		if names == nil {
			names = DefaultNames(w.cols)
		}
		names = append([]string{w.opt.IDName}, names...)
	}
	if names == nil {
		return nil
	}
	cw := csv.NewWriter(w.bw)
	cw.Write(names)
	cw.Flush()
	return cw.Error()
}

// DefaultNames returns the names of cols value columns that have none: z0,
// z1, …
func DefaultNames(cols int) []string {
	out := make([]string, cols)
	for i := range out {
		out[i] = "z" + strconv.Itoa(i)
	}
	return out
}

// Write appends rows, whose length must be a multiple of the number of
// columns. It is WriteIDs(rows, nil), an error for a writer with ids.
// After an error every later Write and Close fail with it, and Close
// removes the temporary file.
func (w *Writer) Write(rows []float32) error { return w.WriteIDs(rows, nil) }

// WriteIDs appends rows and, when the writer has an id column
// (WriterOptions.IDName), their ids, one per row; ids must be nil
// otherwise.
func (w *Writer) WriteIDs(rows []float32, ids []string) error {
	if w.done {
		return fmt.Errorf("write %s: the writer is closed", w.path)
	}
	if w.err != nil {
		return w.err
	}
	if err := w.checkRows(rows, ids); err != nil {
		w.err = fmt.Errorf("write %s: %w", w.path, err)
		return w.err
	}
	if w.rw != nil {
		if err := w.rw.WriteRows(rows, ids); err != nil {
			w.err = fmt.Errorf("write %s: %w", w.path, unwrapPathError(err))
			return w.err
		}
		w.rows += int64(len(rows) / w.cols)
		return nil
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
				if ids != nil {
					w.buf = append(appendCSVField(w.buf, ids[r/w.cols]), ',')
				}
				w.buf = appendCSVRow(w.buf, rows[r:r+w.cols])
			}
		}
		if _, err := w.bw.Write(w.buf); err != nil {
			w.err = fmt.Errorf("write %s: %w", w.path, unwrapPathError(err))
			return w.err
		}
		if w.ids != nil {
			if err := w.ids.write(ids[:k/w.cols]); err != nil {
				w.err = fmt.Errorf("write %s: %w", w.ids.path, unwrapPathError(err))
				return w.err
			}
			ids = ids[k/w.cols:]
		}
		w.rows += int64(k / w.cols)
		rows = rows[k:]
	}
	return nil
}

// checkRows validates the arguments of WriteIDs.
func (w *Writer) checkRows(rows []float32, ids []string) error {
	if len(rows)%w.cols != 0 {
		return fmt.Errorf("%d values are not whole rows of %d", len(rows), w.cols)
	}
	switch {
	case w.opt.IDName != "" && ids == nil:
		return fmt.Errorf("the rows need their ids (column %q): use WriteIDs", w.opt.IDName)
	case w.opt.IDName == "" && ids != nil:
		return fmt.Errorf("ids given, but the writer has no id column (WriterOptions.IDName)")
	case ids != nil && len(ids) != len(rows)/w.cols:
		return fmt.Errorf("%d ids for %d rows", len(ids), len(rows)/w.cols)
	}
	return nil
}

// Rows returns the number of rows written so far.
func (w *Writer) Rows() int64 { return w.rows }

// Close completes the file: for .npy it writes the true row count into the
// header, for a registered format its footer, then flushes the file to disk
// and renames it over the final name (a .npy file's ids file first, then
// the .npy file; if the second rename fails, the first is undone by
// removing the ids file). If a Write failed, or Close itself fails, the
// temporary files are removed and the error returned. Close after Close or
// Abort does nothing.
func (w *Writer) Close() (err error) {
	if w.done {
		return nil
	}
	w.done = true
	defer func() {
		if err != nil {
			w.discard()
			w.err = err
		}
	}()
	if w.err != nil {
		return w.err
	}
	if err := w.finish(); err != nil {
		return err
	}
	if err := closeSynced(w.f, w.path); err != nil {
		return err
	}
	if w.ids != nil {
		if err := w.ids.commit(); err != nil {
			return err
		}
	}
	if err := os.Rename(w.tmp, w.path); err != nil {
		if w.ids != nil {
			os.Remove(w.ids.path)
		}
		return fmt.Errorf("write %s: %w", w.path, err)
	}
	syncDir(filepath.Dir(w.path))
	return nil
}

// finish completes the content of the temporary file: the footer of a
// registered format, the buffered bytes, the .npy header's row count.
func (w *Writer) finish() error {
	if w.rw != nil {
		if err := w.rw.Close(); err != nil {
			return fmt.Errorf("write %s: %w", w.path, unwrapPathError(err))
		}
		return nil
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
	return nil
}

// Abort discards what was written: the temporary files are removed and the
// final names left as they were. It does nothing after Close or Abort.
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.discard()
}

// discard closes and removes the temporary files.
func (w *Writer) discard() {
	w.f.Close()
	os.Remove(w.tmp)
	if w.ids != nil {
		w.ids.discard()
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
