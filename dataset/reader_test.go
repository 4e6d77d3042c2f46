package dataset

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
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

func TestReaderMultiFileAndGlob(t *testing.T) {
	dir := t.TempDir()
	var want []float32
	for i, rows := range []int{3, 5, 1, 4} {
		p := filepath.Join(dir, fmt.Sprintf("part-%02d.npy", i))
		d := seqRows(rows, 3, float32(100*i))
		must(t, WriteNPY(p, rows, 3, d))
		want = append(want, d...)
	}
	csvPart := writeFile(t, dir, "extra.csv", []byte("a,b,c\n-1,-2,-3\n-4,-5,-6\n"))
	want = append(want, -1, -2, -3, -4, -5, -6)

	for _, per := range []int{1, 2, 4, 100} {
		s, got := openAll(t, []string{filepath.Join(dir, "part-*.npy"), csvPart}, ReaderOptions{}, per)
		if !sameBits(got, want) {
			t.Fatalf("%d per read: got %v, want %v", per, got, want)
		}
		if len(s.Files()) != 5 || s.Rows() != -1 || !reflect.DeepEqual(s.Header(), []string{"a", "b", "c"}) {
			t.Fatalf("files %q rows %d header %q", s.Files(), s.Rows(), s.Header())
		}
	}
	// The same file named by a pattern and literally is read twice.
	p0 := filepath.Join(dir, "part-00.npy")
	_, got := openAll(t, []string{p0, filepath.Join(dir, "part-0[0]*")}, ReaderOptions{}, 2)
	if !sameBits(got, append(append([]float32{}, want[:9]...), want[:9]...)) {
		t.Fatalf("got %v", got)
	}
	s, err := OpenReader([]string{filepath.Join(dir, "part-*.npy")}, ReaderOptions{})
	must(t, err)
	if s.Rows() != 13 {
		t.Fatalf("Rows() = %d, want 13", s.Rows())
	}
	s.Close()

	nomatch := filepath.Join(dir, "nothing-*.npy")
	_, err = OpenReader([]string{p0, nomatch}, ReaderOptions{})
	wantErr(t, err, "read "+nomatch+": ", "matches no files")
	_, err = OpenReader([]string{filepath.Join(dir, "[")}, ReaderOptions{})
	wantErr(t, err, "read "+filepath.Join(dir, "[")+": ", "bad pattern")
	missing := filepath.Join(dir, "missing.npy")
	_, err = OpenReader([]string{p0, missing}, ReaderOptions{})
	wantErr(t, err, "read "+missing+": ", "no such file")
	_, err = OpenReader(nil, ReaderOptions{})
	wantErr(t, err, "open stream: no input files")
	_, err = OpenReader([]string{dir}, ReaderOptions{})
	wantErr(t, err, "read "+dir+": is a directory")
	unknown := writeFile(t, dir, "data.bin", []byte("1,2\n"))
	_, err = OpenReader([]string{unknown}, ReaderOptions{})
	wantErr(t, err, "read "+unknown+": unknown file type")
}

func TestReaderColumnMismatch(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.npy")
	b := filepath.Join(dir, "b.csv")
	must(t, WriteNPY(a, 2, 3, seqRows(2, 3, 0)))
	writeFile(t, dir, "b.csv", []byte("1,2\n3,4\n"))
	_, err := OpenReader([]string{a, b}, ReaderOptions{})
	wantErr(t, err, "read "+b+": ", "2 columns", "but "+a+" has 3")

	h1 := writeFile(t, dir, "h1.csv", []byte("x,y\n1,2\n"))
	h2 := writeFile(t, dir, "h2.csv", []byte("x,z\n1,2\n"))
	_, err = OpenReader([]string{h1, h2}, ReaderOptions{})
	wantErr(t, err, "read "+h2+": ", `header ["x" "z"] differs`, h1)

	// An empty CSV file (say, the output of an empty shard) adds no rows;
	// only empty files is an error.
	empty := writeFile(t, dir, "empty.csv", nil)
	_, got := openAll(t, []string{h1, empty, h1}, ReaderOptions{}, 5)
	if !sameBits(got, []float32{1, 2, 1, 2}) {
		t.Fatalf("got %v", got)
	}
	_, err = OpenReader([]string{empty, empty}, ReaderOptions{})
	wantErr(t, err, "read "+empty+": no rows: the file is empty")
}

