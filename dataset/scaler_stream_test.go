package dataset

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestScalerFitMatchesFitScaler feeds rows in uneven chunks and compares
// with the in-memory fit.
func TestScalerFitMatchesFitScaler(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const rows, cols = 1000, 7
	x := make([]float32, rows*cols)
	for i := range x {
		x[i] = float32(1e3 + 50*rng.NormFloat64()*float64(1+i%cols))
	}
	for _, kind := range []string{ScaleNone, ScaleMinMax, ScaleGlobal, ScaleStandard} {
		want, err := FitScaler(kind, &Table{Rows: rows, Cols: cols, Data: x})
		if err != nil {
			t.Fatal(err)
		}
		f, err := NewScalerFit(kind, cols)
		if err != nil {
			t.Fatal(err)
		}
		for lo := 0; lo < rows; {
			n := min(rows-lo, 1+rng.IntN(97))
			if err := f.Add(x[lo*cols : (lo+n)*cols]); err != nil {
				t.Fatal(err)
			}
			lo += n
		}
		got, err := f.Scaler()
		if err != nil {
			t.Fatal(err)
		}
		if got.Kind != want.Kind || len(got.Offset) != len(want.Offset) {
			t.Fatalf("%s: %+v, want %+v", kind, got, want)
		}
		for c := range want.Offset {
			// float64 statistics merged in a different order, rounded to
			// float32: equal within 2 ulps.
			for _, p := range [][2]float32{{got.Offset[c], want.Offset[c]}, {got.Scale[c], want.Scale[c]}} {
				if math.Abs(float64(p[0]-p[1])) > 2*ulp(p[1]) {
					t.Errorf("%s column %d: %v, want %v", kind, c, p[0], p[1])
				}
			}
		}
	}
	f, _ := NewScalerFit(ScaleStandard, 2)
	if err := f.Add([]float32{1, 2, 3, float32(math.Inf(1))}); err == nil || err.Error() != "fit standard scaler: row 1, column 1: value is +Inf" {
		t.Errorf("Inf: %v", err)
	}
	if _, err := NewScalerFit("bogus", 2); err == nil {
		t.Error("unknown kind accepted")
	}
	if _, err := f.Scaler(); err == nil {
		t.Error("a fit with no rows gave a scaler")
	}
}

func ulp(v float32) float64 {
	return float64(math.Nextafter32(float32(math.Abs(float64(v))), float32(math.Inf(1))) - float32(math.Abs(float64(v))))
}

// TestScalerFitMerge: fits of parts of the data, sent through
// MarshalBinary and merged in order, give the fit of the whole (every
// kind; the float64 statistics within 1e-12 relative, so the float32
// scaler equal or one ulp apart), and parts without rows change nothing.
func TestScalerFitMerge(t *testing.T) {
	const cols, rows = 5, 301
	x := make([]float32, rows*cols)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)*0.37)*float64(i%7) + float64(i%cols)*100)
	}
	for _, kind := range []string{ScaleMinMax, ScaleGlobal, ScaleStandard} {
		whole, _ := NewScalerFit(kind, cols)
		if err := whole.Add(x); err != nil {
			t.Fatal(err)
		}
		merged, _ := NewScalerFit(kind, cols)
		for _, cut := range [][2]int{{0, 0}, {0, 17}, {17, 17}, {17, 200}, {200, rows}} {
			part, _ := NewScalerFit(kind, cols)
			if err := part.Add(x[cut[0]*cols : cut[1]*cols]); err != nil {
				t.Fatal(err)
			}
			b, _ := part.MarshalBinary()
			got, _ := NewScalerFit(kind, cols)
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			if err := merged.Merge(got); err != nil {
				t.Fatal(err)
			}
		}
		if merged.Rows() != rows {
			t.Fatalf("%s: merged %d rows, want %d", kind, merged.Rows(), rows)
		}
		for c := range cols {
			for _, p := range [][2]float64{{merged.lo[c], whole.lo[c]}, {merged.hi[c], whole.hi[c]}, {merged.mean[c], whole.mean[c]}, {merged.m2[c], whole.m2[c]}} {
				// Tolerance: 1e-12 relative (the merges round differently
				// from the sequential update, in float64).
				if math.Abs(p[0]-p[1]) > 1e-12*math.Max(math.Abs(p[1]), 1) {
					t.Errorf("%s column %d: merged %v, whole %v", kind, c, p[0], p[1])
				}
			}
		}
		ws, err := whole.Scaler()
		if err != nil {
			t.Fatal(err)
		}
		ms, err := merged.Scaler()
		if err != nil {
			t.Fatal(err)
		}
		for c := range cols {
			// One float32 ulp at most.
			if d := math.Abs(float64(ms.Scale[c]-ws.Scale[c])) / float64(ws.Scale[c]); d > 1.2e-7 {
				t.Errorf("%s column %d: scale %v, whole %v", kind, c, ms.Scale[c], ws.Scale[c])
			}
			if d := math.Abs(float64(ms.Offset[c] - ws.Offset[c])); d > 1.2e-7*math.Max(math.Abs(float64(ws.Offset[c])), 1) {
				t.Errorf("%s column %d: offset %v, whole %v", kind, c, ms.Offset[c], ws.Offset[c])
			}
		}
	}
	a, _ := NewScalerFit(ScaleMinMax, 3)
	b, _ := NewScalerFit(ScaleStandard, 3)
	if a.Merge(b) == nil || a.UnmarshalBinary(make([]byte, 9)) == nil {
		t.Error("a fit of another kind, or a short state, was taken")
	}
}
