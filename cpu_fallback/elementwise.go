package cpu_fallback

import "github.com/aegpu/aegpu/engine"

// chunk is the number of elements an elementwise task handles. Chunks are
// cut at multiples of chunk from element 0, whatever the thread count, and
// reductions combine their per-chunk float64 partial sums in chunk order:
// results are bitwise independent of threads. Ops on fewer than 2·chunk
// elements run on the caller alone.
const chunk = 1 << 14

type ewOp int

const (
	ewFill ewOp = iota
	ewCopy
	ewAxpy
	ewEMA
	ewScale
	ewSumSq
	ewActGrad
	ewUniform
	ewNormal
	ewCorrupt
)

// ewJob is an elementwise op over n elements, chunked.
type ewJob struct {
	op      ewOp
	n       int
	x, y, z []float32 // operands; see do
	alpha   float32
	lo, hi  float32 // RandUniform lo, hi; RandNormal mean, std
	seed    uint64
	stream  uint64
	start   uint64 // the stream element of x[0] (RandNormalAt, CorruptAt)
	act     engine.Act
	noise   engine.Noise // ewCorrupt's kind (alpha is its level)
	part    []float64    // per-chunk partial sums (ewSumSq)
}

func (b *Backend) runEW(e *ewJob) {
	tasks := ceilDiv(e.n, chunk)
	if e.op == ewSumSq {
		b.scratch.part = grow64(b.scratch.part, tasks)
		e.part = b.scratch.part
	}
	b.pool.run(tasks, e)
}

// sumParts adds the first n partial sums in order.
func sumParts(p []float64) float64 {
	s := 0.0
	for _, v := range p {
		s += v
	}
	return s
}

func (e *ewJob) do(i int) {
	lo, hi := i*chunk, min(e.n, (i+1)*chunk)
	x := e.x[lo:hi]
	switch e.op {
	case ewFill:
		v := e.alpha
		for k := range x {
			x[k] = v
		}
	case ewCopy: // x = y
		copy(x, e.y[lo:hi])
	case ewAxpy: // y += alpha·x
		a := e.alpha
		y := e.y[lo:hi]
		y = y[:len(x)]
		for k, v := range x {
			y[k] += a * v
		}
	case ewEMA: // y += (1−alpha)·(x − y), each operation rounded
		w := 1 - e.alpha
		y := e.y[lo:hi]
		y = y[:len(x)]
		for k, v := range x {
			y[k] += float32(w * float32(v-y[k]))
		}
	case ewScale:
		a := e.alpha
		for k := range x {
			x[k] *= a
		}
	case ewSumSq:
		s := 0.0
		for _, v := range x {
			s += float64(v) * float64(v)
		}
		e.part[i] = s
	case ewActGrad: // x is dy
		var y, z []float32
		if e.y != nil {
			y = e.y[lo:hi]
		}
		if e.z != nil {
			z = e.z[lo:hi]
		}
		actGrad(x, y, z, e.act)
	case ewUniform:
		engine.FillUniform(x, e.seed, e.stream, e.start+uint64(lo), e.lo, e.hi)
	case ewNormal:
		engine.FillNormal(x, e.seed, e.stream, e.start+uint64(lo), e.lo, e.hi)
	case ewCorrupt: // x = corrupt(y)
		corrupt(x, e.y[lo:hi], e.noise, e.alpha, e.seed, e.stream, e.start+uint64(lo))
	}
}

// Fill sets every element of x to v.
func (b *Backend) Fill(x engine.Matrix, v float32) error {
	if err := engine.CheckUnary("Fill", x); err != nil {
		return err
	}
	xs, err := b.slice(x)
	if err != nil {
		return err
	}
	e := &b.ew
	*e = ewJob{op: ewFill, n: len(xs), x: xs, alpha: v}
	b.runEW(e)
	return nil
}

// Copy copies src into dst (same number of elements; overlapping views of
// one buffer are copied as by Go's copy).
func (b *Backend) Copy(dst, src engine.Matrix) error {
	if err := engine.CheckBinary("Copy", dst, src); err != nil {
		return err
	}
	s, err := b.slices(dst, src)
	if err != nil {
		return err
	}
	if dst.Buf == src.Buf && dst.Off < src.Off+src.Len() && src.Off < dst.Off+dst.Len() {
		copy(s[0], s[1])
		return nil
	}
	e := &b.ew
	*e = ewJob{op: ewCopy, n: len(s[0]), x: s[0], y: s[1]}
	b.runEW(e)
	return nil
}

