package dataset

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
)

// ReaderOptions tunes OpenReader.
type ReaderOptions struct {
	// NaN says what to do with NaN and ±Inf values, as in LoadOptions: fail
	// naming the file, row and column (and line, for CSV); drop the row; or
	// replace the value with 0.
	NaN NaNPolicy
	// Shard and ShardCount select part Shard (0-based) of ShardCount equal
	// parts of the rows. The zero value (0 of 0) means the whole dataset, as
	// does 0 of 1. See OpenReader. Parquet and Arrow files are split
	// between shards by whole row groups (record batches).
	Shard, ShardCount int

	// Columns selects the features of Parquet and Arrow files: exact
	// column names or patterns such as "f_*" (path.Match syntax), in the
	// order given, a pattern's matches in file order. A name or pattern
	// that matches nothing, or names a column that cannot be a feature (text,
	// a timestamp, a variable-length list), is an error. Empty: every
	// column that can be a feature, the others being listed by Skipped.
	// A column of numbers (any integer or float width), booleans (0/1) or
	// decimals gives one feature; a fixed_size_list<number>[n] column named
	// emb gives n, named emb[0] … emb[n-1].
	Columns []string
	// IDColumn names a string or integer column of Parquet and Arrow files
	// whose values are kept per row (ReadIDs, Table.IDs) and that is not a
	// feature.
	IDColumn string
}

// Reader reads a dataset of one or more files chunk by chunk, holding only a
// fixed buffer of its own (a few hundred KB) besides what the caller passes
// to Read, whatever the size of the files. It is not safe for concurrent
// use.
type Reader struct {
	files   []*inputFile
	opt     ReaderOptions
	cols    int
	shape   []int
	header  []string
	skipped []string
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
	raCol *cursor  // a Parquet or Arrow file's cursor kept for ReadRows
	skip  []float32
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
	if err := rd.probeAll(names); err != nil {
		return nil, err
	}
	if err := rd.planSpans(opt.ShardCount > 1); err != nil { // 0/1 is the whole dataset
		return nil, err
	}
	opened = true
	return rd, nil
}

// Cols returns the number of values in a row.
func (rd *Reader) Cols() int { return rd.cols }

// Shape returns the shape of one row, as stored in the first file: [28 28]
// for MNIST images in IDX or an (N, 28, 28) .npy array, [cols] otherwise.
func (rd *Reader) Shape() []int { return append([]int(nil), rd.shape...) }

// Header returns the column names from a CSV header row, or the feature
// names of Parquet and Arrow files ("x", "emb[0]", …), or nil.
func (rd *Reader) Header() []string { return rd.header }

// Skipped returns the columns of Parquet and Arrow files left out because
// they cannot be features, when ReaderOptions.Columns was empty, in file
// order (those of every file, each name once); else nil.
func (rd *Reader) Skipped() []string { return rd.skipped }

// HasIDs reports whether rows come with ids (ReaderOptions.IDColumn).
func (rd *Reader) HasIDs() bool { return rd.opt.IDColumn != "" }

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
func (rd *Reader) Read(dst []float32) (int, error) { return rd.ReadIDs(dst, nil) }

