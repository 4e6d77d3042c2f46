package dataset

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// runtimeMem records the bytes allocated so far.
type runtimeMem struct{ total uint64 }

func (m *runtimeMem) read() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.total = ms.TotalAlloc
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	must(t, os.WriteFile(p, b, 0o644))
	return p
}

func TestLoadFormats(t *testing.T) {
	dir := t.TempDir()
	L := binary.LittleEndian
	npy := npyBytes(1, dict("<f4", "(2, 2)"), le(L, []float32{1, 2, 3, 4}))
	idx := idxBytes(0x08, []uint32{2, 1, 2}, []byte{1, 2, 3, 4})
	csv := []byte("a,b\n1,2\n3,4\n")
	want := []float32{1, 2, 3, 4}
	tests := []struct {
		file   string
		body   []byte
		shape  []int
		header []string
	}{
		{"a.npy", npy, []int{2, 2}, nil},
		{"a.NPY", npy, []int{2, 2}, nil},
		{"a.npy.gz", gz(npy), []int{2, 2}, nil},
		{"a.csv", csv, []int{2, 2}, []string{"a", "b"}},
		{"a.txt", csv, []int{2, 2}, []string{"a", "b"}},
		{"a.csv.gz", gz(csv), []int{2, 2}, []string{"a", "b"}},
		{"images-idx3-ubyte", idx, []int{2, 1, 2}, nil},
		{"images-idx3-ubyte.gz", gz(idx), []int{2, 1, 2}, nil},
		{"images.idx3-ubyte", idx, []int{2, 1, 2}, nil},
		{"images.idx", idx, []int{2, 1, 2}, nil},
		{"images.idx3", gz(idx), []int{2, 1, 2}, nil},
		{"raw-named-gz-ubyte.gz", idx, []int{2, 1, 2}, nil},        // not actually compressed
		{"unnamed.gz", gz(idx), []int{2, 1, 2}, nil},               // recognised by content
		{"unnamed.bin", idx, []int{2, 1, 2}, nil},                  // recognised by content
		{"unnamed-npy.gz", gz(npy), []int{2, 2}, nil},              // recognised by content
		{"unnamed-npy.dat", npy, []int{2, 2}, nil},                 // recognised by content
		{"mislabelled.npy.gz", npy, []int{2, 2}, nil},              // ".gz" but raw
		{"with space.csv", []byte("1,2\n3,4\n"), []int{2, 2}, nil}, // no header
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			p := writeFile(t, dir, tc.file, tc.body)
			tb, err := Load(p, LoadOptions{})
			must(t, err)
			if tb.Rows != 2 || tb.Cols != 2 || !reflect.DeepEqual(tb.Shape, tc.shape) || !reflect.DeepEqual(tb.Header, tc.header) {
				t.Fatalf("got %d×%d shape %v header %q", tb.Rows, tb.Cols, tb.Shape, tb.Header)
			}
			if !reflect.DeepEqual(tb.Data, want) {
				t.Fatalf("data %v, want %v", tb.Data, want)
			}
			if !reflect.DeepEqual(tb.Row(1), want[2:]) || cap(tb.Row(0)) != 2 {
				t.Fatalf("Row(1) = %v (cap(Row(0)) = %d)", tb.Row(1), cap(tb.Row(0)))
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	L := binary.LittleEndian
	npy := npyBytes(1, dict("<f4", "(2, 2)"), le(L, []float32{1, 2, 3, 4}))
	zipped := gz(npy)
	tests := []struct {
		file string
		body []byte
		want []string
	}{
		{"empty.npy", nil, []string{"not a .npy file: empty"}},
		{"empty.csv", nil, []string{"no rows"}},
		{"header.csv", []byte("a,b\n"), []string{"no rows"}},
		{"empty-ubyte", nil, []string{"not an IDX file"}},
		{"data.json", []byte(`{"a": 1}`), []string{"unknown file type"}},
		{"data.gz", gz([]byte(`{"a": 1}`)), []string{"unknown file type"}},
		{"cut.npy.gz", zipped[:len(zipped)-5], []string{"corrupt or truncated gzip stream"}},
		{"cut.csv.gz", gz([]byte("1,2\n3,4\n"))[:20], []string{"corrupt or truncated gzip stream"}},
		{"badgz.npy.gz", []byte{0x1f, 0x8b, 0, 0, 0}, []string{"corrupt gzip stream"}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			p := writeFile(t, dir, tc.file, tc.body)
			_, err := Load(p, LoadOptions{})
			wantErr(t, err, append([]string{"read " + p + ": "}, tc.want...)...)
		})
	}
	t.Run("missing file", func(t *testing.T) {
		p := filepath.Join(dir, "nope.npy")
		_, err := Load(p, LoadOptions{})
		wantErr(t, err, "read "+p+": no such file")
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("errors.Is(%v, fs.ErrNotExist) = false", err)
		}
	})
	t.Run("directory", func(t *testing.T) {
		_, err := Load(dir, LoadOptions{})
		wantErr(t, err, "read "+dir+": is a directory")
	})
}

