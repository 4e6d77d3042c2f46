package dataset

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestWriterNPYIDs: a .npy file with ids gets <name>.ids.csv beside it,
// both appearing on Close, neither on Abort or after a failed write.
func TestWriterNPYIDs(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "codes.npy")
	ids := []string{"a", "", `q"uote`, "x,y", " pad", "line\nbreak", "ünï"}
	data := make([]float32, 2*len(ids))
	for i := range data {
		data[i] = float32(i) / 4
	}
	w, err := NewWriterWith(p, 2, WriterOptions{IDName: "user id"})
	must(t, err)
	must(t, w.WriteIDs(data[:6], ids[:3]))
	must(t, w.WriteIDs(data[6:], ids[3:]))
	checkDir(t, dir, ".codes.ids.csv.tmp-"+tmpSuffix(t, dir, ".codes.ids.csv.tmp-"), ".codes.npy.tmp-"+tmpSuffix(t, dir, ".codes.npy.tmp-"))
	must(t, w.Close())
	checkDir(t, dir, "codes.ids.csv", "codes.npy")
	if IDsPath(p) != filepath.Join(dir, "codes.ids.csv") {
		t.Errorf("IDsPath %s", IDsPath(p))
	}
	tb, err := Load(p, LoadOptions{})
	must(t, err)
	if !reflect.DeepEqual(tb.Data, data) {
		t.Errorf("values %v", tb.Data)
	}
	f, err := os.Open(IDsPath(p))
	must(t, err)
	recs, err := csv.NewReader(f).ReadAll()
	f.Close()
	must(t, err)
	var got []string
	for _, r := range recs {
		got = append(got, r...)
	}
	if !reflect.DeepEqual(got, append([]string{"user id"}, ids...)) {
		t.Errorf("ids file holds %q", got)
	}

	// Abort, or a failed write, leaves neither file (the old ones stay).
	w, err = NewWriterWith(p, 2, WriterOptions{IDName: "id"})
	must(t, err)
	must(t, w.WriteIDs([]float32{1, 2}, []string{"n"}))
	w.Abort()
	checkDir(t, dir, "codes.ids.csv", "codes.npy")
	q := filepath.Join(dir, "other.npy")
	w, err = NewWriterWith(q, 2, WriterOptions{IDName: "id"})
	must(t, err)
	must(t, w.WriteIDs([]float32{1, 2}, []string{"n"}))
	wantErr(t, w.WriteIDs([]float32{1, 2}, []string{"n", "m"}), "write "+q+": 2 ids for 1 rows")
	wantErr(t, w.Close(), "write "+q+": 2 ids for 1 rows")
	checkDir(t, dir, "codes.ids.csv", "codes.npy")
	if tb, err := Load(p, LoadOptions{}); err != nil || tb.Rows != len(ids) {
		t.Errorf("the committed file changed: %v", err)
	}
}

// tmpSuffix returns the random part of the temporary file in dir whose
// name starts with prefix.
func tmpSuffix(t *testing.T, dir, prefix string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, prefix+"*"))
	if len(m) != 1 {
		t.Fatalf("temporary files %q", m)
	}
	return filepath.Base(m[0])[len(prefix):]
}

// TestWriterCSVIDs: a .csv file's ids are its first column, named in the
// header line (z0, z1, … name the values when no header is given).
func TestWriterCSVIDs(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		header []string
		want   string
	}{
		{nil, "id,z0,z1\na,1,2\n\"b,c\",3.5,-4\n"},
		{[]string{"score", "flag"}, "id,score,flag\na,1,2\n\"b,c\",3.5,-4\n"},
	} {
		p := filepath.Join(dir, "o.csv")
		w, err := NewWriterWith(p, 2, WriterOptions{Header: tc.header, IDName: "id"})
		must(t, err)
		must(t, w.WriteIDs([]float32{1, 2, 3.5, -4}, []string{"a", "b,c"}))
		must(t, w.Close())
		if b, _ := os.ReadFile(p); string(b) != tc.want {
			t.Errorf("header %q: wrote %q, want %q", tc.header, b, tc.want)
		}
	}
}

// TestWriterOptionErrors: misuse of ids and list columns, and Parquet or
// Arrow output from a program built without dataset/columnar.
func TestWriterOptionErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "o.csv")
	w, err := NewWriterWith(p, 2, WriterOptions{IDName: "id"})
	must(t, err)
	wantErr(t, w.Write([]float32{1, 2}), "write "+p+`: the rows need their ids (column "id"): use WriteIDs`)
	w.Abort()
	w, err = NewWriter(p, 2, nil)
	must(t, err)
	wantErr(t, w.WriteIDs([]float32{1, 2}, []string{"a"}), "write "+p+": ids given, but the writer has no id column")
	w.Abort()
	_, err = NewWriterWith(p, 2, WriterOptions{ListColumn: "emb"})
	wantErr(t, err, "write "+p+`: a list column ("emb") needs Parquet or Arrow output`)
	for _, name := range []string{"o.parquet", "o.arrow", "o.feather"} {
		q := filepath.Join(dir, name)
		_, err = NewWriterWith(q, 2, WriterOptions{})
		wantErr(t, err, "write "+q+": unsupported output type", "built without Parquet/Arrow support", ColumnarImport, "use .npy or .csv")
	}
	checkDir(t, dir)
}
