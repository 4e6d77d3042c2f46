package cu

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// fakeBlocks is a BlockSource with a memory limit and call counters.
type fakeBlocks struct {
	mu       sync.Mutex
	limit    int64
	used     int64
	next     DevicePtr
	live     map[DevicePtr]int64
	allocs   int
	frees    int
	failNext error // returned (once) by the next Alloc instead of allocating
	infoErr  error
}

func newFakeBlocks(limit int64) *fakeBlocks {
	return &fakeBlocks{limit: limit, next: 0x7000_0000_0000, live: map[DevicePtr]int64{}}
}

func (f *fakeBlocks) Alloc(n int64) (DevicePtr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.allocs++
	if err := f.failNext; err != nil {
		f.failNext = nil
		return 0, err
	}
	if f.used+n > f.limit {
		return 0, &Error{Call: "cuMemAlloc_v2", Code: codeOutOfMemory, Name: "CUDA_ERROR_OUT_OF_MEMORY"}
	}
	p := f.next
	f.next += DevicePtr(n)
	f.used += n
	f.live[p] = n
	return p, nil
}

func (f *fakeBlocks) Free(p DevicePtr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.live[p]
	if !ok {
		return &Error{Call: "cuMemFree_v2", Code: codeInvalidValue}
	}
	delete(f.live, p)
	f.used -= n
	f.frees++
	return nil
}

func (f *fakeBlocks) Info() (int64, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.infoErr != nil {
		return 0, 0, f.infoErr
	}
	return f.limit - f.used, f.limit, nil
}

func TestSizeClass(t *testing.T) {
	const MiB = 1 << 20
	for in, want := range map[int64]int64{
		0:           512,
		1:           512,
		512:         512,
		513:         1024,
		1000:        1024,
		4096:        4096,
		4097:        8192,
		600 << 10:   1 * MiB,
		1 * MiB:     1 * MiB,
		1*MiB + 1:   2 * MiB,
		3 * MiB:     4 * MiB,
		4 * MiB:     4 * MiB,
		4*MiB + 1:   6 * MiB,
		100*MiB - 7: 100 * MiB,
	} {
		if got := SizeClass(in); got != want {
			t.Errorf("SizeClass(%d) = %d, want %d", in, got, want)
		}
	}
	for n := int64(0); n < 8<<20; n += 4093 {
		c := SizeClass(n)
		if c < n || c%512 != 0 {
			t.Fatalf("SizeClass(%d) = %d: must be >= n and a multiple of 512", n, c)
		}
	}
}

func TestAllocatorReuseByClass(t *testing.T) {
	src := newFakeBlocks(1 << 30)
	a := NewAllocator(src)
	p1, err := a.Alloc(1000) // class 1024
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := a.Alloc(3 << 20) // class 4 MiB
	if err := a.Free(p1); err != nil {
		t.Fatal(err)
	}
	// Another class does not take the cached 1 KiB block.
	p3, _ := a.Alloc(2000)
	if p3 == p1 {
		t.Fatal("a 2 KiB request reused a 1 KiB block")
	}
	// The same class does.
	p4, _ := a.Alloc(600)
	if p4 != p1 {
		t.Fatalf("600-byte request got %#x, want the cached %#x", p4, p1)
	}
	a.Free(p2)
	p5, _ := a.Alloc(4 << 20)
	if p5 != p2 {
		t.Fatalf("4 MiB request got %#x, want the cached %#x", p5, p2)
	}
	s := a.Stats()
	if s.Allocs != 3 || s.Reuses != 2 || src.allocs != 3 {
		t.Errorf("Allocs %d Reuses %d (source allocs %d), want 3 2 3", s.Allocs, s.Reuses, src.allocs)
	}
	if want := int64(1024 + 2048 + 4<<20); s.InUse != want || s.Cached != 0 || s.Live != 3 {
		t.Errorf("InUse %d Cached %d Live %d, want %d 0 3", s.InUse, s.Cached, s.Live, want)
	}
}

