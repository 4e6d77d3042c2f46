package autoencoder

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/aegpu/aegpu/dataset"
	_ "github.com/aegpu/aegpu/dataset/columnar" // Parquet and Arrow input
	"github.com/aegpu/aegpu/engine"
)

// The Parquet and Arrow fixtures hold the 100×4 table of grid.npy in the
// columns f_0…f_3 (plus an id column), in row groups (record batches) of
// 16 rows; they were written by other implementations (see
// dataset/testdata/columnar).
func columnarFixture(name string) string {
	return filepath.Join("..", "dataset", "testdata", "columnar", name)
}

var gridColumns = []string{"f_*"}

func TestChunkGroups(t *testing.T) {
	for _, c := range []struct {
		starts        []int64
		chunk, chunks int
		want          []int
	}{
		{nil, 16, 7, nil},
		{[]int64{0, 16, 32, 48, 64, 80, 96}, 16, 7, []int{0, 1, 2, 3, 4, 5, 6, 7}}, // one chunk per row group
		{[]int64{0, 16, 32, 48, 64, 80, 96}, 10, 10, []int{0, 2, 4, 5, 7, 8, 10}},  // chunks start at 0,10,…,90
		{[]int64{0, 16, 32, 48, 64, 80, 96}, 40, 3, []int{0, 1, 2, 3}},             // chunks span row groups
		{[]int64{0, 100}, 30, 7, []int{0, 4, 7}},                                   // two files of one row group each
	} {
		if got := chunkGroups(c.starts, c.chunk, c.chunks); !reflect.DeepEqual(got, c.want) {
			t.Errorf("chunkGroups(%v, %d, %d) = %v, want %v", c.starts, c.chunk, c.chunks, got, c.want)
		}
	}
}

// TestDiskSourceColumnar streams Parquet and Arrow files whose chunks do
// not line up with their row groups: every epoch yields each training row
// once (the same rows as the .npy twin, whose split is the same draw per
// row), a group's chunks come in order, and resuming at any position
// continues the epoch's order.
func TestDiskSourceColumnar(t *testing.T) {
	cfg := DefaultTrainConfig()
	cfg.ValSplit = 0.2
	const cols = 4
	for _, f := range []string{"grid.parquet", "grid.arrow", "grid_*.parquet"} {
		for _, chunk := range []int{10, 40} {
			paths := []string{columnarFixture(f)}
			ref, refPrep, err := OpenDiskSource([]string{columnarFixture("grid.npy")}, nil, chunk, cfg, dataset.ScaleMinMax, dataset.Scaler{})
			must(t, err)
			if f == "grid_*.parquet" { // four copies of the table, in four compressions
				ref.Close()
				npy := filepath.Join(t.TempDir(), "grid4.npy")
				grid, err := dataset.Load(columnarFixture("grid.npy"), dataset.LoadOptions{})
				must(t, err)
				four := slices.Concat(grid.Data, grid.Data, grid.Data, grid.Data)
				must(t, dataset.WriteNPY(npy, 400, cols, four))
				ref, refPrep, err = OpenDiskSource([]string{npy}, nil, chunk, cfg, dataset.ScaleMinMax, dataset.Scaler{})
				must(t, err)
			}
			src, prep, err := OpenDiskSource(paths, gridColumns, chunk, cfg, dataset.ScaleMinMax, dataset.Scaler{})
			must(t, err)
			if src.groups == nil {
				t.Fatalf("%s: no chunk groups for a file of row groups", f)
			}
			if prep.Fingerprint != refPrep.Fingerprint || prep.Rows != refPrep.Rows || !reflect.DeepEqual(prep.Val, refPrep.Val) || !reflect.DeepEqual(prep.Scaler, refPrep.Scaler) {
				t.Fatalf("%s chunk %d: the pass over the data differs from the .npy twin's", f, chunk)
			}
			for e := range 2 {
				must(t, src.Epoch(e, 0))
				must(t, ref.Epoch(e, 0))
				got, want := make([]float32, src.Rows()*cols), make([]float32, ref.Rows()*cols)
				must(t, src.Next(got))
				must(t, ref.Next(want))
				if !sameRows(got, want, cols) {
					t.Fatalf("%s chunk %d epoch %d: the training rows differ from the .npy twin's", f, chunk, e)
				}
				// A group's chunks in order.
				pos := make([]int, len(src.trainCount))
				for i, c := range src.order {
					pos[c] = i
				}
				for g := range len(src.groups) - 1 {
					for c := src.groups[g] + 1; c < src.groups[g+1]; c++ {
						if pos[c] != pos[c-1]+1 {
							t.Fatalf("%s chunk %d epoch %d: chunk %d is not read right after chunk %d of its row group", f, chunk, e, c, c-1)
						}
					}
				}
				for _, skip := range []int{1, chunk - 3, chunk + 5, src.Rows() - 1} {
					must(t, src.Epoch(e, skip))
					rest := make([]float32, (src.Rows()-skip)*cols)
					must(t, src.Next(rest))
					if !reflect.DeepEqual(rest, got[skip*cols:]) {
						t.Fatalf("%s chunk %d epoch %d: resumed at %d, the rows differ", f, chunk, e, skip)
					}
				}
			}
			src.Close()
			ref.Close()
		}
	}
}

