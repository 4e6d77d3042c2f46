package serve

import (
	"encoding/json"
	"math"
	"testing"
)

var rowsSeeds = []string{
	`{"rows":[[1,2,3]]}`,
	" {\n \"rows\" : [ [ -1.5e-3 , 0 , 3.4028235e38 ] ,[1E2,-0,2.5] ] } \n",
	`{"rows":[[1,2,3],[4,5,6]],"id":7}`, // another key: the slow path
	`{"rows":[[1,2]]}`,                  // too narrow
	`{"rows":[[1,2,3,4]]}`,              // too wide
	`{"rows":[[1,2,"3"]]}`,
	`{"rows":[[1,2,NaN]]}`,
	`{"rows":[[1,2,1e39]]}`, // beyond float32
	`{"rows":[]}`,
	`{"rows":[[1,2,3]]`,
	`{"rows":[[1,2,3]]}x`,
	`{"rows":[[0x10,2,3]]}`,
	`{"rows":[[1,2,3],]}`,
	`{"rows":[[.5,2,3]]}`,
	`{"rows":[[1.,2,3]]}`,
	`{"rows":[[+1,2,3]]}`,
	`{"rows":[[01,2,3]]}`,
	`{"rows":[[1,2,3]]}{}`,
}

// FuzzParseRows: whatever the fast path accepts, encoding/json reads to
// the same float32 bits in rows of the same width.
func FuzzParseRows(f *testing.F) {
	for _, s := range rowsSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		vals, n, ok := parseRows([]byte(s), 3, nil)
		if !ok {
			return
		}
		var req struct {
			Rows [][]float32 `json:"rows"`
		}
		if err := json.Unmarshal([]byte(s), &req); err != nil {
			t.Fatalf("%q: fast path read %d rows, encoding/json refuses it: %v", s, n, err)
		}
		if len(req.Rows) != n || len(vals) != 3*n {
			t.Fatalf("%q: %d rows (%d values), encoding/json %d", s, n, len(vals), len(req.Rows))
		}
		for i, r := range req.Rows {
			if len(r) != 3 {
				t.Fatalf("%q: row %d has %d values", s, i, len(r))
			}
			for j, v := range r {
				if math.Float32bits(v) != math.Float32bits(vals[3*i+j]) {
					t.Fatalf("%q: row %d column %d: %v, encoding/json %v", s, i, j, vals[3*i+j], v)
				}
			}
		}
	})
}

// TestParseRowsFastPath: the usual bodies take the fast path.
func TestParseRowsFastPath(t *testing.T) {
	for _, s := range rowsSeeds[:2] {
		if _, n, ok := parseRows([]byte(s), 3, nil); !ok || n == 0 {
			t.Errorf("%q: not read by the fast path", s)
		}
	}
	for _, s := range rowsSeeds[2:] {
		if _, _, ok := parseRows([]byte(s), 3, nil); ok {
			t.Errorf("%q: read by the fast path, which should leave it to encoding/json", s)
		}
	}
}
