package cpu_fallback

//go:generate go run gen_kernel.go -mr 14 -nr 32 -sr 2 -sc 4 -u 4 -name 14x32 -o kernel_gen14x32.go

// kernelGoTile is the 6×16 tile in pure Go: kernelGo's tile stored into c
// (rows ldc apart), or added to it when acc.
func kernelGoTile(kc int, a, b, c []float32, ldc int, acc bool) {
	var t [mr * nr]float32
	kernelGo(kc, a, b, &t)
	storeTile(t[:], mr, nr, c, ldc, acc)
}

// kernelGoTile14x32 is the 14×32 tile in pure Go, the twin of the AVX-512
// kernel: the same sums in the same order.
func kernelGoTile14x32(kc int, a, b, c []float32, ldc int, acc bool) {
	var t [mr14x32 * nr14x32]float32
	kernelGo14x32(kc, a, b, &t)
	storeTile(t[:], mr14x32, nr14x32, c, ldc, acc)
}

// storeTile stores the rows×cols tile t into c (rows ldc apart), or adds
// it when acc.
func storeTile(t []float32, rows, cols int, c []float32, ldc int, acc bool) {
	for r := range rows {
		row := c[r*ldc:][:cols]
		tr := t[r*cols:][:cols]
		if acc {
			for q := range row {
				row[q] += tr[q]
			}
		} else {
			copy(row, tr)
		}
	}
}

// goKernel14x32 is the pure-Go twin of the AVX-512 kernel's 14×32 tile.
var goKernel14x32 = &kernel{path: pathGeneric, mr: mr14x32, nr: nr14x32, fn: fnGo14x32, kc: kcMax, mt: mtMax, nt: ntMax}

func init() { goKernel14x32.twin = goKernel14x32 }