// shardFixtures returns sets of files to shard, each with the data of all
// of them.
func shardFixtures(t *testing.T) map[string][]string {
	dir := t.TempDir()
	L, B := binary.LittleEndian, binary.BigEndian
	npy := []string{
		filepath.Join(dir, "n0.npy"), filepath.Join(dir, "n1.npy"), filepath.Join(dir, "n2.npy"), filepath.Join(dir, "n3.npy"),
	}
	must(t, WriteNPY(npy[0], 7, 2, seqRows(7, 2, 0)))
	w, err := NewWriter(npy[1], 2, nil) // no rows
	must(t, err)
	must(t, w.Close())
	writeFile(t, dir, "n2.npy", npyBytes(2, dict("<f8", "(4, 2)"), le(L, []float64{-1, -2, -3, -4, -5, -6, -7, -8})))
	must(t, WriteNPY(npy[3], 11, 2, seqRows(11, 2, 50)))
	csv := []string{
		writeFile(t, dir, "c0.csv", []byte("p,q\n1,2\n\n3,4\n# x\n5,6\n")),
		writeFile(t, dir, "c1.csv", []byte("7,8\n9,10\n")),
		writeFile(t, dir, "c2.csv.gz", gz([]byte("p,q\n11,12\n13,14\n15,16\n17,18\n"))),
		writeFile(t, dir, "c3.csv", []byte("p,q\n")),
	}
	idx := []string{
		writeFile(t, dir, "i0-ubyte", idxBytes(0x08, []uint32{6, 2, 2}, seqBytes(24))),
		writeFile(t, dir, "i1-ubyte.gz", gz(idxBytes(0x08, []uint32{5, 4}, seqBytes(20)))),
		writeFile(t, dir, "i2.idx", idxBytes(0x0D, []uint32{3, 4}, le(B, seqRows(3, 4, 0.5)))),
	}
	return map[string][]string{"npy": npy, "csv": csv, "idx": idx, "mixed": {npy[0], csv[1], npy[3]}}
}

func seqBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(3*i + 1)
	}
	return b
}

func TestReaderShards(t *testing.T) {
	for name, paths := range shardFixtures(t) {
		t.Run(name, func(t *testing.T) {
			_, whole := openAll(t, paths, ReaderOptions{}, 1000)
			cols := 2
			if name == "idx" {
				cols = 4
			}
			total := int64(len(whole) / cols)
			for n := 1; n <= 5; n++ {
				for _, per := range []int{1, 3} {
					var cat []float32
					var next int64
					for i := 0; i < n; i++ {
						s, err := OpenReader(paths, ReaderOptions{Shard: i, ShardCount: n})
						must(t, err)
						lo, hi := s.ShardRange()
						rows := s.Rows()
						if n == 1 && hi == -1 && rows == -1 && name != "npy" && name != "idx" {
							hi, rows = total, total // 0/1 is the whole: CSV rows are not counted
						}
						if lo != int64(i)*total/int64(n) || hi != int64(i+1)*total/int64(n) || lo != next || rows != hi-lo {
							t.Fatalf("shard %d/%d: range [%d, %d) rows %d, want [%d, %d) of %d", i, n, lo, hi, rows, int64(i)*total/int64(n), int64(i+1)*total/int64(n), total)
						}
						next = hi
						part := readToEnd(t, s, per)
						s.Close()
						if int64(len(part)) != (hi-lo)*int64(cols) {
							t.Fatalf("shard %d/%d read %d values, want %d rows", i, n, len(part), hi-lo)
						}
						cat = append(cat, part...)
					}
					if !sameBits(cat, whole) {
						t.Fatalf("%d shards: concatenation %v, whole %v", n, cat, whole)
					}
				}
			}
			// More shards than rows: some are empty.
			var cat []float32
			for i := 0; i < 40; i++ {
				_, part := openAll(t, paths, ReaderOptions{Shard: i, ShardCount: 40}, 2)
				cat = append(cat, part...)
			}
			if !sameBits(cat, whole) {
				t.Fatalf("40 shards: concatenation %v, whole %v", cat, whole)
			}
		})
	}
}

