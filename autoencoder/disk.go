package autoencoder

import (
	"fmt"
	"sort"

	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
)

// MaxStreamValRows caps the validation rows a streamed run holds in memory.
const MaxStreamValRows = 50000

// DiskSource trains on data too large for memory (uncompressed .npy,
// Parquet and Arrow files): the rows are cut into chunks of Chunk rows;
// every epoch visits the chunks in a seeded random order and each chunk's
// training rows in a seeded random order, so memory holds one chunk (plus
// the validation rows), whatever the data's size. Rows are assigned to
// validation by a seeded draw per row (about valSplit of them, at most
// MaxStreamValRows), fixed for the run.
//
// A Parquet row group (Arrow record batch) is decoded from its start, so
// when the data has such blocks the chunks are grouped by the block that
// holds their first row: an epoch visits the groups in a seeded random
// order and a group's chunks in order, each read continuing the last. A
// row group is then decoded about once per epoch instead of once per
// chunk that starts inside it.
type DiskSource struct {
	st         *dataset.Reader
	cols       int
	total      int64 // rows in the data
	chunk      int
	scaler     dataset.Scaler
	seed       uint64
	valFrac    float64
	trainCount []int // per chunk
	nTrain     int
	// groups[g] is the first chunk of group g of chunks read in order
	// (Parquet, Arrow), with a final entry of the number of chunks; nil
	// for .npy data, whose chunks are shuffled singly.
	groups []int

	epoch int
	order []int // chunk order of the current epoch
	ci    int   // position in order of the loaded chunk
	buf   []float32
	rows  int // training rows in buf
	pos   int
	raw   []float32
	u     []float32
	isVal []bool
}

// StreamPrep is what one pass over streamed data finds: the fitted
// scaler, the validation rows (scaled), the data's fingerprint and size.
type StreamPrep struct {
	Scaler      dataset.Scaler
	Val         []float32
	Fingerprint string
	Rows        int64
	TrainRows   int
}

// OpenDiskSource opens paths (uncompressed .npy, Parquet or Arrow files,
// read as one dataset; columns selects the features of Parquet and Arrow
// files as dataset.ReaderOptions.Columns does) for training with the given
// chunk size, making one pass over the data to fit
// a scaler of kind scale on the training rows (or to use scaler when its
// Kind is set, when resuming), collect the validation rows and fingerprint
// the data.
func OpenDiskSource(paths, columns []string, chunk int, cfg TrainConfig, scale string, scaler dataset.Scaler) (*DiskSource, StreamPrep, error) {
	st, err := dataset.OpenReader(paths, dataset.ReaderOptions{Columns: columns})
	if err != nil {
		return nil, StreamPrep{}, err
	}
	s := &DiskSource{st: st, cols: st.Cols(), total: st.Rows(), chunk: max(chunk, 1), seed: cfg.Seed}
	fail := func(err error) (*DiskSource, StreamPrep, error) {
		st.Close()
		return nil, StreamPrep{}, err
	}
	if s.total < 2 {
		return fail(fmt.Errorf("streamed training needs at least 2 rows; %v has %d", paths, s.total))
	}
	if _, err := st.ReadRows(0, make([]float32, s.cols)); err != nil {
		return fail(fmt.Errorf("streamed training reads uncompressed .npy, Parquet and Arrow files (random access): %w", err))
	}
	s.valFrac = cfg.ValSplit
	if want := cfg.ValSplit * float64(s.total); want > MaxStreamValRows {
		s.valFrac = MaxStreamValRows / float64(s.total)
	}
	nChunks := 0
	if s.total > 0 {
		nChunks = int((s.total-1)/int64(s.chunk) + 1) // no overflow for a chunk near the largest int
	}
	s.trainCount = make([]int, nChunks)
	s.groups = chunkGroups(st.BlockStarts(), s.chunk, nChunks)
	var fit *dataset.ScalerFit
	if scaler.Kind == "" {
		if fit, err = dataset.NewScalerFit(scale, s.cols); err != nil {
			return fail(err)
		}
	}
	fp := newFingerprint()
	var val []float32
	for c := range nChunks {
		raw, isVal, err := s.readChunk(c)
		if err != nil {
			return fail(err)
		}
		fp.add(raw)
		for r := range len(raw) / s.cols {
			row := raw[r*s.cols : (r+1)*s.cols]
			if isVal[r] {
				val = append(val, row...)
				continue
			}
			s.trainCount[c]++
			if fit != nil {
				if err := fit.Add(row); err != nil {
					return fail(fmt.Errorf("%v: %w", paths, err))
				}
			}
		}
		s.nTrain += s.trainCount[c]
	}
	if s.nTrain == 0 {
		return fail(fmt.Errorf("no training rows left after the validation split"))
	}
	if fit != nil {
		if scaler, err = fit.Scaler(); err != nil {
			return fail(err)
		}
	}
	s.scaler = scaler
	if err := scaler.Apply(val, s.cols); err != nil {
		return fail(err)
	}
	return s, StreamPrep{Scaler: scaler, Val: val, Fingerprint: fp.String(), Rows: s.total, TrainRows: s.nTrain}, nil
}

