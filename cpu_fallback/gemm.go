package cpu_fallback

import "github.com/aegpu/aegpu/engine"

//go:generate go run gen_kernel.go -mr 6 -nr 16 -sr 2 -sc 4 -u 4

// The GEMM follows the usual Goto/BLIS structure:
//
//   - A [m×k] is packed into panels of mr rows and B [k×n] into panels of nr
//     columns, each panel stored k-major (element p of the panel's mr or nr
//     values at consecutive addresses), padded with zeros to a whole panel.
//     Strided views (Aᵀ, Bᵀ) are absorbed here, so one kernel serves the
//     three products a dense layer needs.
//   - C is cut into tiles (one task each, run in parallel); a tile loops
//     over K blocks of at most kcMax, then over its B panels, then over its
//     A panels, calling the mr×nr = 6×16 micro-kernel with a kc×nr B panel
//     that stays in L1 and an A block in L2. On amd64 with AVX2/FMA (chosen
//     at run time, golang.org/x/sys/cpu) the kernel and the packing are Go
//     assembly (kernel_amd64.s, pack_amd64.s); elsewhere, with -tags noasm,
//     or without those instructions, the pure-Go twin (kernel_gen.go)
//     computes the same sums in the same order over the same panels.
//   - The Dense epilogue (bias, activation) runs over each tile right after
//     its last K block, while the tile is still in cache.
//
// Determinism: K blocks depend only on k, the kernel sums each block in k
// order, and blocks are added to C in order. The tiling of C, which does
// depend on the thread count, changes which task computes an element but
// not how, so results are bitwise independent of threads.

const (
	kcMax     = 384     // longest K block
	mtMax     = 32 * mr // rows of a C tile
	ntMax     = 64 * nr // columns of a C tile
	packTask  = 1 << 15 // floats packed per task (about)
	smallGemm = 1 << 15 // m·n·k below which a GEMM runs on the caller alone
)

