package autoencoder

import (
	"context"
	"io"
	"runtime"
	"testing"

	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
)

// countedRows streams rows rows of cols values, saying how many when known.
type countedRows struct {
	rows, cols, pos int
	known           bool
}

func (s *countedRows) Cols() int { return s.cols }
func (s *countedRows) Read(dst []float32) (int, error) {
	n := min(len(dst)/s.cols, s.rows-s.pos)
	if n == 0 {
		return 0, io.EOF
	}
	for i := range dst[:n*s.cols] {
		dst[i] = float32(s.pos*s.cols+i) / 1000
	}
	s.pos += n
	return n, nil
}

// uncounted hides Rows.
type uncounted struct{ *countedRows }

func (s *countedRows) Rows() int64 { return int64(s.rows) }

type discard struct{ rows int }

func (d *discard) Write(rows []float32) error { d.rows += len(rows); return nil }

func allocated() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

// TestEncodeStreamHugeChunk: a chunk of a billion rows allocates buffers
// for the rows there are, or for the budget when their number is unknown,
// instead of dying out of memory.
func TestEncodeStreamHugeChunk(t *testing.T) {
	for _, c := range []struct {
		chunk, cols, lat int
		rows             int64
		want             int
		cut              bool
	}{
		{1e9, 8, 2, 100, 100, false},
		{10, 8, 2, 100, 10, false},
		{1e9, 8, 2, 0, 1, false},
		{0, 8, 2, -1, 1, false},
		{1e9, 8, 2, -1, int(StreamBudget / (3 * 10 * 4)), true},
		{1e9, 1 << 30, 2, -1, 1, true},
	} {
		n, cut := EncodeChunk(c.chunk, c.cols, c.lat, c.rows)
		if n != c.want || cut != c.cut {
			t.Errorf("EncodeChunk(%d, %d, %d, %d) = %d, %v; want %d, %v", c.chunk, c.cols, c.lat, c.rows, n, cut, c.want, c.cut)
		}
	}

	b := cpu(t)
	a := Arch{Layers: []int{8, 4, 2}, Hidden: engine.ReLU, Latent: engine.Linear, Output: engine.Linear}
	m, err := NewModel(b, a)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	if err := m.Init(1); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Scaler: dataset.Scaler{Kind: dataset.ScaleNone}}
	cfg.SetArch(a)
	p, err := NewPredictor(m, cfg, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Free()
	// The default budget (1 GiB) and a small one; 1000 rows said or not
	// said, and 100 000 not said, whose reads grow to the budget's chunk.
	old := StreamBudget
	defer func() { StreamBudget = old }()
	for _, budget := range []int64{old, 4 << 20} {
		StreamBudget = budget
		for _, src := range []RowSource{&countedRows{rows: 1000, cols: 8}, uncounted{&countedRows{rows: 1000, cols: 8}}, uncounted{&countedRows{rows: 100000, cols: 8}}} {
			want := 1000
			if u, ok := src.(uncounted); ok {
				want = u.rows
			}
			before := allocated()
			var d discard
			st, err := p.EncodeStream(context.Background(), src, &d, 1e9, nil)
			grew := allocated() - before
			if err != nil || st.Rows != int64(want) || d.rows != 2*want {
				t.Fatalf("%T: %+v, %d values, %v", src, st, d.rows, err)
			}
			// The buffers: at most the data's size (×2 for the doubling)
			// and the budget, ×2 for the smaller ones dropped while the
			// reads grow, plus a few MB of everything else.
			limit := 2*min(2*uint64(want)*(8+2)*4*streamDepth, uint64(budget)) + 4<<20
			if grew > limit {
				t.Errorf("budget %d, %T of %d rows: allocated %d bytes, want at most %d", budget, src, want, grew, limit)
			}
		}
	}
}
