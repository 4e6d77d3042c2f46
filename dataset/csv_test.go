package dataset

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReadCSV(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	tests := []struct {
		name   string
		in     string
		rows   int
		cols   int
		header []string
		want   []float32
		lines  []int
	}{
		{"plain", "1,2,3\n4,5,6\n", 2, 3, nil, []float32{1, 2, 3, 4, 5, 6}, []int{1, 2}},
		{"header", "a,b\n1,2\n3,4\n", 2, 2, []string{"a", "b"}, []float32{1, 2, 3, 4}, []int{2, 3}},
		{"partly numeric header", "x,2\n1,2\n", 1, 2, []string{"x", "2"}, []float32{1, 2}, []int{2}},
		{"quoted header with comma", "\"a,b\",c\n1,2\n", 1, 2, []string{"a,b", "c"}, []float32{1, 2}, []int{2}},
		{"spaces and CRLF", " a , b \r\n 1 , 2.5 \r\n-3,  4e-3\r\n", 2, 2, []string{"a", "b"}, []float32{1, 2.5, -3, 4e-3}, []int{2, 3}},
		{"blank lines and comments", "# comment\n\n1,2\n\n# more\n3,4\n\n\n   \n", 2, 2, nil, []float32{1, 2, 3, 4}, []int{3, 6}},
		{"no final newline", "1,2\n3,4", 2, 2, nil, []float32{1, 2, 3, 4}, []int{1, 2}},
		{"single column", "label\n7\n2\n", 2, 1, []string{"label"}, []float32{7, 2}, []int{2, 3}},
		{"byte order mark", "\ufeffa,b\n1,2\n", 1, 2, []string{"a", "b"}, []float32{1, 2}, []int{2}},
		{"nan and inf", "nan,NaN,inf,-Inf,+infinity\n", 1, 5, nil, []float32{nan, nan, inf, -inf, inf}, []int{1}},
		{"hex and exponents", "0x1p-2,1E3,.5\n", 1, 3, nil, []float32{0.25, 1000, 0.5}, []int{1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb, err := ReadCSV(strings.NewReader(tc.in), "x.csv")
			must(t, err)
			if tb.Rows != tc.rows || tb.Cols != tc.cols || !reflect.DeepEqual(tb.Shape, []int{tc.rows, tc.cols}) {
				t.Fatalf("got %d×%d shape %v, want %d×%d", tb.Rows, tb.Cols, tb.Shape, tc.rows, tc.cols)
			}
			if !reflect.DeepEqual(tb.Header, tc.header) {
				t.Errorf("header = %q, want %q", tb.Header, tc.header)
			}
			if !sameBits(tb.Data, tc.want) {
				t.Errorf("data = %v, want %v", tb.Data, tc.want)
			}
			if !reflect.DeepEqual(tb.lines, tc.lines) {
				t.Errorf("lines = %v, want %v", tb.lines, tc.lines)
			}
		})
	}
}

// sameBits compares float32 slices treating every NaN as equal to every NaN.
func sameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(math.IsNaN(float64(a[i])) && math.IsNaN(float64(b[i]))) {
			return false
		}
	}
	return true
}

func TestReadCSVErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty file", "", []string{"no rows", "empty"}},
		{"only blank lines", "\n\n\n", []string{"no rows", "empty"}},
		{"header only", "a,b,c\n", []string{"no rows", "header but no data"}},
		{"ragged short", "1,2,3\n4,5,6\n7,8\n", []string{"line 3", "expected 3 columns", "found 2"}},
		{"ragged long after header", "a,b\n1,2\n3,4,5\n", []string{"line 3", "expected 2 columns (as in the header)", "found 3"}},
		{"non-numeric", "1,2\n3,abc\n", []string{"line 2", "column 2", `"abc"`, "not a number"}},
		{"non-numeric with header", "x,y\n1,2\n3,4\n5,oops\n", []string{"line 4", `column 2 ("y")`, `"oops"`}},
		{"empty field", "1,2,3\n1,,3\n", []string{"line 2", "column 2", `""`}},
		{"out of range", "1,1e39\n", []string{"line 1", "column 2", "out of float32 range", `"1e39"`}},
		{"bad quote", "1,\"2\n3,4\n", []string{"extraneous or missing \" in quoted-field"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadCSV(strings.NewReader(tc.in), "x.csv")
			wantErr(t, err, append([]string{"read x.csv: "}, tc.want...)...)
		})
	}
}