// gemmJob computes
//
//	C [m×n] (+)= A [m×k] · B [k×n]       A(i,p) = a[i·ars + p·acs], B(p,j) = b[p·brs + j·bcs]
//
// into the contiguous c (row stride n), overwriting C unless acc. Options:
//
//	rowSum [m]:  rowSum (+)= Σ_p A(i,p), computed while packing A (db)
//	bias [n]:    epilogue C += bias (per column), then y = act(C); y may be
//	             c itself, in which case C = act(C + bias)
type gemmJob struct {
	m, n, k  int
	a        []float32
	ars, acs int
	b        []float32
	brs, bcs int
	c        []float32
	acc      bool
	rowSum   []float32
	bias     []float32
	y        []float32
	act      engine.Act

	// set by run
	kern         *kernel   // the micro-kernel (the active path's)
	mr, nr       int       // its tile
	pa, pb       []float32 // packed panels: A [npa][k][mr], B [npb][k][nr]
	npa, npb     int
	packTasksA   int
	groupA       int // A panels per packing task
	groupB       int // B panels per packing task
	kcb, nkb     int // K block length and count
	mt, nt       int // tile size
	tilesN       int
	packingPhase bool
	fuseA        bool // tiles pack their A panels (see runGemm)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
func roundUp(a, b int) int { return ceilDiv(a, b) * b }

// runGemm runs j on b's pool, using b's packing scratch.
func (b *Backend) runGemm(j *gemmJob) {
	if j.m == 0 || (j.n == 0 && j.rowSum == nil) {
		return
	}
	threads := b.pool.threads()
	if j.m*j.n*j.k < smallGemm {
		threads = 1
	}
	j.kern = active
	mr, nr := j.kern.mr, j.kern.nr
	j.mr, j.nr = mr, nr
	j.npa, j.npb = ceilDiv(j.m, mr), ceilDiv(j.n, nr)
	b.scratch.pa = grow32(b.scratch.pa, j.npa*mr*j.k)
	b.scratch.pb = grow32(b.scratch.pb, j.npb*nr*j.k)
	j.pa, j.pb = b.scratch.pa, b.scratch.pb

	// K blocks: as few as the kernel's kc allows, of equal length rounded
	// up to the twins' unroll (the last one shorter). They depend on k
	// alone (kc is the same on every path), so every path sums alike.
	j.nkb = max(1, ceilDiv(j.k, j.kern.kc))
	j.kcb = roundUp(ceilDiv(j.k, j.nkb), ku)

	// Tiles: at most mt×nt, and enough of them (≈ 6 per thread) for the
	// dynamic schedule to balance; equal sizes, cut along whichever
	// dimension leaves the larger tile.
	tm, tn := ceilDiv(j.m, j.kern.mt), ceilDiv(j.n, j.kern.nt)
	for threads > 1 && tn > 0 && tm*tn < 6*threads {
		mt, nt := roundUp(ceilDiv(j.m, tm), mr), roundUp(ceilDiv(j.n, tn), nr)
		canM, canN := mt > 4*mr, nt > 4*nr
		if canM && (mt >= nt || !canN) {
			tm++
		} else if canN {
			tn++
		} else {
			break
		}
	}
	if tn > 0 { // n > 0
		j.mt, j.nt = roundUp(ceilDiv(j.m, tm), mr), roundUp(ceilDiv(j.n, tn), nr)
		tm, tn = ceilDiv(j.m, j.mt), ceilDiv(j.n, j.nt)
	}
	j.tilesN = tn

	// A's panels are packed by the tile that uses them, one K block at a
	// time right before its kernels run (so they are still in L2 there),
	// when a single tile uses them (one tile across n); otherwise, and B
	// always, in a packing phase before the tiles.
	j.fuseA = j.n > 0 && tn == 1 && j.mt <= maxTileRows
	j.packingPhase = true
	j.groupA = max(1, packTask/max(1, mr*j.k))
	j.groupB = max(1, packTask/max(1, nr*j.k))
	j.packTasksA = ceilDiv(j.npa, j.groupA)
	if j.fuseA {
		j.packTasksA = 0
	}
	tasks := j.packTasksA + ceilDiv(j.npb, j.groupB)
	if threads == 1 {
		for i := range tasks {
			j.do(i)
		}
	} else {
		b.pool.run(tasks, j)
	}
	if j.n == 0 {
		return
	}
	j.packingPhase = false
	if threads == 1 {
		for i := range tm * tn {
			j.do(i)
		}
	} else {
		b.pool.run(tm*tn, j)
	}
}

// maxTileRows bounds the rows of a tile that packs its own A (its row
// sums' accumulators live on the stack).
const maxTileRows = 256

func (j *gemmJob) do(i int) {
	if j.packingPhase {
		j.pack(i)
	} else {
		j.tile(i)
	}
}

// pack packs group i of panels: A's groups first, then B's.
func (j *gemmJob) pack(i int) {
	k, mr, nr := j.k, j.mr, j.nr
	if i < j.packTasksA {
		for p := i * j.groupA; p < min(j.npa, (i+1)*j.groupA); p++ {
			i0, ni := p*mr, min(mr, j.m-p*mr)
			dst := j.pa[p*mr*k:][:mr*k]
			packPanel(dst, j.a, i0, ni, mr, k, j.ars, j.acs)
			if j.rowSum != nil {
				panelRowSums(j.rowSum[i0:i0+ni], dst, mr, j.acc)
			}
		}
		return
	}
	i -= j.packTasksA
	for p := i * j.groupB; p < min(j.npb, (i+1)*j.groupB); p++ {
		j0 := p * nr
		packPanel(j.pb[p*nr*k:][:nr*k], j.b, j0, min(nr, j.n-j0), nr, k, j.bcs, j.brs)
	}
}

// packPanel copies rows i0…i0+ni−1 (ni ≤ w) of the operand S [·×k],
// S(i,p) = s[i·rs + p·cs], into the panel dst [k×w] as dst[p·w + i],
// zero-filling rows ni…w−1.
func packPanel(dst, s []float32, i0, ni, w, k, rs, cs int) {
	if packFast(dst, s, i0, ni, w, k, rs, cs) {
		return
	}
	packPanelGo(dst, s, i0, ni, w, k, rs, cs)
}

// packPanelGo is packPanel in Go (edge panels, odd layouts, no AVX2).
func packPanelGo(dst, s []float32, i0, ni, w, k, rs, cs int) {
	switch {
	case cs == 1: // rows of S contiguous
		for i := range ni {
			row := s[(i0+i)*rs:][:k]
			for p, v := range row {
				dst[p*w+i] = v
			}
		}
	case rs == 1 && ni == w: // w consecutive elements per p
		for p := range k {
			src := s[p*cs+i0:][:w]
			d := dst[p*w:][:w]
			for i := range d {
				d[i] = src[i]
			}
		}
	default:
		for p := range k {
			for i := range ni {
				dst[p*w+i] = s[(i0+i)*rs+p*cs]
			}
		}
	}
	if ni < w {
		for p := range k {
			clear(dst[p*w+ni : p*w+w])
		}
	}
}

// tile computes task t's tile of C, then its epilogue.
func (j *gemmJob) tile(t int) {
	ti, tj := t/j.tilesN, t%j.tilesN
	i0, i1 := ti*j.mt, min(j.m, (ti+1)*j.mt)
	j0, j1 := tj*j.nt, min(j.n, (tj+1)*j.nt)
	n, k, mr, nr := j.n, j.k, j.mr, j.nr
	kern := j.kern
	var edgeBuf [maxMR * maxNR]float32
	edge := edgeBuf[:mr*nr]
	var sums [maxTileRows]float64 // row sums of A (fuseA with rowSum)
	for kb := range j.nkb {
		k0 := kb * j.kcb
		k1 := min(k, k0+j.kcb)
		if k1 < k0 {
			k1 = k0
		}
		kc := k1 - k0
		accum := kb > 0 || j.acc
		if j.fuseA && kc > 0 {
			// Pack this K block of the tile's A panels: columns k0…k1−1
			// of A, at their place in the panels of the whole K.
			as := j.a[k0*j.acs:]
			for ii := i0; ii < i1; ii += mr {
				ni := min(mr, j.m-ii)
				dst := j.pa[ii*k+k0*mr:][:kc*mr]
				packPanel(dst, as, ii, ni, mr, kc, j.ars, j.acs)
				if j.rowSum != nil {
					addPanelRowSums(sums[ii-i0:][:ni], dst, mr)
				}
			}
		}
		for jj := j0; jj < j1; jj += nr {
			bp := j.pb[jj*k+k0*nr:][:kc*nr]
			nj := min(nr, j1-jj)
			for ii := i0; ii < i1; ii += mr {
				ap := j.pa[ii*k+k0*mr:][:kc*mr]
				mi := min(mr, i1-ii)
				c := j.c[ii*n+jj:]
				if mi == mr && nj == nr {
					kern.tile(kc, ap, bp, c, n, accum)
					continue
				}
				// Edge tile: compute the whole padded tile aside, keep
				// the part inside C (the same sums as a full tile).
				kern.tile(kc, ap, bp, edge, nr, false)
				for r := range mi {
					row := c[r*n:][:nj]
					tr := edge[r*nr:][:nj]
					if accum {
						for q := range row {
							row[q] += tr[q]
						}
					} else {
						copy(row, tr)
					}
				}
			}
		}
	}
	if j.fuseA && j.rowSum != nil {
		for i := i0; i < i1; i++ {
			v := sums[i-i0]
			if j.acc {
				v += float64(j.rowSum[i])
			}
			j.rowSum[i] = float32(v)
		}
	}
	if j.bias != nil {
		bias := j.bias[j0:j1]
		for i := i0; i < i1; i++ {
			c := j.c[i*n+j0 : i*n+j1]
			biasAct(j.y[i*n+j0:i*n+j1], c, bias, j.act)
		}
	}
}

// addPanelRowSums adds to s[r], in p order, row r of the packed panel
// [k×w]: s[r] += panel[p·w + r] for p = 0, 1, …, r < len(s). The rows' sums
// run side by side (independent chains).
func addPanelRowSums(s []float64, panel []float32, w int) {
	if rowSumsFast(s, panel, w) {
		return
	}
	ni := len(s)
	for p := 0; p+w <= len(panel); p += w {
		row := panel[p:][:ni]
		for r, v := range row {
			s[r] += float64(v)
		}
	}
}

// panelRowSums sets (acc: adds to) sums[r] the float64 sum, in p order, of
// row r of the packed panel [k×w]: Σ_p panel[p·w + r], for r < len(sums).
// The rows' sums run side by side (independent chains), each in the same
// order as a row-by-row loop would add them.
func panelRowSums(sums, panel []float32, w int, acc bool) {
	var s [maxNR]float64
	addPanelRowSums(s[:len(sums)], panel, w)
	for r := range sums {
		v := s[r]
		if acc {
			v += float64(sums[r])
		}
		sums[r] = float32(v)
	}
}