// ReadIDs is Read that also returns the rows' ids (ReaderOptions.IDColumn)
// in ids[:n]: it then reads at most len(ids) rows. With ids nil, or without
// an id column, it is Read.
func (rd *Reader) ReadIDs(dst []float32, ids []string) (int, error) {
	if rd.closed {
		return 0, errClosed
	}
	if rd.err != nil {
		return 0, rd.err
	}
	want := len(dst) / rd.cols
	if !rd.HasIDs() {
		ids = nil
	} else if ids != nil {
		want = min(want, len(ids))
	}
	if want == 0 && len(dst) >= rd.cols {
		return 0, fmt.Errorf("read: ids holds no room for a row")
	}
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
		var chunkIDs []string
		if ids != nil {
			chunkIDs = ids[n:want]
		}
		k, err := c.read(chunk, rd.buf, lines, chunkIDs)
		if k > 0 {
			kept, perr := rd.applyNaN(chunk[:k*rd.cols], c.sf, row0, lines, chunkIDs)
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
func (rd *Reader) applyNaN(data []float32, sf *inputFile, row0 int64, lines []int, ids []string) (int, error) {
	k := len(data) / rd.cols
	if sf.kind != formatCSV && !sf.kind.external() && sf.et.kind != 'f' {
		return k, nil // integers are always finite
	}
	at := nanPlace{path: sf.path, row0: row0, lines: lines, header: sf.header, ids: ids, idField: sf.idField}
	if sf.kind.external() {
		at.group = sf.blockOf
	}
	return enforceNaN(rd.opt.NaN, data, k, rd.cols, at)
}

// ReadRows reads up to len(dst)/Cols() rows starting at row start of the
// reader (row 0 is the first row Read would return, the shard's first when
// sharded) into dst, without moving Read's position. It needs every file to
// be an uncompressed .npy file, read directly at any row, or a Parquet or
// Arrow file, read from the start of the row group (record batch) holding
// start: a read that continues where the last one ended goes on without
// decoding anything twice. It returns io.EOF when start is at or past
// Rows(). With NaNSkip, dropped rows are left out, so fewer rows, even
// none, may come back.
func (rd *Reader) ReadRows(start int64, dst []float32) (int, error) {
	if rd.closed {
		return 0, errClosed
	}
	if err := rd.randomAccess(); err != nil {
		return 0, err
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
		chunk := dst[n*rd.cols : (n+k)*rd.cols]
		var err error
		if sf.kind.external() {
			err = rd.readColumnarAt(sp, row, chunk)
		} else {
			err = rd.readNPYAt(sp.file, row, chunk)
		}
		if err != nil {
			return n, err
		}
		kept, err := rd.applyNaN(chunk, sf, row, nil, nil)
		if err != nil {
			return n, err
		}
		n += kept
	}
	return n, nil
}

// BlockStarts returns the rows of the reader (0: its first) at which a
// block (row group, record batch) of a Parquet or Arrow file begins, in
// ascending order, or nil when no file is one. ReadRows from a row inside
// a block decodes the block from its start, so a caller that reads at
// random (a streamed training run) does best to start its reads at these
// rows, or to read a block's rows in order.
func (rd *Reader) BlockStarts() []int64 {
	if rd.starts == nil {
		return nil
	}
	var out []int64
	for i, sp := range rd.plan {
		sf := rd.files[sp.file]
		if !sf.kind.external() {
			continue
		}
		for _, r := range sf.blockStart[:len(sf.blocks)] {
			if r >= sp.from && r < sp.to {
				out = append(out, rd.starts[i]+r-sp.from)
			}
		}
	}
	return out
}

// randomAccess checks that ReadRows can read every file of the reader.
func (rd *Reader) randomAccess() error {
	for _, sf := range rd.files {
		if sf.pipe {
			return fmt.Errorf("read %s: random access (ReadRows) needs a regular file, and this is a pipe, which can only be read once from its start", sf.path)
		}
		if sf.kind.external() || (sf.kind == formatNPY && !sf.gz) {
			continue
		}
		what := "an IDX file"
		switch {
		case sf.kind == formatCSV:
			what = "a CSV file"
		case sf.kind == formatNPY:
			what = "a compressed .npy file"
		}
		return fmt.Errorf("read %s: random access (ReadRows) needs uncompressed .npy, Parquet or Arrow input, and this is %s", sf.path, what)
	}
	return nil
}

// readNPYAt reads the rows of dst from row of the .npy file files[fi].
func (rd *Reader) readNPYAt(fi int, row int64, dst []float32) error {
	sf := rd.files[fi]
	if rd.raIdx != fi {
		if rd.ra != nil {
			rd.ra.Close()
			rd.ra, rd.raIdx = nil, -1
		}
		f, err := os.Open(sf.path)
		if err != nil {
			return fmt.Errorf("read %s: %w", sf.path, unwrapPathError(err))
		}
		rd.ra, rd.raIdx = f, fi
	}
	return readBinaryAt(rd.ra, sf, row, dst, rd.buf)
}

// readColumnarAt reads the rows of dst from row of sp's Parquet or Arrow
// file. The cursor is kept: when the next read starts where this one
// ended, it continues; otherwise a new one starts at the block holding
// row and decodes (and drops) the block's rows before it.
func (rd *Reader) readColumnarAt(sp span, row int64, dst []float32) (err error) {
	sf := rd.files[sp.file]
	c := rd.raCol
	if c != nil && (c.sf != sf || c.row != row) {
		c.close()
		c, rd.raCol = nil, nil
	}
	if c == nil {
		if c, err = rd.openColumnarCursor(sf, span{file: sp.file, from: row, to: sp.to}); err != nil {
			return err
		}
		rd.raCol = c
	}
	defer func() {
		if err != nil {
			c.close()
			rd.raCol = nil
		}
	}()
	for c.row < row {
		k := int(min(row-c.row, int64(max(1, readChunk/4/sf.cols))))
		rd.skip = growFloats(rd.skip, k*sf.cols)
		if _, err := c.readColumnar(rd.skip, nil); err != nil {
			return err
		}
	}
	for got := 0; got < len(dst)/sf.cols; {
		m, err := c.readColumnar(dst[got*sf.cols:], nil)
		if err != nil {
			return err
		}
		got += m
	}
	return nil
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
	if rd.raCol != nil {
		if e := rd.raCol.close(); err == nil {
			err = e
		}
		rd.raCol = nil
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

// growFloats returns b resized to n values, reallocated only when it is
// too small.
func growFloats(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}
