//go:build unix

package dataset

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

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
// through Load and OpenReader: both give the rows of the same regular file.
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
				s, got := openAll(t, []string{p}, ReaderOptions{}, 7)
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
			_, got := openAll(t, []string{p}, ReaderOptions{Shard: 1, ShardCount: 2}, 4)
			if !reflect.DeepEqual(got, data[75:]) {
				t.Errorf("shard 1/2: %v", clipFloats(got))
			}
			q := fifo(t, dir, "shard.csv", csv.Bytes(), 1)
			_, err := OpenReader([]string{q}, ReaderOptions{Shard: 1, ShardCount: 2})
			wantErr(t, err, "read "+q+": a shard of CSV input needs the rows counted first")
			r := fifo(t, dir, "ra.npy", npy, 1)
			s, err := OpenReader([]string{r}, ReaderOptions{})
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
			_, err = OpenReader([]string{p}, ReaderOptions{})
			wantErr(t, err, "read "+p+": unknown content")
		})
	})
}
