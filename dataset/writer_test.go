package dataset

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// writeChunks writes data (rows of cols) with a Writer, chunk rows at a time.
func writeChunks(t *testing.T, p string, cols int, header []string, data []float32, chunk int) {
	t.Helper()
	w, err := NewWriter(p, cols, header)
	must(t, err)
	rows := int64(len(data) / cols)
	for len(data) > 0 {
		k := min(len(data), chunk*cols)
		must(t, w.Write(data[:k]))
		data = data[k:]
	}
	must(t, w.Write(nil))
	if w.Rows() != rows {
		t.Fatalf("Rows() = %d after writing %d", w.Rows(), rows)
	}
	must(t, w.Close())
}

func TestWriterRoundTrip(t *testing.T) {
	dir := t.TempDir()
	vals := []float32{0, 1, -1, 0.1, 1.0 / 3, 1e-45, math.MaxFloat32, 16777217, float32(math.Pi), -2.5e-10}
	for _, ext := range []string{".npy", ".csv"} {
		for _, tc := range []struct {
			rows, cols, chunk int
			header            []string
		}{
			{1, 1, 1, nil}, {1, 4, 7, []string{"a", "b", "c", "d"}}, {100, 3, 1, nil}, {100, 3, 7, []string{"x", "y,z", `q"`}},
			{5000, 17, 333, nil}, {5000, 17, 5000, nil},
		} {
			name := fmt.Sprintf("%s_%dx%d_by%d_h%v", ext[1:], tc.rows, tc.cols, tc.chunk, tc.header != nil)
			t.Run(name, func(t *testing.T) {
				data := make([]float32, tc.rows*tc.cols)
				for i := range data {
					data[i] = vals[i%len(vals)] * []float32{1, -1, 0.5}[i/len(vals)%3]
				}
				p := filepath.Join(dir, name+ext)
				writeChunks(t, p, tc.cols, tc.header, data, tc.chunk)
				tb, err := Load(p, LoadOptions{})
				must(t, err)
				if tb.Rows != tc.rows || tb.Cols != tc.cols || !sameBits(tb.Data, data) {
					t.Fatalf("Load gave %d×%d, want %d×%d (data equal: %v)", tb.Rows, tb.Cols, tc.rows, tc.cols, sameBits(tb.Data, data))
				}
				if ext == ".csv" && !reflect.DeepEqual(tb.Header, tc.header) {
					t.Fatalf("header %q, want %q", tb.Header, tc.header)
				}
				if ext == ".npy" {
					checkNPYHeader(t, p, tc.rows, tc.cols)
				}
				// The same bytes as the whole-table writers.
				q := filepath.Join(dir, "whole"+ext)
				must(t, Save(q, tc.header, tc.rows, tc.cols, data))
				got, _ := os.ReadFile(p)
				want, _ := os.ReadFile(q)
				if ext == ".csv" && !bytes.Equal(got, want) {
					t.Fatalf("Writer's CSV differs from WriteCSV's")
				}
				if ext == ".npy" {
					_, _, _, off := npyDataOffset(t, got)
					_, _, _, off2 := npyDataOffset(t, want)
					if !bytes.Equal(got[off:], want[off2:]) {
						t.Fatalf("Writer's .npy data differs from WriteNPY's")
					}
				}
				if ents, _ := os.ReadDir(dir); len(ents) != countFiles(dir) {
					t.Fatalf("temporary files left: %v", ents)
				}
			})
		}
	}
}

func countFiles(dir string) int {
	ents, _ := os.ReadDir(dir)
	n := 0
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			n++
		}
	}
	return n
}

// npyDataOffset parses the fixed part of a .npy file.
func npyDataOffset(t *testing.T, b []byte) (major, minor byte, dict string, off int) {
	t.Helper()
	if len(b) < 10 || !bytes.Equal(b[:6], []byte("\x93NUMPY")) {
		t.Fatalf("bad magic %q", b[:min(len(b), 6)])
	}
	hlen := int(binary.LittleEndian.Uint16(b[8:10]))
	if len(b) < 10+hlen {
		t.Fatalf("header length %d past the end of %d bytes", hlen, len(b))
	}
	return b[6], b[7], string(b[10 : 10+hlen]), 10 + hlen
}

