package cuda

import (
	"github.com/aegpu/aegpu/cuda/internal/cu"
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/kernels"
)

// Elementwise ops, sums of squares, column means and the random fills (as
// cpu_fallback/elementwise.go).

// sumSquares queues Σx² of x into acc (mode 0: add, mode 1: acc = sqrt).
func (b *Backend) sumSquares(acc, x engine.Matrix, mode int32) error {
	nb := kernels.ReduceGrid(int64(x.Len()))
	b.args.Reset().Ptr(b.ptr(x)).Ptr(b.partial).I64(int64(x.Len()))
	if err := b.launch(b.k.sumsqPartial, dim1(nb), dim1(kernels.ReduceThreads)); err != nil {
		return err
	}
	b.args.Reset().Ptr(b.partial).I32(int32(nb)).Ptr(b.ptr(acc)).I32(mode)
	return b.launch(b.k.sumsqFinish, dim1(1), dim1(kernels.ReduceThreads))
}

// SumSquares adds Σx² to acc.
func (b *Backend) SumSquares(acc, x engine.Matrix) error {
	if err := engine.CheckScalarOut("SumSquares", acc, x); err != nil {
		return err
	}
	if err := b.enter("SumSquares", acc, x); err != nil {
		return err
	}
	return b.sumSquares(acc, x, 0)
}

func (b *Backend) fill(x engine.Matrix, v float32) error {
	n := x.Len()
	if n == 0 {
		return nil
	}
	b.args.Reset().Ptr(b.ptr(x)).I64(int64(n)).F32(v)
	return b.launch(b.k.fill, elemGrid(n), dim1(kernels.ElemThreads))
}

// Fill sets every element of x to v.
func (b *Backend) Fill(x engine.Matrix, v float32) error {
	if err := engine.CheckUnary("Fill", x); err != nil {
		return err
	}
	if err := b.enter("Fill", x); err != nil {
		return err
	}
	return b.fill(x, v)
}

// Copy copies src into dst.
func (b *Backend) Copy(dst, src engine.Matrix) error {
	if err := engine.CheckBinary("Copy", dst, src); err != nil {
		return err
	}
	if err := b.enter("Copy", dst, src); err != nil {
		return err
	}
	if n := src.Len(); n > 0 && b.ptr(dst) != b.ptr(src) {
		return cu.MemcpyDtoDAsync(b.ptr(dst), b.ptr(src), int64(4*n), b.stream)
	}
	return nil
}

// Axpy computes y += alpha·x.
func (b *Backend) Axpy(alpha float32, x, y engine.Matrix) error {
	if err := engine.CheckBinary("Axpy", x, y); err != nil {
		return err
	}
	if err := b.enter("Axpy", x, y); err != nil {
		return err
	}
	n := x.Len()
	if n == 0 {
		return nil
	}
	b.args.Reset().F32(alpha).Ptr(b.ptr(x)).Ptr(b.ptr(y)).I64(int64(n))
	return b.launch(b.k.axpy, elemGrid(n), dim1(kernels.ElemThreads))
}

// EMA moves avg toward x: avg += (1−decay)·(x − avg).
func (b *Backend) EMA(avg, x engine.Matrix, decay float32) error {
	if err := engine.CheckBinary("EMA", avg, x); err != nil {
		return err
	}
	if err := b.enter("EMA", avg, x); err != nil {
		return err
	}
	n := x.Len()
	if n == 0 {
		return nil
	}
	b.args.Reset().F32(decay).Ptr(b.ptr(x)).Ptr(b.ptr(avg)).I64(int64(n))
	return b.launch(b.k.ema, elemGrid(n), dim1(kernels.ElemThreads))
}

// Scale computes x *= alpha.
func (b *Backend) Scale(x engine.Matrix, alpha float32) error {
	if err := engine.CheckUnary("Scale", x); err != nil {
		return err
	}
	if err := b.enter("Scale", x); err != nil {
		return err
	}
	n := x.Len()
	if n == 0 {
		return nil
	}
	b.args.Reset().Ptr(b.ptr(x)).I64(int64(n)).F32(alpha)
	return b.launch(b.k.scale, elemGrid(n), dim1(kernels.ElemThreads))
}

