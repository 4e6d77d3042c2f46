package dataset

import (
	"encoding/binary"
	"fmt"
	"math"
)

// ScalerFit fits a Scaler on rows fed in chunks, for data streamed from
// disk: the same statistics as FitScaler (minimum and maximum per column
// or overall; the mean and population standard deviation per column,
// merged chunk by chunk with Chan et al.'s pairwise update in float64).
type ScalerFit struct {
	kind   string
	cols   int
	n      int64
	lo, hi []float64
	mean   []float64
	m2     []float64
}

// NewScalerFit starts fitting a scaler of kind for rows of cols values.
func NewScalerFit(kind string, cols int) (*ScalerFit, error) {
	switch kind {
	case ScaleNone, "", ScaleMinMax, ScaleStandard, ScaleGlobal:
	default:
		return nil, fmt.Errorf("unknown scaler %q (want none, minmax, global or standard)", kind)
	}
	if cols <= 0 {
		return nil, fmt.Errorf("fit %s scaler: invalid column count %d", kind, cols)
	}
	f := &ScalerFit{kind: kind, cols: cols}
	f.lo, f.hi = make([]float64, cols), make([]float64, cols)
	f.mean, f.m2 = make([]float64, cols), make([]float64, cols)
	for c := range cols {
		f.lo[c], f.hi[c] = math.Inf(1), math.Inf(-1)
	}
	return f, nil
}

// Add feeds whole rows; a NaN or ±Inf is an error naming its row (counted
// from the first row fed) and column.
func (f *ScalerFit) Add(rows []float32) error {
	cols := f.cols
	if len(rows)%cols != 0 {
		return fmt.Errorf("fit %s scaler: %d values are not whole rows of %d", f.kind, len(rows), cols)
	}
	for i, v := range rows {
		if !isFinite(v) {
			return fmt.Errorf("fit %s scaler: row %d, column %d: value is %v", f.kind, f.n+int64(i/cols), i%cols, v)
		}
	}
	nb := len(rows) / cols
	if nb == 0 {
		return nil
	}
	bm, bm2 := make([]float64, cols), make([]float64, cols)
	for r := range nb {
		for c, v := range rows[r*cols : (r+1)*cols] {
			x := float64(v)
			f.lo[c], f.hi[c] = math.Min(f.lo[c], x), math.Max(f.hi[c], x)
			bm[c] += x
		}
	}
	for c := range bm {
		bm[c] /= float64(nb)
	}
	for r := range nb {
		for c, v := range rows[r*cols : (r+1)*cols] {
			d := float64(v) - bm[c]
			bm2[c] += d * d
		}
	}
	na, n := float64(f.n), float64(f.n)+float64(nb)
	for c := range cols {
		d := bm[c] - f.mean[c]
		f.mean[c] += d * float64(nb) / n
		f.m2[c] += bm2[c] + d*d*na*float64(nb)/n
	}
	f.n += int64(nb)
	return nil
}

// Kind is the kind of scaler being fitted.
func (f *ScalerFit) Kind() string { return f.kind }

// Rows is the number of rows fed so far.
func (f *ScalerFit) Rows() int64 { return f.n }

// Scaler returns the fitted scaler (see FitScaler for each kind's map).
func (f *ScalerFit) Scaler() (Scaler, error) {
	if f.kind == ScaleNone || f.kind == "" {
		return Scaler{Kind: ScaleNone}, nil
	}
	if f.n == 0 {
		return Scaler{}, fmt.Errorf("fit %s scaler: no data", f.kind)
	}
	off, scale := make([]float64, f.cols), make([]float64, f.cols)
	switch f.kind {
	case ScaleMinMax:
		for c := range off {
			off[c], scale[c] = f.lo[c], 1
			if f.hi[c] > f.lo[c] {
				scale[c] = 1 / (f.hi[c] - f.lo[c])
			}
		}
	case ScaleGlobal:
		lo, hi := math.Inf(1), math.Inf(-1)
		for c := range f.cols {
			lo, hi = math.Min(lo, f.lo[c]), math.Max(hi, f.hi[c])
		}
		for c := range off {
			off[c], scale[c] = lo, 1
			if hi > lo {
				scale[c] = 1 / (hi - lo)
			}
		}
	case ScaleStandard:
		for c := range off {
			off[c], scale[c] = f.mean[c], 1
			if sd := math.Sqrt(f.m2[c] / float64(f.n)); sd > 0 {
				scale[c] = 1 / sd
			}
		}
	}
	s := Scaler{Kind: f.kind, Offset: make([]float32, f.cols), Scale: make([]float32, f.cols)}
	for c := range off {
		s.Offset[c], s.Scale[c] = float32(off[c]), float32(scale[c])
		if !isFinite(s.Scale[c]) || s.Scale[c] == 0 {
			return Scaler{}, fmt.Errorf("fit %s scaler: column %d: spread %g cannot be scaled in float32", f.kind, c, 1/scale[c])
		}
	}
	return s, nil
}

// Merge adds o's rows to f, as if they had been fed after f's (Chan et
// al.'s pairwise update): the fits of parts of the data, merged in order,
// give the fit of the whole up to rounding. Both must be of one kind and
// width.
func (f *ScalerFit) Merge(o *ScalerFit) error {
	if o.kind != f.kind || o.cols != f.cols {
		return fmt.Errorf("merge a %s scaler fit of %d columns into a %s one of %d", o.kind, o.cols, f.kind, f.cols)
	}
	if o.n == 0 {
		return nil
	}
	na, nb := float64(f.n), float64(o.n)
	n := na + nb
	for c := range f.cols {
		f.lo[c], f.hi[c] = math.Min(f.lo[c], o.lo[c]), math.Max(f.hi[c], o.hi[c])
		d := o.mean[c] - f.mean[c]
		f.mean[c] += d * nb / n
		f.m2[c] += o.m2[c] + d*d*na*nb/n
	}
	f.n += o.n
	return nil
}

// MarshalBinary encodes the fit's state (its rows so far and their
// statistics, not its kind or width) for another process's Merge.
func (f *ScalerFit) MarshalBinary() ([]byte, error) {
	b := binary.LittleEndian.AppendUint64(nil, uint64(f.n))
	for _, v := range [][]float64{f.lo, f.hi, f.mean, f.m2} {
		for _, x := range v {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
		}
	}
	return b, nil
}

// UnmarshalBinary replaces the fit's state with one MarshalBinary encoded
// from a fit of the same kind and width.
func (f *ScalerFit) UnmarshalBinary(b []byte) error {
	if len(b) != 8*(1+4*f.cols) {
		return fmt.Errorf("a %s scaler fit of %d columns: %d bytes of state, want %d", f.kind, f.cols, len(b), 8*(1+4*f.cols))
	}
	f.n = int64(binary.LittleEndian.Uint64(b))
	b = b[8:]
	for _, v := range [][]float64{f.lo, f.hi, f.mean, f.m2} {
		for i := range v {
			v[i] = math.Float64frombits(binary.LittleEndian.Uint64(b))
			b = b[8:]
		}
	}
	return nil
}
