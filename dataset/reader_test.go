package dataset

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// readToEnd reads s to its end, perRead rows at a time, checking that every
// Read returns between 1 and perRead rows, and that a full dst comes back
// full except at the end.
func readToEnd(t *testing.T, s *Reader, perRead int) []float32 {
	t.Helper()
	var out []float32
	dst := make([]float32, perRead*s.Cols()+s.Cols()-1) // not a whole number of rows
	short := false
	for {
		n, err := s.Read(dst)
		if err == io.EOF {
			if n != 0 {
				t.Fatalf("Read returned %d rows with io.EOF", n)
			}
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if n < 1 || n > perRead {
			t.Fatalf("Read returned %d rows for a dst of %d", n, perRead)
		}
		if short {
			t.Fatalf("Read returned %d rows after a short read", n)
		}
		short = n < perRead
		out = append(out, dst[:n*s.Cols()]...)
	}
}

// openAll reads the whole of paths through a Reader, perRead rows at a time.
func openAll(t *testing.T, paths []string, opt ReaderOptions, perRead int) (*Reader, []float32) {
	t.Helper()
	s, err := OpenReader(paths, opt)
	must(t, err)
	defer s.Close()
	return s, readToEnd(t, s, perRead)
}

// readerFixtures writes one file of every format a Reader reads and
// returns their paths, together with the NumPy-made fixtures.
func readerFixtures(t *testing.T) []string {
	dir := t.TempDir()
	L, B := binary.LittleEndian, binary.BigEndian
	seq := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(i)*0.5 - 3
		}
		return v
	}
	var paths []string
	add := func(name string, b []byte) { paths = append(paths, writeFile(t, dir, name, b)) }
	add("f4_v1.npy", npyBytes(1, dict("<f4", "(13, 3)"), le(L, seq(39))))
	add("f8_v2.npy", npyBytes(2, dict("<f8", "(5, 2)"), le(L, []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})))
	add("u1_v3_3d.npy", npyBytes(3, dict("|u1", "(4, 2, 3)"), []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 255}))
	add("i2_be.npy", npyBytes(1, dict(">i2", "(3, 2)"), le(B, []int16{-1, 2, -300, 4, 5, 32767})))
	add("f2.npy", npyBytes(1, dict("<f2", "(4,)"), le(L, []uint16{0x3c00, 0xc000, 0x0001, 0x3800})))
	add("trailing.npy", npyBytes(1, dict("<f4", "(2,)"), le(L, []float32{5, 6, 7})))
	add("f4.npy.gz", gz(npyBytes(1, dict("<f4", "(9, 2)"), le(L, seq(18)))))
	add("noext_npy", npyBytes(1, dict("<i4", "(3,)"), le(L, []int32{7, 8, 9})))
	add("plain.csv", []byte("1,2,3\n4,5,6\n7,8,9\n10,11,12\n13,14,15\n"))
	add("header.csv", []byte("\ufeffa, b\n# comment\n1.5,2\n\n  \n3,-4e-3\r\n5,6\n7,8\n"))
	add("quoted.txt", []byte("\"1\",\" 2\"\n3,4\nnan,inf\n"))
	add("f.csv.gz", gz([]byte("x,y\n1,2\n3,4\n5,6\n")))
	add("images-idx3-ubyte", idxBytes(0x08, []uint32{5, 2, 3}, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29}))
	add("labels-idx1-ubyte.gz", gz(idxBytes(0x08, []uint32{7}, []byte{1, 2, 3, 4, 5, 6, 7})))
	add("f8.idx", idxBytes(0x0E, []uint32{3, 2}, le(B, []float64{1, 2, 3, 4, 5, 6})))
	add("noext_idx_gz", gz(idxBytes(0x0B, []uint32{4}, le(B, []int16{-1, 2, -3, 4}))))
	fixtures, err := filepath.Glob(filepath.Join("testdata", "numpy", "*.npy"))
	must(t, err)
	for _, p := range fixtures {
		if _, err := Load(p, LoadOptions{}); err == nil {
			paths = append(paths, p)
		}
	}
	return append(paths, filepath.Join("builtin", "t10k-labels-idx1-ubyte.gz"))
}

