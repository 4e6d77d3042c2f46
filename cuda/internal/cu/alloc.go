package cu

import (
	"fmt"
	"math/bits"
	"sync"
)

// BlockSource is where an Allocator gets device memory from. DriverBlocks
// is the real one (MemAlloc, MemFree, MemGetInfo); tests use fakes.
type BlockSource interface {
	Alloc(bytes int64) (DevicePtr, error)
	Free(DevicePtr) error
	Info() (free, total int64, err error)
}

type driverBlocks struct{}

func (driverBlocks) Alloc(bytes int64) (DevicePtr, error) { return MemAlloc(bytes) }
func (driverBlocks) Free(p DevicePtr) error               { return MemFree(p) }
func (driverBlocks) Info() (int64, int64, error)          { return MemGetInfo() }

// DriverBlocks is the BlockSource backed by the driver (in the current
// context).
func DriverBlocks() BlockSource { return driverBlocks{} }

// Size classes.
const (
	// MinBlock is the smallest block and the rounding unit: every block is
	// a multiple of 512 bytes, so every pointer handed out is 512-byte
	// aligned (cuMemAlloc itself aligns to at least 256).
	MinBlock int64 = 512
	// SmallLimit: requests up to 1 MiB round up to a power of two
	// (512 B, 1 KiB, ..., 1 MiB); larger ones to a multiple of LargeStep.
	SmallLimit int64 = 1 << 20
	// LargeStep is the granularity of large blocks (2 MiB, the driver's
	// own allocation granularity for big buffers).
	LargeStep int64 = 2 << 20
)

// SizeClass is the block size an Allocator uses for a request of bytes:
// at least MinBlock; a power of two up to SmallLimit; above that, bytes
// rounded up to a multiple of LargeStep. A block is reused only by requests
// of exactly its class.
func SizeClass(bytes int64) int64 {
	if bytes <= MinBlock {
		return MinBlock
	}
	if bytes <= SmallLimit {
		return 1 << bits.Len64(uint64(bytes-1))
	}
	return (bytes + LargeStep - 1) / LargeStep * LargeStep
}

// AllocStats are an Allocator's counters. Byte counts are of whole blocks
// (size classes), not of the requested sizes.
type AllocStats struct {
	InUse  int64 // bytes in blocks handed out and not yet freed
	Peak   int64 // highest InUse so far
	Cached int64 // bytes in freed blocks kept for reuse
	Allocs int64 // blocks obtained from the BlockSource
	Reuses int64 // requests served from the cache
	// Added beyond the brief:
	Live        int64 // blocks handed out and not yet freed
	SourceFrees int64 // blocks returned to the BlockSource (ReleaseCached, OOM retry)
	OOMRetries  int64 // times an out-of-memory failure released the cache and retried
	BadFrees    int64 // Free calls with a pointer not handed out (double free, foreign pointer)
}

// Reserved is the device memory the allocator holds: InUse + Cached.
func (s AllocStats) Reserved() int64 { return s.InUse + s.Cached }

// Allocator is a caching device allocator: Free keeps the block in a
// per-size-class cache and the next Alloc of the same class takes it back,
// instead of calling cuMemFree/cuMemAlloc for every buffer. It is safe for
// concurrent use.
//
// Reuse is not synchronized with the device: a freed block may be handed
// out again at once. That is correct when all work touching the
// allocator's blocks is queued on one stream (the new owner's work runs
// after the old owner's), or when the caller synchronizes before Free. A
// block whose address is baked into a captured graph must stay allocated
// while the graph may be launched.
//
// When the BlockSource reports out of memory (IsOutOfMemory), Alloc
// releases every cached block and retries once; if that fails too it
// returns an *OutOfMemoryError.
type Allocator struct {
	mu      sync.Mutex
	src     BlockSource
	free    map[int64][]DevicePtr // class -> cached blocks (LIFO)
	live    map[DevicePtr]int64   // handed-out block -> class
	stats   AllocStats
	lastBad error
}

