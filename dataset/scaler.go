package dataset

import (
	"fmt"
	"math"
)

// Scaler is a per-feature affine map fitted on training data and stored with
// a model as JSON: x' = (x - Offset) * Scale.
type Scaler struct {
	// Kind is "none", "minmax" or "standard". The empty string means "none".
	Kind string `json:"kind"`
	// Offset is subtracted from each feature (one value per column).
	Offset []float32 `json:"offset,omitempty"`
	// Scale multiplies each feature after the offset (one value per column).
	Scale []float32 `json:"scale,omitempty"`
}

// Scaler kinds.
const (
	ScaleNone     = "none"
	ScaleMinMax   = "minmax"
	ScaleStandard = "standard"
	ScaleGlobal   = "global"
)

// FitScaler fits a scaler of the given kind on t's columns, computing in
// float64:
//
//   - "none": the identity.
//   - "minmax": maps each feature's range onto [0, 1]. A constant feature
//     gets scale 1, so it maps to 0.
//   - "global": maps the range of all values together onto [0, 1], the same
//     map for every feature (pixels/255 for 8-bit images).
//   - "standard": zero mean and unit population standard deviation. A
//     feature with standard deviation 0 gets scale 1.
//
// It fails on NaN or ±Inf values, naming the first one's position.
func FitScaler(kind string, t *Table) (Scaler, error) {
	switch kind {
	case ScaleNone, "":
		return Scaler{Kind: ScaleNone}, nil
	case ScaleMinMax, ScaleStandard, ScaleGlobal:
	default:
		return Scaler{}, fmt.Errorf("unknown scaler %q (want none, minmax, global or standard)", kind)
	}
	if t == nil || t.Rows <= 0 || t.Cols <= 0 || len(t.Data) != t.Rows*t.Cols {
		return Scaler{}, fmt.Errorf("fit %s scaler: no data", kind)
	}
	rows, cols := t.Rows, t.Cols
	for i, v := range t.Data {
		if !isFinite(v) {
			return Scaler{}, fmt.Errorf("fit %s scaler: row %d, column %d: value is %v", kind, i/cols, i%cols, v)
		}
	}
	off := make([]float64, cols)
	scale := make([]float64, cols)
	switch kind {
	case ScaleMinMax:
		lo := make([]float64, cols)
		hi := make([]float64, cols)
		for c, v := range t.Row(0) {
			lo[c], hi[c] = float64(v), float64(v)
		}
		for r := 1; r < rows; r++ {
			for c, v := range t.Row(r) {
				x := float64(v)
				lo[c] = math.Min(lo[c], x)
				hi[c] = math.Max(hi[c], x)
			}
		}
		for c := range off {
			off[c] = lo[c]
			scale[c] = 1
			if hi[c] > lo[c] {
				scale[c] = 1 / (hi[c] - lo[c])
			}
		}
	case ScaleGlobal:
		lo, hi := float64(t.Data[0]), float64(t.Data[0])
		for _, v := range t.Data {
			lo = math.Min(lo, float64(v))
			hi = math.Max(hi, float64(v))
		}
		for c := range off {
			off[c], scale[c] = lo, 1
			if hi > lo {
				scale[c] = 1 / (hi - lo)
			}
		}
	case ScaleStandard:
		for r := 0; r < rows; r++ {
			for c, v := range t.Row(r) {
				off[c] += float64(v)
			}
		}
		for c := range off {
			off[c] /= float64(rows)
		}
		// Two passes: the sum of squared deviations, not E[x²]-E[x]², which
		// cancels badly.
		ss := make([]float64, cols)
		for r := 0; r < rows; r++ {
			for c, v := range t.Row(r) {
				d := float64(v) - off[c]
				ss[c] += d * d
			}
		}
		for c := range scale {
			scale[c] = 1
			if sd := math.Sqrt(ss[c] / float64(rows)); sd > 0 {
				scale[c] = 1 / sd
			}
		}
	}
	s := Scaler{Kind: kind, Offset: make([]float32, cols), Scale: make([]float32, cols)}
	for c := range off {
		s.Offset[c] = float32(off[c])
		s.Scale[c] = float32(scale[c])
		if !isFinite(s.Scale[c]) || s.Scale[c] == 0 {
			return Scaler{}, fmt.Errorf("fit %s scaler: column %d: spread %g cannot be scaled in float32", kind, c, 1/scale[c])
		}
	}
	return s, nil
}

// check validates s for data with cols columns; it reports whether s is the
// identity.
func (s Scaler) check(data []float32, cols int) (identity bool, err error) {
	if cols <= 0 {
		return false, fmt.Errorf("scaler: invalid column count %d", cols)
	}
	if len(data)%cols != 0 {
		return false, fmt.Errorf("scaler: %d values do not make rows of %d columns", len(data), cols)
	}
	switch s.Kind {
	case ScaleNone, "":
		return true, nil
	case ScaleMinMax, ScaleStandard, ScaleGlobal:
	default:
		return false, fmt.Errorf("scaler: unknown kind %q (want none, minmax or standard)", s.Kind)
	}
	if len(s.Offset) != cols || len(s.Scale) != cols {
		return false, fmt.Errorf("scaler: %s scaler has %d offsets and %d scales, data has %d columns", s.Kind, len(s.Offset), len(s.Scale), cols)
	}
	for c, v := range s.Scale {
		if !isFinite(v) || v == 0 {
			return false, fmt.Errorf("scaler: column %d: invalid scale %v", c, v)
		}
	}
	return false, nil
}

// Apply scales data (rows of cols values) in place: x' = (x - Offset) * Scale.
// It fails when the scaler was fitted on a different number of columns.
func (s Scaler) Apply(data []float32, cols int) error {
	identity, err := s.check(data, cols)
	if err != nil || identity {
		return err
	}
	for i := 0; i < len(data); i += cols {
		row := data[i : i+cols]
		for c, v := range row {
			row[c] = (v - s.Offset[c]) * s.Scale[c]
		}
	}
	return nil
}

// Invert undoes Apply in place: x = x'/Scale + Offset.
func (s Scaler) Invert(data []float32, cols int) error {
	identity, err := s.check(data, cols)
	if err != nil || identity {
		return err
	}
	for i := 0; i < len(data); i += cols {
		row := data[i : i+cols]
		for c, v := range row {
			row[c] = v/s.Scale[c] + s.Offset[c]
		}
	}
	return nil
}
