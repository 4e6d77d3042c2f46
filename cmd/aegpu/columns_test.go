package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/dataset"
)

// TestParquetColumns: --columns selects a Parquet file's features, the
// model records the selection, and encode reads the same columns of new
// data by default (the file's int64 id column is left out again).
func TestParquetColumns(t *testing.T) {
	dir := t.TempDir()
	grid := filepath.Join("..", "..", "dataset", "testdata", "columnar", "grid.parquet") // f_0..f_3 float32, id int64
	model := filepath.Join(dir, "m")
	if _, err := run(t, "train", "--data", grid, "--columns", "f_*", "--epochs", "1", "--layers", "4,3", "--out", model, "-q"); err != nil {
		t.Fatal(err)
	}
	cfg, err := autoencoder.ReadConfig(model)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Data.Cols != 4 || !slices.Equal(cfg.Data.Columns, []string{"f_*"}) {
		t.Fatalf("config.json data: %d columns, columns %q; want 4 and [f_*]", cfg.Data.Cols, cfg.Data.Columns)
	}
	codes := filepath.Join(dir, "z.npy")
	if _, err := run(t, "encode", "--model", model, "--data", grid, "--out", codes, "-q"); err != nil {
		t.Fatalf("encode with the recorded columns: %v", err)
	}
	z, err := dataset.Load(codes, dataset.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if z.Rows != 100 || z.Cols != 3 {
		t.Errorf("codes are %d×%d, want 100×3", z.Rows, z.Cols)
	}
	// Naming the id column as a feature too gives 5 columns, which the
	// 4-input model refuses, saying both widths.
	_, err = run(t, "encode", "--model", model, "--data", grid, "--columns", "f_*,id", "--out", codes, "-q")
	if err == nil || !strings.Contains(err.Error(), "5 columns") || !strings.Contains(err.Error(), "expects 4") {
		t.Errorf("encode of 5 selected columns with a 4-input model: %v", err)
	}
}

// TestParquetStreamedTrain: train --stream reads Parquet and Arrow files
// (a glob across compressions here) with --columns, names the columns it
// leaves out, records the selection, and resumes reading the same
// columns; a CSV file is refused with the formats that stream.
func TestParquetStreamedTrain(t *testing.T) {
	dir := t.TempDir()
	grids := filepath.Join("..", "..", "dataset", "testdata", "columnar", "grid_*.parquet") // 4 files of 100 rows
	model := filepath.Join(dir, "m")
	if _, err := run(t, "train", "--data", grids, "--stream", "--chunk-rows", "24", "--epochs", "1", "--layers", "5,3", "--out", model, "-q"); err != nil {
		t.Fatal(err)
	}
	// Without --columns every numeric column is a feature: f_0…f_3 and id.
	if cfg, err := autoencoder.ReadConfig(model); err != nil || cfg.Data.Cols != 5 || cfg.Data.Rows != 400 || cfg.Data.Columns != nil {
		t.Fatalf("config.json without --columns: %v %+v", err, cfg.Data)
	}
	model = filepath.Join(dir, "m2")
	if _, err := run(t, "train", "--data", grids, "--stream", "--columns", "f_*", "--chunk-rows", "24", "--epochs", "1", "--layers", "4,3", "--out", model, "-q"); err != nil {
		t.Fatal(err)
	}
	cfg, err := autoencoder.ReadConfig(model)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Data.Streamed || cfg.Data.Rows != 400 || cfg.Data.Cols != 4 || !slices.Equal(cfg.Data.Columns, []string{"f_*"}) {
		t.Fatalf("config.json data: %+v", cfg.Data)
	}
	if _, err := run(t, "train", "--data", grids, "--resume", model, "--epochs", "2", "-q"); err != nil {
		t.Fatalf("resume of a streamed Parquet run: %v", err)
	}
	if cfg, err = autoencoder.ReadConfig(model); err != nil || cfg.Train.Epochs != 2 {
		t.Fatalf("after the resume: %v, %d epochs", err, cfg.Train.Epochs)
	}
	csv := filepath.Join(dir, "x.csv")
	if err := dataset.Save(csv, nil, 3, 2, []float32{1, 2, 3, 4, 5, 6}); err != nil {
		t.Fatal(err)
	}
	_, err = run(t, "train", "--data", csv, "--stream", "--layers", "2,1", "--out", filepath.Join(dir, "m3"), "-q")
	if err == nil || !strings.Contains(err.Error(), "uncompressed .npy, Parquet and Arrow") {
		t.Errorf("train --stream on CSV: %v", err)
	}
}
