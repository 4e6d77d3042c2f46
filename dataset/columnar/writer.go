package columnar

import (
	"bufio"
	"fmt"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/aegpu/aegpu/dataset"
)

// groupValues is how many values a Parquet row group (an Arrow record
// batch) holds at most, about 8 MiB of float32: the rows are buffered up
// to that, so a writer's memory does not grow with the file. A variable
// so that tests can write many groups.
var groupValues = 2 << 20

// rowWriter buffers rows column by column (or row-major, for a list
// column, which is the list's layout) and writes one row group or record
// batch at a time.
type rowWriter struct {
	sc    *arrow.Schema
	cols  int
	list  bool
	ids   bool
	group int         // rows per group
	vals  [][]float32 // one per column, or [0] row-major for a list
	idv   []string
	n     int // rows buffered
	bw    *bufio.Writer
	write func(arrow.RecordBatch) error
	close func() error
}

// create starts a Parquet (or, with ipc, an Arrow IPC) file in f.
func create(f *os.File, cols int, opt dataset.WriterOptions, ipcFile bool) (dataset.RowWriter, error) {
	sc, err := writeSchema(cols, opt)
	if err != nil {
		return nil, err
	}
	w := &rowWriter{sc: sc, cols: cols, list: opt.ListColumn != "", ids: opt.IDName != "",
		group: max(1, groupValues/cols), bw: bufio.NewWriterSize(f, 1<<20)}
	if w.list {
		w.vals = make([][]float32, 1)
	} else {
		w.vals = make([][]float32, cols)
	}
	// The writers get the buffer, not the file: closing them must not
	// close f, which dataset.Writer syncs and renames.
	if ipcFile {
		fw, err := ipc.NewFileWriter(w.bw, ipc.WithSchema(sc), ipc.WithAllocator(memory.DefaultAllocator))
		if err != nil {
			return nil, err
		}
		w.write, w.close = fw.Write, fw.Close
		return w, nil
	}
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithMaxRowGroupLength(int64(w.group)), parquet.WithDictionaryDefault(false),
		parquet.WithAllocator(memory.DefaultAllocator))
	fw, err := pqarrow.NewFileWriter(sc, w.bw, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		return nil, err
	}
	w.write, w.close = fw.Write, fw.Close
	return w, nil
}

// writeSchema is the schema of a written file: the id column (utf8), then
// the values (float32 columns named by the header or z0, z1, …, or one
// fixed_size_list<float>[cols]). Every name must differ.
func writeSchema(cols int, opt dataset.WriterOptions) (*arrow.Schema, error) {
	var fields []arrow.Field
	if opt.IDName != "" {
		fields = append(fields, arrow.Field{Name: opt.IDName, Type: arrow.BinaryTypes.String})
	}
	if opt.ListColumn != "" {
		fields = append(fields, arrow.Field{Name: opt.ListColumn, Type: arrow.FixedSizeListOf(int32(cols), arrow.PrimitiveTypes.Float32)})
	} else {
		names := opt.Header
		if names == nil {
			names = dataset.DefaultNames(cols)
		}
		for _, n := range names {
			fields = append(fields, arrow.Field{Name: n, Type: arrow.PrimitiveTypes.Float32})
		}
	}
	seen := make(map[string]bool)
	for _, f := range fields {
		if seen[f.Name] {
			return nil, fmt.Errorf("the column name %q is given twice", f.Name)
		}
		seen[f.Name] = true
	}
	return arrow.NewSchema(fields, nil), nil
}

func (w *rowWriter) WriteRows(rows []float32, ids []string) error {
	for len(rows) > 0 {
		k := min(len(rows)/w.cols, w.group-w.n)
		part := rows[:k*w.cols]
		if w.list {
			w.vals[0] = append(w.vals[0], part...)
		} else {
			for r := 0; r < len(part); r += w.cols {
				for c, v := range part[r : r+w.cols] {
					w.vals[c] = append(w.vals[c], v)
				}
			}
		}
		if w.ids {
			w.idv = append(w.idv, ids[:k]...)
			ids = ids[k:]
		}
		w.n += k
		rows = rows[k*w.cols:]
		if w.n == w.group {
			if err := w.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// flush writes the buffered rows as one row group (record batch).
func (w *rowWriter) flush() error {
	if w.n == 0 {
		return nil
	}
	var arrs []arrow.Array
	if w.ids {
		b := array.NewStringBuilder(memory.DefaultAllocator)
		b.AppendValues(w.idv, nil)
		arrs = append(arrs, b.NewArray())
		b.Release()
	}
	if w.list {
		child := float32Array(w.vals[0])
		data := array.NewData(w.sc.Field(len(arrs)).Type, w.n, []*memory.Buffer{nil}, []arrow.ArrayData{child.Data()}, 0, 0)
		arrs = append(arrs, array.MakeFromData(data))
		data.Release()
		child.Release()
	} else {
		for _, v := range w.vals {
			arrs = append(arrs, float32Array(v))
		}
	}
	rec := array.NewRecordBatch(w.sc, arrs, int64(w.n))
	for _, a := range arrs {
		a.Release()
	}
	err := w.write(rec)
	rec.Release()
	for i := range w.vals {
		w.vals[i] = w.vals[i][:0]
	}
	w.idv, w.n = w.idv[:0], 0
	return err
}

// float32Array wraps v (not copied) as an Arrow array without nulls.
func float32Array(v []float32) *array.Float32 {
	buf := memory.NewBufferBytes(arrow.Float32Traits.CastToBytes(v))
	data := array.NewData(arrow.PrimitiveTypes.Float32, len(v), []*memory.Buffer{nil, buf}, nil, 0, 0)
	defer data.Release()
	return array.NewFloat32Data(data)
}

func (w *rowWriter) Close() error {
	if err := w.flush(); err != nil {
		return err
	}
	if err := w.close(); err != nil {
		return err
	}
	return w.bw.Flush()
}