// readChunk reads chunk c's raw rows and which of them are validation rows.
func (s *DiskSource) readChunk(c int) ([]float32, []bool, error) {
	lo := int64(c) * int64(s.chunk)
	n := int(min(int64(s.chunk), s.total-lo))
	s.raw = growF32(s.raw, n*s.cols)
	got, err := s.st.ReadRows(lo, s.raw)
	if err != nil {
		return nil, nil, err
	}
	if got != n {
		return nil, nil, fmt.Errorf("chunk %d: read %d of %d rows", c, got, n)
	}
	s.u = growF32(s.u, n)
	engine.FillUniform(s.u, s.seed, engine.StreamSplit, uint64(lo), 0, 1)
	if cap(s.isVal) < n {
		s.isVal = make([]bool, n)
	}
	isVal := s.isVal[:n]
	for r := range n {
		isVal[r] = float64(s.u[r]) < s.valFrac
	}
	return s.raw, isVal, nil
}

func growF32(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// Rows is the number of training rows.
func (s *DiskSource) Rows() int { return s.nTrain }

// Cols is the row width.
func (s *DiskSource) Cols() int { return s.cols }

// Close closes the files.
func (s *DiskSource) Close() error { return s.st.Close() }

// Epoch starts epoch e at row skip of its order.
func (s *DiskSource) Epoch(e, skip int) error {
	s.epoch = e
	s.order = s.chunkOrder(e)
	s.ci, s.rows, s.pos = -1, 0, 0
	for skip > 0 {
		s.ci++
		if s.ci >= len(s.order) {
			return fmt.Errorf("resume position %d is past the epoch's %d training rows", skip, s.nTrain)
		}
		if k := s.trainCount[s.order[s.ci]]; skip >= k {
			skip -= k
			continue
		}
		if err := s.load(s.order[s.ci]); err != nil {
			return err
		}
		s.pos, skip = skip, 0
	}
	return nil
}

// chunkGroups groups the chunks by the block holding their first row
// (blocks start at the rows starts): it returns the first chunk of each
// group and then nChunks, or nil when there are no blocks.
func chunkGroups(starts []int64, chunk, nChunks int) []int {
	if len(starts) == 0 {
		return nil
	}
	var groups []int
	b := -1 // block of the last chunk's first row
	for c := range nChunks {
		row := int64(c) * int64(chunk)
		nb := sort.Search(len(starts), func(i int) bool { return starts[i] > row }) - 1
		if c == 0 || nb != b {
			groups = append(groups, c)
		}
		b = nb
	}
	return append(groups, nChunks)
}

// chunkOrder is epoch e's order of the chunks: a seeded permutation of
// the chunks, or of the groups with each group's chunks in order.
func (s *DiskSource) chunkOrder(e int) []int {
	rng := engine.NewRand(s.seed, engine.StreamChunk+uint64(e)<<24)
	if s.groups == nil {
		return rng.Perm(len(s.trainCount))
	}
	order := make([]int, 0, len(s.trainCount))
	for _, g := range rng.Perm(len(s.groups) - 1) {
		for c := s.groups[g]; c < s.groups[g+1]; c++ {
			order = append(order, c)
		}
	}
	return order
}

// load reads chunk c's training rows, scaled and shuffled, into buf.
func (s *DiskSource) load(c int) error {
	raw, isVal, err := s.readChunk(c)
	if err != nil {
		return err
	}
	s.buf = growF32(s.buf, s.trainCount[c]*s.cols)
	k := 0
	perm := engine.NewRand(s.seed, engine.StreamChunk+uint64(s.epoch)<<24+uint64(c)+1).Perm(s.trainCount[c])
	for r := range len(isVal) {
		if isVal[r] {
			continue
		}
		d := perm[k]
		copy(s.buf[d*s.cols:(d+1)*s.cols], raw[r*s.cols:(r+1)*s.cols])
		k++
	}
	s.rows, s.pos = k, 0
	return s.scaler.Apply(s.buf, s.cols)
}

// Next copies the epoch's next rows into dst, loading chunks as needed.
func (s *DiskSource) Next(dst []float32) error {
	c := s.cols
	for len(dst) > 0 {
		if s.pos == s.rows {
			s.ci++
			if s.ci >= len(s.order) {
				return fmt.Errorf("internal: batch past the epoch's %d training rows", s.nTrain)
			}
			if err := s.load(s.order[s.ci]); err != nil {
				return err
			}
			continue
		}
		n := min(len(dst)/c, s.rows-s.pos)
		copy(dst, s.buf[s.pos*c:(s.pos+n)*c])
		dst = dst[n*c:]
		s.pos += n
	}
	return nil
}

// Skip passes over the epoch's next rows (another rank's share of a
// batch): a chunk skipped whole is not read.
func (s *DiskSource) Skip(rows int) error {
	for rows > 0 {
		if s.pos == s.rows {
			s.ci++
			if s.ci >= len(s.order) {
				return fmt.Errorf("internal: skip past the epoch's %d training rows", s.nTrain)
			}
			if k := s.trainCount[s.order[s.ci]]; rows >= k {
				rows -= k
				s.rows, s.pos = k, k // passed over, unread
				continue
			}
			if err := s.load(s.order[s.ci]); err != nil {
				return err
			}
			continue
		}
		k := min(rows, s.rows-s.pos)
		s.pos += k
		rows -= k
	}
	return nil
}