// Axpy computes y += alpha·x elementwise.
func (b *Backend) Axpy(alpha float32, x, y engine.Matrix) error {
	if err := engine.CheckBinary("Axpy", x, y); err != nil {
		return err
	}
	s, err := b.slices(x, y)
	if err != nil {
		return err
	}
	e := &b.ew
	*e = ewJob{op: ewAxpy, n: len(s[0]), x: s[0], y: s[1], alpha: alpha}
	b.runEW(e)
	return nil
}

// EMA moves avg toward x elementwise: avg += (1−decay)·(x − avg).
func (b *Backend) EMA(avg, x engine.Matrix, decay float32) error {
	if err := engine.CheckBinary("EMA", avg, x); err != nil {
		return err
	}
	s, err := b.slices(x, avg)
	if err != nil {
		return err
	}
	e := &b.ew
	*e = ewJob{op: ewEMA, n: len(s[0]), x: s[0], y: s[1], alpha: decay}
	b.runEW(e)
	return nil
}

// Scale computes x *= alpha elementwise.
func (b *Backend) Scale(x engine.Matrix, alpha float32) error {
	if err := engine.CheckUnary("Scale", x); err != nil {
		return err
	}
	xs, err := b.slice(x)
	if err != nil {
		return err
	}
	e := &b.ew
	*e = ewJob{op: ewScale, n: len(xs), x: xs, alpha: alpha}
	b.runEW(e)
	return nil
}

// SumSquares adds Σ x² (accumulated in float64) to acc [1×1].
func (b *Backend) SumSquares(acc, x engine.Matrix) error {
	if err := engine.CheckScalarOut("SumSquares", acc, x); err != nil {
		return err
	}
	s, err := b.slices(acc, x)
	if err != nil {
		return err
	}
	s[0][0] = float32(float64(s[0][0]) + b.sumSquares(s[1]))
	return nil
}

// sumSquares is Σ x² in float64, deterministic.
func (b *Backend) sumSquares(x []float32) float64 {
	e := &b.ew
	*e = ewJob{op: ewSumSq, n: len(x), x: x}
	b.runEW(e)
	return sumParts(e.part)
}

// RandUniform fills dst with lo + (hi−lo)·u, element i of dst being element
// i of the Uniform stream of (seed, stream).
func (b *Backend) RandUniform(dst engine.Matrix, seed, stream uint64, lo, hi float32) error {
	if err := engine.CheckUnary("RandUniform", dst); err != nil {
		return err
	}
	xs, err := b.slice(dst)
	if err != nil {
		return err
	}
	e := &b.ew
	*e = ewJob{op: ewUniform, n: len(xs), x: xs, seed: seed, stream: stream, lo: lo, hi: hi}
	b.runEW(e)
	return nil
}

// RandNormal fills dst with mean + std·n, element i of dst being element i
// of the Normal stream of (seed, stream).
func (b *Backend) RandNormal(dst engine.Matrix, seed, stream uint64, mean, std float32) error {
	return b.randNormal("RandNormal", dst, seed, stream, 0, mean, std)
}

// RandNormalAt is RandNormal from element start of the stream on (the
// rows of a data-parallel rank; see engine.DrawsAt).
func (b *Backend) RandNormalAt(dst engine.Matrix, seed, stream, start uint64, mean, std float32) error {
	return b.randNormal("RandNormalAt", dst, seed, stream, start, mean, std)
}

func (b *Backend) randNormal(op string, dst engine.Matrix, seed, stream, start uint64, mean, std float32) error {
	if err := engine.CheckUnary(op, dst); err != nil {
		return err
	}
	xs, err := b.slice(dst)
	if err != nil {
		return err
	}
	e := &b.ew
	*e = ewJob{op: ewNormal, n: len(xs), x: xs, seed: seed, stream: stream, start: start, lo: mean, hi: std}
	b.runEW(e)
	return nil
}

// Corrupt writes a corrupted copy of src into dst (see engine.Backend):
// element i uses element i of the (seed, stream) Uniform or Normal stream.
// dst may be src itself (in place).
func (b *Backend) Corrupt(dst, src engine.Matrix, kind engine.Noise, level float32, seed, stream uint64) error {
	return b.CorruptAt(dst, src, kind, level, seed, stream, 0)
}

