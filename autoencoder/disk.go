package autoencoder

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"time"

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
	// prepRows and prepSecs are what the preparing pass read here and
	// how long it took (Run.StreamPass).
	prepRows int64
	prepSecs float64
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
	return openDiskSource(paths, columns, chunk, cfg, scale, scaler, diskPass{})
}

// diskPass says how a DiskSource's preparing pass runs: over every chunk
// in this process, or split over the ranks of job (each reads a
// contiguous range of the chunks, and the ranks exchange what they
// found); legacy computes the fingerprint of runs saved before chunked
// fingerprints (fnv1a64: over every value in order, which one process
// must read).
type diskPass struct {
	job    Collective
	legacy bool
}

// Fingerprints of streamed data. fnv1a64c is FNV-1a over the chunks'
// own FNV-1a hashes (8 bytes each, little-endian, in chunk order), so that
// ranks that read different chunks can compute it together; it depends
// on the chunk size, which a run records. fnv1a64 (the whole data in
// order, as Fingerprint) is what runs saved before it carry.
const (
	chunkedFingerprint = "fnv1a64c:"
	legacyFingerprint  = "fnv1a64:"
)

func openDiskSource(paths, columns []string, chunk int, cfg TrainConfig, scale string, scaler dataset.Scaler, pass diskPass) (*DiskSource, StreamPrep, error) {
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
	s.groups = chunkGroups(st.BlockStarts(), s.chunk, nChunks)
	var fit *dataset.ScalerFit
	if scaler.Kind == "" {
		if fit, err = dataset.NewScalerFit(scale, s.cols); err != nil {
			return fail(err)
		}
	}
	// This process's range of chunks: all of them, or its rank's share.
	c0, c1 := 0, nChunks
	if pass.job != nil && pass.job.Size() > 1 && !pass.legacy {
		r, n := pass.job.Rank(), pass.job.Size()
		c0, c1 = int(int64(nChunks)*int64(r)/int64(n)), int(int64(nChunks)*int64(r+1)/int64(n))
	}
	start := time.Now()
	defer func() { s.prepSecs = time.Since(start).Seconds() }()
	part := s.prepChunks(c0, c1, fit, pass.legacy)
	if c0 != 0 || c1 != nChunks {
		var err error
		if part, err = s.joinParts(pass.job, part, fit, nChunks); err != nil {
			return fail(err)
		}
	}
	if part.err != "" {
		return fail(fmt.Errorf("%v: %s", paths, part.err))
	}
	s.trainCount = part.trainCount
	for _, k := range s.trainCount {
		s.nTrain += k
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
	val := part.val
	if err := scaler.Apply(val, s.cols); err != nil {
		return fail(err)
	}
	return s, StreamPrep{Scaler: scaler, Val: val, Fingerprint: part.fingerprint, Rows: s.total, TrainRows: s.nTrain}, nil
}

// prepPart is what the preparing pass found in a range of chunks: each
// chunk's training rows and hash, the validation rows (raw, in order),
// the scaler's statistics (in the fit passed), or the first error.
type prepPart struct {
	trainCount  []int
	hashes      []uint64
	val         []float32
	fingerprint string // of the whole data, once known
	err         string
}

// prepChunks reads chunks [c0, c1): it counts their training rows, hashes
// them, collects their validation rows and feeds their training rows to
// fit (nil: the scaler is known). legacy fingerprints the data as runs
// saved before chunked fingerprints (then the range is every chunk). An
// error ends the pass and is returned in the part, so that a rank of a
// job still takes part in the exchange.
func (s *DiskSource) prepChunks(c0, c1 int, fit *dataset.ScalerFit, legacy bool) prepPart {
	p := prepPart{trainCount: make([]int, c1-c0), hashes: make([]uint64, c1-c0)}
	whole := newFingerprint()
	for c := c0; c < c1; c++ {
		raw, isVal, err := s.readChunk(c)
		if err != nil {
			p.err = err.Error()
			return p
		}
		s.prepRows += int64(len(raw) / s.cols)
		if legacy {
			whole.add(raw)
		}
		h := newFingerprint()
		h.add(raw)
		p.hashes[c-c0] = h.h.Sum64()
		for r := range len(raw) / s.cols {
			row := raw[r*s.cols : (r+1)*s.cols]
			if isVal[r] {
				p.val = append(p.val, row...)
				continue
			}
			p.trainCount[c-c0]++
			if fit == nil {
				continue
			}
			for j, v := range row {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					p.err = fmt.Sprintf("row %d (counted from 0 over the files), column %d: value is %v; the %s scaler cannot be fitted on it",
						int64(c)*int64(s.chunk)+int64(r), j, v, fit.Kind())
					return p
				}
			}
			if err := fit.Add(row); err != nil {
				p.err = err.Error()
				return p
			}
		}
	}
	if legacy {
		p.fingerprint = whole.String()
	} else {
		p.fingerprint = chunkHashes(p.hashes)
	}
	return p
}

