//go:build linux

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
)

// TestEncodeParquetLargerThanMemoryLimit is TestEncodeLargerThanMemoryLimit
// for Parquet with an id column: a 512 MiB Parquet file (64 float32
// features, row groups of 2 Mi values, plus a text id per row) is encoded
// by the real binary under GOMEMLIMIT=64MiB with its ids copied beside the
// codes; peak resident memory must stay far below the file's size, and the
// codes and ids must be the in-memory result's.
func TestEncodeParquetLargerThanMemoryLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 512 MB file and builds the binary")
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	const cols, rows, chunk = 64, 2 << 20, 1 << 16 // 2 Mi rows × 64 float32 = 512 MiB of features
	model := trainTiny(t, dir, cols)
	big := filepath.Join(dir, "big.parquet")
	writeBigParquet(t, big, rows, cols, chunk)
	out := filepath.Join(dir, "codes.npy")
	_, stderr, peak, err := runMeasured(t, []string{"GOMEMLIMIT=64MiB"}, bin, "encode", "--model", model, "--data", big,
		"--id-column", "key", "--out", out, "--chunk", "8192", "--device", "cpu", "--quiet")
	if err != nil {
		t.Fatalf("encode: %v\n%s", err, stderr)
	}
	st, _ := os.Stat(big)
	t.Logf("peak RSS %.1f MiB encoding a %d MiB Parquet file", float64(peak)/(1<<20), st.Size()>>20)
	// As for .npy: chunks of 8192 rows, Parquet pages and one row group's
	// columns in flight; 128 MiB is a quarter of the file.
	if peak > 128<<20 {
		t.Errorf("peak RSS %d MiB, want < 128 MiB for a 512 MiB input", peak>>20)
	}
	z, err := dataset.Load(out, dataset.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if z.Rows != rows || z.Cols != 3 {
		t.Fatalf("codes %d×%d, want %d×3", z.Rows, z.Cols, rows)
	}
	idb, err := os.ReadFile(dataset.IDsPath(out))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(idb), "\n"), "\n")
	if len(lines) != rows+1 || lines[0] != "key" || lines[1] != "k0" || lines[rows] != "k"+strconv.Itoa(rows-1) {
		t.Fatalf("ids file: %d lines, %q %q … %q", len(lines), lines[0], lines[1], lines[len(lines)-1])
	}
	x := make([]float32, chunk*cols)
	for i := range rows / chunk {
		if i%8 != 0 && i != rows/chunk-1 {
			continue // every 8th chunk and the last
		}
		engine.FillUniform(x, 17, 1, uint64(i*len(x)), 0, 1)
		want := referenceCodes(t, model, x, cols)
		got := z.Data[i*chunk*3 : (i+1)*chunk*3]
		for j := range want {
			if got[j] != want[j] {
				t.Fatalf("chunk %d value %d: from Parquet %v, in-memory %v", i, j, got[j], want[j])
			}
		}
		if id := lines[1+i*chunk]; id != "k"+strconv.Itoa(i*chunk) {
			t.Fatalf("row %d has id %q", i*chunk, id)
		}
	}
}

// writeBigParquet writes rows×cols values of the uniform stream of seed 17
// (chunk rows at a time, as Parquet row groups of the writer's size) with
// a text id column "key" holding k0, k1, ….
func writeBigParquet(t *testing.T, path string, rows, cols, chunk int) {
	t.Helper()
	w, err := dataset.NewWriterWith(path, cols, dataset.WriterOptions{IDName: "key"})
	if err != nil {
		t.Fatal(err)
	}
	buf, ids := make([]float32, chunk*cols), make([]string, chunk)
	for i := range rows / chunk {
		engine.FillUniform(buf, 17, 1, uint64(i*len(buf)), 0, 1)
		for r := range ids {
			ids[r] = "k" + strconv.Itoa(i*chunk+r)
		}
		if err := w.WriteIDs(buf, ids); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestTrainStreamsParquetUnderMemoryLimit is TestTrainStreamsUnderMemoryLimit
// for a 512 MiB Parquet file (row groups of 32 768 rows, chunks of 16 384:
// two chunks per row group, read in order): one epoch under
// GOMEMLIMIT=64MiB, the text id column left out of the features and named.
func TestTrainStreamsParquetUnderMemoryLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 512 MB file and builds the binary")
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	const cols, rows, chunk = 64, 2 << 20, 1 << 16
	big := filepath.Join(dir, "big.parquet")
	writeBigParquet(t, big, rows, cols, chunk)
	model := filepath.Join(dir, "m")
	out, stderr, peak, err := runMeasured(t, []string{"GOMEMLIMIT=64MiB"}, bin, "train", "--data", big, "--stream", "--chunk-rows", "16384", "--layers", "64,16,4", "--epochs", "1",
		"--batch", "1024", "--val-split", "0.005", "--out", model, "--device", "cpu", "--json")
	if err != nil {
		t.Fatalf("train --stream: %v\n%s%s", err, out, stderr)
	}
	st, _ := os.Stat(big)
	t.Logf("peak RSS %.1f MiB training on a %d MiB Parquet file", float64(peak)/(1<<20), st.Size()>>20)
	// Two 4 MiB chunk buffers, ~10 000 validation rows (2.5 MiB), the
	// Parquet pages of a batch and the model: 128 MiB is a quarter of the file.
	if peak > 128<<20 {
		t.Errorf("peak RSS %d MiB, want < 128 MiB for a 512 MiB input", peak>>20)
	}
	if !strings.Contains(string(stderr), "left out 1 column that cannot be features: key") {
		t.Errorf("the id column is not named as left out:\n%s", stderr)
	}
	var sum map[string]any
	if err := json.Unmarshal(out, &sum); err != nil || sum["val_loss"] == nil || sum["stop_reason"] != "epochs" {
		t.Errorf("summary %s (%v)", out, err)
	}
}