func TestNaNPolicy(t *testing.T) {
	dir := t.TempDir()
	nan, inf := float32(math.NaN()), float32(math.Inf(-1))
	csvPath := writeFile(t, dir, "n.csv", []byte("a,b\n1,2\n\n3,nan\n5,6\n-inf,8\n"))
	npyPath := filepath.Join(dir, "n.npy")
	must(t, WriteNPY(npyPath, 4, 2, []float32{1, 2, 3, nan, 5, 6, inf, 8}))
	allBad := filepath.Join(dir, "bad.npy")
	must(t, WriteNPY(allBad, 2, 1, []float32{nan, inf}))

	for _, p := range []string{csvPath, npyPath} {
		t.Run(filepath.Base(p), func(t *testing.T) {
			_, err := Load(p, LoadOptions{NaN: NaNError})
			want := []string{"read " + p + ": ", "row 1, column 1", "NaN", "set the NaN option to NaNSkip", "or to NaNZero"}
			if p == csvPath {
				want = append(want, `line 4 field 2 "b"`)
			}
			wantErr(t, err, want...)
			var nf *NonFiniteError
			if !errors.As(err, &nf) || nf.Path != p || nf.Row != 1 || nf.Col != 1 || !math.IsNaN(float64(nf.Value)) {
				t.Errorf("error %#v, want a *NonFiniteError at row 1, column 1", err)
			}

			tb, err := Load(p, LoadOptions{NaN: NaNSkip})
			must(t, err)
			if tb.Rows != 2 || !reflect.DeepEqual(tb.Data, []float32{1, 2, 5, 6}) || tb.Shape[0] != 2 {
				t.Errorf("skip: %d rows %v shape %v", tb.Rows, tb.Data, tb.Shape)
			}
			if p == csvPath && !reflect.DeepEqual(tb.lines, []int{2, 5}) {
				t.Errorf("skip: lines %v, want [2 5]", tb.lines)
			}

			tb, err = Load(p, LoadOptions{NaN: NaNZero})
			must(t, err)
			if tb.Rows != 4 || !reflect.DeepEqual(tb.Data, []float32{1, 2, 3, 0, 5, 6, 0, 8}) {
				t.Errorf("zero: %d rows %v", tb.Rows, tb.Data)
			}
		})
	}
	_, err := Load(allBad, LoadOptions{NaN: NaNSkip})
	wantErr(t, err, "read "+allBad+": ", "no rows left")
	_, err = Load(allBad, LoadOptions{})
	wantErr(t, err, "read "+allBad+": ", "row 0, column 0 (0-based): value is NaN")
	_, err = Load(allBad, LoadOptions{NaN: 7})
	wantErr(t, err, "read "+allBad+": ", "invalid NaN policy")
}

