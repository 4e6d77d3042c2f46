package dataset

import (
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
)

// probeColumnar reads the footer of the Parquet or Arrow IPC file f: its
// schema, which opt turns into the row's features, and its blocks.
func (sf *inputFile) probeColumnar(f *os.File, opt ReaderOptions) error {
	src, err := openColumnar(f, sf.kind)
	if err != nil {
		return fmt.Errorf("read %s: %w", sf.path, err)
	}
	defer src.close()
	plan, err := planColumns(src.schema(), opt.Columns, opt.IDColumn)
	if err != nil {
		return fmt.Errorf("read %s: %w", sf.path, err)
	}
	sf.plan, sf.cols, sf.shape, sf.header = plan, plan.cols, []int{plan.cols}, plan.names
	sf.blocks = src.blockRows()
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
			if sf.plan == nil {
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

// colCursor reads the record batches of a span of a columnar file.
type colCursor struct {
	f   *os.File
	src columnarSource
	it  batchIter
	rec arrow.RecordBatch
	off int // next row of rec
}

// batchRows is how many rows a Parquet batch holds: about 4 MiB of
// features.
func batchRows(cols int) int { return min(max((1<<20)/cols, 64), 1<<16) }

// openColumnarCursor opens the file of sp, a span of whole blocks.
func (rd *Reader) openColumnarCursor(sf *inputFile, sp span) (*cursor, error) {
	f, err := os.Open(sf.path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", sf.path, unwrapPathError(err))
	}
	src, err := openColumnar(f, sf.kind)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read %s: %w", sf.path, err)
	}
	b0, b1 := sf.blockOf(sp.from), sf.blockOf(sp.to-1)+1
	it, err := src.batches(b0, b1, sf.plan.fields, batchRows(sf.cols))
	if err != nil {
		src.close()
		f.Close()
		return nil, fmt.Errorf("read %s: row group %d: %w", sf.path, b0, err)
	}
	cc := &colCursor{f: f, src: src, it: it}
	return &cursor{sf: sf, f: f, col: cc, row: sf.blockStart[b0], end: sp.to, done: cc.close}, nil
}

// close releases the cursor's batches, reader and file.
func (cc *colCursor) close() error {
	cc.it.close()
	cc.src.close()
	return cc.f.Close()
}

// readColumnar is cursor.read for a columnar file: up to len(dst)/cols
// rows into dst and, when ids is not nil, their ids.
func (c *cursor) readColumnar(dst []float32, ids []string) (n int, err error) {
	sf, cc := c.sf, c.col
	defer func() {
		if r := recover(); r != nil {
			n, err = 0, fmt.Errorf("read %s: row group %d: corrupt data: %v", sf.path, sf.blockOf(c.row), r)
		}
	}()
	k := int(min(int64(len(dst)/sf.cols), c.end-c.row))
	for n < k {
		if cc.rec == nil || cc.off == int(cc.rec.NumRows()) {
			rec, err := cc.it.next()
			if err == io.EOF {
				return n, fmt.Errorf("read %s: the data ends after row %d, but the footer promises %d rows (did the file change?)", sf.path, c.row, c.end)
			}
			if err != nil {
				return n, fmt.Errorf("read %s: row group %d: %w", sf.path, sf.blockOf(c.row), err)
			}
			cc.rec, cc.off = rec, 0
			if err := checkBatch(rec, sf.plan); err != nil {
				return n, fmt.Errorf("read %s: row group %d: %w", sf.path, sf.blockOf(c.row), err)
			}
			continue
		}
		m := min(k-n, int(cc.rec.NumRows())-cc.off)
		var idPart []string
		if ids != nil {
			idPart = ids[n : n+m]
		}
		if err := sf.plan.fillRows(dst[n*sf.cols:], idPart, cc.rec, cc.off, m); err != nil {
			return n, fmt.Errorf("read %s: row group %d: %w", sf.path, sf.blockOf(c.row), err)
		}
		cc.off += m
		c.row += int64(m)
		n += m
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// checkBatch makes sure a record batch holds the fields the plan reads.
func checkBatch(rec arrow.RecordBatch, p *columnarPlan) error {
	if int(rec.NumCols()) != len(p.fields) {
		return fmt.Errorf("a batch holds %d columns, want %d", rec.NumCols(), len(p.fields))
	}
	return nil
}
