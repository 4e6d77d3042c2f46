package dataset

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"strings"
)

// inputFile is what OpenReader learned about one input file from its
// header.
type inputFile struct {
	path   string
	kind   format
	gz     bool
	rows   int64 // -1 when not known (CSV that has not been counted)
	cols   int   // 0 for a CSV file with no record at all
	shape  []int // shape of one row
	header []string
	// idColumn names a CSV file's column of row ids (ReaderOptions.IDColumn);
	// idField is its 1-based field once the header is read.
	idColumn string
	idField  int

	// For .npy and IDX: element type, its decoder and the header's length.
	et      elemType
	dec     func(dst []float32, src []byte)
	dataOff int64

	// pipe: the input can be read once only (IsPipe); live is the open
	// input, positioned after its header, that the reader's one cursor on
	// it continues.
	pipe bool
	live *liveInput

	// For Parquet and Arrow files (registered formats): the columns left
	// out, and the rows of each block (row group, record batch) and where
	// it starts (len(blocks)+1 entries).
	skipped    []string
	blocks     []int64
	blockStart []int64
}

// liveInput is a pipe kept open from probeFile to the cursor that reads
// it: a pipe cannot be opened again to read what follows its header.
type liveInput struct {
	f    *os.File
	done func() error // closes f (not standard input)
	r    io.Reader    // the content after the header
	zr   *gzip.Reader // when compressed
	csv  *csvRows     // CSV: the rows reader, past the header line
	used bool         // a cursor took it
}

func (l *liveInput) close() error {
	if l.zr != nil {
		l.zr.Close()
	}
	return l.done()
}

// probeAll reads the header of every file in names, in order, into
// rd.files, and takes the row shape and the CSV header from the first file
// that has them. Every file with columns must have as many as the first,
// and every CSV header must be the same.
func (rd *Reader) probeAll(names []string) error {
	var first *inputFile // the first file with columns
	var firstHeader *inputFile
	for _, p := range names {
		sf, err := probeFile(p, rd.opt)
		if err != nil {
			return err
		}
		rd.files = append(rd.files, sf)
		if sf.kind.external() {
			rd.addSkipped(sf.skipped)
		} else if len(rd.opt.Columns) > 0 {
			return fmt.Errorf("read %s: column selection needs Parquet or Arrow input", sf.path)
		} else if rd.opt.IDColumn != "" && sf.kind != formatCSV {
			return fmt.Errorf("read %s: an id column needs Parquet, Arrow or CSV input", sf.path)
		}
		if sf.cols == 0 {
			continue
		}
		if first == nil {
			first = sf
			rd.cols, rd.shape = sf.cols, sf.shape
		} else if sf.cols != first.cols {
			return fmt.Errorf("read %s: %d columns, but %s has %d: every file must have the same number of columns", sf.path, sf.cols, first.path, first.cols)
		}
		if sf.header != nil {
			if firstHeader == nil {
				firstHeader = sf
				rd.header = sf.header
			} else if !reflect.DeepEqual(sf.header, firstHeader.header) {
				return fmt.Errorf("read %s: header %q differs from the header %q of %s", sf.path, sf.header, firstHeader.header, firstHeader.path)
			}
		}
	}
	if first == nil {
		return fmt.Errorf("read %s: no rows: the file is empty", names[0])
	}
	return nil
}

// probeFile reads the header of the file at path.
func probeFile(path string, opt ReaderOptions) (*inputFile, error) {
	f, done, err := openInput(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, unwrapPathError(err))
	}
	keep := false // a pipe stays open for its cursor
	defer func() {
		if !keep {
			done()
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, unwrapPathError(err))
	}
	if st.IsDir() {
		return nil, fmt.Errorf("read %s: is a directory", path)
	}
	sf := &inputFile{path: path, pipe: isPipeFile(f, path), idColumn: opt.IDColumn}
	sz := sizeOf(f) // before open reads ahead
	r, zr, err := sf.open(f, true)
	if err != nil {
		return nil, err
	}
	if zr != nil {
		defer func() {
			if !keep {
				zr.Close()
			}
		}()
	}
	if sf.kind.external() {
		if sf.gz || sf.pipe {
			return nil, columnarNeedsFile(path, sf.pipe)
		}
		return sf, sf.probeColumnar(f, opt)
	}
	if sf.gz || sf.pipe {
		sz = sizeInfo{avail: -1, hint: -1}
	}
	csv, err := sf.readHeader(r, &sz)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if sf.kind != formatCSV {
		sf.dec = sf.et.decoder()
		if !sf.gz && !sf.pipe {
			if need := sf.dataOff + sf.dataBytes(); st.Size() < need {
				return nil, sf.truncated(st.Size())
			}
		}
	}
	if sf.pipe {
		sf.live = &liveInput{f: f, done: done, r: r, zr: zr, csv: csv}
		keep = true
	}
	return sf, nil
}

