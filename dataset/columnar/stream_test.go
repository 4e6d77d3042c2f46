package columnar

import (
	"io"
	"reflect"
	"strconv"
	"testing"

	"github.com/aegpu/aegpu/dataset"
)

// readAllIDs streams a reader to its end in chunks of chunk rows.
func readAllIDs(t *testing.T, rd *dataset.Reader, chunk int) ([]float32, []string) {
	t.Helper()
	var data []float32
	var ids []string
	buf, idb := make([]float32, chunk*rd.Cols()), make([]string, chunk)
	for {
		n, err := rd.ReadIDs(buf, idb)
		data = append(data, buf[:n*rd.Cols()]...)
		ids = append(ids, idb[:n]...)
		if err == io.EOF {
			return data, ids
		}
		must(t, err)
	}
}

// TestColumnarShards: shards hold whole row groups (record batches), in
// order, and together the whole file with its ids.
func TestColumnarShards(t *testing.T) {
	want, err := dataset.Load(fixture("grid.npy"), dataset.LoadOptions{})
	must(t, err)
	for _, f := range []string{"grid.parquet", "grid.arrow"} {
		for _, n := range []int{1, 2, 3, 7, 9} {
			var data []float32
			var ids []string
			var prevEnd int64
			for i := range n {
				rd, err := dataset.OpenReader([]string{fixture(f)}, dataset.ReaderOptions{Shard: i, ShardCount: n, Columns: []string{"f_*"}, IDColumn: "id"})
				must(t, err)
				lo, hi := rd.ShardRange()
				if lo != prevEnd || lo%16 != 0 || (hi%16 != 0 && hi != 100) || rd.Rows() != hi-lo {
					t.Fatalf("%s %d/%d: rows [%d, %d) after %d: not whole row groups of 16", f, i, n, lo, hi, prevEnd)
				}
				prevEnd = hi
				d, id := readAllIDs(t, rd, 7)
				rd.Close()
				data, ids = append(data, d...), append(ids, id...)
			}
			if prevEnd != 100 || !reflect.DeepEqual(data, want.Data) {
				t.Fatalf("%s: %d shards do not make up the file", f, n)
			}
			for r, id := range ids {
				if id != strconv.Itoa(10*r) {
					t.Fatalf("%s: row %d id %q", f, r, id)
				}
			}
		}
	}
}

// TestColumnarGlob: a pattern of Parquet files is one dataset; the files
// must select the same features.
func TestColumnarGlob(t *testing.T) {
	rd, err := dataset.OpenReader([]string{fixture("grid_*.parquet")}, dataset.ReaderOptions{Columns: []string{"f_*"}})
	must(t, err)
	defer rd.Close()
	if len(rd.Files()) != 4 || rd.Rows() != 400 || rd.Cols() != 4 {
		t.Fatalf("%d files, %d rows, %d cols", len(rd.Files()), rd.Rows(), rd.Cols())
	}
	data, _ := readAllIDs(t, rd, 33)
	want, _ := dataset.Load(fixture("grid.npy"), dataset.LoadOptions{})
	for i := range 4 {
		if !reflect.DeepEqual(data[i*400:(i+1)*400], want.Data) {
			t.Errorf("file %d differs", i)
		}
	}
	_, err = dataset.OpenReader([]string{fixture("grid.parquet"), fixture("types.parquet")}, dataset.ReaderOptions{NaN: dataset.NaNZero})
	wantErr(t, err, "read "+fixture("types.parquet")+": 16 columns, but")
	// Read without ids room, and ReadRows (random access) is .npy only.
	rd2, err := dataset.OpenReader([]string{fixture("types.arrow")}, dataset.ReaderOptions{NaN: dataset.NaNZero, IDColumn: "id"})
	must(t, err)
	defer rd2.Close()
	if !rd2.HasIDs() || !reflect.DeepEqual(rd2.Skipped(), []string{"name"}) {
		t.Errorf("HasIDs %v, Skipped %q", rd2.HasIDs(), rd2.Skipped())
	}
	buf := make([]float32, 6*16)
	if n, err := rd2.Read(buf); n != 6 || err != nil || !reflect.DeepEqual(buf[16:32], typesWant[1]) {
		t.Errorf("Read without ids: %d, %v", n, err)
	}
	_, err = rd2.ReadRows(0, buf)
	wantErr(t, err, "read "+fixture("types.arrow")+": random access (ReadRows) needs uncompressed .npy input, and this is an Arrow IPC file")
}
