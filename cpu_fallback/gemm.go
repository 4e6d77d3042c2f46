package cpu_fallback

import "github.com/aegpu/aegpu/engine"

//go:generate go run gen_kernel.go -mr 6 -nr 16 -sr 2 -sc 4 -u 4

// The GEMM follows the usual Goto/BLIS structure:
//
//   - A [m×k] is packed into panels of mr rows and B [k×n] into panels of nr
//     columns, each panel stored k-major (element p of the panel's mr or nr
//     values at consecutive addresses), padded with zeros to a whole panel,
//     K block by K block (aBlock, bBlock). Strided views (Aᵀ, Bᵀ) are
//     absorbed here, so one kernel serves the three products a dense layer
//     needs. The AVX-512 kernel also reads an operand in place when its
//     rows allow (A row-major, B's rows holding its panels): then only
//     that operand's edge panel is packed.
//   - C is cut into tiles (one task each, run in parallel); a tile loops
//     over K blocks of at most kc, then over its B panels, then over its
//     A panels, calling the mr×nr micro-kernel with a kc×nr B panel that
//     stays in L1 and an A block in L2. B is packed once, in a parallel
//     phase before the tiles; A too, unless each tile alone uses its rows
//     (one tile across n, the usual case at large batches): then the tile
//     packs its A block for each K block just before its kernels.
//   - The kernel is the active path's (dispatch.go, chosen at run time
//     with golang.org/x/sys/cpu or forced by AEGPU_CPU): 14×32 on ZMM
//     registers with AVX-512 (kernel512_amd64.s), 6×16 with AVX2/FMA
//     (kernel_amd64.s), packing in assembly (pack_amd64.s); on the generic
//     path (no AVX2, -tags noasm, other GOARCHes) the pure-Go twin
//     (kernel_gen.go) computes the same sums in the same order.
//   - The Dense epilogue (bias, activation) runs over each tile right after
//     its last K block, while the tile is still in cache.
//
// Determinism: K blocks depend only on k, the kernel sums each block in k
// order, and blocks are added to C in order. The tiling of C, which does
// depend on the thread count, changes which task computes an element but
// not how, so results are bitwise independent of threads. The K blocks are
// the same on every path (kcMax), so the AVX-512 and AVX2 kernels, which
// both do one FMA per step, give the same bits too (tested).

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
	pa, pb       []float32 // packed panels by K block: A [K block][npa][kc][mr], B [K block][npb][kc][nr]
	npa, npb     int
	packTasksA   int
	groupA       int // A panels per packing task
	groupB       int // B panels per packing task (in one K block)
	packTasksB   int // B's packing tasks per K block
	kcb, nkb     int // K block length and count
	mt, nt       int // tile size
	tilesN       int
	packingPhase bool
	fuseA        bool // tiles pack their A panels (see runGemm)
	directB      bool // the kernel reads B's whole panels in place (see runGemm)
	directA      bool // the kernel reads A's whole panels in place (see runGemm)
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
	// dimension leaves the larger tile. A deep product (k large against m
	// and n: the weight gradient at large batches) is cut into fewer tiles
	// (≈ 4 per thread) and along m first: each tile reads its A rows and
	// all of B over the whole K, so every cut along n reads A again, and
	// tiles one across n pack their own A (runGemm, below).
	tm, tn := ceilDiv(j.m, j.kern.mt), ceilDiv(j.n, j.kern.nt)
	perThread := 6
	deepK := j.k > 2*(j.m+j.n)
	if deepK {
		perThread = 4
	}
	for threads > 1 && tn > 0 && tm*tn < perThread*threads {
		mt, nt := roundUp(ceilDiv(j.m, tm), mr), roundUp(ceilDiv(j.n, tn), nr)
		canM, canN := mt > 4*mr, nt > 4*nr
		if canM && (mt >= nt || !canN || deepK) {
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
	// On the AVX-512 path, B in a copy layout (its rows, nr consecutive
	// floats per K step: x in the weight gradient, w in the input
	// gradient) is read in place by the kernel, whole panels unpacked.
	j.directB = j.kern.fn == fnAVX512 && j.bcs == 1 && j.brs >= nr
	// Likewise A in its rows (x in the forward product, dz in the input
	// gradient): whole panels are read in place, not transposed into
	// panels (the row sums of db need a packed A).
	j.directA = j.kern.fn == fnAVX512 && j.acs == 1 && j.rowSum == nil
	j.packingPhase = true
	j.groupA = max(1, packTask/max(1, mr*j.k))
	j.groupB = max(1, packTask/max(1, nr*j.kcb))
	j.packTasksA = ceilDiv(j.npa, j.groupA)
	if j.fuseA {
		j.packTasksA = 0
	}
	// B's tasks run K block by K block (a block's rows of B, a few
	// hundred, stay in L2 while its panels are cut from them).
	j.packTasksB = ceilDiv(j.npb, j.groupB)
	tasks := j.packTasksA + j.nkb*j.packTasksB
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

// kBlock is K block kb: its first column and length.
func (j *gemmJob) kBlock(kb int) (k0, kc int) {
	k0 = min(j.k, kb*j.kcb)
	return k0, min(j.k, k0+j.kcb) - k0
}

// aBlock is the packed A panel p's part in K block kb [kc×mr]. The packed
// operands are stored K block by K block, and in a block panel after
// panel, so that the panels a tile's kernels read one after another lie
// one after another in memory (the prefetches run on into the next).
func (j *gemmJob) aBlock(p, kb int) []float32 {
	k0, kc := j.kBlock(kb)
	return j.pa[k0*j.npa*j.mr+p*kc*j.mr:][:kc*j.mr]
}

// bBlock is the packed B panel q's part in K block kb [kc×nr].
func (j *gemmJob) bBlock(q, kb int) []float32 {
	k0, kc := j.kBlock(kb)
	return j.pb[k0*j.npb*j.nr+q*kc*j.nr:][:kc*j.nr]
}

// pack packs group i of panels: A's groups first, then B's.
func (j *gemmJob) pack(i int) {
	mr, nr := j.mr, j.nr
	if i < j.packTasksA {
		for p := i * j.groupA; p < min(j.npa, (i+1)*j.groupA); p++ {
			i0, ni := p*mr, min(mr, j.m-p*mr)
			if j.directA && ni == mr {
				continue // read in place by the kernel
			}
			var sums [maxNR]float64
			for kb := range j.nkb {
				k0, kc := j.kBlock(kb)
				dst := j.aBlock(p, kb)
				packPanel(dst, j.a[k0*j.acs:], i0, ni, mr, kc, j.ars, j.acs)
				if j.rowSum != nil {
					addPanelRowSums(sums[:ni], dst, mr)
				}
			}
			if j.rowSum != nil {
				for r := range ni {
					v := sums[r]
					if j.acc {
						v += float64(j.rowSum[i0+r])
					}
					j.rowSum[i0+r] = float32(v)
				}
			}
		}
		return
	}
	i -= j.packTasksA
	kb, g := i/j.packTasksB, i%j.packTasksB
	k0, kc := j.kBlock(kb)
	for q := g * j.groupB; q < min(j.npb, (g+1)*j.groupB); q++ {
		j0 := q * nr
		if j.directB && j0+nr <= j.n {
			continue // read in place by the kernel
		}
		packPanel(j.bBlock(q, kb), j.b[k0*j.brs:], j0, min(nr, j.n-j0), nr, kc, j.bcs, j.brs)
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
	n, mr, nr := j.n, j.mr, j.nr
	kern := j.kern
	var edgeBuf [maxMR * maxNR]float32
	edge := edgeBuf[:mr*nr]
	var sums [maxTileRows]float64 // row sums of A (fuseA with rowSum)
	for kb := range j.nkb {
		k0, kc := j.kBlock(kb)
		accum := kb > 0 || j.acc
		if j.fuseA && kc > 0 {
			// Pack this K block of the tile's A panels: columns k0…k0+kc−1
			// of A, at their place among the packed panels.
			as := j.a[k0*j.acs:]
			for ii := i0; ii < i1; ii += mr {
				ni := min(mr, j.m-ii)
				if j.directA && ni == mr {
					continue // read in place by the kernel
				}
				dst := j.aBlock(ii/mr, kb)
				packPanel(dst, as, ii, ni, mr, kc, j.ars, j.acs)
				if j.rowSum != nil {
					addPanelRowSums(sums[ii-i0:][:ni], dst, mr)
				}
			}
		}
		for jj := j0; jj < j1; jj += nr {
			bp := j.bBlock(jj/nr, kb)
			nj := min(nr, j1-jj)
			direct := j.directB && jj+nr <= j.n
			var bs []float32
			if direct {
				bs = j.b[k0*j.brs+jj:]
			}
			for ii := i0; ii < i1; ii += mr {
				ap := j.aBlock(ii/mr, kb)
				mi := min(mr, i1-ii)
				c := j.c[ii*n+jj:]
				if j.directA && ii+mr <= j.m && kc > 0 {
					// A read in place; B in place or packed.
					as := j.a[ii*j.ars+k0:]
					b, ldb := bp, nr
					if direct {
						b, ldb = bs, j.brs
					}
					if mi == mr && nj == nr {
						tileDirectA(kern, kc, as, j.ars, 1, b, ldb, c, n, accum)
						continue
					}
					tileDirectA(kern, kc, as, j.ars, 1, b, ldb, edge, nr, false)
					storeEdge(c, edge, mi, nj, n, nr, accum)
					continue
				}
				if mi == mr && nj == nr {
					if !direct || !tileDirectB(kern, kc, ap, bs, j.brs, c, n, accum) {
						kern.tile(kc, ap, bp, c, n, accum)
					}
					continue
				}
				// Edge tile: compute the whole padded tile aside, keep
				// the part inside C (the same sums as a full tile).
				if !direct || !tileDirectB(kern, kc, ap, bs, j.brs, edge, nr, false) {
					kern.tile(kc, ap, bp, edge, nr, false)
				}
				storeEdge(c, edge, mi, nj, n, nr, accum)
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

// storeEdge stores (accum: adds) the mi×nj corner of the edge tile [mr×nr,
// rows nr apart] into C (rows n apart).
func storeEdge(c, edge []float32, mi, nj, n, nr int, accum bool) {
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
