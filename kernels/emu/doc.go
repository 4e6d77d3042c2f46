// Package emu runs aegpu's CUDA kernels (kernels/aegpu.cu, the very sources
// of the fatbin) on the CPU, through a small CUDA emulator (cuda_emu.h)
// compiled by the host's C++ compiler with cgo: one host thread per CUDA
// thread, blocks one after another, __syncthreads a barrier, __shared__
// shared by the block. Its tests check every kernel of kernels/ABI.md
// against the CPU backend (cpu_fallback) and float64 references, on awkward
// sizes, under several thread schedules that expose shared-memory races and
// barrier divergence; see cuda_emu.h for what the emulator checks and what
// it cannot.
//
// The API mirrors the ABI: one function per kernel taking the launch's grid
// and block and the kernel's parameters, with host slices for device
// pointers (nil for a null pointer; a slice passes the address of its first
// element, so a sub-slice is a view at an offset). A call runs the whole
// grid before it returns. Launches are serialized.
//
// The emulator needs Linux (glibc's ucontext, ELF sections). Built without
// cgo, or for another system, every launcher returns ErrNoCgo and Available
// is false (the tests skip).
package emu

import "errors"

// Dim3 is a grid or block size; a zero component counts as 1.
type Dim3 struct{ X, Y, Z int }

// D1 is the one-dimensional Dim3 {x, 1, 1}.
func D1(x int) Dim3 { return Dim3{x, 1, 1} }

// Mode is a thread schedule of the emulator (see cuda_emu.h).
type Mode int

const (
	Concurrent    Mode = 0 // a block's threads run freely on the host's cores
	SerialForward Mode = 1 // one thread at a time between barriers, in threadIdx order
	SerialReverse Mode = 2 // the same, in reverse order
	SerialShuffle Mode = 3 // the same, in a pseudo-random order, new every phase
)

// Modes lists every schedule.
var Modes = []Mode{Concurrent, SerialForward, SerialReverse, SerialShuffle}

func (m Mode) String() string {
	switch m {
	case Concurrent:
		return "concurrent"
	case SerialForward:
		return "serial-forward"
	case SerialReverse:
		return "serial-reverse"
	case SerialShuffle:
		return "serial-shuffle"
	}
	return "Mode(?)"
}

// ErrNoCgo is returned by every launcher of a build without cgo.
var ErrNoCgo = errors.New("emu: not built in: the CUDA emulator needs cgo, a C++20 compiler and Linux")
