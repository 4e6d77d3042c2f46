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