func TestAllocatorStatsAndPeak(t *testing.T) {
	src := newFakeBlocks(1 << 30)
	a := NewAllocator(src)
	var ps []DevicePtr
	for i := 0; i < 4; i++ {
		p, err := a.Alloc(1 << 20)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		a.Free(p)
	}
	s := a.Stats()
	if s.InUse != 0 || s.Peak != 4<<20 || s.Cached != 4<<20 || s.Reserved() != 4<<20 {
		t.Errorf("after free: %+v", s)
	}
	p, _ := a.Alloc(100)
	s = a.Stats()
	if s.InUse != 512 || s.Peak != 4<<20 {
		t.Errorf("peak must stay: %+v", s)
	}
	if err := a.ReleaseCached(); err != nil {
		t.Fatal(err)
	}
	s = a.Stats()
	if s.Cached != 0 || s.SourceFrees != 4 || src.frees != 4 || src.used != 512 {
		t.Errorf("after ReleaseCached: %+v (source frees %d used %d)", s, src.frees, src.used)
	}
	a.Free(p)
	if s := a.Stats(); s.InUse != 0 || s.Cached != 512 || s.Live != 0 {
		t.Errorf("end: %+v", s)
	}
	// Alloc(0) is a minimum block, distinct from others.
	z1, _ := a.Alloc(0)
	z2, _ := a.Alloc(0)
	if z1 == 0 || z1 == z2 {
		t.Errorf("Alloc(0) = %#x, %#x", z1, z2)
	}
	if _, err := a.Alloc(-1); err == nil {
		t.Error("Alloc(-1) succeeded")
	}
}

func TestAllocatorOOMReleasesCacheAndRetries(t *testing.T) {
	const MiB = 1 << 20
	src := newFakeBlocks(10 * MiB)
	a := NewAllocator(src)
	// Fill 8 MiB with cached (freed) 4 MiB blocks.
	p1, _ := a.Alloc(4 * MiB)
	p2, _ := a.Alloc(4 * MiB)
	a.Free(p1)
	a.Free(p2)
	// 6 MiB does not fit next to the 8 MiB cache: the allocator must drop
	// the cache and retry.
	p, err := a.Alloc(6 * MiB)
	if err != nil {
		t.Fatalf("Alloc after cache release: %v", err)
	}
	s := a.Stats()
	if s.OOMRetries != 1 || s.Cached != 0 || s.SourceFrees != 2 || s.InUse != 6*MiB {
		t.Errorf("stats %+v", s)
	}
	_ = p
	// A request that cannot fit even with an empty cache.
	_, err = a.Alloc(5 * MiB)
	var oom *OutOfMemoryError
	if !errors.As(err, &oom) {
		t.Fatalf("Alloc(5 MiB) = %v, want *OutOfMemoryError", err)
	}
	if oom.Requested != 5*MiB || oom.Free != 4*MiB || oom.Total != 10*MiB {
		t.Errorf("OutOfMemoryError %+v", oom)
	}
	if !IsOutOfMemory(err) || !strings.Contains(err.Error(), "requested 5 MiB, 4 MiB free of 10 MiB") {
		t.Errorf("message %q", err)
	}
	var drv *Error
	if !errors.As(err, &drv) || drv.Code != codeOutOfMemory {
		t.Errorf("OutOfMemoryError does not wrap the driver error: %v", err)
	}
	if s := a.Stats(); s.OOMRetries != 2 || s.InUse != 6*MiB {
		t.Errorf("stats after failed alloc %+v", s)
	}
	// Info failing too: the message just omits the numbers.
	src.infoErr = errors.New("no info")
	_, err = a.Alloc(5 * MiB)
	if !errors.As(err, &oom) || oom.Total != 0 || err.Error() != "out of GPU memory: requested 5 MiB" {
		t.Errorf("with Info failing: %v", err)
	}
}

