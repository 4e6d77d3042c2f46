package dataset

import (
	"encoding/binary"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"testing"
)

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
