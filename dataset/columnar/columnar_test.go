package columnar

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aegpu/aegpu/dataset"
)

// The files in testdata/columnar were written by apache-arrow 21.2.0
// (JavaScript; the Arrow IPC files and the .npy twin) and parquet-wasm
// 0.8.0 (the Rust Parquet writer; the Parquet files) from gen.mjs there,
// so these tests check the reader, which uses arrow-go, against other
// implementations of the formats.

func fixture(name string) string { return filepath.Join("..", "testdata", "columnar", name) }

// typesWant is the types fixture read with IDColumn "id" under NaNZero:
// one column per type, nulls as 0, the list as three columns.
var typesWant = [][]float32{
	{1.5, 0.5, 1, -128, -32768, -2147483648, -(1 << 40), 0, 0, 0, 0, 1, 123.45, 1, 2, 3},
	{0, -1, -2, 127, 32767, 2147483647, 1 << 40, 255, 65535, 4294967295, 1 << 40, 0, -2.5, 4, 5, 6},
	{-2, 2, 0.5, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0},
	{3, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 0, 0.01, 7, 0, 9},
	{4.25, 1e10, 65504, -1, -1, -1, -1, 3, 3, 3, 3, 0, -0.01, 10, 11, 12},
	{0, 3, -0.25, 5, 6, 7, 8, 4, 4, 4, 4, 1, 999999.99, 13, 14, 15},
}