// chunkHashes is the chunked fingerprint of the chunks' hashes.
func chunkHashes(hs []uint64) string {
	f := fnv.New64a()
	var b [8]byte
	for _, h := range hs {
		binary.LittleEndian.PutUint64(b[:], h)
		f.Write(b[:])
	}
	return fmt.Sprintf("%s%016x", chunkedFingerprint, f.Sum64())
}

// joinParts exchanges the ranks' parts of a preparing pass split over
// job (each rank mine, over its range of nChunks chunks, its statistics in
// fit) and returns the whole on every rank: the chunks' counts and hashes
// in order, the validation rows in order, the fit merged in rank order
// (the same on every rank), or the first rank's error naming it.
func (s *DiskSource) joinParts(job Collective, mine prepPart, fit *dataset.ScalerFit, nChunks int) (prepPart, error) {
	blob := binary.LittleEndian.AppendUint32(nil, uint32(len(mine.err)))
	blob = append(blob, mine.err...)
	blob = binary.LittleEndian.AppendUint64(blob, uint64(len(mine.trainCount)))
	for i, k := range mine.trainCount {
		blob = binary.LittleEndian.AppendUint64(blob, uint64(k))
		blob = binary.LittleEndian.AppendUint64(blob, mine.hashes[i])
	}
	if fit != nil {
		st, _ := fit.MarshalBinary()
		blob = binary.LittleEndian.AppendUint64(blob, uint64(len(st)))
		blob = append(blob, st...)
	}
	for _, v := range mine.val {
		blob = binary.LittleEndian.AppendUint32(blob, math.Float32bits(v))
	}
	blobs, err := gatherBlobs(job, blob)
	if err != nil {
		return prepPart{}, err
	}
	var whole prepPart
	var merged *dataset.ScalerFit
	for r, b := range blobs {
		bad := func(what string) (prepPart, error) {
			return prepPart{}, fmt.Errorf("the preparing pass: rank %d's part is malformed (%s)", r, what)
		}
		if len(b) < 4 || len(b) < 4+int(binary.LittleEndian.Uint32(b)) {
			return bad("error")
		}
		n := int(binary.LittleEndian.Uint32(b))
		if msg := string(b[4 : 4+n]); msg != "" && whole.err == "" {
			whole.err = fmt.Sprintf("rank %d of %d: %s", r, job.Size(), msg)
		}
		b = b[4+n:]
		if len(b) < 8 {
			return bad("chunks")
		}
		k := int(binary.LittleEndian.Uint64(b))
		b = b[8:]
		if k < 0 || len(b) < 16*k {
			return bad("chunks")
		}
		for i := range k {
			whole.trainCount = append(whole.trainCount, int(binary.LittleEndian.Uint64(b[16*i:])))
			whole.hashes = append(whole.hashes, binary.LittleEndian.Uint64(b[16*i+8:]))
		}
		b = b[16*k:]
		if fit != nil {
			if len(b) < 8 || len(b) < 8+int(binary.LittleEndian.Uint64(b)) {
				return bad("scaler")
			}
			n := int(binary.LittleEndian.Uint64(b))
			part, err := dataset.NewScalerFit(fit.Kind(), s.cols)
			if err != nil {
				return prepPart{}, err
			}
			if err := part.UnmarshalBinary(b[8 : 8+n]); err != nil {
				return bad(err.Error())
			}
			if merged == nil {
				merged = part
			} else if err := merged.Merge(part); err != nil {
				return prepPart{}, err
			}
			b = b[8+n:]
		}
		if len(b)%4 != 0 {
			return bad("validation rows")
		}
		for i := 0; i < len(b); i += 4 {
			whole.val = append(whole.val, math.Float32frombits(binary.LittleEndian.Uint32(b[i:])))
		}
	}
	if whole.err != "" {
		return whole, nil
	}
	if len(whole.trainCount) != nChunks {
		return prepPart{}, fmt.Errorf("the preparing pass: the ranks read %d of %d chunks", len(whole.trainCount), nChunks)
	}
	if merged != nil {
		st, _ := merged.MarshalBinary()
		if err := fit.UnmarshalBinary(st); err != nil {
			return prepPart{}, err
		}
	}
	whole.fingerprint = chunkHashes(whole.hashes)
	return whole, nil
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

// gatherBlobs gives every rank of job every rank's bytes (mine is this
// rank's), over the job's float32 sum: each 16-bit word travels as a
// float32 in a slot only its rank fills (the others add zeros), so the
// sums carry the bits exactly. The words go in windows of blobWindow, to
// bound the memory besides the result.
func gatherBlobs(job Collective, mine []byte) ([][]byte, error) {
	n, rank := job.Size(), job.Rank()
	lens := make([]float32, 4*n) // each length as four 16-bit words
	for i := range 4 {
		lens[4*rank+i] = float32(uint64(len(mine)) >> (16 * i) & 0xffff)
	}
	if err := job.AllreduceSum(lens); err != nil {
		return nil, err
	}
	sizes, starts := make([]int, n), make([]int, n+1) // in words
	out := make([][]byte, n)
	for r := range n {
		var l uint64
		for i := range 4 {
			l |= uint64(lens[4*r+i]) << (16 * i)
		}
		if l > 1<<40 {
			return nil, fmt.Errorf("rank %d sends %d bytes", r, l)
		}
		out[r] = make([]byte, l)
		sizes[r] = int(l+1) / 2
		starts[r+1] = starts[r] + sizes[r]
	}
	word := func(b []byte, i int) float32 { // word i of b, zero-padded
		v := uint16(b[2*i])
		if 2*i+1 < len(b) {
			v |= uint16(b[2*i+1]) << 8
		}
		return float32(v)
	}
	buf := make([]float32, min(blobWindow, starts[n]))
	for off := 0; off < starts[n]; off += len(buf) {
		win := buf[:min(len(buf), starts[n]-off)]
		clear(win)
		for i := max(starts[rank], off); i < min(starts[rank+1], off+len(win)); i++ {
			win[i-off] = word(mine, i-starts[rank])
		}
		if err := job.AllreduceSum(win); err != nil {
			return nil, err
		}
		for r := range n {
			for i := max(starts[r], off); i < min(starts[r+1], off+len(win)); i++ {
				v, j := uint16(win[i-off]), i-starts[r]
				out[r][2*j] = byte(v)
				if 2*j+1 < len(out[r]) {
					out[r][2*j+1] = byte(v >> 8)
				}
			}
		}
	}
	return out, nil
}

// blobWindow is how many 16-bit words gatherBlobs sums at once (16 MiB of
// float32).
const blobWindow = 1 << 22
