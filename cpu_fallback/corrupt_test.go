package cpu_fallback

import (
	"fmt"
	"math"
	"testing"

	"github.com/aegpu/aegpu/engine"
)

// wantCorrupt is element i of Corrupt's result, i = start…start+len(src)−1,
// formed from engine.FillUniform/FillNormal exactly as the doc comment
// reads: src + float32(level·Normal(i)); Uniform(i) < level (level/2).
func wantCorrupt(src []float32, kind engine.Noise, level float32, seed, stream, start uint64) []float32 {
	r := make([]float32, len(src))
	if kind == engine.NoiseGaussian {
		engine.FillNormal(r, seed, stream, start, 0, 1)
	} else {
		engine.FillUniform(r, seed, stream, start, 0, 1)
	}
	out := make([]float32, len(src))
	for i, s := range src {
		switch kind {
		case engine.NoiseGaussian:
			s += float32(level * r[i])
		case engine.NoiseMasking:
			if r[i] < level {
				s = 0
			}
		case engine.NoiseSaltPepper:
			if r[i] < level/2 {
				s = 0
			} else if r[i] < level {
				s = 1
			}
		}
		out[i] = s
	}
	return out
}

func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: element %d is %g (%#08x), want %g (%#08x)", what, i, got[i],
				math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}

var allNoise = []engine.Noise{engine.NoiseNone, engine.NoiseGaussian, engine.NoiseMasking, engine.NoiseSaltPepper}

// TestCorruptBitwise: on the CPU every kind of noise, gaussian included,
// is bitwise the stream-based formula, for sizes that span several chunks
// (the parallel split) and end mid-block, in place and not, with 1 and 4
// threads.
func TestCorruptBitwise(t *testing.T) {
	const seed, stream = 0x9e3779b97f4a7c15, 1<<40 + 99
	for _, threads := range []int{1, 4} {
		b := New(threads)
		for _, n := range []int{1, 2, 5, 4*chunk + 3} {
			src := host(t, b, randMat(t, b, 1, n, uint64(n), -2, 2))
			for _, kind := range allNoise {
				level := float32(0.37)
				want := wantCorrupt(src, kind, level, seed, stream, 0)
				name := fmt.Sprintf("threads %d, n %d, %s", threads, n, kind)
				sm, dm := alloc(t, b, 1, n), alloc(t, b, 1, n)
				must(t, b.Upload(sm, src))
				must(t, b.Corrupt(dm, sm, kind, level, seed, stream))
				sameBits(t, name, host(t, b, dm), want)
				sameBits(t, name+": src", host(t, b, sm), src)
				must(t, b.Corrupt(sm, sm, kind, level, seed, stream)) // in place
				sameBits(t, name+" in place", host(t, b, sm), want)
			}
		}
		b.Close()
	}
}

// TestCorruptStart: the chunk worker starting at any element of a Philox
// block (start not a multiple of 4) and ending anywhere in one.
func TestCorruptStart(t *testing.T) {
	const seed, stream = 12345, 678
	src := make([]float32, 23)
	for i := range src {
		src[i] = float32(i) - 11.5
	}
	for _, kind := range allNoise {
		for start := range uint64(9) {
			for _, n := range []int{0, 1, 2, 3, 4, 7, 23} {
				want := wantCorrupt(src[:n], kind, 0.6, seed, stream, start)
				got := make([]float32, n)
				corrupt(got, src[:n], kind, 0.6, seed, stream, start)
				sameBits(t, fmt.Sprintf("%s start %d n %d", kind, start, n), got, want)
			}
		}
	}
}

// TestCorruptDeterminism: bitwise the same result with 1 and 3 threads on
// many chunks.
func TestCorruptDeterminism(t *testing.T) {
	const n = 7*chunk + 5
	run := func(threads int) [][]float32 {
		b := New(threads)
		defer b.Close()
		src := randMat(t, b, 1, n, 3, -1, 1)
		var res [][]float32
		for _, kind := range allNoise {
			dst := alloc(t, b, 1, n)
			must(t, b.Corrupt(dst, src, kind, 0.5, 42, engine.StreamNoise+7))
			res = append(res, host(t, b, dst))
		}
		return res
	}
	one, three := run(1), run(3)
	for i := range one {
		sameBits(t, allNoise[i].String(), three[i], one[i])
	}
}

func BenchmarkCorrupt(b *testing.B) {
	be := New(0)
	defer be.Close()
	src := randMat(b, be, 256, 784, 1, 0, 1)
	dst := alloc(b, be, 256, 784)
	for _, kind := range allNoise[1:] {
		b.Run(kind.String(), func(b *testing.B) {
			b.SetBytes(int64(8 * src.Len()))
			for i := range b.N {
				if err := be.Corrupt(dst, src, kind, 0.3, 1, uint64(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestDrawsAt: RandNormalAt and CorruptAt from element start are bitwise
// the tail of RandNormal's and Corrupt's whole draw (a data-parallel
// rank's rows get one process's values), over several chunks and from
// inside a Philox block.
func TestDrawsAt(t *testing.T) {
	var _ engine.DrawsAt = (*Backend)(nil)
	const seed, stream, n = 99, engine.StreamLatent + 3, 3*chunk + 7
	b := New(3)
	defer b.Close()
	src := randMat(t, b, 1, n, 5, -1, 1)
	whole := alloc(t, b, 1, n)
	must(t, b.RandNormal(whole, seed, stream, 0.5, 2))
	normal := host(t, b, whole)
	corrupted := map[engine.Noise][]float32{}
	for _, kind := range allNoise {
		must(t, b.Corrupt(whole, src, kind, 0.4, seed, stream))
		corrupted[kind] = host(t, b, whole)
	}
	for _, start := range []int{0, 1, 6, chunk + 3} {
		part := alloc(t, b, 1, n-start)
		must(t, b.RandNormalAt(part, seed, stream, uint64(start), 0.5, 2))
		sameBits(t, fmt.Sprintf("RandNormalAt %d", start), host(t, b, part), normal[start:])
		for _, kind := range allNoise {
			must(t, b.CorruptAt(part, src.View(start, 1, n-start), kind, 0.4, seed, stream, uint64(start)))
			sameBits(t, fmt.Sprintf("CorruptAt %s %d", kind, start), host(t, b, part), corrupted[kind][start:])
		}
	}
}