// checkNPYHeader checks the header of the .npy file at p against the
// format's specification (numpy.lib.format): magic "\x93NUMPY", version
// 1.0, a little-endian uint16 header length, an ASCII dict literal with
// descr, fortran_order and shape, padded with spaces and ending in '\n', the
// whole header a multiple of 64 bytes; then rows×cols×4 bytes of data.
func checkNPYHeader(t *testing.T, p string, rows, cols int) {
	t.Helper()
	b, err := os.ReadFile(p)
	must(t, err)
	major, minor, dict, off := npyDataOffset(t, b)
	if major != 1 || minor != 0 {
		t.Fatalf("version %d.%d, want 1.0", major, minor)
	}
	if off%64 != 0 {
		t.Fatalf("header of %d bytes is not a multiple of 64", off)
	}
	re := regexp.MustCompile(`^\{'descr': '<f4', 'fortran_order': False, 'shape': \((\d+), (\d+)\), \} *\n$`)
	m := re.FindStringSubmatch(dict)
	if m == nil {
		t.Fatalf("header dict %q is not the expected literal", dict)
	}
	if m[1] != fmt.Sprint(rows) || m[2] != fmt.Sprint(cols) {
		t.Fatalf("shape (%s, %s), want (%d, %d)", m[1], m[2], rows, cols)
	}
	if len(b)-off != rows*cols*4 {
		t.Fatalf("%d bytes of data, want %d", len(b)-off, rows*cols*4)
	}
}

// TestWriterMatchesNumPy checks that the Writer writes the very bytes that
// np.save (NumPy 1.24, which also leaves room for the row count to grow)
// wrote for the same array.
func TestWriterMatchesNumPy(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("testdata", "numpy", "f4_2x3.npy"))
	must(t, err)
	p := filepath.Join(t.TempDir(), "a.npy")
	writeChunks(t, p, 3, nil, []float32{1.5, -2, 3, 4, 5.25, -6}, 1)
	got, _ := os.ReadFile(p)
	if !bytes.Equal(got, want) {
		t.Fatalf("Writer wrote\n%q\nnp.save wrote\n%q", got, want)
	}
}

func TestWriterZeroRows(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "empty.npy")
	writeChunks(t, p, 5, nil, nil, 1)
	checkNPYHeader(t, p, 0, 5)
	// Load refuses tables without rows; a stream reads none.
	_, err := Load(p, LoadOptions{})
	wantErr(t, err, "read "+p+": ", "no rows")
	s, got := openAll(t, []string{p}, ReaderOptions{}, 3)
	if len(got) != 0 || s.Rows() != 0 || s.Cols() != 5 {
		t.Fatalf("stream of an empty file: %d values, %d rows, %d cols", len(got), s.Rows(), s.Cols())
	}
	c := filepath.Join(dir, "empty.csv")
	writeChunks(t, c, 2, []string{"a", "b"}, nil, 1)
	if b, _ := os.ReadFile(c); string(b) != "a,b\n" {
		t.Fatalf("empty CSV with header = %q", b)
	}
	c2 := filepath.Join(dir, "empty2.csv")
	writeChunks(t, c2, 2, nil, nil, 1)
	if b, _ := os.ReadFile(c2); len(b) != 0 {
		t.Fatalf("empty CSV = %q", b)
	}
}

