package dataset

import (
	"os"
	"path/filepath"
	"testing"
)

// TestFormatNotLinked: without dataset/columnar (which the tests of
// dataset do not import), a Parquet or Arrow file is recognised, by name or
// content, and refused with a message that names the import adding it.
func TestFormatNotLinked(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"grid.parquet", "grid.arrow", "types.feather"} {
		p := filepath.Join("testdata", "columnar", f)
		b, err := os.ReadFile(p)
		must(t, err)
		anon := filepath.Join(dir, f+".bin") // known by its magic number
		must(t, os.WriteFile(anon, b, 0o644))
		for _, q := range []string{p, anon} {
			_, err := Load(q, LoadOptions{})
			wantErr(t, err, "read "+q+": ", "built without Parquet/Arrow support", `import _ "`+ColumnarImport+`"`)
			_, err = OpenReader([]string{q}, ReaderOptions{})
			wantErr(t, err, "read "+q+": ", "built without Parquet/Arrow support", ColumnarImport)
		}
	}
}
