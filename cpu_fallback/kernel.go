package cpu_fallback

// kernelGoTile is microKernel in pure Go: kernelGo's tile stored into c
// (rows ldc apart), or added to it when acc.
func kernelGoTile(kc int, a, b, c []float32, ldc int, acc bool) {
	var t [mr * nr]float32
	kernelGo(kc, a, b, &t)
	for r := range mr {
		row := c[r*ldc:][:nr]
		tr := t[r*nr:][:nr]
		if acc {
			for q := range row {
				row[q] += tr[q]
			}
		} else {
			copy(row, tr[:])
		}
	}
}