func TestShardSpecs(t *testing.T) {
	for _, tc := range []struct {
		spec string
		i, n int
		ok   bool
	}{
		{"2/8", 2, 8, true}, {"0/1", 0, 1, true}, {" 3 / 4 ", 3, 4, true},
		{"8/8", 0, 0, false}, {"-1/2", 0, 0, false}, {"0/0", 0, 0, false}, {"1", 0, 0, false},
		{"a/b", 0, 0, false}, {"1/2/3", 0, 0, false}, {"", 0, 0, false}, {"1/-2", 0, 0, false},
	} {
		i, n, err := ParseShard(tc.spec)
		if tc.ok {
			if err != nil || i != tc.i || n != tc.n {
				t.Errorf("ParseShard(%q) = %d, %d, %v; want %d, %d", tc.spec, i, n, err, tc.i, tc.n)
			}
			continue
		}
		wantErr(t, err, fmt.Sprintf("invalid shard %q: want i/n with 0 ≤ i < n", tc.spec))
	}
	p := filepath.Join(t.TempDir(), "x.npy")
	must(t, WriteNPY(p, 2, 1, []float32{1, 2}))
	for _, o := range []ReaderOptions{{Shard: 2, ShardCount: 2}, {Shard: -1, ShardCount: 2}, {Shard: 1}, {ShardCount: -1}} {
		_, err := OpenReader([]string{p}, o)
		wantErr(t, err, "open stream: ", fmt.Sprintf("invalid shard %d/%d", o.Shard, o.ShardCount))
	}
	_, err := OpenReader([]string{p}, ReaderOptions{NaN: 7})
	wantErr(t, err, "open stream: invalid NaN policy 7")
	// Huge row counts do not overflow the shard bounds.
	if got := shardBound(3, 4, math.MaxInt64); got != math.MaxInt64/4*3+(math.MaxInt64%4*3)/4 {
		t.Errorf("shardBound(3, 4, MaxInt64) = %d", got)
	}
}