func TestAllocatorOOMThenRetrySucceedsWithoutCache(t *testing.T) {
	// A transient OOM (e.g. another process freed memory meanwhile): the
	// retry succeeds even though nothing was cached.
	src := newFakeBlocks(1 << 30)
	src.failNext = &Error{Call: "cuMemAlloc_v2", Code: codeOutOfMemory}
	a := NewAllocator(src)
	if _, err := a.Alloc(4096); err != nil {
		t.Fatalf("retry failed: %v", err)
	}
	if s := a.Stats(); s.OOMRetries != 1 || s.Allocs != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestAllocatorOtherErrorsNotRetried(t *testing.T) {
	src := newFakeBlocks(1 << 30)
	bad := &Error{Call: "cuMemAlloc_v2", Code: 201}
	src.failNext = bad
	a := NewAllocator(src)
	_, err := a.Alloc(4096)
	if !errors.Is(err, bad) || IsOutOfMemory(err) {
		t.Fatalf("Alloc = %v, want the wrapped context error", err)
	}
	if src.allocs != 1 || a.Stats().OOMRetries != 0 {
		t.Errorf("non-OOM error was retried (%d source allocs)", src.allocs)
	}
}

func TestAllocatorDoubleFree(t *testing.T) {
	src := newFakeBlocks(1 << 30)
	a := NewAllocator(src)
	p, _ := a.Alloc(4096)
	q, _ := a.Alloc(4096)
	if err := a.Free(p); err != nil {
		t.Fatal(err)
	}
	before := a.Stats()
	err := a.Free(p) // double free
	if err == nil || !strings.Contains(err.Error(), "double free") {
		t.Fatalf("double Free = %v", err)
	}
	if err := a.Free(0xdead000); err == nil { // foreign pointer
		t.Fatal("Free of a foreign pointer succeeded")
	}
	after := a.Stats()
	if after.BadFrees != 2 || after.Cached != before.Cached || after.InUse != before.InUse || after.Live != before.Live {
		t.Errorf("bad frees changed the state: before %+v after %+v", before, after)
	}
	if a.LastBadFree() == nil {
		t.Error("LastBadFree() = nil")
	}
	// The cache holds p once: two allocations of the class get p, then a
	// new block, never p twice.
	r1, _ := a.Alloc(4096)
	r2, _ := a.Alloc(4096)
	if r1 != p || r2 == p || r2 == q {
		t.Errorf("after double free: got %#x %#x (p %#x q %#x)", r1, r2, p, q)
	}
	if err := a.Free(0); err != nil {
		t.Errorf("Free(0) = %v", err)
	}
}

func TestAllocatorSourceReturnsLiveAddress(t *testing.T) {
	src := &dupSource{p: 0x1000}
	a := NewAllocator(src)
	if _, err := a.Alloc(512); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Alloc(512); err == nil {
		t.Fatal("second block at a live address accepted")
	}
}

type dupSource struct{ p DevicePtr }

func (d *dupSource) Alloc(int64) (DevicePtr, error) { return d.p, nil }
func (d *dupSource) Free(DevicePtr) error           { return nil }
func (d *dupSource) Info() (int64, int64, error)    { return 0, 0, nil }

func TestAllocatorConcurrent(t *testing.T) {
	src := newFakeBlocks(1 << 40)
	a := NewAllocator(src)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				n := int64(512 << ((g + i) % 12))
				p, err := a.Alloc(n)
				if err != nil {
					errs <- err
					return
				}
				if err := a.Free(p); err != nil {
					errs <- fmt.Errorf("free: %w", err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	s := a.Stats()
	if s.InUse != 0 || s.Live != 0 || s.BadFrees != 0 || s.Allocs+s.Reuses != 8*500 {
		t.Errorf("stats %+v", s)
	}
	if err := a.ReleaseCached(); err != nil || src.used != 0 {
		t.Errorf("ReleaseCached: %v, source still holds %d bytes", err, src.used)
	}
}

func TestAllocatorReleaseCachedError(t *testing.T) {
	src := newFakeBlocks(1 << 30)
	a := NewAllocator(src)
	p, _ := a.Alloc(512)
	a.Free(p)
	delete(src.live, p) // the source no longer knows p: its Free fails
	if err := a.ReleaseCached(); err == nil {
		t.Error("ReleaseCached hid the source's error")
	}
	if s := a.Stats(); s.Cached != 0 {
		t.Errorf("cache not emptied: %+v", s)
	}
}
