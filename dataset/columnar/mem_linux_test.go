//go:build linux

package columnar

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/aegpu/aegpu/dataset"
)

// writeBigParquet writes rows×cols standard-normal float32 values as a
// snappy Parquet file with row groups of group rows, and the same values
// as a .npy file.
func writeBigParquet(t *testing.T, pq, npy string, rows, cols, group int) {
	fields := make([]arrow.Field, cols)
	for i := range fields {
		fields[i] = arrow.Field{Name: fmt.Sprintf("f_%d", i), Type: arrow.PrimitiveTypes.Float32}
	}
	sc := arrow.NewSchema(fields, nil)
	f, err := os.Create(pq)
	must(t, err)
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithMaxRowGroupLength(int64(group)), parquet.WithDictionaryDefault(false))
	w, err := pqarrow.NewFileWriter(sc, f, props, pqarrow.DefaultWriterProps())
	must(t, err)
	nw, err := dataset.NewWriter(npy, cols, nil)
	must(t, err)
	rnd := rand.New(rand.NewPCG(3, 4))
	colv, rowv := make([]float32, group), make([]float32, group*cols)
	for done := 0; done < rows; done += group {
		arrs := make([]arrow.Array, cols)
		for c := range cols {
			for i := range colv {
				colv[i] = float32(rnd.NormFloat64())
				rowv[i*cols+c] = colv[i]
			}
			b := array.NewFloat32Builder(memory.DefaultAllocator)
			b.AppendValues(colv, nil)
			arrs[c] = b.NewArray()
			b.Release()
		}
		rec := array.NewRecordBatch(sc, arrs, int64(group))
		must(t, w.Write(rec))
		rec.Release()
		for _, a := range arrs {
			a.Release()
		}
		must(t, nw.Write(rowv))
	}
	must(t, w.Close())
	must(t, nw.Close())
}

// TestColumnarStreamsUnderMemoryLimit streams a 512 MiB Parquet file
// through OpenReader in a child process under GOMEMLIMIT=64MiB: its peak
// resident memory stays far below the file's size. It also streams the
// same data as .npy and logs both read rates.
func TestColumnarStreamsUnderMemoryLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 512 MiB Parquet file and its 512 MiB .npy twin")
	}
	dir := t.TempDir()
	pq, npy := filepath.Join(dir, "big.parquet"), filepath.Join(dir, "big.npy")
	const rows, cols, group = 2 << 20, 64, 16384 // 512 MiB of float32, row groups of 4 MiB
	writeBigParquet(t, pq, npy, rows, cols, group)
	for _, p := range []string{pq, npy} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestColumnarStreamHelper$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "GOMEMLIMIT=64MiB", "AEGPU_STREAM_FILE="+p)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("stream %s: %v\n%s", p, err, out)
		}
		var n, hwm int64
		var rate float64
		i := strings.Index(string(out), "streamed ")
		if i < 0 {
			t.Fatalf("no result from the helper:\n%s", out)
		}
		fmt.Sscanf(string(out[i:]), "streamed %d rows at %f rows/s, peak RSS %d KiB", &n, &rate, &hwm)
		t.Logf("%s: %d rows at %.0f rows/s (%.0f MB/s), peak RSS %.1f MiB", filepath.Ext(p), n, rate, rate*cols*4/1e6, float64(hwm)/1024)
		if n != rows {
			t.Errorf("%s: streamed %d rows, want %d", p, n, rows)
		}
		if p == pq && hwm > 128<<10 {
			t.Errorf("peak RSS %d MiB streaming a 512 MiB Parquet file, want < 128 MiB", hwm>>10)
		}
	}
}

// TestColumnarStreamHelper streams AEGPU_STREAM_FILE in chunks of 8192
// rows and prints the row count, the rate and the peak resident memory
// of this process (VmHWM: its own, not inherited from the parent).
func TestColumnarStreamHelper(t *testing.T) {
	p := os.Getenv("AEGPU_STREAM_FILE")
	if p == "" {
		t.Skip("helper of TestColumnarStreamsUnderMemoryLimit")
	}
	start := time.Now()
	rd, err := dataset.OpenReader([]string{p}, dataset.ReaderOptions{})
	must(t, err)
	defer rd.Close()
	buf := make([]float32, 8192*rd.Cols())
	var n int64
	for {
		k, err := rd.Read(buf)
		n += int64(k)
		if err == io.EOF {
			break
		}
		must(t, err)
	}
	rate := float64(n) / time.Since(start).Seconds()
	status, _ := os.ReadFile("/proc/self/status")
	var hwm int64
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			hwm, _ = strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	fmt.Printf("streamed %d rows at %.1f rows/s, peak RSS %d KiB\n", n, rate, hwm)
}
