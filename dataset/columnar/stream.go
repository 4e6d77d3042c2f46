package columnar

import (
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aegpu/aegpu/dataset"
)

// ReadIPCStream reads an Arrow IPC stream (the streaming format, as
// pyarrow.ipc.new_stream writes it; not the file format) from r into a
// table of the features opt selects, by the rules of an Arrow file
// (docs/formats.md): numeric, boolean and decimal columns, fixed-size
// lists of them, nulls as NaN. At most maxRows rows are read; more is an
// error.
func ReadIPCStream(r io.Reader, opt dataset.ColumnOptions, maxRows int) (t *dataset.Table, err error) {
	defer func() {
		if p := recover(); p != nil {
			t, err = nil, fmt.Errorf("corrupt Arrow IPC stream: %v", p)
		}
	}()
	rd, err := ipc.NewReader(r, ipc.WithAllocator(memory.DefaultAllocator))
	if err != nil {
		return nil, fmt.Errorf("not an Arrow IPC stream: %w", err)
	}
	defer rd.Release()
	plan, err := planColumns(rd.Schema(), opt.Columns, opt.IDColumn)
	if err != nil {
		return nil, err
	}
	t = &dataset.Table{Cols: plan.cols, Header: plan.names}
	for rd.Next() {
		full := rd.RecordBatch()
		n := int(full.NumRows())
		if t.Rows+n > maxRows {
			return nil, &RowLimitError{Limit: maxRows}
		}
		cols := make([]arrow.Array, len(plan.fields))
		fs := make([]arrow.Field, len(plan.fields))
		for i, fi := range plan.fields {
			cols[i], fs[i] = full.Column(fi), full.Schema().Field(fi)
		}
		rec := array.NewRecordBatch(arrow.NewSchema(fs, nil), cols, full.NumRows())
		t.Data = append(t.Data, make([]float32, n*plan.cols)...)
		err := plan.fillRows(t.Data[t.Rows*plan.cols:], nil, rec, 0, n)
		rec.Release()
		if err != nil {
			return nil, err
		}
		t.Rows += n
	}
	if err := rd.Err(); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read the Arrow IPC stream: %w", err)
	}
	t.Shape = []int{t.Rows, t.Cols}
	return t, nil
}

// RowLimitError reports a stream of more rows than the reader takes.
type RowLimitError struct{ Limit int }

func (e *RowLimitError) Error() string {
	return fmt.Sprintf("more rows than the limit of %d", e.Limit)
}
