// Package dataset reads and writes the numeric tables that aegpu trains on
// and produces: NumPy .npy files, comma-separated text, and the IDX format of
// MNIST (raw or gzip-compressed). It also fits and applies per-feature
// scaling and carries the MNIST test set, built into the binary.
//
// Every reader returns a Table: a dense row-major float32 matrix with one
// sample per row. Arrays with more than two dimensions are flattened to
// [N, prod(rest)] (the original shape is kept in Table.Shape); 1-D arrays
// become a single column.
//
// Data larger than memory is read with OpenReader, a chunk of rows at a
// time, optionally as one shard of several, and written with a Writer.
//
// Errors name the file first ("read data/x.npy: ...") and then say where in
// it the problem is and what was expected. Writers never leave a partial file
// under the final name.
package dataset

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// Table is a dense float32 matrix of samples (rows) × features (cols),
// stored row-major.
type Table struct {
	Rows, Cols int
	// Data holds Rows*Cols values; row i is Data[i*Cols : (i+1)*Cols].
	Data []float32
	// Shape is the shape of the source array, e.g. [10000 28 28] for MNIST
	// images or an (N, 28, 28) .npy file; [N, D] for CSV and 2-D arrays,
	// [N] for 1-D arrays and [] for a 0-D .npy array.
	Shape []int
	// Header holds the column names when a CSV file had a header row, and
	// the feature names of a Parquet or Arrow file ("x", "emb[0]", …), else
	// nil.
	Header []string
	// IDs holds each row's id, as text, when LoadOptions.IDColumn named
	// one; else nil.
	IDs []string
	// Skipped names the columns of a Parquet or Arrow file that were left
	// out because they cannot be features (text, timestamps, …) when no
	// column selection was given.
	Skipped []string

	// lines, when set (CSV), is the 1-based line number of each row in the
	// source file, for error messages.
	lines []int
	// idField is the 1-based field of a CSV file's id column, 0 without one.
	idField int
}

// Row returns row i as a slice of t.Data (not a copy). Its capacity is
// limited to the row, so appending to it never overwrites the next row.
func (t *Table) Row(i int) []float32 {
	lo, hi := i*t.Cols, (i+1)*t.Cols
	return t.Data[lo:hi:hi]
}

// LoadOptions tunes Load.
type LoadOptions struct {
	// NaN says what to do with NaN and ±Inf values; the default is to fail.
	// In Parquet and Arrow files a null is read as NaN first.
	NaN NaNPolicy
	// Columns and IDColumn select the columns of a Parquet or Arrow file;
	// see ReaderOptions. Other formats reject them.
	Columns  []string
	IDColumn string
}

// format is a file format Load knows.
type format int

const (
	formatUnknown format = iota
	formatNPY
	formatCSV
	formatIDX
	// formatExternal and up: the registered formats (format.go), such as
	// Parquet and Arrow IPC.
)

// formatByName guesses the format from a file name with any ".gz" suffix
// already removed.
func formatByName(name string) format {
	base := strings.ToLower(filepath.Base(name))
	switch {
	case strings.HasSuffix(base, ".npy"):
		return formatNPY
	case strings.HasSuffix(base, ".csv"), strings.HasSuffix(base, ".txt"):
		return formatCSV
	case strings.HasSuffix(base, "-ubyte"), strings.HasSuffix(base, ".idx"),
		strings.HasSuffix(base, ".idx1"), strings.HasSuffix(base, ".idx2"),
		strings.HasSuffix(base, ".idx3"), strings.HasSuffix(base, ".idx4"):
		return formatIDX
	}
	return externalByName(base)
}

// formatByMagic guesses the format from the first bytes of (decompressed)
// content: .npy and IDX files have magic numbers; text has none.
func formatByMagic(p []byte) format {
	switch {
	case bytes.HasPrefix(p, npyMagic):
		return formatNPY
	case len(p) >= 4 && p[0] == 0 && p[1] == 0 && idxTypes[p[2]].size != 0 && p[3] > 0:
		return formatIDX
	}
	return externalByMagic(p)
}

