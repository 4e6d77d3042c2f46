package engine

import "math"

// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2,
// 3", SC'11) is aegpu's only source of randomness. It is counter based: the
// value at any position of a stream is a pure function of (key, counter), so
// the CPU and every GPU thread compute the same numbers without sharing state.
//
// A stream is identified by (seed, stream). Its 32-bit words are
//
//	word i = Philox4x32_10(key = (lo32(seed), hi32(seed)),
//	                       ctr = (lo32(i/4), hi32(i/4), lo32(stream), hi32(stream)))[i mod 4]
//
// and its derived distributions are
//
//	Uniform(i) = (word i >> 8) · 2⁻²⁴                       in [0, 1)
//	Normal(i)  = Box–Muller on the pair of words (2⌊i/2⌋, 2⌊i/2⌋+1):
//	             u1 = ((w0 >> 8) + 1) · 2⁻²⁴   in (0, 1]
//	             u2 = (w1 >> 8) · 2⁻²⁴          in [0, 1)
//	             r = sqrt(−2 ln u1);  Normal(2k) = r·cos(2π u2), Normal(2k+1) = r·sin(2π u2)
//
// computed in float32 after r and the angle are formed in float64 on the CPU
// (GPUs use their float32 intrinsics: the streams then agree to a few ulps).

const (
	philoxM0 = 0xD2511F53
	philoxM1 = 0xCD9E8D57
	philoxW0 = 0x9E3779B9
	philoxW1 = 0xBB67AE85
)

// Philox4x32 applies the 10-round Philox4x32 bijection to ctr under key.
func Philox4x32(ctr [4]uint32, key [2]uint32) [4]uint32 {
	c0, c1, c2, c3 := ctr[0], ctr[1], ctr[2], ctr[3]
	k0, k1 := key[0], key[1]
	for r := 0; r < 10; r++ {
		p0 := uint64(philoxM0) * uint64(c0)
		p1 := uint64(philoxM1) * uint64(c2)
		hi0, lo0 := uint32(p0>>32), uint32(p0)
		hi1, lo1 := uint32(p1>>32), uint32(p1)
		c0, c1, c2, c3 = hi1^c1^k0, lo1, hi0^c3^k1, lo0
		k0 += philoxW0
		k1 += philoxW1
	}
	return [4]uint32{c0, c1, c2, c3}
}

// Block returns words 4·blk … 4·blk+3 of the (seed, stream) stream.
func Block(seed, stream, blk uint64) [4]uint32 {
	return Philox4x32(
		[4]uint32{uint32(blk), uint32(blk >> 32), uint32(stream), uint32(stream >> 32)},
		[2]uint32{uint32(seed), uint32(seed >> 32)})
}

// Word returns word i of the (seed, stream) stream.
func Word(seed, stream, i uint64) uint32 { return Block(seed, stream, i/4)[i%4] }

// UniformFromWord maps a stream word to [0, 1) as the Uniform stream does.
func UniformFromWord(w uint32) float32 { return float32(w>>8) * (1.0 / (1 << 24)) }

// NormalPair maps two stream words to two standard normals (Box–Muller).
func NormalPair(w0, w1 uint32) (float32, float32) {
	u1 := float64((w0>>8)+1) * (1.0 / (1 << 24))
	u2 := float64(w1>>8) * (1.0 / (1 << 24))
	r := math.Sqrt(-2 * math.Log(u1))
	s, c := math.Sincos(2 * math.Pi * u2)
	return float32(r * c), float32(r * s)
}

// FillUniform writes elements [start, start+len(dst)) of the Uniform stream
// of (seed, stream), scaled to [lo, hi), into dst.
func FillUniform(dst []float32, seed, stream, start uint64, lo, hi float32) {
	span := hi - lo
	var b [4]uint32
	cur := ^uint64(0)
	for j := range dst {
		i := start + uint64(j)
		if i/4 != cur {
			cur = i / 4
			b = Block(seed, stream, cur)
		}
		dst[j] = lo + span*UniformFromWord(b[i%4])
	}
}

// FillNormal writes elements [start, start+len(dst)) of the Normal stream of
// (seed, stream), as mean + std·n, into dst.
func FillNormal(dst []float32, seed, stream, start uint64, mean, std float32) {
	var b [4]uint32
	cur := ^uint64(0)
	for j := range dst {
		i := start + uint64(j)
		if i/4 != cur {
			cur = i / 4
			b = Block(seed, stream, cur)
		}
		k := i % 4 &^ 1
		n0, n1 := NormalPair(b[k], b[k+1])
		n := n0
		if i%2 == 1 {
			n = n1
		}
		dst[j] = mean + std*n
	}
}

