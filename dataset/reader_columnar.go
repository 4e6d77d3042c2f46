package dataset

import (
	"fmt"
	"io"
	"os"
	"sort"
)

// Files of a registered format (Parquet, Arrow IPC: format.go) are read
// through its Source, block by block.

// probeColumnar reads the footer of the file f of a registered format: its
// features, as opt selects them, and its blocks.
func (sf *inputFile) probeColumnar(f *os.File, opt ReaderOptions) error {
	src, err := sf.kind.ext().open(f, ColumnOptions{Columns: opt.Columns, IDColumn: opt.IDColumn})
	if err != nil {
		return fmt.Errorf("read %s: %w", sf.path, err)
	}
	defer src.Close()
	sf.cols, sf.header, sf.skipped = src.Cols(), src.Header(), src.Skipped()
	sf.shape = []int{sf.cols}
	sf.blocks = src.Blocks()
	sf.blockStart = make([]int64, len(sf.blocks)+1)
	for i, n := range sf.blocks {
		sf.blockStart[i+1] = sf.blockStart[i] + n
	}
	sf.rows = sf.blockStart[len(sf.blocks)]
	return nil
}

// blockOf returns the block (row group, record batch) holding row.
func (sf *inputFile) blockOf(row int64) int {
	return sort.Search(len(sf.blocks), func(i int) bool { return sf.blockStart[i+1] > row })
}

// addSkipped adds names to the reader's skipped columns, each once.
func (rd *Reader) addSkipped(names []string) {
	for _, n := range names {
		seen := false
		for _, m := range rd.skipped {
			seen = seen || m == n
		}
		if !seen {
			rd.skipped = append(rd.skipped, n)
		}
	}
}

// snapToBlock moves the global row g forward to the next start of a
// block when g falls inside a block of a Parquet or Arrow file, so that
// every shard holds whole blocks: a block belongs to the shard in which
// its first row falls.
func snapToBlock(files []*inputFile, g int64) int64 {
	var at int64
	for _, sf := range files {
		if g < at+sf.rows {
			if !sf.kind.external() {
				return g
			}
			local := g - at
			b := sf.blockOf(local)
			if sf.blockStart[b] == local {
				return g
			}
			return at + sf.blockStart[b+1]
		}
		at += sf.rows
	}
	return g
}

// colCursor reads the blocks of a span of a file of a registered format.
type colCursor struct {
	f   *os.File
	src Source
	it  BlockReader
}

// openColumnarCursor opens the file of sp, a span of whole blocks.
func (rd *Reader) openColumnarCursor(sf *inputFile, sp span) (*cursor, error) {
	f, err := os.Open(sf.path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", sf.path, unwrapPathError(err))
	}
	src, err := sf.kind.ext().open(f, ColumnOptions{Columns: rd.opt.Columns, IDColumn: rd.opt.IDColumn})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read %s: %w", sf.path, err)
	}
	if src.Cols() != sf.cols {
		src.Close()
		f.Close()
		return nil, fmt.Errorf("read %s: %d columns, but it had %d when the stream was opened (did the file change?)", sf.path, src.Cols(), sf.cols)
	}
	b0, b1 := sf.blockOf(sp.from), sf.blockOf(sp.to-1)+1
	it, err := src.ReadBlocks(b0, b1)
	if err != nil {
		src.Close()
		f.Close()
		return nil, fmt.Errorf("read %s: row group %d: %w", sf.path, b0, err)
	}
	cc := &colCursor{f: f, src: src, it: it}
	return &cursor{sf: sf, f: f, col: cc, row: sf.blockStart[b0], end: sp.to, done: cc.close}, nil
}

// close releases the cursor's blocks, source and file.
func (cc *colCursor) close() error {
	cc.it.Close()
	cc.src.Close()
	return cc.f.Close()
}

// readColumnar is cursor.read for a file of a registered format: up to
// len(dst)/cols rows into dst and, when ids is not nil, their ids.
func (c *cursor) readColumnar(dst []float32, ids []string) (n int, err error) {
	sf := c.sf
	defer func() {
		if r := recover(); r != nil { // a damaged file can make a decoder panic
			n, err = 0, fmt.Errorf("read %s: row group %d: corrupt data: %v", sf.path, sf.blockOf(c.row), r)
		}
	}()
	k := int(min(int64(len(dst)/sf.cols), c.end-c.row))
	for n < k {
		var idPart []string
		if ids != nil {
			idPart = ids[n:k]
		}
		m, err := c.col.it.Next(dst[n*sf.cols:k*sf.cols], idPart)
		if err == io.EOF || (err == nil && m == 0) {
			return n, fmt.Errorf("read %s: the data ends after row %d, but the footer promises %d rows (did the file change?)", sf.path, c.row, c.end)
		}
		if err != nil {
			return n, fmt.Errorf("read %s: row group %d: %w", sf.path, sf.blockOf(c.row), err)
		}
		c.row += int64(m)
		n += m
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}
