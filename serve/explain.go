package serve

// topK returns in idx (len k) the k features of fe with the largest error,
// largest first, ties in feature order: anomaly.Explain's choice.
func topK(idx []int, fe []float32) []int {
	k := min(len(idx), len(fe))
	idx = idx[:0]
	for j, e := range fe {
		if len(idx) == k && !(e > fe[idx[k-1]]) {
			continue
		}
		// insert after every feature whose error is ≥ e (stable)
		p := len(idx)
		for p > 0 && e > fe[idx[p-1]] {
			p--
		}
		if len(idx) < k {
			idx = append(idx, 0)
		}
		copy(idx[p+1:], idx[p:len(idx)-1])
		idx[p] = j
	}
	return idx
}
