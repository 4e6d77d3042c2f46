package dataset

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// ReaderOptions tunes OpenReader.
type ReaderOptions struct {
	// NaN says what to do with NaN and ±Inf values, as in LoadOptions: fail
	// naming the file, row and column (and line, for CSV); drop the row; or
	// replace the value with 0.
	NaN NaNPolicy
	// Shard and ShardCount select part Shard (0-based) of ShardCount equal
	// parts of the rows. The zero value (0 of 0) means the whole dataset, as
	// does 0 of 1. See OpenReader.
	Shard, ShardCount int
}

// Reader reads a dataset of one or more files chunk by chunk, holding only a
// fixed buffer of its own (a few hundred KB) besides what the caller passes
// to Read, whatever the size of the files. It is not safe for concurrent
// use.
type Reader struct {
	files  []*inputFile
	opt    ReaderOptions
	cols   int
	shape  []int
	header []string
	// lo and hi are the global rows this reader covers; hi is -1 when the
	// total is unknown (unsharded CSV).
	lo, hi int64
	plan   []span
	// starts[i] is the reader's row at which plan[i] begins; nil unless every
	// span's length is known.
	starts []int64

	pi     int     // next span to open when cur is nil
	cur    *cursor // the file being read, or nil
	buf    []byte  // raw bytes being decoded
	lines  []int   // CSV line of each row of the current chunk
	err    error   // sticky error from Read
	closed bool

	ra    *os.File // file handle kept for ReadRows
	raIdx int      // its index in files
}

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

	// For .npy and IDX: element type, its decoder and the header's length.
	et      elemType
	dec     func(dst []float32, src []byte)
	dataOff int64

	// pipe: the input can be read once only (IsPipe); live is the open
	// input, positioned after its header, that the reader's one cursor on
	// it continues.
	pipe bool
	live *liveInput
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

// span is the part [from, to) of file's rows that a reader reads; to is -1
// when the file is read to its end without knowing how many rows it has.
type span struct {
	file     int
	from, to int64
}