func TestReaderMatchesLoad(t *testing.T) {
	for _, p := range readerFixtures(t) {
		t.Run(filepath.Base(p), func(t *testing.T) {
			want, err := Load(p, LoadOptions{NaN: NaNZero})
			must(t, err)
			for _, per := range []int{1, 2, 3, 7, want.Rows + 5} {
				s, got := openAll(t, []string{p}, ReaderOptions{NaN: NaNZero}, per)
				if !sameBits(got, want.Data) {
					t.Fatalf("%d rows per read: stream gave %v, Load %v", per, clipFloats(got), clipFloats(want.Data))
				}
				if s.Cols() != want.Cols || !reflect.DeepEqual(s.Header(), want.Header) {
					t.Fatalf("stream cols %d header %q, Load %d %q", s.Cols(), s.Header(), want.Cols, want.Header)
				}
				wantShape := []int{want.Cols}
				if len(want.Shape) >= 2 {
					wantShape = want.Shape[1:]
				}
				if !reflect.DeepEqual(s.Shape(), wantShape) {
					t.Fatalf("Shape() = %v, want %v (Load's shape %v)", s.Shape(), wantShape, want.Shape)
				}
				wantRows := int64(want.Rows)
				if strings.HasSuffix(p, ".csv") || strings.HasSuffix(p, ".txt") || strings.HasSuffix(p, ".csv.gz") {
					wantRows = -1
				}
				if s.Rows() != wantRows {
					t.Fatalf("Rows() = %d, want %d", s.Rows(), wantRows)
				}
			}
		})
	}
}

func TestReaderBuiltinImages(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes the MNIST test set twice")
	}
	p := filepath.Join("builtin", "t10k-images-idx3-ubyte.gz")
	want, err := Load(p, LoadOptions{})
	must(t, err)
	s, got := openAll(t, []string{p}, ReaderOptions{}, 999)
	if !sameBits(got, want.Data) || s.Rows() != 10000 || !reflect.DeepEqual(s.Shape(), []int{28, 28}) {
		t.Fatalf("stream of %s differs from Load: %d values, rows %d, shape %v", p, len(got), s.Rows(), s.Shape())
	}
	// A shard of a compressed file is found by decompressing up to it.
	_, part := openAll(t, []string{p}, ReaderOptions{Shard: 2, ShardCount: 3}, 1000)
	if lo := 6666 * 784; !sameBits(part, want.Data[lo:]) {
		t.Fatalf("shard 2/3 has %d values, want %d from row 6666", len(part), len(want.Data)-lo)
	}
}

func clipFloats(v []float32) string {
	if len(v) > 20 {
		return fmt.Sprintf("%v… (%d values)", v[:20], len(v))
	}
	return fmt.Sprint(v)
}

// loadAll concatenates Load's tables of paths.
func loadAll(t *testing.T, paths []string, opt LoadOptions) []float32 {
	t.Helper()
	var out []float32
	for _, p := range paths {
		tb, err := Load(p, opt)
		must(t, err)
		out = append(out, tb.Data...)
	}
	return out
}

// seqRows returns rows×cols distinct values starting at base.
func seqRows(rows, cols int, base float32) []float32 {
	v := make([]float32, rows*cols)
	for i := range v {
		v[i] = base + float32(i)
	}
	return v
}

func TestReaderNaNPolicies(t *testing.T) {
	dir := t.TempDir()
	nan, inf := float32(math.NaN()), float32(math.Inf(-1))
	data := []float32{1, 2, 3, nan, 5, 6, 7, 8, inf, 10, 11, 12, 13, 14, 15, 16}
	np := filepath.Join(dir, "x.npy")
	must(t, WriteNPY(np, 8, 2, data))
	csvp := filepath.Join(dir, "x.csv")
	must(t, WriteCSV(csvp, []string{"u", "v"}, 8, 2, data))
	for _, p := range []string{np, csvp} {
		for _, pol := range []NaNPolicy{NaNError, NaNSkip, NaNZero} {
			want, loadErr := Load(p, LoadOptions{NaN: pol})
			for _, per := range []int{1, 3, 8} {
				s, err := OpenReader([]string{p}, ReaderOptions{NaN: pol})
				must(t, err)
				var got []float32
				dst := make([]float32, per*2)
				for {
					n, err2 := s.Read(dst)
					got = append(got, dst[:2*n]...)
					if err2 != nil {
						err = err2
						break
					}
				}
				s.Close()
				if loadErr != nil {
					if err == io.EOF || err.Error() != loadErr.Error() {
						t.Fatalf("%s %v: stream error %v, Load's %v", p, pol, err, loadErr)
					}
					continue
				}
				if err != io.EOF || !sameBits(got, want.Data) {
					t.Fatalf("%s %v %d per read: got %v (%v), want %v", p, pol, per, got, err, want.Data)
				}
			}
		}
	}
	// The error names the row of the file, also in a shard.
	s, err := OpenReader([]string{csvp}, ReaderOptions{Shard: 1, ShardCount: 2})
	must(t, err)
	defer s.Close()
	_, err = s.Read(make([]float32, 100))
	wantErr(t, err, "read "+csvp+": row 4, column 0 (0-based), line 6 field 1 \"u\": value is -Inf")
}

