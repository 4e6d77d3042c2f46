package columnar

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/aegpu/aegpu/dataset"
)

// jsFile is what testdata/columnar/read.mjs prints of a file.
type jsFile struct {
	Names   []string
	Groups  int
	Codec   string
	Columns map[string][]any
}

// readJS reads p with the JavaScript readers (hyparquet for Parquet,
// apache-arrow for Arrow IPC), or skips the test when they are absent.
func readJS(t *testing.T, p string) jsFile {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the files are read back by our reader only")
	}
	dir := filepath.Join("..", "testdata", "columnar")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "hyparquet")); err != nil {
		t.Skip("the JavaScript readers are not installed: run npm install in dataset/testdata/columnar")
	}
	abs, err := filepath.Abs(p)
	must(t, err)
	cmd := exec.Command(node, "read.mjs", abs)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("read.mjs %s: %v", p, err)
	}
	var js jsFile
	must(t, json.Unmarshal(out, &js))
	return js
}

// writeCase is one file written by dataset.Writer.
type writeCase struct {
	ext        string
	rows, cols int
	header     []string
	idName     string
	list       string
}

func (c writeCase) name() string {
	return fmt.Sprintf("%dx%d_h%v_id%v_list%v%s", c.rows, c.cols, c.header != nil, c.idName != "", c.list != "", c.ext)
}

// data returns the case's values (exact float32s: subnormal, the largest,
// thirds) and ids (empty, quotes, commas, Unicode).
func (c writeCase) data() ([]float32, []string) {
	vals := []float32{0, 1, -1, 0.1, 1.0 / 3, 1e-45, math.MaxFloat32, 16777217, float32(math.Pi), -2.5e-10}
	data := make([]float32, c.rows*c.cols)
	for i := range data {
		data[i] = vals[i%len(vals)] * []float32{1, -1, 0.5}[i/len(vals)%3]
	}
	var ids []string
	if c.idName != "" {
		special := []string{"", `q"uote`, "a,b", "ünï ", "line\nbreak"}
		for r := range c.rows {
			ids = append(ids, fmt.Sprintf("r%d", r))
			if r < len(special) {
				ids[r] = special[r]
			}
		}
	}
	return data, ids
}

// write writes the case in chunks of 7 rows.
func (c writeCase) write(t *testing.T, p string) {
	t.Helper()
	data, ids := c.data()
	w, err := dataset.NewWriterWith(p, c.cols, dataset.WriterOptions{Header: c.header, IDName: c.idName, ListColumn: c.list})
	must(t, err)
	for r := 0; r < c.rows; r += 7 {
		k := min(7, c.rows-r)
		var part []string
		if ids != nil {
			part = ids[r : r+k]
		}
		must(t, w.WriteIDs(data[r*c.cols:(r+k)*c.cols], part))
	}
	must(t, w.Close())
}

