package columnar

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// A columnar file is read block by block: a Parquet row group or an Arrow
// IPC record batch. Both libraries hand over Arrow record batches, which
// columnarPlan.fillRows turns into rows, so the two formats share every
// step after opening.

// columnarSource is an open Parquet or Arrow IPC file.
type columnarSource interface {
	schema() *arrow.Schema
	// blockRows returns the number of rows of each block.
	blockRows() []int64
	// batches returns the record batches of blocks [b0, b1), holding only
	// the schema fields given (ascending), in batches of about batchRows
	// rows.
	batches(b0, b1 int, fields []int, batchRows int) (batchIter, error)
	close() error
}

// batchIter yields record batches; next returns io.EOF after the last.
// A batch is valid until the next call or close.
type batchIter interface {
	next() (arrow.RecordBatch, error)
	close()
}

// openColumnar opens the Parquet (or, with ipc, Arrow IPC) file f. The
// caller keeps f open while the source is used.
func openColumnar(f *os.File, ipc bool) (src columnarSource, err error) {
	defer func() {
		if r := recover(); r != nil { // a damaged footer can make a decoder panic
			src, err = nil, fmt.Errorf("corrupt file: %v", r)
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() == 0 {
		return nil, errors.New("no rows: the file is empty")
	}
	if ipc {
		return openIPC(f)
	}
	return openParquet(f)
}

// parquetSource reads a Parquet file through the Arrow reader of the
// Parquet library.
type parquetSource struct {
	pr *file.Reader
	fr *pqarrow.FileReader
	sc *arrow.Schema
}

func openParquet(f *os.File) (*parquetSource, error) {
	props := parquet.NewReaderProperties(memory.DefaultAllocator)
	// Read pages as they are needed instead of whole column chunks: memory
	// is bounded by the pages of one batch, not by a row group.
	props.BufferedStreamEnabled = true
	props.BufferSize = 1 << 20
	pr, err := file.NewParquetReader(f, file.WithReadProps(props))
	if err != nil {
		return nil, fmt.Errorf("not a valid Parquet file: %w", err)
	}
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		return nil, fmt.Errorf("Parquet schema: %w", err)
	}
	// The Arrow schema is stored in the file by Arrow writers; for others
	// it is derived from the Parquet schema.
	sc, err := fr.Schema()
	if err != nil {
		return nil, fmt.Errorf("Parquet schema: %w", err)
	}
	return &parquetSource{pr: pr, fr: fr, sc: sc}, nil
}

func (s *parquetSource) schema() *arrow.Schema { return s.sc }

func (s *parquetSource) blockRows() []int64 {
	out := make([]int64, s.pr.NumRowGroups())
	for i := range out {
		out[i] = s.pr.MetaData().RowGroup(i).NumRows()
	}
	return out
}

func (s *parquetSource) batches(b0, b1 int, fields []int, batchRows int) (batchIter, error) {
	var leaves []int
	for _, fi := range fields {
		leaves = appendLeaves(leaves, &s.fr.Manifest.Fields[fi])
	}
	groups := make([]int, 0, b1-b0)
	for g := b0; g < b1; g++ {
		groups = append(groups, g)
	}
	s.fr.Props.BatchSize = int64(batchRows)
	rr, err := s.fr.GetRecordReader(context.Background(), leaves, groups)
	if err != nil {
		return nil, err
	}
	return &parquetBatches{rr: rr}, nil
}

// appendLeaves appends the Parquet columns under a schema field.
func appendLeaves(out []int, f *pqarrow.SchemaField) []int {
	if f.IsLeaf() {
		return append(out, f.ColIndex)
	}
	for i := range f.Children {
		out = appendLeaves(out, &f.Children[i])
	}
	return out
}

// close releases nothing: the Parquet reader holds no resource but the
// file, which belongs to the caller (file.Reader.Close would close it).
func (s *parquetSource) close() error { return nil }

type parquetBatches struct{ rr pqarrow.RecordReader }

func (b *parquetBatches) next() (rec arrow.RecordBatch, err error) {
	defer func() {
		if r := recover(); r != nil {
			rec, err = nil, fmt.Errorf("corrupt data: %v", r)
		}
	}()
	if b.rr.Next() {
		return b.rr.RecordBatch(), nil
	}
	if err := b.rr.Err(); err != nil && err != io.EOF {
		return nil, err
	}
	return nil, io.EOF
}

func (b *parquetBatches) close() { b.rr.Release() }

// ipcSource reads an Arrow IPC file (Feather v2). Its footer lists the
// record batches but not their lengths, so opening reads each batch once
// to count its rows.
type ipcSource struct {
	r    *ipc.FileReader
	rows []int64
}

func openIPC(f *os.File) (*ipcSource, error) {
	r, err := ipc.NewFileReader(f, ipc.WithAllocator(memory.DefaultAllocator))
	if err != nil {
		return nil, fmt.Errorf("not a valid Arrow IPC file: %w", err)
	}
	s := &ipcSource{r: r, rows: make([]int64, r.NumRecords())}
	for i := range s.rows {
		rec, err := r.RecordBatchAt(i)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("record batch %d: %w", i, err)
		}
		s.rows[i] = rec.NumRows()
		rec.Release()
	}
	return s, nil
}

func (s *ipcSource) schema() *arrow.Schema { return s.r.Schema() }
func (s *ipcSource) blockRows() []int64    { return s.rows }
func (s *ipcSource) close() error          { return s.r.Close() }

func (s *ipcSource) batches(b0, b1 int, fields []int, _ int) (batchIter, error) {
	return &ipcBatches{s: s, next_: b0, end: b1, fields: fields}, nil
}

type ipcBatches struct {
	s          *ipcSource
	next_, end int
	fields     []int
	cur        arrow.RecordBatch
}

func (b *ipcBatches) next() (rec arrow.RecordBatch, err error) {
	defer func() {
		if r := recover(); r != nil {
			rec, err = nil, fmt.Errorf("corrupt data: %v", r)
		}
	}()
	b.close()
	if b.next_ >= b.end {
		return nil, io.EOF
	}
	full, err := b.s.r.RecordBatchAt(b.next_)
	if err != nil {
		return nil, fmt.Errorf("record batch %d: %w", b.next_, err)
	}
	b.next_++
	cols := make([]arrow.Array, len(b.fields))
	fs := make([]arrow.Field, len(b.fields))
	for i, fi := range b.fields {
		cols[i], fs[i] = full.Column(fi), full.Schema().Field(fi)
	}
	b.cur = array.NewRecordBatch(arrow.NewSchema(fs, nil), cols, full.NumRows())
	full.Release()
	return b.cur, nil
}

func (b *ipcBatches) close() {
	if b.cur != nil {
		b.cur.Release()
		b.cur = nil
	}
}
