package autoencoder

import (
	"fmt"

	"github.com/aegpu/aegpu/engine"
)

// TrainSource is the training data a Trainer draws batches from: rows in
// memory, or a dataset streamed from disk in chunks (DiskSource). Rows
// come out scaled, in each epoch's seeded order.
type TrainSource interface {
	// Rows is the number of training rows (one epoch).
	Rows() int
	// Cols is the row width.
	Cols() int
	// Epoch starts epoch e (0-based) at position skip (rows already
	// trained on in that epoch, when resuming).
	Epoch(e, skip int) error
	// Next copies the next len(dst)/Cols() rows of the epoch into dst.
	Next(dst []float32) error
}

// memSource is a TrainSource over scaled rows in memory: each epoch is a
// seeded permutation of the rows (or file order without shuffling).
type memSource struct {
	data       []float32
	cols, rows int
	seed       uint64
	shuffle    bool
	perm       []int
	pos        int
}

func newMemSource(data []float32, cols int, seed uint64, shuffle bool) *memSource {
	return &memSource{data: data, cols: cols, rows: len(data) / cols, seed: seed, shuffle: shuffle}
}

func (s *memSource) Rows() int { return s.rows }
func (s *memSource) Cols() int { return s.cols }

func (s *memSource) Epoch(e, skip int) error {
	if s.shuffle {
		s.perm = engine.NewRand(s.seed, engine.StreamShuffle+uint64(e)).Perm(s.rows)
	} else {
		s.perm = nil
	}
	s.pos = skip
	return nil
}

func (s *memSource) Next(dst []float32) error {
	c := s.cols
	n := len(dst) / c
	if s.pos+n > s.rows {
		return fmt.Errorf("internal: batch of %d rows past the epoch's end (%d of %d)", n, s.pos, s.rows)
	}
	for i := range n {
		r := s.pos + i
		if s.perm != nil {
			r = s.perm[r]
		}
		copy(dst[i*c:(i+1)*c], s.data[r*c:(r+1)*c])
	}
	s.pos += n
	return nil
}

// Skip passes over the epoch's next rows (another rank's share of a batch).
func (s *memSource) Skip(rows int) error {
	if s.pos+rows > s.rows {
		return fmt.Errorf("internal: skip of %d rows past the epoch's end (%d of %d)", rows, s.pos, s.rows)
	}
	s.pos += rows
	return nil
}