// NewAllocator returns an empty Allocator over backing.
func NewAllocator(backing BlockSource) *Allocator {
	return &Allocator{
		src:  backing,
		free: map[int64][]DevicePtr{},
		live: map[DevicePtr]int64{},
	}
}

// Alloc returns a block of at least bytes (>= 0; 0 gets a MinBlock block)
// that is not zeroed.
func (a *Allocator) Alloc(bytes int64) (DevicePtr, error) {
	if bytes < 0 {
		return 0, fmt.Errorf("cu: Allocator.Alloc: negative size %d", bytes)
	}
	class := SizeClass(bytes)
	a.mu.Lock()
	defer a.mu.Unlock()
	if list := a.free[class]; len(list) > 0 {
		p := list[len(list)-1]
		a.free[class] = list[:len(list)-1]
		a.stats.Cached -= class
		a.stats.Reuses++
		a.handOut(p, class)
		return p, nil
	}
	p, err := a.src.Alloc(class)
	if err != nil && IsOutOfMemory(err) {
		a.stats.OOMRetries++
		// Free what we cache (errors ignored: the retry reports the outcome).
		_ = a.releaseCachedLocked()
		p, err = a.src.Alloc(class)
		if err != nil && IsOutOfMemory(err) {
			free, total, ierr := a.src.Info()
			if ierr != nil {
				free, total = 0, 0
			}
			return 0, &OutOfMemoryError{Requested: bytes, Free: free, Total: total, Err: err}
		}
	}
	if err != nil {
		return 0, fmt.Errorf("cu: Allocator.Alloc(%s): %w", FormatBytes(bytes), err)
	}
	if _, dup := a.live[p]; dup {
		// A BlockSource handing out a live address is broken; refuse
		// rather than alias two buffers.
		return 0, fmt.Errorf("cu: Allocator.Alloc: block source returned address %#x that is still in use", uint64(p))
	}
	a.stats.Allocs++
	a.handOut(p, class)
	return p, nil
}

func (a *Allocator) handOut(p DevicePtr, class int64) {
	a.live[p] = class
	a.stats.Live++
	a.stats.InUse += class
	if a.stats.InUse > a.stats.Peak {
		a.stats.Peak = a.stats.InUse
	}
}

// Free returns p to the cache. Free(0) is a no-op. A pointer that is not a
// live block of this allocator (a double free, or a pointer from elsewhere)
// changes nothing: it is counted in Stats().BadFrees, remembered for
// LastBadFree, and returned as an error. (The brief's Free had no result;
// callers that ignore it compile unchanged.)
func (a *Allocator) Free(p DevicePtr) error {
	if p == 0 {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	class, ok := a.live[p]
	if !ok {
		a.stats.BadFrees++
		a.lastBad = fmt.Errorf("cu: Allocator.Free(%#x): not an allocated block (double free?)", uint64(p))
		return a.lastBad
	}
	delete(a.live, p)
	a.stats.Live--
	a.stats.InUse -= class
	a.stats.Cached += class
	a.free[class] = append(a.free[class], p)
	return nil
}

// LastBadFree is the error of the most recent bad Free (nil if none).
func (a *Allocator) LastBadFree() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lastBad
}

// Stats returns a snapshot of the counters.
func (a *Allocator) Stats() AllocStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stats
}

// ReleaseCached returns every cached block to the BlockSource. Live blocks
// are untouched. It returns the first error; blocks that failed to free
// are dropped from the cache either way (their state is unknown).
func (a *Allocator) ReleaseCached() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.releaseCachedLocked()
}

func (a *Allocator) releaseCachedLocked() error {
	var first error
	for class, list := range a.free {
		for _, p := range list {
			if err := a.src.Free(p); err != nil && first == nil {
				first = fmt.Errorf("cu: Allocator.ReleaseCached: %w", err)
			}
			a.stats.SourceFrees++
			a.stats.Cached -= class
		}
		delete(a.free, class)
	}
	return first
}