func TestNPYGrowableHeader(t *testing.T) {
	for _, cols := range []int{1, 3, 784, 1 << 30} {
		h0, err := npyGrowableHeader(0, cols, 0)
		must(t, err)
		if len(h0)%64 != 0 || h0[len(h0)-1] != '\n' {
			t.Fatalf("cols %d: header of %d bytes, last %q", cols, len(h0), h0[len(h0)-1])
		}
		for _, rows := range []int64{0, 1, 999, 1e12, math.MaxInt64} {
			h, err := npyGrowableHeader(rows, cols, len(h0))
			must(t, err)
			if len(h) != len(h0) {
				t.Fatalf("header for %d rows is %d bytes, for 0 rows %d", rows, len(h), len(h0))
			}
			want := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", rows, cols)
			if string(h[:10]) != "\x93NUMPY\x01\x00"+string(binary.LittleEndian.AppendUint16(nil, uint16(len(h)-10))) ||
				!strings.HasPrefix(string(h[10:]), want) || strings.TrimLeft(string(h[10+len(want):]), " ") != "\n" {
				t.Fatalf("header %q", h)
			}
			// The reader agrees.
			hd, et, n, err := readNPYHeader(bytes.NewReader(h), &sizeInfo{avail: -1, hint: -1})
			must(t, err)
			if n != int64(len(h)) || et.String() != "float32" || !reflect.DeepEqual(hd.shape, []int64{rows, int64(cols)}) {
				t.Fatalf("read back %v %v %d", hd, et, n)
			}
		}
	}
	// A fixed size the header does not fit is an error, not a corrupt file.
	_, err := npyGrowableHeader(math.MaxInt64, 3, 64)
	wantErr(t, err, "a .npy header for shape (9223372036854775807, 3) does not fit in 64 bytes")
}

func TestWriterFailures(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.npy")
	must(t, os.WriteFile(p, []byte("previous"), 0o644))

	// Abort leaves the previous content and no temporary file.
	w, err := NewWriter(p, 2, nil)
	must(t, err)
	must(t, w.Write([]float32{1, 2}))
	w.Abort()
	w.Abort()
	must(t, w.Close()) // after Abort: nothing to do
	checkDir(t, dir, "out.npy")
	if b, _ := os.ReadFile(p); string(b) != "previous" {
		t.Fatalf("after Abort: %q", b)
	}

	// A failed Write makes Close fail with it and remove the temporary file.
	w, err = NewWriter(p, 3, nil)
	must(t, err)
	must(t, w.Write([]float32{1, 2, 3}))
	err = w.Write([]float32{1, 2})
	wantErr(t, err, "write "+p+": 2 values are not whole rows of 3")
	if err2 := w.Write([]float32{1, 2, 3}); err2 != err {
		t.Fatalf("Write after a failed one: %v", err2)
	}
	if err2 := w.Close(); err2 != err {
		t.Fatalf("Close after a failed Write: %v, want %v", err2, err)
	}
	checkDir(t, dir, "out.npy")
	if b, _ := os.ReadFile(p); string(b) != "previous" {
		t.Fatalf("after a failed Write: %q", b)
	}
	wantErr(t, w.Write([]float32{1, 2, 3}), "write "+p+": the writer is closed")

	// A Writer never closed leaves nothing under its name.
	q := filepath.Join(dir, "never.csv")
	w, err = NewWriter(q, 1, []string{"v"})
	must(t, err)
	must(t, w.Write([]float32{1}))
	if _, err := os.Stat(q); !os.IsNotExist(err) {
		t.Fatalf("%s exists before Close: %v", q, err)
	}
	w.Abort()

	missing := filepath.Join(dir, "no", "such", "dir")
	_, err = NewWriter(filepath.Join(missing, "x.npy"), 2, nil)
	wantErr(t, err, "write "+filepath.Join(missing, "x.npy")+": directory "+missing+" does not exist")
	_, err = NewWriter(filepath.Join(dir, "x.txt"), 2, nil)
	wantErr(t, err, "write "+filepath.Join(dir, "x.txt")+`: unsupported output type ".txt": use .npy or .csv`)
	_, err = NewWriter(filepath.Join(dir, "x.npy"), 0, nil)
	wantErr(t, err, "write "+filepath.Join(dir, "x.npy")+": invalid number of columns 0")
	_, err = NewWriter(filepath.Join(dir, "x.csv"), 2, []string{"a"})
	wantErr(t, err, "write "+filepath.Join(dir, "x.csv")+": header has 1 names for 2 columns")
	checkDir(t, dir, "out.npy")
}

// checkDir fails unless dir holds exactly the named files.
func checkDir(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	must(t, err)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if !reflect.DeepEqual(got, names) {
		t.Fatalf("%s holds %q, want %q", dir, got, names)
	}
}
