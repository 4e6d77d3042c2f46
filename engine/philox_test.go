package engine

import (
	"math"
	"testing"
)

// Random123's published known-answer vectors for Philox4x32-10.
func TestPhiloxKnownAnswers(t *testing.T) {
	for _, c := range []struct {
		ctr  [4]uint32
		key  [2]uint32
		want [4]uint32
	}{
		{[4]uint32{0, 0, 0, 0}, [2]uint32{0, 0}, [4]uint32{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
		{[4]uint32{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, [2]uint32{0xffffffff, 0xffffffff}, [4]uint32{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
		{[4]uint32{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, [2]uint32{0xa4093822, 0x299f31d0}, [4]uint32{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
	} {
		if got := Philox4x32(c.ctr, c.key); got != c.want {
			t.Errorf("Philox4x32(%08x, %08x) = %08x, want %08x", c.ctr, c.key, got, c.want)
		}
	}
}

// The stream definition: word i of (seed, stream) is word i%4 of the block
// at counter (i/4, stream) under key seed.
func TestStreamLayout(t *testing.T) {
	seed, stream := uint64(0x1122334455667788), uint64(0xaabbccdd00000007)
	for _, i := range []uint64{0, 1, 3, 4, 7, 1 << 33} {
		blk := i / 4
		want := Philox4x32([4]uint32{uint32(blk), uint32(blk >> 32), uint32(stream), uint32(stream >> 32)},
			[2]uint32{0x55667788, 0x11223344})[i%4]
		if got := Word(seed, stream, i); got != want {
			t.Errorf("Word(%d) = %08x, want %08x", i, got, want)
		}
	}
}

// Filling from any start offset gives the same elements as filling from 0.
func TestFillOffsetsAgree(t *testing.T) {
	all := make([]float32, 37)
	FillUniform(all, 5, 9, 0, -1, 2)
	part := make([]float32, 20)
	FillUniform(part, 5, 9, 13, -1, 2)
	for j := range part {
		if part[j] != all[13+j] {
			t.Fatalf("uniform element %d: from offset %v, from 0 %v", 13+j, part[j], all[13+j])
		}
	}
	FillNormal(all, 5, 9, 0, 1, 3)
	FillNormal(part, 5, 9, 13, 1, 3)
	for j := range part {
		if part[j] != all[13+j] {
			t.Fatalf("normal element %d: from offset %v, from 0 %v", 13+j, part[j], all[13+j])
		}
	}
}

// Sample moments of the distributions. With n = 1<<18 samples the standard
// error of the mean is σ/512; the bounds are about 5 standard errors.
func TestDistributions(t *testing.T) {
	const n = 1 << 18
	u := make([]float32, n)
	FillUniform(u, 42, 3, 0, 0, 1)
	var s, s2 float64
	for _, v := range u {
		if v < 0 || v >= 1 {
			t.Fatalf("uniform value %v outside [0,1)", v)
		}
		s += float64(v)
		s2 += float64(v) * float64(v)
	}
	mean, vr := s/n, s2/n-(s/n)*(s/n)
	if math.Abs(mean-0.5) > 5*math.Sqrt(1.0/12/n) || math.Abs(vr-1.0/12) > 0.002 {
		t.Errorf("uniform mean %v var %v, want 0.5 and 1/12", mean, vr)
	}
	g := make([]float32, n)
	FillNormal(g, 42, 3, 0, 2, 3)
	s, s2 = 0, 0
	for _, v := range g {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("normal value %v", v)
		}
		s += float64(v)
		s2 += float64(v) * float64(v)
	}
	mean, vr = s/n, s2/n-(s/n)*(s/n)
	if math.Abs(mean-2) > 5*3/512.0 || math.Abs(math.Sqrt(vr)-3) > 0.03 {
		t.Errorf("normal mean %v std %v, want 2 and 3", mean, math.Sqrt(vr))
	}
}

func TestRandIntnAndPerm(t *testing.T) {
	r := NewRand(7, 1)
	counts := make([]int, 3)
	for i := 0; i < 30000; i++ {
		counts[r.Intn(3)]++
	}
	for k, c := range counts {
		// Expected 10000 each, σ ≈ 82: allow 6σ.
		if c < 9500 || c > 10500 {
			t.Errorf("Intn(3) gave %d %d times out of 30000", k, c)
		}
	}
	p := NewRand(7, 2).Perm(100)
	seen := make([]bool, 100)
	for _, v := range p {
		if seen[v] {
			t.Fatalf("Perm repeats %d", v)
		}
		seen[v] = true
	}
	q := NewRand(7, 2).Perm(100)
	for i := range p {
		if p[i] != q[i] {
			t.Fatal("Perm with the same seed and stream differs")
		}
	}
}

// The named streams keep their values: they are part of every seeded
// result (a run, a generated sample, a corrupted copy, the toy data).
// Changing one changes results; this test and autoencoder's pinned runs say
// so.
func TestNamedStreamValues(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"StreamInit", StreamInit, 1},
		{"StreamSplit", StreamSplit, 1 << 20},
		{"StreamShuffle", StreamShuffle, 2 << 20},
		{"StreamNoise", StreamNoise, 1 << 40},
		{"StreamLatent", StreamLatent, 2 << 40},
		{"StreamProject", StreamProject, 3 << 40},
		{"StreamValNoise", StreamValNoise, 1<<40 - 1<<32},
		{"StreamImageNoise", StreamImageNoise, 1<<40 - 2<<32},
		{"StreamChunk", StreamChunk, 5 << 40},
		{"StreamSample", StreamSample, 4 << 40},
		{"StreamCorrupt", StreamCorrupt, 5 << 40},
		{"StreamToyMix", StreamToyMix, 7 << 44},
		{"StreamToyFactor", StreamToyFactor, 7<<44 + 1},
		{"StreamToyPick", StreamToyPick, 7<<44 + 2},
		{"StreamToyNoise", StreamToyNoise, 7<<44 + 3},
	} {
		if c.got != c.want {
			t.Errorf("%s = %#x, was %#x: a changed stream changes every seeded result that draws from it", c.name, c.got, c.want)
		}
	}
}
