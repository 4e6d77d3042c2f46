//go:build amd64 && !noasm

package cpu_fallback

//go:noescape
func rowSumsAVX2(s *float64, panel *float32, w, k int)

// rowSumsFast does addPanelRowSums with AVX2 for the kernels' panel widths
// and reports whether it did (bitwise the Go loop: each row's float64 sum
// in p order).
func rowSumsFast(s []float64, panel []float32, w int) bool {
	if active.path == pathGeneric || len(panel) < w {
		return false
	}
	switch w {
	case 6, 14, 16, 32:
	default:
		return false
	}
	var acc [maxNR]float64
	copy(acc[:], s)
	rowSumsAVX2(&acc[0], &panel[0], w, len(panel)/w)
	copy(s, acc[:len(s)])
	return true
}
