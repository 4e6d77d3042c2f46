package engine

// DrawsAt is a Backend that can start its per-element draws at any
// position of a stream. A rank of a data-parallel job holds rows lo… of a
// global batch whose single-process draws start at element 0: drawing
// from element lo·cols on gives its rows the values one process gives
// them, while the rank draws only its own rows.
type DrawsAt interface {
	// RandNormalAt is RandNormal with element i of dst drawn from element
	// start+i of the Normal stream of (seed, stream).
	RandNormalAt(dst Matrix, seed, stream, start uint64, mean, std float32) error
	// CorruptAt is Corrupt with element i drawing element start+i of the
	// (seed, stream) streams.
	CorruptAt(dst, src Matrix, kind Noise, level float32, seed, stream, start uint64) error
}
