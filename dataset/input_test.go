package dataset

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
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
	s, err := OpenStream([]string{p}, StreamOptions{})
	must(t, err)
	defer s.Close()
	dst := make([]float32, 500*4)
	if n, err := s.Read(dst); n != 1 || err == nil || !strings.Contains(err.Error(), "read "+p+": line 2 (from byte 1000) runs past byte 2100") {
		t.Fatalf("stream: %d rows, %v", n, err)
	}
}

// TestDevZero reads /dev/zero under .csv and unknown names, through Load
// and OpenStream, with the real limit: each ends with an error.
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
			s, err := OpenStream([]string{p}, StreamOptions{})
			if err == nil {
				_, err = s.Read(make([]float32, 1024))
				s.Close()
			}
			if err == nil || !strings.Contains(err.Error(), "read "+p+": ") {
				t.Errorf("OpenStream %s: %v", name, err)
			}
		})
	}
}

// fifo makes a named pipe at dir/name and writes content into it from a
// goroutine once a reader opens it, as many times as readers come (up to
// opens). The pipe is removed at the end of the test.
func fifo(t *testing.T, dir, name string, content []byte, opens int) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	stop := make(chan struct{})
	t.Cleanup(func() {
		close(stop)
		// Unblock a writer still waiting for a reader.
		if f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
		os.Remove(p)
	})
	go func() {
		for range opens {
			w, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				return
			}
			select {
			case <-stop:
				w.Close()
				return
			default:
			}
			w.Write(content) // a reader that stops early makes this fail: fine
			w.Close()
		}
	}()
	return p
}

func gzipBytes(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	must(t, zw.Close())
	return buf.Bytes()
}

// TestFIFO reads named pipes of every streaming format, named or not,
// through Load and OpenStream: both give the rows of the same regular file.
func TestFIFO(t *testing.T) {
	dir := t.TempDir()
	data := seqRows(50, 3, 0)
	npyPath := filepath.Join(dir, "x.npy")
	must(t, WriteNPY(npyPath, 50, 3, data))
	npy, _ := os.ReadFile(npyPath)
	var csv bytes.Buffer
	csv.WriteString("a,b,c\n")
	for r := range 50 {
		csv.Write(appendCSVRow(nil, data[r*3:(r+1)*3]))
	}
	for _, c := range []struct {
		name    string
		content []byte
	}{
		{"p.npy", npy}, {"p.csv", csv.Bytes()}, {"npy-pipe", npy}, {"csv-pipe", csv.Bytes()},
		{"gz-pipe", gzipBytes(t, npy)}, {"p.csv.gz", gzipBytes(t, csv.Bytes())},
	} {
		t.Run(c.name, func(t *testing.T) {
			within(t, 20*time.Second, func() {
				p := fifo(t, t.TempDir(), c.name, c.content, 1)
				tab, err := Load(p, LoadOptions{})
				must(t, err)
				if tab.Rows != 50 || tab.Cols != 3 || !reflect.DeepEqual(tab.Data, data) {
					t.Errorf("Load: %d×%d %v", tab.Rows, tab.Cols, clipFloats(tab.Data))
				}
				p = fifo(t, t.TempDir(), c.name, c.content, 1)
				s, got := openAll(t, []string{p}, StreamOptions{}, 7)
				if !reflect.DeepEqual(got, data) {
					t.Errorf("stream: %v", clipFloats(got))
				}
				if strings.Contains(c.name, "npy") && s.Rows() != 50 {
					t.Errorf("stream rows %d, want 50", s.Rows())
				}
			})
		})
	}

	// A shard of a .npy pipe skips the rows before it; a CSV pipe cannot be
	// sharded and no pipe read at random: clear errors.
	t.Run("shards", func(t *testing.T) {
		within(t, 20*time.Second, func() {
			p := fifo(t, dir, "shard.npy", npy, 1)
			_, got := openAll(t, []string{p}, StreamOptions{Shard: 1, ShardCount: 2}, 4)
			if !reflect.DeepEqual(got, data[75:]) {
				t.Errorf("shard 1/2: %v", clipFloats(got))
			}
			q := fifo(t, dir, "shard.csv", csv.Bytes(), 1)
			_, err := OpenStream([]string{q}, StreamOptions{Shard: 1, ShardCount: 2})
			wantErr(t, err, "read "+q+": a shard of CSV input needs the rows counted first")
			r := fifo(t, dir, "ra.npy", npy, 1)
			s, err := OpenStream([]string{r}, StreamOptions{})
			must(t, err)
			_, err = s.ReadRows(0, make([]float32, 3))
			wantErr(t, err, "read "+r+": random access (ReadRows) needs a regular file")
			s.Close()
		})
	})

	// Binary garbage from a nameless pipe is refused, not read as CSV.
	t.Run("garbage", func(t *testing.T) {
		garbage := bytes.Repeat([]byte{0, 1, 2, 0xff}, 1000)
		within(t, 20*time.Second, func() {
			p := fifo(t, t.TempDir(), "garbage", garbage, 1)
			_, err := Load(p, LoadOptions{})
			wantErr(t, err, "read "+p+": unknown content: a pipe is read as .npy, IDX or gzip")
			p = fifo(t, t.TempDir(), "garbage", garbage, 1)
			_, err = OpenStream([]string{p}, StreamOptions{})
			wantErr(t, err, "read "+p+": unknown content")
		})
	})
}

// TestStdin reads "-" as standard input, through Load and OpenStream.
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
			s, err := OpenStream([]string{"-"}, StreamOptions{})
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
