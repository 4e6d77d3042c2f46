// Package columnar reads and writes Apache Parquet and Arrow IPC (Feather
// v2) files for package dataset, with github.com/apache/arrow-go. It
// registers both formats with dataset when imported, as database/sql
// drivers do:
//
//	import _ "github.com/aegpu/aegpu/dataset/columnar"
//
// after which dataset.Load, dataset.OpenReader, dataset.NewWriter(With) and
// dataset.Save take .parquet, .parq, .arrow, .feather and .ipc files. The
// Parquet library is large (tens of MB of code), so it lives here, out of
// the programs and test binaries that do not read these files.
// docs/formats.md describes the mapping of columns to features.
package columnar

import (
	"fmt"
	"io"
	"os"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/aegpu/aegpu/dataset"
)

func init() {
	dataset.RegisterFormat("parquet", dataset.Format{
		Title:      "a Parquet file",
		Extensions: []string{".parquet", ".parq"},
		Magic:      []byte("PAR1"),
		Open:       func(f *os.File, opt dataset.ColumnOptions) (dataset.Source, error) { return open(f, false, opt) },
		Create: func(f *os.File, cols int, opt dataset.WriterOptions) (dataset.RowWriter, error) {
			return create(f, cols, opt, false)
		},
	})
	dataset.RegisterFormat("arrow", dataset.Format{
		Title:      "an Arrow IPC file",
		Extensions: []string{".arrow", ".feather", ".ipc"},
		Magic:      []byte("ARROW1"),
		Open:       func(f *os.File, opt dataset.ColumnOptions) (dataset.Source, error) { return open(f, true, opt) },
		Create: func(f *os.File, cols int, opt dataset.WriterOptions) (dataset.RowWriter, error) {
			return create(f, cols, opt, true)
		},
	})
}

// table is an open file with its plan: a dataset.Source.
type table struct {
	src  columnarSource
	plan *columnarPlan
}

// open opens the Parquet (or, with ipc, Arrow IPC) file f and selects its
// features as opt says.
func open(f *os.File, ipc bool, opt dataset.ColumnOptions) (dataset.Source, error) {
	src, err := openColumnar(f, ipc)
	if err != nil {
		return nil, err
	}
	plan, err := planColumns(src.schema(), opt.Columns, opt.IDColumn)
	if err != nil {
		src.close()
		return nil, err
	}
	return &table{src: src, plan: plan}, nil
}

func (t *table) Cols() int         { return t.plan.cols }
func (t *table) Header() []string  { return t.plan.names }
func (t *table) Skipped() []string { return t.plan.skipped }
func (t *table) Blocks() []int64   { return t.src.blockRows() }
func (t *table) Close() error      { return t.src.close() }

// batchRows is how many rows a Parquet batch holds: about 4 MiB of
// features.
func batchRows(cols int) int { return min(max((1<<20)/cols, 64), 1<<16) }

func (t *table) ReadBlocks(b0, b1 int) (dataset.BlockReader, error) {
	it, err := t.src.batches(b0, b1, t.plan.fields, batchRows(t.plan.cols))
	if err != nil {
		return nil, err
	}
	return &blockReader{it: it, plan: t.plan}, nil
}

// blockReader turns record batches into rows.
type blockReader struct {
	it   batchIter
	plan *columnarPlan
	rec  arrow.RecordBatch
	off  int // next row of rec
}

func (b *blockReader) Next(dst []float32, ids []string) (int, error) {
	for b.rec == nil || b.off == int(b.rec.NumRows()) {
		rec, err := b.it.next()
		if err != nil {
			return 0, err // io.EOF after the last
		}
		if err := checkBatch(rec, b.plan); err != nil {
			return 0, err
		}
		b.rec, b.off = rec, 0
	}
	m := min(len(dst)/b.plan.cols, int(b.rec.NumRows())-b.off)
	if ids != nil {
		m = min(m, len(ids))
		ids = ids[:m]
	}
	if m == 0 {
		return 0, io.ErrShortBuffer
	}
	if err := b.plan.fillRows(dst, ids, b.rec, b.off, m); err != nil {
		return 0, err
	}
	b.off += m
	return m, nil
}

func (b *blockReader) Close() { b.it.close() }

// checkBatch makes sure a record batch holds the fields the plan reads.
func checkBatch(rec arrow.RecordBatch, p *columnarPlan) error {
	if int(rec.NumCols()) != len(p.fields) {
		return fmt.Errorf("a batch holds %d columns, want %d", rec.NumCols(), len(p.fields))
	}
	return nil
}
