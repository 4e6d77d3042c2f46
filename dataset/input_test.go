package dataset

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// zeros is an endless input of zero bytes, as /dev/zero.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// endless repeats s for ever.
type endless struct {
	s   []byte
	pos int
}

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = e.s[e.pos]
		e.pos = (e.pos + 1) % len(e.s)
	}
	return len(p), nil
}

// within fails the test when f does not return within d.
func within(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("still running after %v", d)
	}
}

// limitCSV lowers the CSV limits for the test.
func limitCSV(t *testing.T, line int64, fields int) {
	oldLine, oldFields := maxCSVLine, maxCSVFields
	maxCSVLine, maxCSVFields = line, fields
	t.Cleanup(func() { maxCSVLine, maxCSVFields = oldLine, oldFields })
}

// TestCSVLineLimit: a line without end fails at the limit, naming the
// file, line and byte offset, with memory bounded by the limit.
func TestCSVLineLimit(t *testing.T) {
	limitCSV(t, 1<<20, 1000)
	var before, after runtimeMem
	before.read()
	_, err := ReadCSV(zeros{}, "zeros.csv")
	after.read()
	var le *LineTooLongError
	if !errors.As(err, &le) || le.Line != 1 || le.Offset != 0 || le.Fields {
		t.Fatalf("endless zeros: %v", err)
	}
	wantErr(t, err, "read zeros.csv: line 1 (from byte 0) runs past byte 1048576 without a line end")
	if grew := after.total - before.total; grew > 16<<20 {
		t.Errorf("allocated %d bytes to reject a line at 1 MiB", grew)
	}

	// A line of many short fields fails on the field count.
	_, err = ReadCSV(&endless{s: []byte("0,")}, "commas.csv")
	wantErr(t, err, "read commas.csv: line 1 (from byte 0) has more than 1000 fields")

	// Lines under the limit are read; the long one names its line and start.
	ok := strings.Repeat("1,", 499) + "1\n" // 500 fields, 1000 bytes
	tab, err := ReadCSV(strings.NewReader(ok+ok), "ok.csv")
	must(t, err)
	if tab.Rows != 2 || tab.Cols != 500 {
		t.Fatalf("got %d×%d", tab.Rows, tab.Cols)
	}
	limitCSV(t, 1100, 1000)
	long := strings.Repeat("1,", 599) + "1\n"
	_, err = ReadCSV(strings.NewReader(ok+ok+long), "long.csv")
	wantErr(t, err, "read long.csv: line 3 (from byte 2000) runs past byte 3100")

	// The stream's CSV reader has the same limits.
	dir := t.TempDir()
	p := writeFile(t, dir, "s.csv", []byte(ok+long))
	s, err := OpenReader([]string{p}, ReaderOptions{})
	must(t, err)
	defer s.Close()
	dst := make([]float32, 500*4)
	if n, err := s.Read(dst); n != 1 || err == nil || !strings.Contains(err.Error(), "read "+p+": line 2 (from byte 1000) runs past byte 2100") {
		t.Fatalf("stream: %d rows, %v", n, err)
	}
}

// TestDevZero reads /dev/zero under .csv and unknown names, through Load
// and OpenReader, with the real limit: each ends with an error.
func TestDevZero(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	dir := t.TempDir()
	for _, name := range []string{"zero.csv", "zero.npy", "zero", "zero.csv.gz", "zero-ubyte"} {
		p := filepath.Join(dir, name)
		must(t, os.Symlink("/dev/zero", p))
		within(t, 60*time.Second, func() {
			_, err := Load(p, LoadOptions{})
			if err == nil || !strings.HasPrefix(err.Error(), "read "+p+": ") {
				t.Errorf("Load %s: %v", name, err)
			}
			if name == "zero.csv" {
				wantErr(t, err, "read "+p+": line 1 (from byte 0) runs past byte 67108864 without a line end")
			}
			s, err := OpenReader([]string{p}, ReaderOptions{})
			if err == nil {
				_, err = s.Read(make([]float32, 1024))
				s.Close()
			}
			if err == nil || !strings.Contains(err.Error(), "read "+p+": ") {
				t.Errorf("OpenReader %s: %v", name, err)
			}
		})
	}
}

// TestStdin reads "-" as standard input, through Load and OpenReader.
func TestStdin(t *testing.T) {
	data := seqRows(20, 2, 1)
	var csv bytes.Buffer
	for r := range 20 {
		csv.Write(appendCSVRow(nil, data[r*2:(r+1)*2]))
	}
	for _, read := range []func() ([]float32, error){
		func() ([]float32, error) {
			tab, err := Load("-", LoadOptions{})
			if err != nil {
				return nil, err
			}
			return tab.Data, nil
		},
		func() ([]float32, error) {
			s, err := OpenReader([]string{"-"}, ReaderOptions{})
			if err != nil {
				return nil, err
			}
			defer s.Close()
			buf := make([]float32, 2*64)
			n, err := s.Read(buf)
			return buf[:2*n], err
		},
	} {
		r, w, err := os.Pipe()
		must(t, err)
		old := os.Stdin
		os.Stdin = r
		go func() { w.Write(csv.Bytes()); w.Close() }()
		var got []float32
		within(t, 20*time.Second, func() { got, err = read() })
		os.Stdin = old
		r.Close()
		must(t, err)
		if !reflect.DeepEqual(got, data) {
			t.Errorf("stdin: %v", clipFloats(got))
		}
	}
	if !IsPipe("-") || IsPipe(os.Args[0]) || IsPipe(t.TempDir()) {
		t.Error("IsPipe")
	}
}

// TestNPYHeaderLimit: a header length beyond the limit is refused before
// anything is read or allocated, naming where it is.
func TestNPYHeaderLimit(t *testing.T) {
	b := append([]byte("\x93NUMPY\x02\x00"), 0xff, 0xff, 0xff, 0x7f)
	_, err := ReadNPY(io.MultiReader(bytes.NewReader(b), zeros{}), "big.npy")
	wantErr(t, err, fmt.Sprintf("read big.npy: header length %d (at byte 8) is implausibly large", 0x7fffffff))
}