func TestCSVRoundTrip(t *testing.T) {
	dir := t.TempDir()
	vals := []float32{0, -0, 1, -1, 0.1, 1.0 / 3, 1e-45, math.SmallestNonzeroFloat32, math.MaxFloat32, -math.MaxFloat32,
		16777217, 3.4e38, 1e-7, 123456.79, float32(math.Pi), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}
	for _, tc := range []struct {
		name   string
		header []string
		cols   int
	}{
		{"no header", nil, 3},
		{"header", []string{"a", "b,c", `q"uote`}, 3},
		{"one column", []string{"v"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows := (len(vals) + tc.cols - 1) / tc.cols
			data := make([]float32, rows*tc.cols)
			for i := range data {
				data[i] = vals[i%len(vals)]
			}
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".csv")
			must(t, WriteCSV(p, tc.header, rows, tc.cols, data))
			f, err := os.Open(p)
			must(t, err)
			defer f.Close()
			tb, err := ReadCSV(f, p)
			must(t, err)
			if tb.Rows != rows || tb.Cols != tc.cols || !reflect.DeepEqual(tb.Header, tc.header) {
				t.Fatalf("got %d×%d header %q, want %d×%d header %q", tb.Rows, tb.Cols, tb.Header, rows, tc.cols, tc.header)
			}
			for i := range data {
				if math.Float32bits(tb.Data[i]) != math.Float32bits(data[i]) && !(math.IsNaN(float64(data[i])) && math.IsNaN(float64(tb.Data[i]))) {
					t.Fatalf("value %d: read %v (%#x), wrote %v (%#x)", i, tb.Data[i], math.Float32bits(tb.Data[i]), data[i], math.Float32bits(data[i]))
				}
			}
		})
	}
}

func TestWriteCSVFormat(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f.csv")
	must(t, WriteCSV(p, []string{"x", "y"}, 2, 2, []float32{0.1, 2, -3.5, 1e20}))
	got, err := os.ReadFile(p)
	must(t, err)
	if want := "x,y\n0.1,2\n-3.5,1e+20\n"; string(got) != want {
		t.Fatalf("file = %q, want %q", got, want)
	}
	wantErr(t, WriteCSV(p, []string{"only one"}, 1, 2, []float32{1, 2}), "write "+p+": ", "header has 1 names for 2 columns")
	wantErr(t, WriteCSV(p, nil, 2, 2, []float32{1, 2}), "write "+p+": ", "data has 2 values")
}

