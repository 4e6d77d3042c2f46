package dataset

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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
