package emu

// Test plumbing: guarded host buffers, tolerance checks, the CPU backend as
// reference, schedule rotation.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"

	"github.com/aegpu/aegpu/cpu_fallback"
	"github.com/aegpu/aegpu/engine"
)

// eps32 is the spacing of float32 at 1 (2⁻²³): one rounding is off by at
// most eps32/2 relative.
const eps32 = 1.0 / (1 << 23)

func need(t *testing.T) {
	t.Helper()
	if !Available {
		t.Skip("the CUDA emulator is not built in (it needs cgo, a C++20 compiler and Linux)")
	}
}

// Launches rotate through the emulator's schedules, so that every kernel
// runs under each of them across its cases; a case's results must not
// depend on the schedule (the kernels are deterministic), which the tests
// that compare variants bitwise rely on.
var modeTurn int

func nextMode() Mode {
	m := Modes[modeTurn%len(Modes)]
	modeTurn++
	SetMode(m)
	return m
}

// ---------------------------------------------------------------------------
// Buffers. Every view a kernel sees is placed one of four ways:
//
//   aligned     at a 16-byte aligned address inside a larger slice whose
//               other elements (guards) hold a NaN with a recognisable
//               payload: a kernel that writes outside its view is caught by
//               check, one that reads outside poisons its results with NaN;
//   misaligned  the same, one float past a 16-byte boundary (the kernels
//               must take their scalar paths);
//   fenceEnd    ending where an unmapped page begins, and
//   fenceStart  starting where one ends: any access just outside faults
//               (this catches out-of-bounds reads whose values never reach
//               a stored result, which the guards cannot).

type placement int

const (
	aligned placement = iota
	misaligned
	fenceEnd
	fenceStart
)

var placements = []placement{aligned, misaligned, fenceEnd, fenceStart}

func (p placement) String() string {
	return [...]string{"aligned", "misaligned", "fence-end", "fence-start"}[p]
}

// placeOf cycles through the placements by case number.
func placeOf(i int) placement { return placements[i%len(placements)] }

const (
	sentinelBits = 0x7fc0dead
	guard        = 64 // floats of guard on each side
)

var sentinel = math.Float32frombits(sentinelBits)

type gbuf struct {
	full  []float32 // nil for fenced views
	view  []float32
	off   int
	input bool
	orig  []float32
	name  string
}

func newBuf(name string, n int, misalign bool) *gbuf {
	full := make([]float32, n+2*guard+8)
	for i := range full {
		full[i] = sentinel
	}
	addr := uintptr(unsafe.Pointer(&full[0]))
	off := guard
	for (addr+uintptr(4*off))%16 != 0 {
		off++
	}
	if misalign {
		off++
	}
	return &gbuf{full: full, view: full[off : off+n : off+n], off: off, name: name}
}

// v is the view.
func (b *gbuf) v() []float32 { return b.view }

// set writes data into the view.
func (b *gbuf) set(data []float32) *gbuf { copy(b.view, data); return b }