// OpenReader opens the files named by paths as one dataset whose rows are
// the files' rows one after another. Entries of paths may be glob patterns
// (see filepath.Glob); each pattern's matches are taken in sorted order and
// a pattern that matches nothing is an error. All files must have the same
// number of columns.
//
// Formats are recognised as by Load: .npy (every dtype and format version
// ReadNPY accepts, C order), .csv and .txt (as ReadCSV; a header row may
// only be the first line of each file, and files that both have one must
// agree), and IDX (raw or gzip-compressed); any of them may be gzipped.
// Only headers are read here; data is read by Read in bounded chunks.
//
// With opt.ShardCount = n > 1, the reader reads only the global rows
// [⌊i·R/n⌋, ⌊(i+1)·R/n⌋) for i = opt.Shard, where R is the total number of
// rows (before NaNSkip drops any), so shards 0…n−1 read one after another
// give exactly the whole dataset. Uncompressed .npy and IDX files are read
// from the shard's first row directly. The number of rows of a CSV file is
// not in any header, so sharding makes OpenReader read every CSV file once
// to count its rows, and the reader then skips (without parsing the
// numbers) the rows before the shard; compressed files are likewise
// decompressed from their start.
func OpenReader(paths []string, opt ReaderOptions) (*Reader, error) {
	if opt.NaN < NaNError || opt.NaN > NaNZero {
		return nil, fmt.Errorf("open stream: invalid NaN policy %d", int(opt.NaN))
	}
	if (opt.ShardCount != 0 || opt.Shard != 0) && (opt.ShardCount < 1 || opt.Shard < 0 || opt.Shard >= opt.ShardCount) {
		return nil, fmt.Errorf("open stream: invalid shard %d/%d: want i/n with 0 ≤ i < n", opt.Shard, opt.ShardCount)
	}
	sharded := opt.ShardCount > 1 // 0/1 is the whole dataset
	names, err := expandPaths(paths)
	if err != nil {
		return nil, err
	}
	rd := &Reader{opt: opt, hi: -1, raIdx: -1}
	opened := false
	defer func() {
		if !opened { // release the pipes probed before the error
			for _, sf := range rd.files {
				if sf.live != nil {
					sf.live.close()
				}
			}
		}
	}()
	var first *inputFile // the first file with columns
	var firstHeader *inputFile
	for _, p := range names {
		sf, err := probeFile(p)
		if err != nil {
			return nil, err
		}
		rd.files = append(rd.files, sf)
		if sf.cols == 0 {
			continue
		}
		if first == nil {
			first = sf
			rd.cols, rd.shape = sf.cols, sf.shape
		} else if sf.cols != first.cols {
			return nil, fmt.Errorf("read %s: %d columns, but %s has %d: every file must have the same number of columns", sf.path, sf.cols, first.path, first.cols)
		}
		if sf.header != nil {
			if firstHeader == nil {
				firstHeader = sf
				rd.header = sf.header
			} else if !reflect.DeepEqual(sf.header, firstHeader.header) {
				return nil, fmt.Errorf("read %s: header %q differs from the header %q of %s", sf.path, sf.header, firstHeader.header, firstHeader.path)
			}
		}
	}
	if first == nil {
		return nil, fmt.Errorf("read %s: no rows: the file is empty", names[0])
	}

	if sharded {
		for _, sf := range rd.files {
			if sf.rows < 0 {
				if sf.rows, err = countCSVRows(sf); err != nil {
					return nil, err
				}
			}
		}
	}
	total := int64(0)
	for _, sf := range rd.files {
		if sf.rows < 0 {
			total = -1
			break
		}
		if total > math.MaxInt64-sf.rows {
			return nil, fmt.Errorf("read %s: too many rows in all", sf.path)
		}
		total += sf.rows
	}
	rd.lo, rd.hi = 0, total
	if sharded && total >= 0 {
		rd.lo = shardBound(opt.Shard, opt.ShardCount, total)
		rd.hi = shardBound(opt.Shard+1, opt.ShardCount, total)
	}
	// Plan the spans of files to read.
	var at int64 // global row at which file i starts (when known)
	for i, sf := range rd.files {
		switch {
		case total < 0: // unsharded, some CSV not counted
			if sf.rows != 0 {
				rd.plan = append(rd.plan, span{i, 0, sf.rows})
			}
		default:
			from, to := max(rd.lo-at, 0), min(rd.hi-at, sf.rows)
			if from < to {
				rd.plan = append(rd.plan, span{i, from, to})
			}
			at += sf.rows
		}
	}
	if total >= 0 {
		rd.starts = make([]int64, len(rd.plan))
		var n int64
		for i, sp := range rd.plan {
			rd.starts[i] = n
			n += sp.to - sp.from
		}
	}
	opened = true
	return rd, nil
}

// shardBound returns ⌊i·total/n⌋ without overflow.
func shardBound(i, n int, total int64) int64 {
	hi, lo := bits.Mul64(uint64(i), uint64(total))
	q, _ := bits.Div64(hi, lo, uint64(n)) // i ≤ n, so hi < n
	return int64(q)
}

// ParseShard parses a shard spec "i/n" (0-based i, 0 ≤ i < n), e.g. "2/8"
// for the third of eight shards.
func ParseShard(spec string) (i, n int, err error) {
	bad := fmt.Errorf("invalid shard %q: want i/n with 0 ≤ i < n, e.g. 0/4", spec)
	a, b, ok := strings.Cut(spec, "/")
	if !ok {
		return 0, 0, bad
	}
	i, err1 := strconv.Atoi(strings.TrimSpace(a))
	n, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, bad
	}
	return i, n, nil
}