func TestColumnarTypes(t *testing.T) {
	names := []string{"f32", "f64", "f16", "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "b", "dec", "emb[0]", "emb[1]", "emb[2]"}
	for _, f := range []string{"types.parquet", "types.arrow", "types.feather"} {
		t.Run(f, func(t *testing.T) {
			tb, err := dataset.Load(fixture(f), dataset.LoadOptions{NaN: dataset.NaNZero, IDColumn: "id"})
			must(t, err)
			if tb.Rows != 6 || tb.Cols != 16 || !reflect.DeepEqual(tb.Shape, []int{6, 16}) {
				t.Fatalf("got %d×%d %v", tb.Rows, tb.Cols, tb.Shape)
			}
			if !reflect.DeepEqual(tb.Header, names) || !reflect.DeepEqual(tb.Skipped, []string{"name"}) {
				t.Errorf("header %q skipped %q", tb.Header, tb.Skipped)
			}
			if !reflect.DeepEqual(tb.IDs, []string{"r0", "r1", "r2", "r3", "r4", "r5"}) {
				t.Errorf("ids %q", tb.IDs)
			}
			for r, want := range typesWant {
				if got := tb.Row(r); !reflect.DeepEqual(got, want) {
					t.Errorf("row %d:\n got %v\nwant %v", r, got, want)
				}
			}
		})
	}
}

// TestColumnarNulls: a null is NaN, and each NaN policy treats it so.
func TestColumnarNulls(t *testing.T) {
	for _, f := range []string{"nulls.parquet", "nulls.arrow"} {
		t.Run(f, func(t *testing.T) {
			_, err := dataset.Load(fixture(f), dataset.LoadOptions{IDColumn: "id"})
			var nf *dataset.NonFiniteError
			if !errors.As(err, &nf) || nf.Row != 0 || nf.Col != 1 || nf.Column != "y" || !nf.HasGroup || nf.Group != 0 {
				t.Fatalf("NaNError: %v (%+v)", err, nf)
			}
			wantErr(t, err, "read "+fixture(f)+": row 0, column 1 (0-based) \"y\" (row group 0): value is NaN or null")
			tb, err := dataset.Load(fixture(f), dataset.LoadOptions{NaN: dataset.NaNSkip, IDColumn: "id"})
			must(t, err)
			if !reflect.DeepEqual(tb.Data, []float32{3, 3, 5, 5}) || !reflect.DeepEqual(tb.IDs, []string{"c", "e"}) {
				t.Errorf("NaNSkip: %v ids %q", tb.Data, tb.IDs)
			}
			tb, err = dataset.Load(fixture(f), dataset.LoadOptions{NaN: dataset.NaNZero})
			must(t, err)
			if !reflect.DeepEqual(tb.Data, []float32{1, 0, 0, 2, 3, 3, 0, 4, 5, 5}) || tb.IDs != nil {
				t.Errorf("NaNZero: %v ids %q", tb.Data, tb.IDs)
			}
			rd, err := dataset.OpenReader([]string{fixture(f)}, dataset.ReaderOptions{NaN: dataset.NaNError})
			must(t, err)
			defer rd.Close()
			buf := make([]float32, 10)
			_, err = rd.Read(buf)
			if !errors.As(err, &nf) || nf.Column != "y" {
				t.Errorf("Reader NaNError: %v", err)
			}
		})
	}
}

// TestColumnarMatchesNPY: Parquet (several row groups, every codec) and
// Arrow (several record batches) give the floats of the .npy twin.
func TestColumnarMatchesNPY(t *testing.T) {
	want, err := dataset.Load(fixture("grid.npy"), dataset.LoadOptions{})
	must(t, err)
	for _, f := range []string{"grid.parquet", "grid.arrow", "grid_none.parquet", "grid_snappy.parquet", "grid_gzip.parquet", "grid_zstd.parquet"} {
		tb, err := dataset.Load(fixture(f), dataset.LoadOptions{IDColumn: "id"})
		must(t, err)
		if tb.Rows != want.Rows || tb.Cols != want.Cols || !reflect.DeepEqual(tb.Data, want.Data) {
			t.Errorf("%s: %d×%d differs from grid.npy", f, tb.Rows, tb.Cols)
		}
		if tb.IDs[0] != "0" || tb.IDs[99] != "990" {
			t.Errorf("%s: ids %q … %q", f, tb.IDs[0], tb.IDs[99])
		}
	}
}

func TestColumnarSelection(t *testing.T) {
	tb, err := dataset.Load(fixture("grid.parquet"), dataset.LoadOptions{Columns: []string{"f_3", "f_*"}})
	must(t, err)
	if !reflect.DeepEqual(tb.Header, []string{"f_3", "f_0", "f_1", "f_2"}) || !reflect.DeepEqual(tb.Row(1), []float32{7.25, 4.25, 5.25, 6.25}) {
		t.Errorf("f_3, f_*: %q %v", tb.Header, tb.Row(1))
	}
	if tb.Skipped != nil {
		t.Errorf("skipped %q with a selection", tb.Skipped)
	}
	tb, err = dataset.Load(fixture("types.arrow"), dataset.LoadOptions{Columns: []string{"emb", "u8"}, NaN: dataset.NaNZero})
	must(t, err)
	if !reflect.DeepEqual(tb.Header, []string{"emb[0]", "emb[1]", "emb[2]", "u8"}) || !reflect.DeepEqual(tb.Row(3), []float32{7, 0, 9, 2}) {
		t.Errorf("emb, u8: %q %v", tb.Header, tb.Row(3))
	}
	for _, tc := range []struct {
		file string
		opt  dataset.LoadOptions
		want string
	}{
		{"grid.parquet", dataset.LoadOptions{Columns: []string{"nope"}}, `no column "nope": the columns are f_0 (float32)`},
		{"grid.parquet", dataset.LoadOptions{Columns: []string{"g_*"}}, `no column matches "g_*"`},
		{"grid.parquet", dataset.LoadOptions{Columns: []string{"id"}, IDColumn: "id"}, `column "id" is the id column`},
		{"types.parquet", dataset.LoadOptions{Columns: []string{"f32", "name"}}, `column "name" is utf8, which cannot be a feature`},
		{"types.parquet", dataset.LoadOptions{IDColumn: "f32"}, `id column "f32" is float32: want a string or an integer`},
		{"types.parquet", dataset.LoadOptions{IDColumn: "nope"}, `no id column "nope"`},
		{"grid.parquet", dataset.LoadOptions{Columns: []string{"[x"}}, `bad column pattern "[x"`},
	} {
		_, err := dataset.Load(fixture(tc.file), tc.opt)
		wantErr(t, err, "read "+fixture(tc.file)+": "+tc.want)
	}
	_, err = dataset.Load(fixture("grid.npy"), dataset.LoadOptions{Columns: []string{"a"}})
	wantErr(t, err, "read "+fixture("grid.npy")+": column selection needs Parquet or Arrow input")
	_, err = dataset.Load(fixture("grid.npy"), dataset.LoadOptions{IDColumn: "a"})
	wantErr(t, err, "read "+fixture("grid.npy")+": an id column needs Parquet, Arrow or CSV input")
	_, err = dataset.OpenReader([]string{fixture("grid.npy")}, dataset.ReaderOptions{IDColumn: "a"})
	wantErr(t, err, "read "+fixture("grid.npy")+": an id column needs Parquet, Arrow or CSV input")
}

func TestColumnarBadFiles(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.parquet")
	must(t, os.WriteFile(empty, nil, 0o644))
	_, err := dataset.Load(empty, dataset.LoadOptions{})
	wantErr(t, err, "read "+empty+": no rows: the file is empty")
	_, err = dataset.Load(fixture("strings.parquet"), dataset.LoadOptions{})
	wantErr(t, err, "read "+fixture("strings.parquet")+": no numeric column: the columns are s (utf8), t (utf8)")
	_, err = dataset.Load(fixture("norows.parquet"), dataset.LoadOptions{})
	wantErr(t, err, "read "+fixture("norows.parquet")+": no rows")
	rd, err := dataset.OpenReader([]string{fixture("norows.parquet")}, dataset.ReaderOptions{})
	must(t, err)
	if n, err := rd.Read(make([]float32, 4)); n != 0 || err != io.EOF || rd.Rows() != 0 {
		t.Errorf("no rows: Read %d, %v; Rows %d", n, err, rd.Rows())
	}
	rd.Close()
	for _, f := range []string{"grid.parquet", "grid.arrow", "types.parquet"} {
		b, err := os.ReadFile(fixture(f))
		must(t, err)
		cut := filepath.Join(dir, "cut-"+f)
		must(t, os.WriteFile(cut, b[:len(b)/2], 0o644))
		_, err = dataset.Load(cut, dataset.LoadOptions{})
		wantErr(t, err, "read "+cut+": ")
		// Damage the data pages but keep the footer: an error, not a panic.
		bad := filepath.Join(dir, "bad-"+f)
		d := append([]byte(nil), b...)
		for i := 64; i < len(d)/2; i += 7 {
			d[i] ^= 0x5a
		}
		must(t, os.WriteFile(bad, d, 0o644))
		if _, err := dataset.Load(bad, dataset.LoadOptions{NaN: dataset.NaNZero}); err == nil {
			t.Errorf("%s: damaged data read without an error", f)
		} else {
			wantErr(t, err, "read "+bad+": ")
		}
	}
}

// TestColumnarByMagic: a Parquet or Arrow file is known by its content
// when its name says nothing.
func TestColumnarByMagic(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"grid.parquet", "grid.arrow"} {
		b, err := os.ReadFile(fixture(f))
		must(t, err)
		p := filepath.Join(dir, f+".bin")
		must(t, os.WriteFile(p, b, 0o644))
		tb, err := dataset.Load(p, dataset.LoadOptions{})
		must(t, err)
		rd, err := dataset.OpenReader([]string{p}, dataset.ReaderOptions{})
		must(t, err)
		if tb.Rows != 100 || tb.Cols != 5 || rd.Rows() != 100 {
			t.Errorf("%s: %d×%d, reader %d rows", p, tb.Rows, tb.Cols, rd.Rows())
		}
		rd.Close()
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr fails unless err starts with want[0] and contains the rest.
func wantErr(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", want)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, want[0]) {
		t.Errorf("error %q does not start with %q", msg, want[0])
	}
	for _, w := range want[1:] {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not contain %q", msg, w)
		}
	}
}