// readHeader reads the header of sf's content from r (sz: what is known of
// its size): the element type and shape of a .npy or IDX array, or the
// first record of a CSV file, whose rows reader, past the header, it
// returns.
func (sf *inputFile) readHeader(r io.Reader, sz *sizeInfo) (*csvRows, error) {
	switch sf.kind {
	case formatNPY:
		h, et, n, err := readNPYHeader(r, sz)
		if err != nil {
			return nil, err
		}
		sf.et, sf.dataOff = et, n
		return nil, sf.setDims(h.shape)
	case formatIDX:
		et, dims, n, err := readIDXHeader(r, sz)
		if err != nil {
			return nil, err
		}
		sf.et, sf.dataOff = et, n
		return nil, sf.setDims(dims)
	case formatCSV:
		c, err := newCSVRows(r, sf.idColumn)
		if err != nil {
			return nil, err
		}
		sf.rows, sf.cols, sf.header, sf.idField = -1, c.cols, c.header, c.idCol+1
		if c.cols == 0 {
			sf.rows = 0
		}
		sf.shape = []int{c.cols}
		return c, nil
	}
	return nil, nil
}

// open prepares f, at its start, for reading sf's content: it decompresses
// gzip, and when probe is set it also works out sf.kind and sf.gz as Load
// does (by name, else by magic number). It returns the reader of the
// content and the gzip reader, if any, for the caller to close.
func (sf *inputFile) open(f *os.File, probe bool) (io.Reader, *gzip.Reader, error) {
	var base io.Reader = f
	if probe {
		name := sf.path
		if strings.HasSuffix(strings.ToLower(name), ".gz") {
			name = name[:len(name)-3]
		}
		sf.kind = formatByName(name)
		var head [2]byte
		var n int
		if sf.pipe { // no ReadAt: look through a buffer
			br := bufio.NewReaderSize(f, 64<<10)
			p, _ := br.Peek(len(head))
			n = copy(head[:], p)
			base = br
		} else {
			n, _ = f.ReadAt(head[:], 0)
		}
		sf.gz = isGzip(head[:n])
	}
	r := base
	var zr *gzip.Reader
	if sf.gz {
		var err error
		if zr, err = gzip.NewReader(bufio.NewReaderSize(base, 64<<10)); err != nil {
			return nil, nil, fmt.Errorf("read %s: corrupt gzip stream: %w", sf.path, err)
		}
		r = gzipErrors{zr}
	}
	if probe && sf.kind == formatUnknown {
		br := bufio.NewReaderSize(r, 4096)
		p, _ := br.Peek(8)
		sf.kind = formatByMagic(p)
		if sf.kind == formatUnknown && sf.pipe {
			// Nameless text from a pipe: CSV, the only text format.
			if p, _ := br.Peek(512); looksLikeCSV(p) {
				sf.kind = formatCSV
			}
		}
		if sf.kind == formatUnknown {
			if zr != nil {
				zr.Close()
			}
			return nil, nil, unknownTypeError(sf.path, sf.pipe)
		}
		r = br
	}
	return r, zr, nil
}

// setDims sets rows, cols and the row shape from an array's dimensions:
// 0-D is one row of one value, 1-D N rows of one value, and more
// dimensions N rows of prod(rest) values. Unlike Load, a reader accepts
// arrays of any number of rows, none included, but one row must fit in
// memory.
func (sf *inputFile) setDims(dims []int64) error {
	sf.rows, sf.cols, sf.shape = 1, 1, []int{1}
	if len(dims) == 0 {
		return nil
	}
	sf.rows = dims[0]
	if len(dims) >= 2 {
		c := int64(1)
		sf.shape = make([]int, len(dims)-1)
		for i, d := range dims[1:] {
			if d != 0 && c > maxElements/d {
				return fmt.Errorf("rows of shape %v are too large (limit %d values per row)", dims[1:], int64(maxElements))
			}
			c *= d
			sf.shape[i] = int(d)
		}
		if c == 0 {
			return fmt.Errorf("no columns: shape %v", dims)
		}
		sf.cols = int(c)
	}
	if rowBytes := int64(sf.cols) * int64(sf.et.size); sf.rows > (math.MaxInt64-sf.dataOff)/rowBytes {
		return fmt.Errorf("shape %v is too large", dims)
	}
	return nil
}

// dataBytes is the size of a binary file's array data.
func (sf *inputFile) dataBytes() int64 {
	return sf.rows * int64(sf.cols) * int64(sf.et.size)
}

// truncated reports a binary file whose data ends at byte end (of the
// decompressed content, for gzip).
func (sf *inputFile) truncated(end int64) error {
	what := "data ends"
	if sf.gz {
		what = "decompressed data ends"
	}
	return fmt.Errorf("read %s: %s at byte %d, expected %d bytes (a %d-byte header and %d rows of %d %s)",
		sf.path, what, end, sf.dataOff+sf.dataBytes(), sf.dataOff, sf.rows, sf.cols, sf.et)
}