func TestReaderReadRows(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for i, rows := range []int{5, 0, 8, 1, 6} {
		p := filepath.Join(dir, fmt.Sprintf("p%d.npy", i))
		if rows == 0 {
			w, err := NewWriter(p, 3, nil)
			must(t, err)
			must(t, w.Close())
		} else {
			must(t, WriteNPY(p, rows, 3, seqRows(rows, 3, float32(1000*i))))
		}
		paths = append(paths, p)
	}
	// .npy of another dtype and version mixes in.
	paths = append(paths, writeFile(t, dir, "p5.npy", npyBytes(3, dict("<i8", "(2, 3)"), le(binary.LittleEndian, []int64{-1, -2, -3, -4, -5, -6}))))
	_, whole := openAll(t, paths, ReaderOptions{}, 100)
	const total = 22
	for _, shard := range [][2]int{{0, 1}, {1, 3}, {2, 3}} {
		s, err := OpenReader(paths, ReaderOptions{Shard: shard[0], ShardCount: shard[1]})
		must(t, err)
		lo, hi := s.ShardRange()
		for start := int64(0); start <= hi-lo+1; start++ {
			for _, per := range []int{1, 4, 30} {
				dst := make([]float32, per*3)
				n, err := s.ReadRows(start, dst)
				if start >= hi-lo {
					if err != io.EOF || n != 0 {
						t.Fatalf("ReadRows(%d) past the end: %d, %v", start, n, err)
					}
					continue
				}
				must(t, err)
				wantN := min(int64(per), hi-lo-start)
				if int64(n) != wantN || !sameBits(dst[:3*n], whole[3*(lo+start):3*(lo+start+wantN)]) {
					t.Fatalf("shard %v ReadRows(%d) of %d: %d rows %v, want %v", shard, start, per, n, dst[:3*n], whole[3*(lo+start):3*(lo+start+wantN)])
				}
			}
		}
		// ReadRows does not move Read.
		got := readToEnd(t, s, 4)
		if !sameBits(got, whole[3*lo:3*hi]) {
			t.Fatalf("Read after ReadRows: %v", got)
		}
		_, err = s.ReadRows(-1, make([]float32, 3))
		wantErr(t, err, "read: ReadRows from negative row -1")
		s.Close()
		_, err = s.ReadRows(0, make([]float32, 3))
		wantErr(t, err, "read: stream is closed")
	}
	if len(whole) != 3*total {
		t.Fatalf("%d values, want %d rows", len(whole), total)
	}
	c := writeFile(t, dir, "c.csv", []byte("1,2,3\n"))
	s, err := OpenReader([]string{paths[0], c}, ReaderOptions{})
	must(t, err)
	defer s.Close()
	_, err = s.ReadRows(0, make([]float32, 3))
	wantErr(t, err, "read "+c+": random access (ReadRows) needs uncompressed .npy, Parquet or Arrow input, and this is a CSV file")
	g := writeFile(t, dir, "g.npy.gz", gz(npyBytes(1, dict("<f4", "(1, 3)"), make([]byte, 12))))
	s2, err := OpenReader([]string{g}, ReaderOptions{})
	must(t, err)
	defer s2.Close()
	_, err = s2.ReadRows(0, make([]float32, 3))
	wantErr(t, err, "read "+g+": ", "this is a compressed .npy file")
}

func TestReaderSmallDst(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.npy")
	must(t, WriteNPY(p, 2, 4, seqRows(2, 4, 0)))
	s, err := OpenReader([]string{p}, ReaderOptions{})
	must(t, err)
	_, err = s.Read(make([]float32, 3))
	wantErr(t, err, "read: dst holds 3 values, less than one row of 4")
	must(t, s.Close())
	must(t, s.Close())
	_, err = s.Read(make([]float32, 8))
	wantErr(t, err, "read: stream is closed")
}

// TestReaderBoundedMemory streams a .npy file much larger than the buffers
// involved and checks that the heap does not grow with the file.
func TestReaderBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and reads a 200 MB file")
	}
	const cols = 256
	const rows = 200 << 20 / 4 / cols // 200 MB of float32
	p := filepath.Join(t.TempDir(), "big.npy")
	w, err := NewWriter(p, cols, nil)
	must(t, err)
	chunk := make([]float32, 1024*cols) // 1 MB
	for r := 0; r < rows; r += 1024 {
		for i := range chunk {
			chunk[i] = float32(r*cols + i)
		}
		must(t, w.Write(chunk))
	}
	must(t, w.Close())

	var before, after runtimeMem
	before.read()
	s, err := OpenReader([]string{p}, ReaderOptions{})
	must(t, err)
	defer s.Close()
	var n int64
	for {
		k, err := s.Read(chunk)
		if err == io.EOF {
			break
		}
		must(t, err)
		if chunk[0] != float32(n*cols) || chunk[k*cols-1] != float32((n+int64(k))*cols-1) {
			t.Fatalf("rows %d…: got %v…%v", n, chunk[0], chunk[k*cols-1])
		}
		n += int64(k)
	}
	after.read()
	if n != rows {
		t.Fatalf("read %d rows, want %d", n, rows)
	}
	t.Logf("allocated %d bytes to stream %d bytes", after.total-before.total, rows*cols*4)
	if grew := after.total - before.total; grew > 4<<20 {
		t.Errorf("allocated %d bytes to stream a %d-byte file", grew, rows*cols*4)
	}
}
