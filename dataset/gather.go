package dataset

// Gather returns the given rows of t, in the order given, as one
// row-major slice: the one way rows are picked by index (a split, a
// sample to show).
func (t *Table) Gather(rows []int) []float32 {
	out := make([]float32, len(rows)*t.Cols)
	for i, r := range rows {
		copy(out[i*t.Cols:(i+1)*t.Cols], t.Data[r*t.Cols:(r+1)*t.Cols])
	}
	return out
}