// expandPaths expands glob patterns; names without pattern characters are
// kept as they are, so that a missing file is reported when opened.
func expandPaths(paths []string) ([]string, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("open stream: no input files")
	}
	var out []string
	for _, p := range paths {
		if !strings.ContainsAny(p, `*?[\`) {
			out = append(out, p)
			continue
		}
		m, err := filepath.Glob(p)
		if err != nil {
			return nil, fmt.Errorf("read %s: bad pattern: %w", p, err)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("read %s: the pattern matches no files", p)
		}
		sort.Strings(m)
		out = append(out, m...)
	}
	return out, nil
}

// probeFile reads the header of the file at path.
func probeFile(path string) (*inputFile, error) {
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
	sf := &inputFile{path: path, pipe: isPipeFile(f, path)}
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
	if sf.gz || sf.pipe {
		sz = sizeInfo{avail: -1, hint: -1}
	}
	live := func() {
		if sf.pipe {
			sf.live = &liveInput{f: f, done: done, r: r, zr: zr}
			keep = true
		}
	}
	switch sf.kind {
	case formatNPY:
		h, et, n, err := readNPYHeader(r, &sz)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		sf.et, sf.dataOff = et, n
		if err := sf.setDims(h.shape); err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
	case formatIDX:
		et, dims, n, err := readIDXHeader(r, &sz)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		sf.et, sf.dataOff = et, n
		if err := sf.setDims(dims); err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
	case formatCSV:
		c, err := newCSVRows(r)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		sf.rows, sf.cols, sf.header = -1, c.cols, c.header
		if c.cols == 0 {
			sf.rows = 0
		}
		sf.shape = []int{c.cols}
		live()
		if sf.live != nil {
			sf.live.csv = c
		}
		return sf, nil
	}
	sf.dec = sf.et.decoder()
	if !sf.gz && !sf.pipe {
		if need := sf.dataOff + sf.dataBytes(); st.Size() < need {
			return nil, sf.truncated(st.Size())
		}
	}
	live()
	return sf, nil
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

// String names an element type, e.g. "float32" or "big-endian int16".
func (t elemType) String() string {
	var name string
	switch t.kind {
	case 'f':
		name = fmt.Sprintf("float%d", 8*t.size)
	case 'i':
		name = fmt.Sprintf("int%d", 8*t.size)
	case 'u':
		name = fmt.Sprintf("uint%d", 8*t.size)
	case 'b':
		return "bool"
	default:
		return fmt.Sprintf("%c%d", t.kind, t.size)
	}
	if t.big && t.size > 1 {
		name = "big-endian " + name
	}
	return name
}

// countCSVRows reads a whole CSV file to count its data rows.
func countCSVRows(sf *inputFile) (int64, error) {
	if sf.pipe {
		return 0, fmt.Errorf("read %s: a shard of CSV input needs the rows counted first, in a read of their own, and a pipe can be read only once: save it to a file, or shard .npy input", sf.path)
	}
	f, err := os.Open(sf.path)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", sf.path, unwrapPathError(err))
	}
	defer f.Close()
	r, zr, err := sf.open(f, false)
	if err != nil {
		return 0, err
	}
	if zr != nil {
		defer zr.Close()
	}
	c, err := newCSVRows(r)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", sf.path, err)
	}
	var n int64
	for {
		_, _, err := c.next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", sf.path, err)
		}
		n++
	}
}

// Cols returns the number of values in a row.
func (rd *Reader) Cols() int { return rd.cols }

// Shape returns the shape of one row, as stored in the first file: [28 28]
// for MNIST images in IDX or an (N, 28, 28) .npy array, [cols] otherwise.
func (rd *Reader) Shape() []int { return append([]int(nil), rd.shape...) }

// Header returns the column names from a CSV header row, or nil.
func (rd *Reader) Header() []string { return rd.header }

// Files returns the files the reader reads, in order, with glob patterns
// expanded.
func (rd *Reader) Files() []string {
	out := make([]string, len(rd.files))
	for i, sf := range rd.files {
		out[i] = sf.path
	}
	return out
}

// Rows returns the number of rows the reader covers (the shard's, when
// sharded), before NaNSkip drops any, or -1 when that is not known without
// reading the data: an unsharded reader with a CSV file.
func (rd *Reader) Rows() int64 {
	if rd.hi < 0 {
		return -1
	}
	return rd.hi - rd.lo
}

// ShardRange returns the global rows [start, end) of the concatenated files
// that the reader covers: [0, Rows()) without sharding; end is -1 when
// Rows is.
func (rd *Reader) ShardRange() (start, end int64) { return rd.lo, rd.hi }

// errClosed is returned by a closed Reader.
var errClosed = errors.New("read: stream is closed")

// Read reads up to len(dst)/Cols() whole rows into dst, continuing from one
// file into the next, and returns how many it read. At the end of the
// data it returns 0 and io.EOF. On an error it returns the rows read
// before it (valid in dst) and the error, which every later call returns
// too. dst must hold at least one row.
//
// Rows that NaNSkip drops are not counted; a call returns fewer rows than
// fit in dst only at the end of the data.
func (rd *Reader) Read(dst []float32) (int, error) {
	if rd.closed {
		return 0, errClosed
	}
	if rd.err != nil {
		return 0, rd.err
	}
	want := len(dst) / rd.cols
	if want == 0 {
		return 0, fmt.Errorf("read: dst holds %d values, less than one row of %d", len(dst), rd.cols)
	}
	if rd.buf == nil {
		rd.buf = make([]byte, readChunk)
	}
	n := 0
	for n < want {
		if rd.cur == nil {
			if rd.pi >= len(rd.plan) {
				break
			}
			c, err := rd.openCursor(rd.plan[rd.pi])
			if err != nil {
				rd.err = err
				return n, err
			}
			rd.cur = c
		}
		c := rd.cur
		row0 := c.row
		chunk := dst[n*rd.cols : want*rd.cols]
		var lines []int
		if c.sf.kind == formatCSV {
			if cap(rd.lines) < want-n {
				rd.lines = make([]int, want)
			}
			lines = rd.lines[:want-n]
		}
		k, err := c.read(chunk, rd.buf, lines)
		if k > 0 {
			kept, perr := rd.applyNaN(chunk[:k*rd.cols], c.sf, row0, lines)
			if perr != nil {
				rd.err = perr
				return n, perr
			}
			n += kept
		}
		if err == io.EOF {
			c.close()
			rd.cur = nil
			rd.pi++
			continue
		}
		if err != nil {
			rd.err = err
			return n, err
		}
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// applyNaN enforces the NaN policy on the rows in data (read from sf,
// starting at its row row0; lines, for CSV, holds their lines) and returns
// how many rows are left at the front of data.
func (rd *Reader) applyNaN(data []float32, sf *inputFile, row0 int64, lines []int) (int, error) {
	k := len(data) / rd.cols
	if sf.kind != formatCSV && sf.et.kind != 'f' {
		return k, nil // integers are always finite
	}
	return enforceNaN(rd.opt.NaN, data, k, rd.cols, nanPlace{path: sf.path, row0: row0, lines: lines, header: sf.header})
}

// ReadRows reads up to len(dst)/Cols() rows starting at row start of the
// reader (row 0 is the first row Read would return, the shard's first when
// sharded) into dst, without moving Read's position. It needs every file to
// be an uncompressed .npy file, so that any row can be read directly. It
// returns io.EOF when start is at or past Rows(). With NaNSkip, dropped rows
// are left out, so fewer rows, even none, may come back.
func (rd *Reader) ReadRows(start int64, dst []float32) (int, error) {
	if rd.closed {
		return 0, errClosed
	}
	for _, sf := range rd.files {
		if sf.pipe {
			return 0, fmt.Errorf("read %s: random access (ReadRows) needs a regular file, and this is a pipe, which can only be read once from its start", sf.path)
		}
		if sf.kind != formatNPY || sf.gz {
			what := "an IDX file"
			switch {
			case sf.kind == formatCSV:
				what = "a CSV file"
			case sf.kind == formatNPY:
				what = "a compressed .npy file"
			}
			return 0, fmt.Errorf("read %s: random access (ReadRows) needs uncompressed .npy input, and this is %s", sf.path, what)
		}
	}
	if start < 0 {
		return 0, fmt.Errorf("read: ReadRows from negative row %d", start)
	}
	if start >= rd.Rows() {
		return 0, io.EOF
	}
	want := len(dst) / rd.cols
	if want == 0 {
		return 0, fmt.Errorf("read: dst holds %d values, less than one row of %d", len(dst), rd.cols)
	}
	if rd.buf == nil {
		rd.buf = make([]byte, readChunk)
	}
	// The span holding start: the last one that begins at or before it.
	i := sort.Search(len(rd.starts), func(i int) bool { return rd.starts[i] > start }) - 1
	n := 0
	for ; i < len(rd.plan) && n < want; i++ {
		sp := rd.plan[i]
		sf := rd.files[sp.file]
		row := sp.from + max(start-rd.starts[i], 0)
		k := int(min(int64(want-n), sp.to-row))
		if rd.raIdx != sp.file {
			if rd.ra != nil {
				rd.ra.Close()
				rd.ra, rd.raIdx = nil, -1
			}
			f, err := os.Open(sf.path)
			if err != nil {
				return n, fmt.Errorf("read %s: %w", sf.path, unwrapPathError(err))
			}
			rd.ra, rd.raIdx = f, sp.file
		}
		chunk := dst[n*rd.cols : (n+k)*rd.cols]
		if err := readBinaryAt(rd.ra, sf, row, chunk, rd.buf); err != nil {
			return n, err
		}
		kept, err := rd.applyNaN(chunk, sf, row, nil)
		if err != nil {
			return n, err
		}
		n += kept
	}
	return n, nil
}

// Close releases the reader's files. Read and ReadRows fail after it.
func (rd *Reader) Close() error {
	if rd.closed {
		return nil
	}
	rd.closed = true
	var err error
	if rd.cur != nil {
		err = rd.cur.close()
		rd.cur = nil
	}
	if rd.ra != nil {
		if e := rd.ra.Close(); err == nil {
			err = e
		}
		rd.ra = nil
	}
	for _, sf := range rd.files {
		if sf.live != nil && !sf.live.used {
			sf.live.used = true
			if e := sf.live.close(); err == nil {
				err = e
			}
		}
	}
	return err
}

// cursor reads the rows of one span of a file.
type cursor struct {
	sf  *inputFile
	f   *os.File
	zr  *gzip.Reader // when compressed
	r   io.Reader    // the content, for compressed and CSV files
	csv *csvRows
	row int64 // next row of the file
	end int64 // row to stop before, or -1: the end of the file
	// done closes f, when it is not f.Close (a pipe: standard input stays
	// open).
	done func() error
}

// openCursor opens the file of sp and positions it at sp.from.
func (rd *Reader) openCursor(sp span) (c *cursor, err error) {
	sf := rd.files[sp.file]
	if sf.live != nil {
		return rd.pipeCursor(sf, sp)
	}
	f, err := os.Open(sf.path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", sf.path, unwrapPathError(err))
	}
	c = &cursor{sf: sf, f: f, end: sp.to}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	if sf.kind != formatCSV && !sf.gz {
		c.row = sp.from // read with ReadAt
		return c, nil
	}
	if c.r, c.zr, err = sf.open(f, false); err != nil {
		return nil, err
	}
	if sf.kind == formatCSV {
		if c.csv, err = newCSVRows(c.r); err != nil {
			return nil, fmt.Errorf("read %s: %w", sf.path, err)
		}
		for c.row < sp.from {
			if _, _, err := c.csv.next(); err != nil {
				return nil, c.csvEOF(err)
			}
			c.row++
		}
		return c, nil
	}
	// Compressed .npy or IDX: skip the header and the rows before from.
	skip := sf.dataOff + sp.from*int64(sf.cols)*int64(sf.et.size)
	n, err := io.CopyN(io.Discard, c.r, skip)
	if err == io.EOF {
		return nil, sf.truncated(n)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", sf.path, err)
	}
	c.row = sp.from
	return c, nil
}

// pipeCursor continues reading a pipe where probeFile stopped, after its
// header, skipping the rows before sp.from.
func (rd *Reader) pipeCursor(sf *inputFile, sp span) (c *cursor, err error) {
	l := sf.live
	if l.used {
		return nil, fmt.Errorf("read %s: a pipe can be read only once, and it has been", sf.path)
	}
	l.used = true
	c = &cursor{sf: sf, f: l.f, zr: l.zr, r: l.r, csv: l.csv, end: sp.to, done: l.done}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	if sf.kind == formatCSV {
		for c.row < sp.from {
			if _, _, err := c.csv.next(); err != nil {
				return nil, c.csvEOF(err)
			}
			c.row++
		}
		return c, nil
	}
	skip := sp.from * int64(sf.cols) * int64(sf.et.size)
	n, err := io.CopyN(io.Discard, c.r, skip)
	if err == io.EOF {
		return nil, sf.truncated(sf.dataOff + n)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", sf.path, err)
	}
	c.row = sp.from
	return c, nil
}

// csvEOF turns the end of a CSV file before the rows counted at open into
// an error; other errors are wrapped with the file name.
func (c *cursor) csvEOF(err error) error {
	if err == io.EOF {
		return fmt.Errorf("read %s: the file ends after %d rows, but it had %d when the stream was opened (did it change?)", c.sf.path, c.row, c.sf.rows)
	}
	return fmt.Errorf("read %s: %w", c.sf.path, err)
}

// read reads up to len(dst)/cols rows into dst, using buf to decode binary
// data; lines (CSV only) receives each row's line. It returns io.EOF, with
// 0 rows, when the span is done.
func (c *cursor) read(dst []float32, buf []byte, lines []int) (int, error) {
	sf := c.sf
	cols := sf.cols
	k := len(dst) / cols
	if c.end >= 0 {
		k = int(min(int64(k), c.end-c.row))
	}
	if sf.kind == formatCSV {
		n := 0
		for ; n < k; n++ {
			rec, line, err := c.csv.next()
			if err == io.EOF && c.end < 0 {
				break
			}
			if err != nil {
				return n, c.csvEOF(err)
			}
			if err := c.csv.parse(rec, line, dst[n*cols:(n+1)*cols]); err != nil {
				return n, fmt.Errorf("read %s: %w", sf.path, err)
			}
			lines[n] = line
			c.row++
		}
		if n == 0 {
			return 0, c.finish()
		}
		return n, nil
	}
	if k == 0 {
		return 0, c.finish()
	}
	dst = dst[:k*cols]
	if c.r == nil { // an uncompressed regular file
		if err := readBinaryAt(c.f, sf, c.row, dst, buf); err != nil {
			return 0, err
		}
		c.row += int64(k)
		return k, nil
	}
	size := sf.et.size
	need := len(dst) * size
	pos := sf.dataOff + c.row*int64(cols)*int64(size)
	for done := 0; done < need; {
		m := min(len(buf), need-done)
		got, err := readFull(c.r, buf[:m])
		if err == io.EOF {
			return 0, sf.truncated(pos + int64(done+got))
		}
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", sf.path, err)
		}
		sf.dec(dst[done/size:(done+m)/size], buf[:m])
		done += m
	}
	c.row += int64(k)
	return k, nil
}

// finish ends a span: when a compressed file has been read to its end, the
// rest of it is read so that its checksum is verified. It returns io.EOF or
// the error found.
func (c *cursor) finish() error {
	if c.zr != nil && (c.end < 0 || c.end == c.sf.rows) {
		if err := drainGzip(c.zr); err != nil {
			return fmt.Errorf("read %s: %w", c.sf.path, err)
		}
	}
	return io.EOF
}

// close releases the cursor's file.
func (c *cursor) close() error {
	if c.zr != nil {
		c.zr.Close()
	}
	if c.done != nil {
		return c.done()
	}
	return c.f.Close()
}

// readBinaryAt decodes len(dst)/sf.cols rows of the uncompressed binary
// file f (described by sf), starting at row, into dst.
func readBinaryAt(f *os.File, sf *inputFile, row int64, dst []float32, buf []byte) error {
	size := sf.et.size
	need := len(dst) * size
	off := sf.dataOff + row*int64(sf.cols)*int64(size)
	for done := 0; done < need; {
		m := min(len(buf), need-done)
		got, err := f.ReadAt(buf[:m], off+int64(done))
		if got < m {
			if err == nil || err == io.EOF {
				end := off + int64(done+got)
				if st, err := f.Stat(); err == nil && st.Size() < end {
					end = st.Size() // the read began past the end
				}
				return sf.truncated(end)
			}
			return fmt.Errorf("read %s: %w", sf.path, unwrapPathError(err))
		}
		sf.dec(dst[done/size:(done+m)/size], buf[:m])
		done += m
	}
	return nil
}