// Load reads the data file at path, choosing the reader by its name:
//
//   - .npy: NumPy array (see ReadNPY)
//   - .csv, .txt: comma-separated numbers with an optional header (see ReadCSV)
//   - names ending in -ubyte, .idx or .idx1 … .idx4: IDX (see ReadIDX)
//   - .parquet, .parq: Apache Parquet; .arrow, .feather, .ipc: the Arrow IPC
//     file format (Feather v2). Their numeric columns become features as
//     opt.Columns selects (see ReaderOptions); opt.IDColumn keeps a column
//     of ids in Table.IDs. These need a program that imports
//     github.com/aegpu/aegpu/dataset/columnar (see RegisterFormat).
//
// Any of the first three may end in an extra ".gz" and is then
// decompressed (Parquet and Arrow files compress inside). A name that fits
// none of them is recognised by its content when it starts with the .npy,
// IDX, Parquet or Arrow magic number.
//
// After reading, Load applies opt.NaN to NaN and ±Inf values. IDX images are
// returned as stored (0…255 for MNIST), not scaled.
func Load(path string, opt LoadOptions) (*Table, error) {
	if opt.NaN < NaNError || opt.NaN > NaNZero {
		return nil, fmt.Errorf("read %s: invalid NaN policy %d", path, int(opt.NaN))
	}
	f, done, err := openInput(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, unwrapPathError(err))
	}
	defer done()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("read %s: is a directory", path)
	}
	if kind := sniffColumnar(f, path); kind.external() {
		return loadColumnar(path, opt)
	}
	if len(opt.Columns) > 0 {
		return nil, fmt.Errorf("read %s: column selection needs Parquet or Arrow input", path)
	}

	t, err := readFile(f, path, opt.IDColumn)
	if err != nil {
		return nil, err
	}
	if err := applyNaNPolicy(t, path, opt.NaN); err != nil {
		return nil, err
	}
	return t, nil
}