// CorruptAt is Corrupt drawing from element start of the streams on (the
// rows of a data-parallel rank; see engine.DrawsAt).
func (b *Backend) CorruptAt(dst, src engine.Matrix, kind engine.Noise, level float32, seed, stream, start uint64) error {
	if err := engine.CheckCorrupt(dst, src, kind, level); err != nil {
		return err
	}
	s, err := b.slices(dst, src)
	if err != nil {
		return err
	}
	if kind == engine.NoiseNone {
		if dst.Buf != src.Buf || dst.Off != src.Off {
			e := &b.ew
			*e = ewJob{op: ewCopy, n: len(s[0]), x: s[0], y: s[1]}
			b.runEW(e)
		}
		return nil
	}
	e := &b.ew
	*e = ewJob{op: ewCorrupt, n: len(s[0]), x: s[0], y: s[1], noise: kind, alpha: level, seed: seed, stream: stream, start: start}
	b.runEW(e)
	return nil
}

// corrupt writes elements [start, start+len(dst)) of Corrupt's result into
// dst from src (len(src) == len(dst); dst and src are the same slice or do
// not overlap). It walks the stream one Philox block (4 elements) at a time
// and forms the values exactly as engine.FillUniform and engine.FillNormal
// do (Normal(i) from the Box–Muller pair of words i &^ 1, i | 1), so that
// element i matches those streams bit for bit. Products are rounded before
// the sum (float32(·) forbids FMA fusion), as the kernel's __fmul_rn.
func corrupt(dst, src []float32, kind engine.Noise, level float32, seed, stream, start uint64) {
	src = src[:len(dst)]
	half := level / 2
	for j := 0; j < len(dst); {
		i := start + uint64(j)
		w := engine.Block(seed, stream, i/4)
		k0 := int(i % 4)
		m := min(4-k0, len(dst)-j) // elements of this block that fall in dst
		d, s := dst[j:j+m], src[j:j+m]
		switch kind {
		case engine.NoiseGaussian:
			var n [4]float32
			n[0], n[1] = engine.NormalPair(w[0], w[1])
			n[2], n[3] = engine.NormalPair(w[2], w[3])
			for k := range d {
				d[k] = s[k] + float32(level*n[k0+k])
			}
		case engine.NoiseMasking:
			for k := range d {
				v := s[k]
				if engine.UniformFromWord(w[k0+k]) < level {
					v = 0
				}
				d[k] = v
			}
		case engine.NoiseSaltPepper:
			for k := range d {
				v := s[k]
				if u := engine.UniformFromWord(w[k0+k]); u < half {
					v = 0
				} else if u < level {
					v = 1
				}
				d[k] = v
			}
		default: // NoiseNone
			copy(d, s)
		}
		j += m
	}
}

// colMeanJob sums the columns of x [rows×d] over fixed row blocks.
type colMeanJob struct {
	x       []float32
	rows, d int
	rowsPer int
	part    []float64 // [blocks×d]
}

func (c *colMeanJob) do(i int) {
	p := c.part[i*c.d : (i+1)*c.d]
	clear(p)
	for r := i * c.rowsPer; r < min(c.rows, (i+1)*c.rowsPer); r++ {
		row := c.x[r*c.d : (r+1)*c.d]
		p = p[:len(row)]
		for k, v := range row {
			p[k] += float64(v)
		}
	}
}

// ColMean writes the mean of each column of x [B×D] into out [1×D]
// (float64 sums over fixed row blocks, combined in order).
func (b *Backend) ColMean(out, x engine.Matrix) error {
	if err := engine.CheckColMean(out, x); err != nil {
		return err
	}
	s, err := b.slices(out, x)
	if err != nil {
		return err
	}
	o, xs := s[0], s[1]
	d := x.Cols
	c := &b.colMean
	*c = colMeanJob{x: xs, rows: x.Rows, d: d, rowsPer: max(1, chunk/max(d, 1))}
	blocks := ceilDiv(x.Rows, c.rowsPer)
	b.scratch.part = grow64(b.scratch.part, blocks*d)
	c.part = b.scratch.part
	b.pool.run(blocks, c)
	inv := 1 / float64(x.Rows)
	for k := range o {
		s := 0.0
		for blk := range blocks {
			s += c.part[blk*d+k]
		}
		o[k] = float32(s * inv)
	}
	return nil
}