// RandUniform fills dst from the Philox Uniform stream of (seed, stream).
func (b *Backend) RandUniform(dst engine.Matrix, seed, stream uint64, lo, hi float32) error {
	if err := engine.CheckUnary("RandUniform", dst); err != nil {
		return err
	}
	if err := b.enter("RandUniform", dst); err != nil {
		return err
	}
	n := dst.Len()
	if n == 0 {
		return nil
	}
	b.args.Reset().Ptr(b.ptr(dst)).I64(int64(n)).U64(seed).U64(stream).F32(lo).F32(hi)
	return b.launch(b.k.randU, dim1(kernels.ElemGrid(int64(n), kernels.RandPerThread)), dim1(kernels.ElemThreads))
}

// RandNormal fills dst from the Philox Normal stream of (seed, stream).
func (b *Backend) RandNormal(dst engine.Matrix, seed, stream uint64, mean, std float32) error {
	return b.randNormal("RandNormal", dst, seed, stream, 0, mean, std)
}

// RandNormalAt is RandNormal from element start of the stream on
// (engine.DrawsAt: the rows of a data-parallel rank).
func (b *Backend) RandNormalAt(dst engine.Matrix, seed, stream, start uint64, mean, std float32) error {
	return b.randNormal("RandNormalAt", dst, seed, stream, start, mean, std)
}

func (b *Backend) randNormal(op string, dst engine.Matrix, seed, stream, start uint64, mean, std float32) error {
	if err := engine.CheckUnary(op, dst); err != nil {
		return err
	}
	if err := b.enter(op, dst); err != nil {
		return err
	}
	n := dst.Len()
	if n == 0 {
		return nil
	}
	b.args.Reset().Ptr(b.ptr(dst)).I64(int64(n)).U64(seed).U64(stream).F32(mean).F32(std).U64(start)
	return b.launch(b.k.randN, randGrid(n, start), dim1(kernels.ElemThreads))
}

// randGrid is the grid of rand_normal and corrupt_f32 for n elements from
// element start of the stream: one thread per Philox block touched (one
// more block than n/4 when start is not a multiple of 4; the grid-stride
// loop covers any grid).
func randGrid(n int, start uint64) [3]uint32 {
	return dim1(kernels.ElemGrid(int64(n)+int64(start%kernels.RandPerThread), kernels.RandPerThread))
}

// Corrupt writes a corrupted copy of src into dst with corrupt_f32 (dst may
// be src itself), element i drawing element i of the (seed, stream) streams.
func (b *Backend) Corrupt(dst, src engine.Matrix, kind engine.Noise, level float32, seed, stream uint64) error {
	return b.corrupt("Corrupt", dst, src, kind, level, seed, stream, 0)
}

// CorruptAt is Corrupt with element i drawing element start+i of the
// streams (engine.DrawsAt: the rows of a data-parallel rank).
func (b *Backend) CorruptAt(dst, src engine.Matrix, kind engine.Noise, level float32, seed, stream, start uint64) error {
	return b.corrupt("CorruptAt", dst, src, kind, level, seed, stream, start)
}

func (b *Backend) corrupt(op string, dst, src engine.Matrix, kind engine.Noise, level float32, seed, stream, start uint64) error {
	if err := engine.CheckCorrupt(dst, src, kind, level); err != nil {
		return err
	}
	if err := b.enter(op, dst, src); err != nil {
		return err
	}
	n := dst.Len()
	if n == 0 || (kind == engine.NoiseNone && b.ptr(dst) == b.ptr(src)) {
		return nil
	}
	b.args.Reset().Ptr(b.ptr(dst)).Ptr(b.ptr(src)).I64(int64(n)).I32(int32(kind)).F32(level).U64(seed).U64(stream).U64(start)
	return b.launch(b.k.corrupt, randGrid(n, start), dim1(kernels.ElemThreads))
}

var _ engine.DrawsAt = (*Backend)(nil)

// ColMean writes the mean of each column of x into out.
func (b *Backend) ColMean(out, x engine.Matrix) error {
	if err := engine.CheckColMean(out, x); err != nil {
		return err
	}
	if err := b.enter("ColMean", out, x); err != nil {
		return err
	}
	b.args.Reset().Ptr(b.ptr(x)).Ptr(b.ptr(out)).I32(int32(x.Rows)).I32(int32(x.Cols))
	return b.launch(b.k.colMean, dim1((x.Cols+kernels.ColMeanThreads-1)/kernels.ColMeanThreads), dim1(kernels.ColMeanThreads))
}
