package dataset

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

// relClose reports whether got is within rel relative error of want (or
// within rel absolutely when want is 0).
func relClose(got, want, rel float64) bool {
	return math.Abs(got-want) <= rel*math.Max(math.Abs(want), 1e-300) || math.Abs(got-want) <= rel && want == 0
}

func scalerTable() *Table {
	// Column 0: varied values; column 1: constant; column 2: negative and
	// large magnitudes.
	data := []float32{
		1, 5, -1000,
		2, 5, 250.5,
		4, 5, 3e4,
		-3, 5, 7,
	}
	return &Table{Rows: 4, Cols: 3, Data: data, Shape: []int{4, 3}}
}

func TestFitScalerMinMax(t *testing.T) {
	tb := scalerTable()
	s, err := FitScaler("minmax", tb)
	must(t, err)
	// float64 hand computation: offset = min, scale = 1/(max-min); constant
	// columns get scale 1.
	wantOff := []float64{-3, 5, -1000}
	wantScale := []float64{1.0 / 7, 1, 1.0 / 31000}
	for c := range wantOff {
		const rel = 1e-6 // float32 storage of a float64 result: ≤ 2^-24 relative
		if !relClose(float64(s.Offset[c]), wantOff[c], rel) || !relClose(float64(s.Scale[c]), wantScale[c], rel) {
			t.Errorf("column %d: offset %v scale %v, want %v %v", c, s.Offset[c], s.Scale[c], wantOff[c], wantScale[c])
		}
	}
	data := append([]float32(nil), tb.Data...)
	must(t, s.Apply(data, 3))
	for i, v := range data {
		c := i % 3
		want := (float64(tb.Data[i]) - wantOff[c]) * wantScale[c]
		const tol = 1e-6 // absolute: results lie in [0, 1]
		if math.Abs(float64(v)-want) > tol {
			t.Errorf("scaled[%d] = %v, want %v", i, v, want)
		}
		if v < -tol || v > 1+tol {
			t.Errorf("scaled[%d] = %v outside [0, 1]", i, v)
		}
		if c == 1 && v != 0 {
			t.Errorf("constant column scaled to %v, want 0", v)
		}
	}
}

func TestFitScalerStandard(t *testing.T) {
	tb := scalerTable()
	s, err := FitScaler("standard", tb)
	must(t, err)
	for c := 0; c < 3; c++ {
		// float64 reference: mean and population standard deviation.
		var sum float64
		for r := 0; r < tb.Rows; r++ {
			sum += float64(tb.Data[r*3+c])
		}
		mean := sum / float64(tb.Rows)
		var ss float64
		for r := 0; r < tb.Rows; r++ {
			d := float64(tb.Data[r*3+c]) - mean
			ss += d * d
		}
		sd := math.Sqrt(ss / float64(tb.Rows))
		wantScale := 1.0
		if sd > 0 {
			wantScale = 1 / sd
		}
		const rel = 1e-6 // float32 storage of float64 statistics
		if !relClose(float64(s.Offset[c]), mean, rel) || !relClose(float64(s.Scale[c]), wantScale, rel) {
			t.Errorf("column %d: offset %v scale %v, want %v %v", c, s.Offset[c], s.Scale[c], mean, wantScale)
		}
	}
	data := append([]float32(nil), tb.Data...)
	must(t, s.Apply(data, 3))
	for c := 0; c < 3; c++ {
		var sum, sq float64
		for r := 0; r < tb.Rows; r++ {
			v := float64(data[r*3+c])
			sum += v
			sq += v * v
		}
		mean, variance := sum/4, sq/4-(sum/4)*(sum/4)
		const tol = 1e-5 // float32 arithmetic on values of order 1
		wantVar := 1.0
		if c == 1 {
			wantVar = 0 // constant column: all zeros
		}
		if math.Abs(mean) > tol || math.Abs(variance-wantVar) > tol {
			t.Errorf("column %d after scaling: mean %v variance %v, want 0 and %v", c, mean, variance, wantVar)
		}
	}
}

func TestScalerRoundTrip(t *testing.T) {
	tb := scalerTable()
	for _, kind := range []string{"none", "minmax", "standard"} {
		s, err := FitScaler(kind, tb)
		must(t, err)
		// JSON as stored with a model.
		b, err := json.Marshal(s)
		must(t, err)
		var back Scaler
		must(t, json.Unmarshal(b, &back))
		if !reflect.DeepEqual(back, s) {
			t.Errorf("%s: JSON round trip %s gave %+v", kind, b, back)
		}
		data := append([]float32(nil), tb.Data...)
		must(t, back.Apply(data, 3))
		must(t, back.Invert(data, 3))
		for i, v := range data {
			const rel = 1e-6 // two float32 operations each way
			if !relClose(float64(v), float64(tb.Data[i]), rel) && math.Abs(float64(v-tb.Data[i])) > 1e-4 {
				t.Errorf("%s: value %d: %v after Apply+Invert, want %v", kind, i, v, tb.Data[i])
			}
		}
	}
	if b, _ := json.Marshal(Scaler{Kind: "none"}); string(b) != `{"kind":"none"}` {
		t.Errorf("none scaler JSON = %s", b)
	}
}

func TestScalerErrors(t *testing.T) {
	tb := scalerTable()
	if _, err := FitScaler("robust", tb); err == nil {
		t.Error("FitScaler accepted an unknown kind")
	}
	if _, err := FitScaler("minmax", &Table{}); err == nil {
		t.Error("FitScaler accepted an empty table")
	}
	bad := &Table{Rows: 1, Cols: 2, Data: []float32{1, float32(math.NaN())}}
	if _, err := FitScaler("standard", bad); err == nil {
		t.Error("FitScaler accepted NaN")
	}
	s, err := FitScaler("minmax", tb)
	must(t, err)
	if err := s.Apply(make([]float32, 4), 2); err == nil {
		t.Error("Apply accepted 2 columns for a 3-column scaler")
	}
	if err := s.Invert(make([]float32, 4), 3); err == nil {
		t.Error("Invert accepted 4 values for 3 columns")
	}
	if err := (Scaler{Kind: "weird"}).Apply(make([]float32, 3), 3); err == nil {
		t.Error("Apply accepted an unknown kind")
	}
	if err := (Scaler{Kind: "minmax", Offset: []float32{0}, Scale: []float32{0}}).Apply(make([]float32, 1), 1); err == nil {
		t.Error("Apply accepted a zero scale")
	}
	// The zero Scaler is the identity.
	data := []float32{1, 2}
	must(t, Scaler{}.Apply(data, 2))
	if data[0] != 1 || data[1] != 2 {
		t.Error("zero Scaler changed the data")
	}
}

func TestFitScalerGlobal(t *testing.T) {
	tb := &Table{Rows: 2, Cols: 3, Data: []float32{0, 255, 17, 3, 0, 128}}
	s, err := FitScaler(ScaleGlobal, tb)
	must(t, err)
	data := append([]float32(nil), tb.Data...)
	must(t, s.Apply(data, 3))
	for i, v := range data {
		want := float64(tb.Data[i]) / 255
		const tol = 1e-7 // float32 x·(1/255) vs float64 x/255, values in [0, 1]
		if math.Abs(float64(v)-want) > tol {
			t.Errorf("scaled[%d] = %v, want %v (pixels/255)", i, v, want)
		}
	}
}
