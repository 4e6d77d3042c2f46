package columnar

import (
	"io"
	"path/filepath"
	"testing"

	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
)

// BenchmarkFormats writes and reads the same table (256 Ki rows of 64
// float32 features, 64 MiB) as .npy, Parquet and Arrow through
// dataset.Writer and dataset.Reader, in chunks of 8192 rows, and reports
// rows/s and MB/s of features; compare the formats within one run, the
// machine being shared:
//
//	go test -run '^$' -bench Formats -benchtime 3x ./dataset/columnar/
func BenchmarkFormats(b *testing.B) {
	const rows, cols, chunk = 256 << 10, 64, 8192
	x := make([]float32, rows*cols) // distinct rows: repeats would compress
	engine.FillUniform(x, 3, 1, 0, 0, 1)
	dir := b.TempDir()
	for _, ext := range []string{".npy", ".parquet", ".arrow"} {
		path := filepath.Join(dir, "t"+ext)
		report := func(b *testing.B) {
			s := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(rows/s, "rows/s")
			b.ReportMetric(rows*cols*4/s/1e6, "MB/s")
		}
		b.Run("write"+ext, func(b *testing.B) {
			for range b.N {
				w, err := dataset.NewWriterWith(path, cols, dataset.WriterOptions{})
				if err != nil {
					b.Fatal(err)
				}
				for i := range rows / chunk {
					if err := w.Write(x[i*chunk*cols : (i+1)*chunk*cols]); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
			report(b)
		})
		b.Run("read"+ext, func(b *testing.B) {
			for range b.N {
				rd, err := dataset.OpenReader([]string{path}, dataset.ReaderOptions{})
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				buf := make([]float32, chunk*cols)
				for {
					k, err := rd.Read(buf)
					n += k
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				rd.Close()
				if n != rows {
					b.Fatalf("read %d rows of %d", n, rows)
				}
			}
			report(b)
		})
	}
}
