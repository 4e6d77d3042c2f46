package columnar

import (
	"fmt"
	"math"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// nan32 is what a null becomes; the NaN policy then applies to it.
var nan32 = float32(math.NaN())

// fillRows converts rows [r0, r0+k) of rec, which holds the fields
// p.fields in that order, into k rows of p.cols values at the front of dst,
// nulls as NaN, and, when ids is not nil, the rows' ids into ids[:k].
func (p *columnarPlan) fillRows(dst []float32, ids []string, rec arrow.RecordBatch, r0, k int) error {
	dst = dst[:k*p.cols]
	for _, fc := range p.feats {
		arr := rec.Column(p.recColumn(fc.field))
		if fl, ok := arr.(*array.FixedSizeList); ok {
			if err := fillList(dst, p.cols, fc, fl, r0, k); err != nil {
				return err
			}
			continue
		}
		if err := fillColumn(dst, p.cols, fc.off, arr, r0, 1, k); err != nil {
			return fmt.Errorf("column %q: %w", fc.name, err)
		}
	}
	if ids != nil && p.idField >= 0 {
		return fillIDs(ids[:k], rec.Column(p.recColumn(p.idField)), r0)
	}
	return nil
}

// recColumn returns the position in a record batch of schema field i.
func (p *columnarPlan) recColumn(i int) int {
	for j, f := range p.fields {
		if f == i {
			return j
		}
	}
	panic("columnar: field not read")
}

// fillList fills the width columns of a fixed_size_list field; a null list
// makes all of its values NaN.
func fillList(dst []float32, stride int, fc featureCol, fl *array.FixedSizeList, r0, k int) error {
	child := fl.ListValues()
	start, _ := fl.ValueOffsets(r0)
	for j := range fc.width {
		if err := fillColumn(dst, stride, fc.off+j, child, int(start)+j, fc.width, k); err != nil {
			return fmt.Errorf("column %q: %w", fc.name, err)
		}
	}
	if fl.NullN() > 0 {
		for i := range k {
			if fl.IsNull(r0 + i) {
				row := dst[i*stride+fc.off : i*stride+fc.off+fc.width]
				for j := range row {
					row[j] = nan32
				}
			}
		}
	}
	return nil
}

// fillColumn writes k values of arr, those at first, first+step, …, to
// column col of k rows of stride values in dst; nulls become NaN.
func fillColumn(dst []float32, stride, col int, arr arrow.Array, first, step, k int) error {
	switch a := arr.(type) {
	case *array.Float32:
		fillNum(dst, stride, col, a, a.Values(), first, step, k)
	case *array.Float64:
		fillNum(dst, stride, col, a, a.Values(), first, step, k)
	case *array.Int8:
		fillNum(dst, stride, col, a, a.Values(), first, step, k)
	case *array.Int16:
		fillNum(dst, stride, col, a, a.Values(), first, step, k)
	case *array.Int32:
		fillNum(dst, stride, col, a, a.Values(), first, step, k)
	case *array.Int64:
		fillNum(dst, stride, col, a, a.Values(), first, step, k)
	case *array.Uint8:
		fillNum(dst, stride, col, a, a.Values(), first, step, k)
	case *array.Uint16:
		fillNum(dst, stride, col, a, a.Values(), first, step, k)
	case *array.Uint32:
		fillNum(dst, stride, col, a, a.Values(), first, step, k)
	case *array.Uint64:
		fillNum(dst, stride, col, a, a.Values(), first, step, k)
	case *array.Float16:
		fillFunc(dst, stride, col, a, first, step, k, func(i int) float32 { return a.Value(i).Float32() })
	case *array.Boolean:
		fillFunc(dst, stride, col, a, first, step, k, func(i int) float32 { return b2f(a.Value(i)) })
	case *array.Decimal32:
		s := a.DataType().(*arrow.Decimal32Type).Scale
		fillFunc(dst, stride, col, a, first, step, k, func(i int) float32 { return float32(a.Value(i).ToFloat64(s)) })
	case *array.Decimal64:
		s := a.DataType().(*arrow.Decimal64Type).Scale
		fillFunc(dst, stride, col, a, first, step, k, func(i int) float32 { return float32(a.Value(i).ToFloat64(s)) })
	case *array.Decimal128:
		s := a.DataType().(*arrow.Decimal128Type).Scale
		fillFunc(dst, stride, col, a, first, step, k, func(i int) float32 { return float32(a.Value(i).ToFloat64(s)) })
	case *array.Decimal256:
		s := a.DataType().(*arrow.Decimal256Type).Scale
		fillFunc(dst, stride, col, a, first, step, k, func(i int) float32 { return float32(a.Value(i).ToFloat64(s)) })
	default:
		return fmt.Errorf("type %s cannot be a feature", arr.DataType())
	}
	return nil
}

func b2f(b bool) float32 {
	if b {
		return 1
	}
	return 0
}

// number is every Go type an Arrow numeric array stores.
type number interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

// fillNum is fillColumn for an array of plain numbers vals.
func fillNum[T number](dst []float32, stride, col int, arr arrow.Array, vals []T, first, step, k int) {
	nulls := arr.NullN() > 0
	for i := range k {
		j := first + i*step
		v := float32(vals[j])
		if nulls && arr.IsNull(j) {
			v = nan32
		}
		dst[i*stride+col] = v
	}
}

// fillFunc is fillColumn for arrays read value by value through at.
func fillFunc(dst []float32, stride, col int, arr arrow.Array, first, step, k int, at func(int) float32) {
	nulls := arr.NullN() > 0
	for i := range k {
		j := first + i*step
		v := nan32
		if !nulls || !arr.IsNull(j) {
			v = at(j)
		}
		dst[i*stride+col] = v
	}
}

// fillIDs writes the ids of len(ids) rows from r0 on, as text; a null id
// is "".
func fillIDs(ids []string, arr arrow.Array, r0 int) error {
	for i := range ids {
		j := r0 + i
		if arr.IsNull(j) {
			ids[i] = ""
			continue
		}
		switch a := arr.(type) {
		case *array.String:
			ids[i] = a.Value(j)
		case *array.LargeString:
			ids[i] = a.Value(j)
		case *array.StringView:
			ids[i] = a.Value(j)
		case *array.Int8:
			ids[i] = strconv.FormatInt(int64(a.Value(j)), 10)
		case *array.Int16:
			ids[i] = strconv.FormatInt(int64(a.Value(j)), 10)
		case *array.Int32:
			ids[i] = strconv.FormatInt(int64(a.Value(j)), 10)
		case *array.Int64:
			ids[i] = strconv.FormatInt(a.Value(j), 10)
		case *array.Uint8:
			ids[i] = strconv.FormatUint(uint64(a.Value(j)), 10)
		case *array.Uint16:
			ids[i] = strconv.FormatUint(uint64(a.Value(j)), 10)
		case *array.Uint32:
			ids[i] = strconv.FormatUint(uint64(a.Value(j)), 10)
		case *array.Uint64:
			ids[i] = strconv.FormatUint(a.Value(j), 10)
		default:
			return fmt.Errorf("id column: type %s is not a string or an integer", arr.DataType())
		}
	}
	return nil
}