// Rand is a sequential host-side reader of one (seed, stream) stream, for
// decisions made on the host (weight init, shuffling). It is not safe for
// concurrent use.
type Rand struct {
	seed, stream, pos uint64
	blk               [4]uint32
}

// NewRand returns a reader positioned at the start of the (seed, stream) stream.
func NewRand(seed, stream uint64) *Rand { return &Rand{seed: seed, stream: stream, pos: 0} }

// Uint32 returns the next word of the stream.
func (r *Rand) Uint32() uint32 {
	if r.pos%4 == 0 {
		r.blk = Block(r.seed, r.stream, r.pos/4)
	}
	w := r.blk[r.pos%4]
	r.pos++
	return w
}

// Float32 returns the next Uniform value in [0, 1).
func (r *Rand) Float32() float32 { return UniformFromWord(r.Uint32()) }

// Intn returns a uniform integer in [0, n) by rejection (no modulo bias).
func (r *Rand) Intn(n int) int {
	if n <= 0 {
		panic("engine: Rand.Intn of non-positive n")
	}
	if n == 1 {
		return 0
	}
	if uint64(n) > 1<<32 {
		hi := uint64(r.Uint32())
		return int((hi<<32 | uint64(r.Uint32())) % uint64(n))
	}
	bound := uint32(n)
	limit := ^uint32(0) - (^uint32(0)%bound+1)%bound
	for {
		w := r.Uint32()
		if w <= limit {
			return int(w % bound)
		}
	}
}

// Perm returns a uniformly random permutation of [0, n) (Fisher–Yates).
func (r *Rand) Perm(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := r.Intn(i + 1)
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// Named streams: every stream aegpu draws from, in one table. Every random
// decision draws from its own stream so that adding a new use never shifts
// an existing one; a new use takes a new base here, clear of the ranges
// below. Per-step streams add the step number to their base (see
// StepStream); other uses add what their comment says. The values are part
// of every seeded result (the same seed gives the same run): changing one
// changes results, which the pinned runs (autoencoder/pin_test.go) catch.
const (
	// Training: model initialisation and data order.
	StreamInit    uint64 = 1       // weight initialisation: +2·layer for a weight, +2·layer+1 for its bias
	StreamSplit   uint64 = 1 << 20 // train/validation split (in-memory permutation; streamed runs: one uniform per row)
	StreamShuffle uint64 = 2 << 20 // per-epoch shuffles of in-memory training rows: +epoch

	// Training: per-step draws on the device.
	StreamNoise   uint64 = 1 << 40 // per-step input corruption of a denoising model: +step
	StreamLatent  uint64 = 2 << 40 // per-step VAE reparameterization noise ε: +step
	StreamProject uint64 = 3 << 40 // per-step random projections of the contractive penalty: +step

	// Corruption outside the training steps, just below StreamNoise: one
	// stream per batch of rows (+batch), 2³² batches apart from each other.
	StreamValNoise   uint64 = StreamNoise - 1<<32 // validation inputs of a denoising model, the same every epoch: +validation batch
	StreamImageNoise uint64 = StreamNoise - 2<<32 // noisy inputs drawn on the image grid (--images) of a denoising model: +batch

	// Streamed (disk) training: the order of the chunks of epoch e is drawn
	// from StreamChunk + e<<24, the order of the rows of chunk c from
	// StreamChunk + e<<24 + c + 1. It shares its base with StreamCorrupt
	// (different commands: never the same run's draws).
	StreamChunk uint64 = 5 << 40

	// Generation and data tools.
	StreamSample  uint64 = 4 << 40 // codes drawn from a VAE's prior (generate, the image grid, the visualizer)
	StreamCorrupt uint64 = 5 << 40 // noisy copies of a dataset made by aegpu corrupt: +block of rows

	// The visualizer's built-in toy data (viz.ToyData).
	StreamToyMix    uint64 = 7 << 44   // the mixing matrix
	StreamToyFactor uint64 = 7<<44 + 1 // the weak factors
	StreamToyPick   uint64 = 7<<44 + 2 // the dominant factor (words 0…rows−1) and its strength (words rows…)
	StreamToyNoise  uint64 = 7<<44 + 3 // the Gaussian noise added to the features
)

// StepStream returns the stream for random numbers used in training step t
// (0-based, counted across epochs) by use base.
func StepStream(base uint64, t int64) uint64 { return base + uint64(t) }