func TestParseNaNPolicy(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want NaNPolicy
		ok   bool
	}{
		{"error", NaNError, true}, {"skip", NaNSkip, true}, {"zero", NaNZero, true}, {" Skip ", NaNSkip, true},
		{"", 0, false}, {"drop", 0, false},
	} {
		got, err := ParseNaNPolicy(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseNaNPolicy(%q) = %v, %v", tc.in, got, err)
		}
		if tc.ok && got.String() != strings.ToLower(strings.TrimSpace(tc.in)) {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
}

func TestSave(t *testing.T) {
	dir := t.TempDir()
	data := []float32{1, 2.5, -3, 4}
	for _, name := range []string{"o.npy", "o.csv", "O.CSV"} {
		p := filepath.Join(dir, name)
		must(t, Save(p, []string{"x", "y"}, 2, 2, data))
		tb, err := Load(p, LoadOptions{})
		must(t, err)
		if !reflect.DeepEqual(tb.Data, data) {
			t.Errorf("%s: read back %v", name, tb.Data)
		}
	}
	p := filepath.Join(dir, "o.parquet")
	wantErr(t, Save(p, nil, 2, 2, data), "write "+p+": ", `unsupported output type ".parquet"`, ".npy or .csv")
	if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Save left %s behind", p)
	}
	wantErr(t, Save(filepath.Join(dir, "bad.npy"), nil, 3, 2, data), "write "+filepath.Join(dir, "bad.npy")+": ", "data has 4 values")
}

// TestAtomicWrite checks that a failed write leaves nothing under the final
// name and no temporary files.
func TestAtomicWrite(t *testing.T) {
	dir := t.TempDir()
	data := []float32{1, 2, 3, 4}
	missing := filepath.Join(dir, "no", "such", "dir")
	for _, name := range []string{"o.npy", "o.csv"} {
		p := filepath.Join(missing, name)
		if err := Save(p, nil, 2, 2, data); err == nil {
			t.Errorf("Save(%s) into a missing directory succeeded", p)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "no")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a failed write created %s", filepath.Join(dir, "no"))
	}

	// A write whose data fails to arrive leaves nothing.
	p := filepath.Join(dir, "fail.npy")
	if err := WriteNPY(p, 2, 2, data[:3]); err == nil {
		t.Fatal("WriteNPY with too few values succeeded")
	}
	// A failed write over an existing file keeps the old content.
	must(t, WriteNPY(p, 1, 1, []float32{9}))
	old, _ := os.ReadFile(p)
	if err := WriteCSV(p, []string{"a"}, 1, 2, []float32{1, 2}); err == nil {
		t.Fatal("WriteCSV with a bad header succeeded")
	}
	if now, _ := os.ReadFile(p); string(now) != string(old) {
		t.Error("a failed write changed the existing file")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("directory holds %v, want only fail.npy", ents)
	}

	// A write that fails at the rename (the final name is a directory)
	// leaves no temporary file behind.
	sub := filepath.Join(dir, "taken.npy")
	must(t, os.Mkdir(sub, 0o755))
	wantErr(t, WriteNPY(sub, 2, 2, data), "write "+sub+": ")
	ents, _ = os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("directory holds %v, want fail.npy and taken.npy", ents)
	}

	if os.Geteuid() != 0 { // root writes anywhere
		ro := filepath.Join(dir, "ro")
		must(t, os.Mkdir(ro, 0o555))
		q := filepath.Join(ro, "o.npy")
		wantErr(t, WriteNPY(q, 2, 2, data), "write "+q+": ")
		if ents, _ := os.ReadDir(ro); len(ents) != 0 {
			t.Errorf("unwritable directory holds %v", ents)
		}
	}
}

