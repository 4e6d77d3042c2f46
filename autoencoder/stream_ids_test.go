package autoencoder

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aegpu/aegpu/engine"
)

// idRows is an IDSource over countedRows: row r's id is "r<r>".
type idRows struct {
	countedRows
	ids bool
}

func (s *idRows) HasIDs() bool { return s.ids }
func (s *idRows) ReadIDs(dst []float32, ids []string) (int, error) {
	start := s.pos
	n, err := s.Read(dst[:min(len(dst), len(ids)*s.cols)])
	for i := range n {
		ids[i] = fmt.Sprintf("r%d", start+i)
	}
	return n, err
}

// idCollector keeps what it is written, and each row's id.
type idCollector struct {
	mu    sync.Mutex
	codes []float32
	ids   []string
}

func (c *idCollector) Write(rows []float32) error { return fmt.Errorf("Write without ids") }
func (c *idCollector) WriteIDs(rows []float32, ids []string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.codes = append(c.codes, rows...)
	c.ids = append(c.ids, ids...)
	return nil
}

// TestEncodeStreamIDs: ids travel with their rows through the three-stage
// pipeline, in order, over many small chunks (the reader reuses its id
// buffers while the writer still has earlier ones); a source with ids
// refuses a sink that cannot hold them.
func TestEncodeStreamIDs(t *testing.T) {
	b := cpu(t)
	m, err := NewModel(b, Arch{Layers: []int{5, 3}, Hidden: engine.Tanh, Output: engine.Sigmoid})
	must(t, err)
	defer m.Free()
	must(t, m.Init(3))
	p, err := NewPredictor(m, Config{}, 7)
	must(t, err)
	defer p.Free()
	const rows = 1000
	src := &idRows{countedRows: countedRows{rows: rows, cols: 5, known: true}, ids: true}
	var got idCollector
	st, err := p.EncodeStream(context.Background(), src, &got, 13, nil)
	must(t, err)
	if st.Rows != rows || len(got.ids) != rows || len(got.codes) != rows*3 {
		t.Fatalf("%d rows, %d ids, %d code values; want %d, %d, %d", st.Rows, len(got.ids), len(got.codes), rows, rows, rows*3)
	}
	all := make([]float32, rows*5)
	(&countedRows{rows: rows, cols: 5}).Read(all)
	want := make([]float32, rows*3)
	must(t, p.EncodeInto(want, all, 5))
	for r := range rows {
		if got.ids[r] != fmt.Sprintf("r%d", r) {
			t.Fatalf("row %d has id %q", r, got.ids[r])
		}
		for j := range 3 {
			// The same predictor and rows: the same codes, bit for bit.
			if got.codes[r*3+j] != want[r*3+j] {
				t.Fatalf("row %d (id %s) code %d: %v, want %v", r, got.ids[r], j, got.codes[r*3+j], want[r*3+j])
			}
		}
	}
	src = &idRows{countedRows: countedRows{rows: 10, cols: 5, known: true}, ids: true}
	if _, err := p.EncodeStream(context.Background(), src, &discard{}, 4, nil); err == nil || !strings.Contains(err.Error(), "ids") {
		t.Errorf("ids into a sink without them: %v", err)
	}
}
