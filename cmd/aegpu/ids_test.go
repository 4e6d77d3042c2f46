package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aegpu/aegpu/dataset"
)

// TestRowIDs: --id-column and --with-index copy each row's identity into
// encode's and score's outputs, in every format, so the results join back
// to the source; the codes are those of a run without ids.
func TestRowIDs(t *testing.T) {
	dir := t.TempDir()
	grid := filepath.Join("..", "..", "dataset", "testdata", "columnar", "grid.parquet") // ids r*10
	model := filepath.Join(dir, "m")
	if _, err := run(t, "train", "--data", grid, "--columns", "f_*", "--epochs", "1", "--layers", "4,3", "--out", model, "-q"); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "z.npy")
	if _, err := run(t, "encode", "--model", model, "--data", grid, "--out", plain, "-q"); err != nil {
		t.Fatal(err)
	}
	want, err := dataset.Load(plain, dataset.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantIDs := make([]string, 100)
	for r := range wantIDs {
		wantIDs[r] = strconv.Itoa(r * 10)
	}

	// Codes with the source's ids, to Parquet, read back by id column.
	zp := filepath.Join(dir, "z.parquet")
	if _, err := run(t, "encode", "--model", model, "--data", grid, "--id-column", "id", "--out", zp, "--chunk", "7", "-q"); err != nil {
		t.Fatal(err)
	}
	got, err := dataset.Load(zp, dataset.LoadOptions{IDColumn: "id"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.IDs, wantIDs) || !slices.Equal(got.Data, want.Data) || !slices.Equal(got.Header, []string{"z0", "z1", "z2"}) {
		t.Errorf("z.parquet: ids %v…, header %v; codes equal to the run without ids: %v", got.IDs[:3], got.Header, slices.Equal(got.Data, want.Data))
	}

	// Row numbers beside .npy codes: a z2.ids.csv next to z2.npy.
	zn := filepath.Join(dir, "z2.npy")
	if _, err := run(t, "encode", "--model", model, "--data", grid, "--with-index", "--out", zn, "-q"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "z2.ids.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 101 || lines[0] != "row" || lines[1] != "0" || lines[100] != "99" {
		t.Errorf("z2.ids.csv: %d lines, first %q %q, last %q", len(lines), lines[0], lines[1], lines[len(lines)-1])
	}

	// score (in memory) to CSV: the id leads each line.
	sc := filepath.Join(dir, "s.csv")
	if _, err := run(t, "score", "--model", model, "--data", grid, "--id-column", "id", "--out", sc, "--threshold", "0.5", "-q"); err != nil {
		t.Fatal(err)
	}
	b, err = os.ReadFile(sc)
	if err != nil {
		t.Fatal(err)
	}
	lines = strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 101 || lines[0] != "id,score,flag" || !strings.HasPrefix(lines[2], "10,") {
		t.Errorf("s.csv: %d lines, %q, %q", len(lines), lines[0], lines[2])
	}

	// Row numbers would not join back once --nan skip drops rows.
	if _, err := run(t, "encode", "--model", model, "--data", grid, "--with-index", "--nan", "skip", "--out", zn, "-q"); err == nil || !strings.Contains(err.Error(), "--with-index") {
		t.Errorf("--with-index with --nan skip: %v", err)
	}
}

// TestCSVRowIDs: --id-column names a column of a CSV file's header, which
// is left out of the features and copied into encode's (streamed) and
// score's (in memory) outputs; the codes are those of the same data
// without the column.
func TestCSVRowIDs(t *testing.T) {
	dir := t.TempDir()
	const rows = 50
	var withID, plain strings.Builder
	withID.WriteString("a,name,b,c\n")
	plain.WriteString("a,b,c\n")
	for r := range rows {
		a, b, c := float64(r%7)/7, float64(r%5)/5, float64(r%3)/3
		fmt.Fprintf(&withID, "%g,\"user %d\",%g,%g\n", a, r, b, c)
		fmt.Fprintf(&plain, "%g,%g,%g\n", a, b, c)
	}
	src, ref := filepath.Join(dir, "x.csv"), filepath.Join(dir, "plain.csv")
	if err := os.WriteFile(src, []byte(withID.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ref, []byte(plain.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "m")
	if _, err := run(t, "train", "--data", ref, "--epochs", "1", "--layers", "3,2", "--out", model, "-q"); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "want.npy")
	if _, err := run(t, "encode", "--model", model, "--data", ref, "--out", want, "-q"); err != nil {
		t.Fatal(err)
	}
	wz, err := dataset.Load(want, dataset.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantIDs := make([]string, rows)
	for r := range wantIDs {
		wantIDs[r] = "user " + strconv.Itoa(r)
	}
	zp := filepath.Join(dir, "z.parquet")
	if _, err := run(t, "encode", "--model", model, "--data", src, "--id-column", "name", "--out", zp, "--chunk", "7", "-q"); err != nil {
		t.Fatal(err)
	}
	got, err := dataset.Load(zp, dataset.LoadOptions{IDColumn: "name"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.IDs, wantIDs) || !slices.Equal(got.Data, wz.Data) {
		t.Errorf("z.parquet: ids %q…; codes equal to those without the id column: %v", got.IDs[:3], slices.Equal(got.Data, wz.Data))
	}
	sc := filepath.Join(dir, "s.csv")
	if _, err := run(t, "score", "--model", model, "--data", src, "--id-column", "name", "--out", sc, "--threshold", "0.5", "-q"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(sc)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != rows+1 || lines[0] != "name,score,flag" || !strings.HasPrefix(lines[2], "user 1,") {
		t.Errorf("s.csv: %d lines, %q, %q", len(lines), lines[0], lines[2])
	}
	// A name the header lacks is refused, naming the file and the columns.
	_, err = run(t, "encode", "--model", model, "--data", src, "--id-column", "nope", "--out", zp, "-q")
	if err == nil || !strings.Contains(err.Error(), src) || !strings.Contains(err.Error(), `no id column "nope"`) {
		t.Errorf("--id-column nope: %v", err)
	}
}