// sameRows reports whether a and b hold the same rows of cols values, in
// any order.
func sameRows(a, b []float32, cols int) bool {
	if len(a) != len(b) {
		return false
	}
	count := map[string]int{}
	for r := 0; r < len(a); r += cols {
		count[fmt.Sprint(a[r:r+cols])]++
	}
	for r := 0; r < len(b); r += cols {
		count[fmt.Sprint(b[r:r+cols])]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return true
}

// TestStreamRunColumnar trains streamed runs on Parquet and Arrow files
// with chunks of one row group each: the chunks are then shuffled singly,
// as for .npy, so the run equals the streamed run on the .npy twin bit for
// bit. A run on unaligned chunks resumes bit for bit, reading its columns
// from config.json.
func TestStreamRunColumnar(t *testing.T) {
	dir := t.TempDir()
	opts := func(out string) FitOptions {
		cfg := DefaultTrainConfig()
		cfg.Epochs, cfg.Batch, cfg.LR = 3, 12, 3e-3
		return FitOptions{Source: "grid", Arch: Arch{Layers: []int{4, 3, 2}, Hidden: engine.Tanh, Output: engine.Sigmoid},
			Train: cfg, Scale: dataset.ScaleMinMax, Dir: out, Backend: cpu(t), Columns: gridColumns}
	}
	weights := func(r *Run) []float32 {
		w := make([]float32, r.Trainer.Model.Params.Len())
		must(t, r.Trainer.Model.Backend.Download(w, r.Trainer.Model.Params))
		return w
	}
	train := func(out string, paths []string, chunk int) []float32 {
		o := opts(filepath.Join(dir, out))
		if filepath.Ext(paths[0]) == ".npy" {
			o.Columns = nil
		}
		r, err := NewStreamRun(o, paths, chunk)
		must(t, err)
		defer r.Close()
		must(t, r.Train(context.Background()))
		return weights(r)
	}
	want := train("npy", []string{columnarFixture("grid.npy")}, 16)
	for _, f := range []string{"grid.parquet", "grid.arrow"} {
		if got := train(f, []string{columnarFixture(f)}, 16); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: the streamed run's weights differ from the .npy twin's", f)
		}
	}
	// Unaligned chunks: interrupted mid-epoch 2 and resumed.
	paths := []string{columnarFixture("grid.parquet")}
	full := train("full", paths, 10)
	o := opts(filepath.Join(dir, "cut"))
	ctx, stop := cancelAfter(10) // 80 training rows: 7 steps per epoch
	o.OnProgress = stop
	cut, err := NewStreamRun(o, paths, 10)
	must(t, err)
	cut.Trainer.ProgressEvery = 0
	if err := cut.Train(ctx); !IsInterrupted(err) {
		t.Fatalf("interrupted run: %v", err)
	}
	cut.Close()
	cfg, err := ReadConfig(filepath.Join(dir, "cut"))
	must(t, err)
	if !reflect.DeepEqual(cfg.Data.Columns, gridColumns) || !cfg.Data.Streamed {
		t.Fatalf("config.json data: %+v", cfg.Data)
	}
	res, err := ResumeStreamRun(filepath.Join(dir, "cut"), paths, cpu(t), 0, nil, nil)
	must(t, err)
	defer res.Close()
	must(t, res.Train(context.Background()))
	if got := weights(res); !reflect.DeepEqual(got, full) {
		t.Error("the resumed streamed Parquet run's weights differ from the uninterrupted run's")
	}
}