// check verifies the guards and, for inputs, that the view is unchanged.
func (b *gbuf) check(t *testing.T) {
	t.Helper()
	bad := 0
	var msg strings.Builder
	for i, v := range b.full {
		if i >= b.off && i < b.off+len(b.view) {
			continue
		}
		if math.Float32bits(v) != sentinelBits {
			if bad < 4 {
				fmt.Fprintf(&msg, "\n\tguard element %d (view [%d, %d)) is %g", i, b.off, b.off+len(b.view), v)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%s: %d guard elements overwritten:%s", b.name, bad, msg.String())
	}
	if b.input {
		for i, v := range b.view {
			if math.Float32bits(v) != math.Float32bits(b.orig[i]) {
				t.Fatalf("%s: input modified at %d: %g, was %g", b.name, i, v, b.orig[i])
			}
		}
	}
}

// bufs collects a case's buffers for one check at the end.
type bufs struct {
	t   *testing.T
	all []*gbuf
	pl  placement
}

func newBufs(t *testing.T, pl placement) *bufs { return &bufs{t: t, pl: pl} }

func (s *bufs) place(name string, n int) *gbuf {
	var b *gbuf
	switch s.pl {
	case fenceEnd, fenceStart:
		v := fenced(s.t, n, s.pl == fenceEnd)
		for i := range v {
			v[i] = sentinel
		}
		b = &gbuf{view: v, name: name}
	default:
		b = newBuf(name, n, s.pl == misaligned)
	}
	s.all = append(s.all, b)
	return b
}

// in returns an input view holding data, checked unchanged by check.
func (s *bufs) in(name string, data []float32) []float32 {
	b := s.place(name, len(data)).set(data)
	b.input, b.orig = true, append([]float32(nil), data...)
	return b.v()
}

// inout returns a view holding data that the kernel may change.
func (s *bufs) inout(name string, data []float32) []float32 {
	return s.place(name, len(data)).set(data).v()
}

// out returns an n-element view filled with the sentinel (an output left
// unwritten then fails every comparison).
func (s *bufs) out(name string, n int) []float32 { return s.place(name, n).v() }

func (s *bufs) check() {
	s.t.Helper()
	for _, b := range s.all {
		b.check(s.t)
	}
}

// ---------------------------------------------------------------------------
// Comparisons.

// checkTol fails unless |got[i] − want[i]| ≤ allowed(i) for every i; a NaN
// want needs a NaN, an infinite want the same infinity.
func checkTol(t *testing.T, what string, got []float32, want []float64, allowed func(i int) float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	bad := 0
	var msg strings.Builder
	for i, g := range got {
		w, g64 := want[i], float64(g)
		var ok bool
		switch {
		case math.IsNaN(w):
			ok = math.IsNaN(g64)
		case math.IsInf(w, 0):
			ok = g64 == w
		default:
			ok = math.Abs(g64-w) <= allowed(i)
		}
		if !ok {
			if bad < 5 {
				fmt.Fprintf(&msg, "\n\t[%d] got %.9g, want %.9g (|diff| %.3g, allowed %.3g)", i, g64, w, math.Abs(g64-w), allowed(i))
			}
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%s: %d of %d values outside tolerance:%s", what, bad, len(got), msg.String())
	}
}

// checkClose is checkTol with |diff| ≤ abs + rel·|want|.
func checkClose(t *testing.T, what string, got []float32, want []float64, abs, rel float64) {
	t.Helper()
	checkTol(t, what, got, want, func(i int) float64 { return abs + rel*math.Abs(want[i]) })
}

// checkBits fails unless got and want are bitwise equal.
func checkBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	bad := 0
	var msg strings.Builder
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			if bad < 5 {
				fmt.Fprintf(&msg, "\n\t[%d] got %.9g (%#08x), want %.9g (%#08x)", i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
			}
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%s: %d of %d values differ bitwise:%s", what, bad, len(got), msg.String())
	}
}

func to64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

func maxAbs(x []float64) float64 {
	m := 0.0
	for _, v := range x {
		m = max(m, math.Abs(v))
	}
	return m
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// ---------------------------------------------------------------------------
// Random inputs: each case its own seeded generator.

type gen struct{ r *rand.Rand }

func newGen(seed uint64) gen { return gen{rand.New(rand.NewPCG(seed, 0xe1e1))} }

func (g gen) uniform(n int, lo, hi float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(lo + (hi-lo)*g.r.Float64())
	}
	return x
}

// ---------------------------------------------------------------------------
// The CPU backend as reference.

type cpuRef struct {
	t *testing.T
	b *cpu_fallback.Backend
}

func newCPU(t *testing.T) cpuRef {
	b := cpu_fallback.New(1)
	t.Cleanup(func() { b.Close() })
	return cpuRef{t, b}
}

// mat uploads data as a rows×cols matrix (nil data: zeros).
func (c cpuRef) mat(rows, cols int, data []float32) engine.Matrix {
	c.t.Helper()
	m, err := c.b.Alloc(rows, cols)
	must(c.t, err)
	if data != nil {
		must(c.t, c.b.Upload(m, data))
	}
	return m
}

func (c cpuRef) get(m engine.Matrix) []float32 {
	c.t.Helper()
	h := make([]float32, m.Len())
	must(c.t, c.b.Download(h, m))
	return h
}