func TestLoadLabels(t *testing.T) {
	dir := t.TempDir()
	L := binary.LittleEndian
	tests := []struct {
		file string
		body []byte
		want []int
		err  string
	}{
		{"l-idx1-ubyte", idxBytes(0x08, []uint32{3}, []byte{7, 0, 9}), []int{7, 0, 9}, ""},
		{"l-idx1-ubyte.gz", gz(idxBytes(0x08, []uint32{2}, []byte{1, 2})), []int{1, 2}, ""},
		{"l64.npy", npyBytes(1, dict("<i8", "(3,)"), le(L, []int64{3, 1, 4})), []int{3, 1, 4}, ""},
		{"lf.npy", npyBytes(1, dict("<f8", "(2, 1)"), le(L, []float64{5, 6})), []int{5, 6}, ""},
		{"l.csv", []byte("label\n1\n2\n"), []int{1, 2}, ""},
		{"l2.csv", []byte("4\n5\n"), []int{4, 5}, ""},
		{"two.csv", []byte("1,2\n"), nil, "single column, found 2 columns"},
		{"frac.npy", npyBytes(1, dict("<f8", "(2,)"), le(L, []float64{1, 1.5})), nil, "row 1: label 1.5 is not an integer"},
		{"neg.csv", []byte("-1\n"), nil, "label -1 is not an integer in [0"},
		{"nan.csv", []byte("nan\n"), nil, "value is NaN"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			p := writeFile(t, dir, tc.file, tc.body)
			got, err := LoadLabels(p)
			if tc.err != "" {
				wantErr(t, err, "read "+p+": ", tc.err)
				return
			}
			must(t, err)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("labels %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBuiltin(t *testing.T) {
	images, labels, err := Builtin()
	must(t, err)
	if images.Rows != 10000 || images.Cols != 784 || !reflect.DeepEqual(images.Shape, []int{10000, 28, 28}) {
		t.Fatalf("images %d×%d shape %v, want 10000×784 [10000 28 28]", images.Rows, images.Cols, images.Shape)
	}
	lo, hi := float32(1), float32(0)
	for _, v := range images.Data {
		lo, hi = min(lo, v), max(hi, v)
	}
	if lo != 0 || hi != 1 {
		t.Errorf("pixel range [%v, %v], want [0, 1]", lo, hi)
	}
	if len(labels) != 10000 || labels[0] != 7 {
		t.Fatalf("%d labels, first %v; want 10000, first 7", len(labels), labels[:1])
	}
	var count [10]int
	for i, l := range labels {
		if l < 0 || l > 9 {
			t.Fatalf("label %d = %d", i, l)
		}
		count[l]++
	}
	for d, n := range count {
		if n < 800 {
			t.Errorf("digit %d appears %d times", d, n)
		}
	}
	// Each call gives an independent copy.
	images.Data[0] = 42
	again, _, err := Builtin()
	must(t, err)
	if again.Data[0] != 0 {
		t.Error("Builtin shares its data between calls")
	}
}

// TestLoadDownloadedData checks the files scripts/fetch-data.sh puts under
// data/, when they are there.
func TestLoadDownloadedData(t *testing.T) {
	for _, set := range []string{"mnist", "fashion-mnist"} {
		t.Run(set, func(t *testing.T) {
			dir := filepath.Join("..", "data", set)
			for _, tc := range []struct {
				file string
				rows int
			}{{"train", 60000}, {"t10k", 10000}} {
				imgs := filepath.Join(dir, tc.file+"-images-idx3-ubyte.gz")
				if _, err := os.Stat(imgs); err != nil {
					t.Skipf("%s not present (run scripts/fetch-data.sh)", imgs)
				}
				tb, err := Load(imgs, LoadOptions{})
				must(t, err)
				if tb.Rows != tc.rows || tb.Cols != 784 || !reflect.DeepEqual(tb.Shape, []int{tc.rows, 28, 28}) {
					t.Errorf("%s: %d×%d shape %v", imgs, tb.Rows, tb.Cols, tb.Shape)
				}
				labels, err := LoadLabels(filepath.Join(dir, tc.file+"-labels-idx1-ubyte.gz"))
				must(t, err)
				if len(labels) != tc.rows {
					t.Errorf("%s: %d labels", set, len(labels))
				}
			}
		})
	}
}

// BenchmarkLoadMNISTTrain measures Load of the 60000×784 gzip-compressed
// MNIST training images (skipped when scripts/fetch-data.sh has not run).
func BenchmarkLoadMNISTTrain(b *testing.B) {
	p := filepath.Join("..", "data", "mnist", "train-images-idx3-ubyte.gz")
	if _, err := os.Stat(p); err != nil {
		b.Skipf("%s not present (run scripts/fetch-data.sh)", p)
	}
	for b.Loop() {
		if _, err := Load(p, LoadOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadNPY measures Load of a 60000×784 float32 .npy file.
func BenchmarkLoadNPY(b *testing.B) {
	p := filepath.Join(b.TempDir(), "x.npy")
	data := make([]float32, 60000*784)
	if err := WriteNPY(p, 60000, 784, data); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(4 * len(data)))
	for b.Loop() {
		if _, err := Load(p, LoadOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
