package serve

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// arrowStream writes rows as an Arrow IPC stream of float64 columns a…f
// (and a string column, which is not a feature), in two record batches.
func arrowStream(t *testing.T, rows []float32) []byte {
	fs := []arrow.Field{{Name: "note", Type: arrow.BinaryTypes.String}}
	for j := range testCols {
		fs = append(fs, arrow.Field{Name: string(rune('a' + j)), Type: arrow.PrimitiveTypes.Float64})
	}
	sc := arrow.NewSchema(fs, nil)
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(sc))
	n := len(rows) / testCols
	for _, part := range [][2]int{{0, n / 2}, {n / 2, n}} {
		b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
		for i := part[0]; i < part[1]; i++ {
			b.Field(0).(*array.StringBuilder).Append(fmt.Sprint("row ", i))
			for j := range testCols {
				b.Field(1 + j).(*array.Float64Builder).Append(float64(rows[i*testCols+j]))
			}
		}
		rec := b.NewRecordBatch()
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
		b.Release()
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestArrowStream: an Arrow IPC stream body gives the bits of the same
// rows as JSON; too many rows are 413, a body that is no stream 400.
func TestArrowStream(t *testing.T) {
	dir := t.TempDir()
	trainModel(t, dir, 8)
	rows := planeRows(30, 4)
	ref := referenceOf(t, dir, rows)
	_, hs := newTestServer(t, Options{MaxRows: 40}, dir)
	code, _, b := post(t, hs.Client(), hs.URL+"/v1/models/m0/score", TypeArrow, arrowStream(t, rows))
	a := decodeAnswer(t, b)
	if code != 200 || a.Rows != 30 {
		t.Fatalf("%d %s", code, b)
	}
	if i, ok := sameBits(a.Scores, ref.rowErr); !ok {
		t.Errorf("score %d differs", i)
	}
	code, _, b = post(t, hs.Client(), hs.URL+"/v1/models/m0/encode", TypeArrow, arrowStream(t, planeRows(41, 4)))
	if code != 413 || !strings.Contains(string(b), "limit of 40") {
		t.Errorf("41 rows: %d %s", code, b)
	}
	code, _, b = post(t, hs.Client(), hs.URL+"/v1/models/m0/encode", TypeArrow, []byte("not arrow"))
	if code != 400 || !strings.Contains(string(b), "Arrow IPC stream") {
		t.Errorf("not a stream: %d %s", code, b)
	}
}