// TestWriterRoundTrip writes Parquet and Arrow files with dataset.Writer
// in many row groups and reads them back with our reader and with the
// JavaScript ones: the same values, names, ids and list column.
func TestWriterRoundTrip(t *testing.T) {
	defer func(g int) { groupValues = g }(groupValues)
	groupValues = 120 // row groups of 40 rows of 3 values
	dir := t.TempDir()
	var cases []writeCase
	for _, ext := range []string{".parquet", ".arrow", ".feather"} {
		cases = append(cases,
			writeCase{ext: ext, rows: 1, cols: 1},
			writeCase{ext: ext, rows: 100, cols: 3, header: []string{"x", "y,z", `q"`}},
			writeCase{ext: ext, rows: 100, cols: 3, idName: "id"},
			writeCase{ext: ext, rows: 101, cols: 3, idName: "key", list: "emb"},
			writeCase{ext: ext, rows: 9, cols: 200, header: dataset.DefaultNames(200), list: "v"})
	}
	for _, c := range cases {
		t.Run(c.name(), func(t *testing.T) {
			p := filepath.Join(dir, c.name())
			c.write(t, p)
			checkOurs(t, p, c)
			checkJS(t, p, c)
		})
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != len(cases) {
		t.Errorf("%d files for %d cases: temporary files left", len(ents), len(cases))
	}
}

// checkOurs reads p back with dataset.Load.
func checkOurs(t *testing.T, p string, c writeCase) {
	t.Helper()
	data, ids := c.data()
	tb, err := dataset.Load(p, dataset.LoadOptions{IDColumn: c.idName})
	must(t, err)
	if tb.Rows != c.rows || tb.Cols != c.cols || !slices.Equal(tb.Data, data) || !slices.Equal(tb.IDs, ids) {
		t.Fatalf("Load: %d×%d, data equal %v, ids %q", tb.Rows, tb.Cols, slices.Equal(tb.Data, data), tb.IDs)
	}
	want := c.header
	if want == nil {
		want = dataset.DefaultNames(c.cols)
	}
	if c.list != "" {
		want = nil
		for i := range c.cols {
			want = append(want, fmt.Sprintf("%s[%d]", c.list, i))
		}
	}
	if !reflect.DeepEqual(tb.Header, want) {
		t.Errorf("header %q, want %q", tb.Header, want)
	}
}

// checkJS reads p back with read.mjs.
func checkJS(t *testing.T, p string, c writeCase) {
	t.Helper()
	js := readJS(t, p)
	data, ids := c.data()
	names := c.header
	if names == nil {
		names = dataset.DefaultNames(c.cols)
	}
	if c.list != "" {
		names = []string{c.list}
	}
	if c.idName != "" {
		names = append([]string{c.idName}, names...)
	}
	if !reflect.DeepEqual(js.Names, names) {
		t.Fatalf("JavaScript reader: columns %q, want %q", js.Names, names)
	}
	group := max(1, 120/c.cols) // rows, as groupValues makes them
	if want := (c.rows + group - 1) / group; js.Groups != want {
		t.Errorf("%d row groups, want %d", js.Groups, want)
	}
	if filepath.Ext(p) == ".parquet" && js.Codec != "SNAPPY" {
		t.Errorf("codec %q, want SNAPPY", js.Codec)
	}
	for r := range c.rows {
		var row []float32
		if c.list != "" {
			for _, v := range js.Columns[c.list][r].([]any) {
				row = append(row, float32(v.(float64)))
			}
		} else {
			for _, n := range names[len(names)-c.cols:] {
				row = append(row, float32(js.Columns[n][r].(float64)))
			}
		}
		if !slices.Equal(row, data[r*c.cols:(r+1)*c.cols]) {
			t.Fatalf("JavaScript reader: row %d is %v, want %v", r, row, data[r*c.cols:(r+1)*c.cols])
		}
		if c.idName != "" && js.Columns[c.idName][r] != ids[r] {
			t.Fatalf("JavaScript reader: row %d id %q, want %q", r, js.Columns[c.idName][r], ids[r])
		}
	}
}

// TestWriterFailureLeavesNothing: after rows in several row groups, a
// failed write, Abort, or a schema error leaves no file and no temporary
// file; the previous file stays.
func TestWriterFailureLeavesNothing(t *testing.T) {
	defer func(g int) { groupValues = g }(groupValues)
	groupValues = 8
	for _, ext := range []string{".parquet", ".arrow"} {
		dir := t.TempDir()
		p := filepath.Join(dir, "out"+ext)
		must(t, os.WriteFile(p, []byte("previous"), 0o644))
		w, err := dataset.NewWriterWith(p, 2, dataset.WriterOptions{IDName: "id"})
		must(t, err)
		for range 10 {
			must(t, w.WriteIDs([]float32{1, 2, 3, 4}, []string{"a", "b"}))
		}
		err = w.WriteIDs([]float32{1, 2, 3}, []string{"a", "b"})
		wantErr(t, err, "write "+p+": 3 values are not whole rows of 2")
		if err2 := w.Close(); err2 != err {
			t.Errorf("Close after a failed write: %v", err2)
		}
		checkFiles(t, dir, "out"+ext)
		w, err = dataset.NewWriterWith(p, 2, dataset.WriterOptions{ListColumn: "v"})
		must(t, err)
		must(t, w.Write([]float32{1, 2, 3, 4, 5, 6}))
		w.Abort()
		checkFiles(t, dir, "out"+ext)
		_, err = dataset.NewWriterWith(p, 2, dataset.WriterOptions{Header: []string{"id", "x"}, IDName: "id"})
		wantErr(t, err, "write "+p+`: the column name "id" is given twice`)
		checkFiles(t, dir, "out"+ext)
		if b, _ := os.ReadFile(p); string(b) != "previous" {
			t.Errorf("the previous file changed: %q", b)
		}
	}
}

// checkFiles fails unless dir holds exactly the named files.
func checkFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	must(t, err)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, names) {
		t.Fatalf("%s holds %q, want %q", dir, got, names)
	}
}

// TestSaveColumnar: dataset.Save writes Parquet and Arrow once the formats
// are registered, and the messages list their extensions.
func TestSaveColumnar(t *testing.T) {
	dir := t.TempDir()
	data := []float32{1, 2.5, -3, 4}
	for _, name := range []string{"o.parquet", "o.arrow"} {
		p := filepath.Join(dir, name)
		must(t, dataset.Save(p, []string{"x", "y"}, 2, 2, data))
		tb, err := dataset.Load(p, dataset.LoadOptions{})
		must(t, err)
		if !slices.Equal(tb.Data, data) || !slices.Equal(tb.Header, []string{"x", "y"}) {
			t.Errorf("%s: read back %v %q", name, tb.Data, tb.Header)
		}
	}
	p := filepath.Join(dir, "o.txt")
	_, err := dataset.NewWriter(p, 2, nil)
	wantErr(t, err, "write "+p+`: unsupported output type ".txt": use .npy, .csv, .parquet, .parq, .arrow, .feather or .ipc`)
}

// TestWriterRowGroups: the default row groups hold about 8 MiB of values,
// whatever the number of rows.
func TestWriterRowGroups(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.parquet")
	const cols = 64
	group := groupValues / cols // 32768 rows
	w, err := dataset.NewWriter(p, cols, nil)
	must(t, err)
	chunk := make([]float32, 1000*cols)
	for range 70 { // 70,000 rows: 3 groups
		must(t, w.Write(chunk))
	}
	must(t, w.Close())
	f, err := os.Open(p)
	must(t, err)
	defer f.Close()
	src, err := openColumnar(f, false)
	must(t, err)
	defer src.close()
	if got, want := src.blockRows(), []int64{int64(group), int64(group), 70000 - 2*int64(group)}; !slices.Equal(got, want) {
		t.Errorf("row groups %v, want %v", got, want)
	}
}