// readFile dispatches an open file to the right reader. idColumn, when
// not "", names a CSV file's column of row ids.
func readFile(f *os.File, path, idColumn string) (*Table, error) {
	name := path
	if strings.HasSuffix(strings.ToLower(name), ".gz") {
		name = name[:len(name)-3]
	}
	kind := formatByName(name)
	// A pipe (a FIFO, standard input) is read once, from its start: its
	// first bytes are looked at through a buffer instead of with ReadAt.
	pipe := isPipeFile(f, path)
	var src io.Reader = f
	var pipeBuf *bufio.Reader
	if pipe {
		pipeBuf = bufio.NewReaderSize(f, 64<<10)
		src = pipeBuf
	}
	if kind == formatIDX {
		// ReadIDX sniffs gzip itself, so a mislabelled raw file still works.
		return ReadIDX(src, path)
	}

	// Decompress when the content is gzip, whatever the name says. An
	// uncompressed file is read directly so that the readers know its size.
	var head [8]byte
	var n int
	if pipe {
		p, _ := pipeBuf.Peek(len(head))
		n = copy(head[:], p)
	} else {
		n, _ = f.ReadAt(head[:], 0)
	}
	r := src
	sz := sizeOf(src)
	var zr *gzip.Reader
	var sniff *bufio.Reader // the content, when it had to be buffered
	if isGzip(head[:n]) {
		sz = sizeInfo{avail: -1, hint: gzipSizeHint(src)}
		var err error
		if zr, err = gzip.NewReader(bufio.NewReaderSize(src, 1<<20)); err != nil {
			return nil, fmt.Errorf("read %s: corrupt gzip stream: %w", path, err)
		}
		defer zr.Close()
		sniff = bufio.NewReaderSize(gzipErrors{zr}, 64<<10)
		p, _ := sniff.Peek(len(head))
		n = copy(head[:], p)
		r = sniff
	} else if pipe {
		sniff = pipeBuf
	}

	if kind == formatUnknown {
		kind = formatByMagic(head[:n])
		if kind == formatUnknown && pipe {
			// Nameless text from a pipe: CSV, the only text format.
			if p, _ := sniff.Peek(512); looksLikeCSV(p) {
				kind = formatCSV
			}
		}
		if kind == formatUnknown {
			err := unknownTypeError(path, pipe)
			if zr != nil {
				if derr := drainGzip(zr); derr != nil {
					err = fmt.Errorf("read %s: %w", path, derr)
				}
			}
			return nil, err
		}
	}

	if kind.external() {
		// Parquet and Arrow files are read by offset (their index is at the
		// end), which a pipe or a gzip stream cannot give.
		return nil, columnarNeedsFile(path, pipe)
	}
	if idColumn != "" && kind != formatCSV {
		return nil, fmt.Errorf("read %s: an id column needs Parquet, Arrow or CSV input", path)
	}
	var t *Table
	var err error
	switch kind {
	case formatNPY:
		t, err = readNPY(r, sz)
	case formatCSV:
		t, err = readCSV(r, sz, idColumn)
	case formatIDX:
		t, err = readIDX(r, sz)
	}
	if zr != nil {
		// Check the CRC; after a parse error, report damage as the cause.
		if derr := drainGzip(zr); derr != nil {
			return nil, fmt.Errorf("read %s: %w", path, derr)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return t, nil
}

// unknownTypeError reports a file whose format neither its name nor its
// content tells.
func unknownTypeError(path string, pipe bool) error {
	if pipe {
		return fmt.Errorf("read %s: unknown content: a pipe is read as .npy, IDX or gzip by its magic number, else as CSV text, and this is neither", path)
	}
	return fmt.Errorf("read %s: unknown file type: want .npy, .csv, .txt or IDX (a name ending in -ubyte or .idx), optionally with .gz, or .parquet, .arrow or .feather", path)
}

// unwrapPathError drops the *fs.PathError wrapper, whose message repeats the
// path that our own prefix already names.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func isGzip(p []byte) bool { return len(p) >= 2 && p[0] == 0x1f && p[1] == 0x8b }

// gzipErrors marks errors from a gzip stream (other than its clean end) as
// such, so that "unexpected EOF" reads as a damaged file, not a short array.
type gzipErrors struct{ r io.Reader }

func (g gzipErrors) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("corrupt or truncated gzip stream: %w", err)
	}
	return n, err
}

// drainGzip reads what is left of a gzip stream so that its CRC and length
// trailer get checked.
func drainGzip(zr *gzip.Reader) error {
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return fmt.Errorf("corrupt or truncated gzip stream: %w", err)
	}
	return nil
}

// Save writes rows×cols values to path in the format its extension names:
// .npy (float32, header ignored) or .csv (with header when it is not nil),
// or a registered format that writes (Parquet, Arrow: see NewWriterWith).
// The file appears whole or not at all.
func Save(path string, header []string, rows, cols int, data []float32) error {
	ext := strings.ToLower(filepath.Ext(path))
	switch ext {
	case ".npy":
		return WriteNPY(path, rows, cols, data)
	case ".csv":
		return WriteCSV(path, header, rows, cols, data)
	}
	reg, missing := writableByExt(ext)
	if reg == nil {
		return unsupportedOutput(path, missing)
	}
	if err := checkDims(rows, cols, data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	w, err := NewWriter(path, cols, header)
	if err != nil {
		return err
	}
	if err := w.Write(data); err != nil {
		w.Abort()
		return err
	}
	return w.Close()
}

// checkDims validates the arguments every writer takes.
func checkDims(rows, cols int, data []float32) error {
	if rows < 0 || cols < 0 {
		return fmt.Errorf("invalid shape %d×%d", rows, cols)
	}
	if cols != 0 && rows > math.MaxInt/cols {
		return fmt.Errorf("shape %d×%d is too large", rows, cols)
	}
	if len(data) != rows*cols {
		return fmt.Errorf("data has %d values, want rows×cols = %d×%d = %d", len(data), rows, cols, rows*cols)
	}
	return nil
}
