package cu

import (
	"errors"
	"math"
	"runtime"
	"unsafe"
)

// MaxArgs is the number of kernel arguments an Args holds.
const MaxArgs = 64

// argSlot is the size of one argument slot: every argument gets its own
// 8-byte, 8-byte-aligned slot, which satisfies the alignment of every
// scalar kernel parameter type. cuLaunchKernel reads each parameter through
// its pointer at the parameter's own size (per the kernel's signature), so a
// 4-byte value sits in the low 4 bytes of its slot (little-endian) and the
// rest of the slot is zero and never read.
const argSlot = 8

var (
	errArgsFreed   = errors.New("cu: Args used after Free")
	errArgsTooMany = errors.New("cu: more than 64 kernel arguments (cu.MaxArgs)")
	errArgsNoMem   = errors.New("cu: Args: out of host memory")
)

// Args holds the arguments of one kernel launch in C memory, laid out as
// cuLaunchKernel's kernelParams wants them: MaxArgs 8-byte value slots,
// followed by an array of MaxArgs pointers, pointer i pointing at slot i
// (filled once by NewArgs). Appending writes a value into the next slot, so
// Reset and the append methods allocate nothing and a launch passes only C
// memory to C (cgo pointer rules). The driver copies the values during
// Launch (also when a stream is being captured), so an Args can be Reset
// and refilled right after Launch returns.
//
// Errors (too many arguments, use after Free) are sticky until Reset and
// are returned by Launch; the append methods never panic. An Args is not
// safe for concurrent use; give each goroutine its own.
type Args struct {
	base    unsafe.Pointer // C memory: MaxArgs value slots, then MaxArgs pointers
	n       int
	sizes   [MaxArgs]uint8
	err     error
	cleanup runtime.Cleanup
}

// NewArgs allocates an empty argument list. Allocate once and reuse it
// (Reset) for every launch; Free it when done (a forgotten Args is freed
// when garbage collected).
func NewArgs() *Args {
	a := &Args{}
	base := cMalloc(2 * MaxArgs * argSlot)
	if base == nil {
		a.err = errArgsNoMem
		return a
	}
	a.base = base
	for i := 0; i < MaxArgs; i++ {
		*(*uintptr)(unsafe.Add(base, (MaxArgs+i)*argSlot)) = uintptr(base) + uintptr(i*argSlot)
	}
	a.cleanup = runtime.AddCleanup(a, cFree, base)
	return a
}

// Reset empties the list (and clears a sticky error) and returns a.
func (a *Args) Reset() *Args {
	a.n = 0
	a.err = nil
	if a.base == nil {
		a.err = errArgsFreed
	}
	return a
}

// Len is the number of arguments appended since the last Reset.
func (a *Args) Len() int { return a.n }

// Err is the sticky error of the list (nil if none).
func (a *Args) Err() error { return a.err }

func (a *Args) put(v uint64, size uint8) *Args {
	if a.err != nil {
		return a
	}
	if a.base == nil {
		a.err = errArgsFreed
		return a
	}
	if a.n >= MaxArgs {
		a.err = errArgsTooMany
		return a
	}
	*(*uint64)(unsafe.Add(a.base, a.n*argSlot)) = v
	a.sizes[a.n] = size
	a.n++
	return a
}

// Ptr appends a device pointer (8 bytes: T* parameters).
func (a *Args) Ptr(p DevicePtr) *Args { return a.put(uint64(p), 8) }

// I32 appends a 32-bit int (int parameters: pass int32, never a Go int).
func (a *Args) I32(v int32) *Args { return a.put(uint64(uint32(v)), 4) }

// U32 appends a 32-bit unsigned int.
func (a *Args) U32(v uint32) *Args { return a.put(uint64(v), 4) }

// I64 appends a 64-bit int (long long).
func (a *Args) I64(v int64) *Args { return a.put(uint64(v), 8) }

// U64 appends a 64-bit unsigned int (unsigned long long, size_t).
func (a *Args) U64(v uint64) *Args { return a.put(v, 8) }

// F32 appends a float.
func (a *Args) F32(v float32) *Args { return a.put(uint64(math.Float32bits(v)), 4) }

// F64 appends a double.
func (a *Args) F64(v float64) *Args { return a.put(math.Float64bits(v), 8) }

// Free releases the C memory. Later use records an error (returned by
// Launch) instead of touching freed memory. A second Free is a no-op.
func (a *Args) Free() {
	if a.base == nil {
		return
	}
	a.cleanup.Stop()
	cFree(a.base)
	a.base = nil
	a.n = 0
	a.err = errArgsFreed
}

// paramsAddr is the address of the kernelParams pointer array.
func (a *Args) paramsAddr() uintptr { return uintptr(a.base) + MaxArgs*argSlot }

// slot returns the bytes of argument i as the driver would read them (its
// own size from its 8-byte slot) and the slot's offset from the start of the
// value area. For tests.
func (a *Args) slot(i int) (value []byte, offset uintptr) {
	p := *(*uintptr)(unsafe.Add(a.base, (MaxArgs+i)*argSlot))
	offset = p - uintptr(a.base)
	return unsafe.Slice((*byte)(unsafe.Add(a.base, offset)), a.sizes[i]), offset
}
