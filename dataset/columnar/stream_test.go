package columnar

import (
	"io"
	"reflect"
	"strconv"
	"strings"
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
	// Read without ids room.
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
}

// TestColumnarReadRows: random access into Parquet and Arrow files, alone,
// sharded and after another file in one dataset, from every start row and
// with reads that cross row groups (blocks of 16 rows), is the same as
// reading the whole data; reads that continue where the last ended and
// reads that jump back agree.
func TestColumnarReadRows(t *testing.T) {
	want, err := dataset.Load(fixture("grid.npy"), dataset.LoadOptions{})
	must(t, err)
	cols := want.Cols
	for _, f := range []string{"grid.parquet", "grid.arrow"} {
		for _, set := range []struct {
			paths []string
			whole []float32
			shard [2]int
		}{
			{[]string{fixture(f)}, want.Data, [2]int{0, 1}},
			{[]string{fixture(f)}, want.Data, [2]int{1, 3}},
			{[]string{fixture("grid.arrow"), fixture(f)}, append(append([]float32(nil), want.Data...), want.Data...), [2]int{0, 1}},
			{[]string{fixture("grid.arrow"), fixture(f)}, append(append([]float32(nil), want.Data...), want.Data...), [2]int{1, 2}},
		} {
			rd, err := dataset.OpenReader(set.paths, dataset.ReaderOptions{Columns: []string{"f_*"}, Shard: set.shard[0], ShardCount: set.shard[1]})
			must(t, err)
			lo, hi := rd.ShardRange()
			whole := set.whole[lo*int64(cols) : hi*int64(cols)]
			rows := hi - lo
			check := func(start int64, per int) {
				t.Helper()
				dst := make([]float32, per*cols)
				n, err := rd.ReadRows(start, dst)
				if start >= rows {
					if err != io.EOF || n != 0 {
						t.Fatalf("%s %v: ReadRows(%d) past the end: %d, %v", f, set.paths, start, n, err)
					}
					return
				}
				must(t, err)
				wantN := min(int64(per), rows-start)
				if int64(n) != wantN || !reflect.DeepEqual(dst[:n*cols], whole[start*int64(cols):(start+wantN)*int64(cols)]) {
					t.Fatalf("%s %v shard %v: ReadRows(%d, %d rows): got %d rows, differing from the data", f, set.paths, set.shard, start, per, n)
				}
			}
			for _, per := range []int{1, 5, 16, 37} {
				for start := int64(0); start <= rows; start++ { // forward: each read continues or skips ahead
					check(start, per)
				}
				for start := rows - 1; start >= 0; start -= 7 { // backward: each read reopens a block
					check(start, per)
				}
				for start := int64(0); start < rows; start += int64(per) { // consecutive chunks
					check(start, per)
				}
			}
			// ReadRows does not move Read.
			d, _ := readAllIDs(t, rd, 13)
			if !reflect.DeepEqual(d, whole) {
				t.Fatalf("%s: Read after ReadRows differs", f)
			}
			must(t, rd.Close())
		}
	}
	// Nulls follow the NaN policy in ReadRows as in Read.
	for _, pol := range []dataset.NaNPolicy{dataset.NaNZero, dataset.NaNSkip} {
		rd, err := dataset.OpenReader([]string{fixture("types.arrow")}, dataset.ReaderOptions{NaN: pol})
		must(t, err)
		seq, _ := readAllIDs(t, rd, 4)
		got := make([]float32, rd.Rows()*int64(rd.Cols())) // room for every row: skip drops some
		n, err := rd.ReadRows(0, got)
		must(t, err)
		if !reflect.DeepEqual(got[:n*rd.Cols()], seq) {
			t.Errorf("policy %v: ReadRows %v, Read %v", pol, got[:n*rd.Cols()], seq)
		}
		rd.Close()
	}
	rd, err := dataset.OpenReader([]string{fixture("types.arrow")}, dataset.ReaderOptions{})
	must(t, err)
	defer rd.Close()
	_, err = rd.ReadRows(0, make([]float32, 6*rd.Cols()))
	if err == nil || !strings.Contains(err.Error(), fixture("types.arrow")) {
		t.Errorf("a null under the error policy: %v", err)
	}
}