func BenchmarkReadCSV(b *testing.B) {
	var buf bytes.Buffer
	for r := 0; r < 10000; r++ {
		for c := 0; c < 32; c++ {
			if c > 0 {
				buf.WriteByte(',')
			}
			fmt.Fprintf(&buf, "%g", float32(r*c)/7)
		}
		buf.WriteByte('\n')
	}
	b.SetBytes(int64(buf.Len()))
	for b.Loop() {
		if _, err := ReadCSV(bytes.NewReader(buf.Bytes()), "bench.csv"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCSVIDColumn: a CSV file's id column (named in its header, anywhere
// in the row, text or numbers) is kept as each row's id and is not a
// feature, in Load and in the Reader (whole, sharded, read in small
// chunks); NaNSkip drops a row's id with it; errors name the file and line.
func TestCSVIDColumn(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "x.csv", []byte("a, key ,b\n1,r0,2\n3,\"r,1\",nan\n5, r2 ,6\n7,42,8\n"))
	wantData := []float32{1, 2, 5, 6, 7, 8} // row 1 dropped by skip
	wantIDs := []string{"r0", "r2", "42"}
	tb, err := Load(p, LoadOptions{IDColumn: "key", NaN: NaNSkip})
	must(t, err)
	if tb.Rows != 3 || tb.Cols != 2 || !reflect.DeepEqual(tb.Header, []string{"a", "b"}) || !reflect.DeepEqual(tb.Data, wantData) || !reflect.DeepEqual(tb.IDs, wantIDs) {
		t.Fatalf("Load: %d×%d header %q data %v ids %q", tb.Rows, tb.Cols, tb.Header, tb.Data, tb.IDs)
	}
	tb, err = Load(p, LoadOptions{IDColumn: "key", NaN: NaNZero})
	must(t, err)
	if !reflect.DeepEqual(tb.IDs, []string{"r0", "r,1", "r2", "42"}) || tb.Data[3] != 0 {
		t.Fatalf("Load, NaN as 0: data %v ids %q", tb.Data, tb.IDs)
	}
	_, err = Load(p, LoadOptions{IDColumn: "key"})
	wantErr(t, err, "read "+p+": row 1, column 1 (0-based), line 3 field 3 \"b\": value is NaN") // field 3 of the line: the id column is field 2
	rd, err := OpenReader([]string{p}, ReaderOptions{IDColumn: "key"})
	must(t, err)
	_, err = rd.ReadIDs(make([]float32, 8), make([]string, 4))
	wantErr(t, err, "read "+p+": row 1, column 1 (0-based), line 3 field 3 \"b\": value is NaN")
	rd.Close()

	for _, shards := range []int{1, 2, 3} {
		var data []float32
		var ids []string
		for i := range shards {
			rd, err := OpenReader([]string{p}, ReaderOptions{IDColumn: "key", NaN: NaNSkip, Shard: i, ShardCount: shards})
			must(t, err)
			if rd.Cols() != 2 || !rd.HasIDs() || !reflect.DeepEqual(rd.Header(), []string{"a", "b"}) {
				t.Fatalf("reader: %d cols, ids %v, header %q", rd.Cols(), rd.HasIDs(), rd.Header())
			}
			buf, idb := make([]float32, 2), make([]string, 1)
			for {
				n, err := rd.ReadIDs(buf, idb)
				data, ids = append(data, buf[:2*n]...), append(ids, idb[:n]...)
				if err == io.EOF {
					break
				}
				must(t, err)
			}
			rd.Close()
		}
		if !reflect.DeepEqual(data, wantData) || !reflect.DeepEqual(ids, wantIDs) {
			t.Fatalf("%d shards: data %v ids %q", shards, data, ids)
		}
	}

	for _, tc := range []struct{ in, want string }{
		{"1,2\n3,4\n", `line 1: the id column "key" needs a header line naming the columns, and the first line is numbers`},
		{"a,b\n1,2\n", `line 1: no id column "key" in the header ["a" "b"]`},
		{"key\nx\n", `line 1: the id column "key" is the only column: no features left`},
		{"a,key\n1,x\n2\n", "line 3: expected 2 columns (as in the header), found 1"},
		{"a,key,b\n1,x,y\n", `line 2, column 3 ("b"): not a number: "y"`},
	} {
		q := writeFile(t, dir, "bad.csv", []byte(tc.in))
		_, err := Load(q, LoadOptions{IDColumn: "key"})
		wantErr(t, err, "read "+q+": "+tc.want)
		rd, err := OpenReader([]string{q}, ReaderOptions{IDColumn: "key"})
		if err == nil {
			_, err = rd.ReadIDs(make([]float32, 20), make([]string, 10))
			rd.Close()
		}
		wantErr(t, err, "read "+q+": "+tc.want)
	}
}