func TestReaderTruncated(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.npy")
	must(t, WriteNPY(p, 1000, 50, seqRows(1000, 50, 0)))
	st, err := os.Stat(p)
	must(t, err)
	hdr := st.Size() - 200000
	// Cut before opening: found from the file size.
	cut := filepath.Join(dir, "cut.npy")
	b, _ := os.ReadFile(p)
	must(t, os.WriteFile(cut, b[:hdr+123456], 0o644))
	_, err = OpenReader([]string{cut}, ReaderOptions{})
	wantErr(t, err, "read "+cut+": ", fmt.Sprintf("data ends at byte %d, expected %d bytes (a %d-byte header and 1000 rows of 50 float32)", hdr+123456, hdr+200000, hdr))

	// Cut while being read.
	s, err := OpenReader([]string{p}, ReaderOptions{})
	must(t, err)
	defer s.Close()
	dst := make([]float32, 100*50)
	n, err := s.Read(dst)
	if err != nil || n != 100 {
		t.Fatalf("first read: %d rows, %v", n, err)
	}
	must(t, os.Truncate(p, hdr+123456))
	var total int
	for err == nil {
		n, err = s.Read(dst)
		total += n
	}
	wantErr(t, err, "read "+p+": ", fmt.Sprintf("data ends at byte %d, expected %d bytes", hdr+123456, hdr+200000))
	if total != 500 { // rows 100…599 end before byte 123456 of the data
		t.Errorf("read %d more rows before the error, want 500", total)
	}
	if _, err2 := s.Read(dst); err2 != err {
		t.Errorf("error not sticky: %v then %v", err, err2)
	}
	_, err = s.ReadRows(990, dst)
	wantErr(t, err, "read "+p+": ", fmt.Sprintf("data ends at byte %d", hdr+123456))

	// IDX, raw and compressed.
	raw := idxBytes(0x08, []uint32{100, 10}, seqBytes(1000))
	ip := writeFile(t, dir, "x-ubyte", raw)
	s2, err := OpenReader([]string{ip}, ReaderOptions{})
	must(t, err)
	defer s2.Close()
	must(t, os.Truncate(ip, 12+555))
	_, err = s2.Read(make([]float32, 1000))
	wantErr(t, err, "read "+ip+": ", "data ends at byte 567, expected 1012 bytes (a 12-byte header and 100 rows of 10 uint8)")
	gp := writeFile(t, dir, "y-ubyte.gz", gz(raw[:12+555]))
	s3, err := OpenReader([]string{gp}, ReaderOptions{})
	must(t, err)
	defer s3.Close()
	_, err = s3.Read(make([]float32, 1000))
	wantErr(t, err, "read "+gp+": ", "decompressed data ends at byte 567, expected 1012 bytes")
	gcut := gz(raw)
	gp2 := writeFile(t, dir, "z-ubyte.gz", gcut[:len(gcut)/2])
	s4, err := OpenReader([]string{gp2}, ReaderOptions{})
	must(t, err)
	defer s4.Close()
	_, err = s4.Read(make([]float32, 1000))
	wantErr(t, err, "read "+gp2+": ", "corrupt or truncated gzip stream")
	// A bad checksum is found when the end is reached.
	bad := gz(raw)
	bad[len(bad)-8] ^= 0xff
	gp3 := writeFile(t, dir, "c-ubyte.gz", bad)
	s5, err := OpenReader([]string{gp3}, ReaderOptions{})
	must(t, err)
	defer s5.Close()
	for err == nil {
		_, err = s5.Read(make([]float32, 300))
	}
	wantErr(t, err, "read "+gp3+": ", "corrupt or truncated gzip stream", "checksum")
}

func TestReaderCSVErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"late header", "a,b\n1,2\nc,d\n", []string{"line 3, column 1 (\"a\"): not a number: \"c\""}},
		{"ragged", "1,2,3\n4,5\n", []string{"line 2: expected 3 columns (as in the first row), found 2"}},
		{"bad quote", "1,2\n3,\"4\n", []string{"line 2, column ", "extraneous or missing \" in quoted-field"}},
		{"bad number", "x,y\n1,2\n3,4x\n", []string{"line 3, column 2 (\"y\"): not a number: \"4x\""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, dir, strings.ReplaceAll(tc.name, " ", "_")+".csv", []byte(tc.in))
			_, loadErr := Load(p, LoadOptions{})
			var err error
			s, err := OpenReader([]string{p}, ReaderOptions{})
			if err == nil {
				dst := make([]float32, 1*s.Cols())
				for err == nil {
					_, err = s.Read(dst)
				}
				s.Close()
			}
			wantErr(t, err, append([]string{"read " + p + ": "}, tc.want...)...)
			if loadErr == nil || loadErr.Error() != err.Error() {
				t.Errorf("stream error %q, Load's %q", err, loadErr)
			}
			// Sharding counts rows first, finding the error then.
			_, err = OpenReader([]string{p}, ReaderOptions{Shard: 1, ShardCount: 2})
			if tc.name == "bad number" || tc.name == "late header" {
				must(t, err) // numbers are only parsed when read
			} else {
				wantErr(t, err, append([]string{"read " + p + ": "}, tc.want...)...)
			}
		})
	}
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
	wantErr(t, err, "read "+c+": random access (ReadRows) needs uncompressed .npy input, and this is a CSV file")
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
