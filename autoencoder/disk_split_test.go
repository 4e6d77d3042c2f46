package autoencoder

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/aegpu/aegpu/dataset"
)

// wantChunkedFingerprint is the chunked fingerprint computed the long
// way: FNV-1a over each chunk's float32 bits, then FNV-1a over those
// hashes (8 bytes little-endian each, in order).
func wantChunkedFingerprint(x []float32, cols, chunk int) string {
	outer := fnv.New64a()
	for lo := 0; lo < len(x); lo += chunk * cols {
		inner := fnv.New64a()
		for _, v := range x[lo:min(lo+chunk*cols, len(x))] {
			inner.Write(binary.LittleEndian.AppendUint32(nil, math.Float32bits(v)))
		}
		outer.Write(binary.LittleEndian.AppendUint64(nil, inner.Sum64()))
	}
	return fmt.Sprintf("fnv1a64c:%016x", outer.Sum64())
}

// openSplit opens the disk source on every rank of an in-process job of
// size ranks, its preparing pass split over them.
func openSplit(t *testing.T, size int, paths []string, chunk int, cfg TrainConfig, scale string) ([]*DiskSource, []StreamPrep, []error) {
	t.Helper()
	job := newLocalJob(size)
	srcs, preps, errs := make([]*DiskSource, size), make([]StreamPrep, size), make([]error, size)
	var wg sync.WaitGroup
	for r := range size {
		wg.Add(1)
		go func() {
			defer wg.Done()
			srcs[r], preps[r], errs[r] = openDiskSource(paths, nil, chunk, cfg, scale, dataset.Scaler{}, diskPass{job: localRank{job, r}})
		}()
	}
	wg.Wait()
	return srcs, preps, errs
}

// TestDiskPassSplitOverRanks: a streamed run's preparing pass split over
// 2, 3, 5 and 14 ranks (13 chunks: with 14, one rank reads none) gives
// every rank what one process finds: the same
// fingerprint, row counts per chunk and validation rows bit for bit, and
// the scaler within one float32 ulp (the statistics merge in another
// order); each rank reads only its range of chunks, and together they read
// the data once. The legacy fingerprint is the whole data's, as runs saved
// before chunked fingerprints carry.
func TestDiskPassSplitOverRanks(t *testing.T) {
	const rows, cols, chunk = 203, 3, 16 // 13 chunks, the last of 11 rows
	paths, x := writeParts(t, t.TempDir(), rows, cols)
	cfg := DefaultTrainConfig()
	cfg.ValSplit = 0.2
	for _, scale := range []string{dataset.ScaleMinMax, dataset.ScaleStandard} {
		one, want, err := OpenDiskSource(paths, nil, chunk, cfg, scale, dataset.Scaler{})
		must(t, err)
		one.Close()
		if one.prepRows != rows {
			t.Fatalf("one process read %d rows in its pass, want %d", one.prepRows, rows)
		}
		for _, size := range []int{2, 3, 5, 14} {
			srcs, preps, errs := openSplit(t, size, paths, chunk, cfg, scale)
			read := int64(0)
			for r, src := range srcs {
				if errs[r] != nil {
					t.Fatalf("%s, %d ranks: rank %d: %v", scale, size, r, errs[r])
				}
				defer src.Close()
				p := preps[r]
				if p.Fingerprint != want.Fingerprint || p.Rows != want.Rows || p.TrainRows != want.TrainRows ||
					!reflect.DeepEqual(src.trainCount, one.trainCount) || !reflect.DeepEqual(p.Val, want.Val) {
					t.Errorf("%s, %d ranks: rank %d found %s, %d rows (%d training, per chunk %v), %d validation values; one process %s, %d (%d, %v), %d",
						scale, size, r, p.Fingerprint, p.Rows, p.TrainRows, src.trainCount, len(p.Val), want.Fingerprint, want.Rows, want.TrainRows, one.trainCount, len(want.Val))
				}
				for c := range cols {
					// Tolerance: one float32 ulp (1.2e-7 relative).
					if d := math.Abs(float64(p.Scaler.Scale[c]-want.Scaler.Scale[c])) / math.Abs(float64(want.Scaler.Scale[c])); d > 1.2e-7 {
						t.Errorf("%s, %d ranks: rank %d: column %d's scale %v, one process %v", scale, size, r, c, p.Scaler.Scale[c], want.Scaler.Scale[c])
					}
					if d := math.Abs(float64(p.Scaler.Offset[c] - want.Scaler.Offset[c])); d > 1.2e-7*math.Max(math.Abs(float64(want.Scaler.Offset[c])), 1) {
						t.Errorf("%s, %d ranks: rank %d: column %d's offset %v, one process %v", scale, size, r, c, p.Scaler.Offset[c], want.Scaler.Offset[c])
					}
				}
				// Rank r's range: chunks [13r/size, 13(r+1)/size).
				c0, c1 := 13*r/size, 13*(r+1)/size
				wantRows := int64(min(c1*chunk, rows) - min(c0*chunk, rows))
				if src.prepRows != wantRows {
					t.Errorf("%d ranks: rank %d read %d rows in the pass, want its %d (chunks %d–%d)", size, r, src.prepRows, wantRows, c0, c1)
				}
				read += src.prepRows
			}
			if read != rows {
				t.Errorf("%d ranks read %d rows together, want %d", size, read, rows)
			}
		}
	}
	_, legacy, err := openDiskSource(paths, nil, chunk, cfg, dataset.ScaleMinMax, dataset.Scaler{}, diskPass{legacy: true})
	must(t, err)
	if legacy.Fingerprint != Fingerprint(x) {
		t.Errorf("legacy fingerprint %s, want %s", legacy.Fingerprint, Fingerprint(x))
	}

	// A NaN in rank 1's chunks: every rank fails, naming rank 1, the row
	// and the column, instead of waiting for it.
	bad := append([]float32(nil), x...)
	bad[150*cols+2] = float32(math.NaN())
	dir := t.TempDir()
	path := dir + "/bad.npy"
	must(t, dataset.WriteNPY(path, rows, cols, bad))
	_, _, errs := openSplit(t, 2, []string{path}, chunk, cfg, dataset.ScaleMinMax)
	for r, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "rank 1 of 2") || !strings.Contains(err.Error(), "row 150") || !strings.Contains(err.Error(), "column 2") {
			t.Errorf("rank %d: %v; want rank 1's NaN at row 150, column 2", r, err)
		}
	}
}

// TestGatherBlobs: every rank gets every rank's bytes exactly, whatever
// their lengths (0, odd, across the windows of the sums).
func TestGatherBlobs(t *testing.T) {
	lens := []int{0, 1, 7, 2*blobWindow + 3, 2}
	job := newLocalJob(len(lens))
	got := make([][][]byte, len(lens))
	var wg sync.WaitGroup
	blob := func(r int) []byte {
		b := make([]byte, lens[r])
		for i := range b {
			b[i] = byte(i*31 + r*7 + i>>8)
		}
		return b
	}
	for r := range lens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if got[r], err = gatherBlobs(localRank{job, r}, blob(r)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for r := range lens {
		for s := range lens {
			if !reflect.DeepEqual(got[r][s], blob(s)) {
				t.Errorf("rank %d got rank %d's %d bytes wrong", r, s, lens[s])
			}
		}
	}
}
