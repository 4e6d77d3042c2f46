package cu

// Tests against a real driver. Each skips with the reason when Init fails,
// unless AEGPU_CU_REQUIRE_DRIVER=1 (then they fail). fake_test.go runs them
// all against testdata/fakecuda, a host-side fake libcuda.so.1; on a GPU
// machine they run against the real driver and testdata/testkernels.ptx.

import (
	"errors"
	"math"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"unsafe"
)

var (
	gpuOnce sync.Once
	gpuCtx  *Context
	gpuErr  error
)

// gpu returns the process-wide test context (retained once, never released,
// so the tests do not pay for primary-context re-creation each), or skips.
func gpu(t *testing.T) *Context {
	t.Helper()
	gpuOnce.Do(func() {
		if gpuErr = Init(); gpuErr != nil {
			return
		}
		gpuCtx, gpuErr = RetainPrimary(0)
	})
	if gpuErr != nil {
		if os.Getenv(envRequireGPU) == "1" {
			t.Fatalf("driver required (%s=1): %v", envRequireGPU, gpuErr)
		}
		t.Skipf("no CUDA driver: %v", gpuErr)
	}
	return gpuCtx
}

func fakeDriver() bool { return os.Getenv(envFake) == "1" }

var (
	modOnce sync.Once
	testMod Module
	modErr  error
)

// testModule loads testdata/testkernels.ptx once.
func testModule(t *testing.T) Module {
	t.Helper()
	gpu(t)
	modOnce.Do(func() {
		ptx, err := os.ReadFile("testdata/testkernels.ptx")
		if err != nil {
			modErr = err
			return
		}
		testMod, modErr = ModuleLoadData(append(ptx, 0)) // PTX must be NUL-terminated
	})
	if modErr != nil {
		t.Fatalf("loading test kernels: %v", modErr)
	}
	return testMod
}

func function(t *testing.T, name string) Function {
	t.Helper()
	f, err := testModule(t).Function(name)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func alloc(t *testing.T, bytes int64) DevicePtr {
	t.Helper()
	p, err := MemAlloc(bytes)
	must(t, err)
	t.Cleanup(func() { MemFree(p) })
	return p
}

func TestGPUDeviceQuery(t *testing.T) {
	gpu(t)
	v, err := DriverVersion()
	must(t, err)
	n, err := DeviceCount()
	must(t, err)
	if v < 11040 || n < 1 {
		t.Fatalf("driver version %d, %d devices", v, n)
	}
	for i := 0; i < n; i++ {
		d, err := Device(i)
		must(t, err)
		t.Logf("driver %d; device %+v", v, d)
		if d.Ordinal != i || d.Name == "" || d.Major < 3 || d.SMs < 1 || d.TotalMem <= 0 ||
			d.MaxSharedPerBlockOptin < d.MaxSharedPerBlock || d.WarpSize != 32 || d.MaxThreadsPerBlock < 512 {
			t.Errorf("implausible %+v", d)
		}
	}
	_, err = Device(n)
	var e *Error
	if !errors.As(err, &e) || e.Code != 101 { // CUDA_ERROR_INVALID_DEVICE
		t.Errorf("Device(%d) = %v, want CUDA_ERROR_INVALID_DEVICE", n, err)
	}
	free, total, err := MemGetInfo()
	must(t, err)
	if free <= 0 || free > total {
		t.Errorf("MemGetInfo = %d, %d", free, total)
	}
}

func TestGPUContextRetainRelease(t *testing.T) {
	gpu(t)
	c, err := RetainPrimary(0)
	must(t, err)
	if c.Ordinal() != 0 {
		t.Errorf("Ordinal = %d", c.Ordinal())
	}
	if !c.Automatic() {
		t.Error("the only device's primary context is not the automatic one")
	}
	must(t, c.SetCurrent())
	must(t, c.Release())
	must(t, c.Release()) // no-op
	if c.Automatic() {
		t.Error("a released context still reports Automatic")
	}
	if err := c.SetCurrent(); err == nil {
		t.Error("SetCurrent on a released Context succeeded")
	}
	// The test context (still retained) keeps working after the extra
	// Release, on this thread as well.
	must(t, gpu(t).SetCurrent())
	p := alloc(t, 4096)
	must(t, MemsetD32Async(p, 1, 1024, 0))
	must(t, Synchronize())
}

func TestGPUAllocCopyRoundTrip(t *testing.T) {
	gpu(t)
	const n = 1 << 16
	src := make([]float32, n)
	for i := range src {
		src[i] = float32(i) * 0.5
	}
	p := alloc(t, n*4)
	q := alloc(t, n*4)
	must(t, MemcpyHtoD(p, unsafe.Pointer(&src[0]), n*4))
	must(t, MemcpyDtoDAsync(q, p, n*4, 0))
	dst := make([]float32, n)
	must(t, MemcpyDtoH(unsafe.Pointer(&dst[0]), q, n*4))
	for i := range dst {
		if dst[i] != src[i] {
			t.Fatalf("dst[%d] = %v, want %v", i, dst[i], src[i])
		}
	}
	// memset of 32-bit words, then read back a sub-range at an offset.
	must(t, MemsetD32Async(p.Add(8*4), math.Float32bits(-2), 16, 0))
	must(t, MemcpyDtoH(unsafe.Pointer(&dst[0]), p, 32*4))
	for i := 0; i < 32; i++ {
		want := src[i]
		if i >= 8 && i < 24 {
			want = -2
		}
		if dst[i] != want {
			t.Fatalf("after memset dst[%d] = %v, want %v", i, dst[i], want)
		}
	}
	// Zero-byte copies are no-ops, negative sizes errors.
	must(t, MemcpyHtoD(p, nil, 0))
	if err := MemcpyHtoD(p, unsafe.Pointer(&src[0]), -4); err == nil {
		t.Error("negative size accepted")
	}
	if _, err := MemAlloc(0); err == nil {
		t.Error("MemAlloc(0) accepted")
	}
	must(t, MemFree(0))
}

func TestGPUOutOfMemory(t *testing.T) {
	gpu(t)
	_, total, err := MemGetInfo()
	must(t, err)
	_, err = MemAlloc(2 * total)
	if !IsOutOfMemory(err) {
		t.Fatalf("MemAlloc(2×total) = %v, want CUDA_ERROR_OUT_OF_MEMORY", err)
	}
	if err.Error() != "cuMemAlloc_v2: CUDA_ERROR_OUT_OF_MEMORY" {
		t.Errorf("message %q", err)
	}
}

func TestGPUPinnedBuffers(t *testing.T) {
	gpu(t)
	const n = 4096
	h, err := HostAlloc(n * 4)
	must(t, err)
	f := h.Float32s()
	if len(f) != n || h.Len() != n*4 || len(h.Bytes()) != n*4 || h.Ptr() == nil {
		t.Fatalf("HostBuffer: len %d Len %d", len(f), h.Len())
	}
	for i := range f {
		f[i] = float32(i)
	}
	s, err := StreamCreate(true)
	must(t, err)
	defer s.Destroy()
	p := alloc(t, n*4)
	must(t, MemcpyHtoDAsync(p, h.Ptr(), n*4, s))
	must(t, s.Synchronize())
	clear(f)
	must(t, MemcpyDtoHAsync(h.Ptr(), p, n*4, s))
	must(t, s.Synchronize())
	for i := range f {
		if f[i] != float32(i) {
			t.Fatalf("f[%d] = %v", i, f[i])
		}
	}
	must(t, h.Free())
	must(t, h.Free()) // no-op
	if h.Float32s() != nil || h.Ptr() != nil {
		t.Error("accessors after Free")
	}
	if _, err := HostAlloc(0); err == nil {
		t.Error("HostAlloc(0) accepted")
	}
}

func TestGPULaunchArgs(t *testing.T) {
	gpu(t)
	f := function(t, "aegpu_test_args")
	out := alloc(t, 6*8)
	must(t, MemsetD32Async(out, 0xffffffff, 12, 0))
	a := NewArgs()
	defer a.Free()
	a.Ptr(out).I32(-7).I64(-1 << 40).F32(2.5).U64(1<<63 | 5).I32(123456).F64(math.Pi)
	must(t, Launch(f, [3]uint32{1, 1, 1}, [3]uint32{32, 1, 1}, 0, 0, a))
	var got [6]uint64
	must(t, MemcpyDtoH(unsafe.Pointer(&got[0]), out, 6*8))
	want := [6]uint64{
		uint64(math.MaxUint64 - 6), // int -7 sign-extended
		uint64(1<<64 - 1<<40),
		uint64(math.Float32bits(2.5)),
		1<<63 | 5,
		123456,
		math.Float64bits(math.Pi),
	}
	if got != want {
		t.Errorf("kernel saw %#x\nwant          %#x", got, want)
	}
}

func TestGPUSharedMemoryAttribute(t *testing.T) {
	gpu(t)
	d, err := Device(0)
	must(t, err)
	f := function(t, "aegpu_test_shared")
	const n = 16 << 10 // ints: 64 KiB of dynamic shared memory
	if d.MaxSharedPerBlockOptin < n*4 {
		t.Skipf("device opt-in shared memory %d < %d", d.MaxSharedPerBlockOptin, n*4)
	}
	out := alloc(t, n*4)
	a := NewArgs()
	defer a.Free()
	a.Ptr(out).I32(n)
	err = Launch(f, [3]uint32{1, 1, 1}, [3]uint32{256, 1, 1}, n*4, 0, a)
	if err == nil {
		err = Synchronize()
	}
	if err == nil {
		t.Error("64 KiB dynamic shared memory without opt-in was accepted")
	}
	must(t, f.SetMaxDynamicShared(n*4))
	must(t, Launch(f, [3]uint32{1, 1, 1}, [3]uint32{256, 1, 1}, n*4, 0, a))
	got := make([]int32, n)
	must(t, MemcpyDtoH(unsafe.Pointer(&got[0]), out, n*4))
	for i, v := range got {
		if v != int32(i) {
			t.Fatalf("out[%d] = %d", i, v)
		}
	}
	if err := f.SetMaxDynamicShared(d.MaxSharedPerBlockOptin + 1<<20); err == nil {
		t.Error("SetMaxDynamicShared above the opt-in limit accepted")
	}
}

func TestGPUKernelErrors(t *testing.T) {
	m := testModule(t)
	_, err := m.Function("no_such_kernel")
	var e *Error
	if !errors.As(err, &e) || e.Code != 500 || !strings.Contains(err.Error(), `"no_such_kernel"`) {
		t.Errorf("Function(no_such_kernel) = %v, want CUDA_ERROR_NOT_FOUND naming the kernel", err)
	}
	if _, err := ModuleLoadData([]byte("not an image\x00")); err == nil {
		t.Error("garbage image loaded")
	}
	if _, err := ModuleLoadData(nil); err == nil {
		t.Error("empty image loaded")
	}
	f := function(t, "aegpu_test_saxpy")
	a := NewArgs()
	defer a.Free()
	a.Ptr(0).Ptr(0).F32(1).I32(0)
	err = Launch(f, [3]uint32{1, 1, 1}, [3]uint32{2048, 1, 1}, 0, 0, a) // > 1024 threads
	if !errors.As(err, &e) || e.Call != "cuLaunchKernel" {
		t.Errorf("oversized block: %v", err)
	}
	// Unloading a loaded module works, and a second module is independent.
	ptx, _ := os.ReadFile("testdata/testkernels.ptx")
	m2, err := ModuleLoadData(append(ptx, 0))
	must(t, err)
	must(t, m2.Unload())
	must(t, Module(0).Unload())
}

func saxpyArgs(a *Args, y, x DevicePtr, s float32, n int) *Args {
	return a.Reset().Ptr(y).Ptr(x).F32(s).I32(int32(n))
}

func TestGPUStreamEventTiming(t *testing.T) {
	gpu(t)
	const n = 1 << 20
	saxpy := function(t, "aegpu_test_saxpy")
	s1, err := StreamCreate(true)
	must(t, err)
	defer s1.Destroy()
	s2, err := StreamCreate(false)
	must(t, err)
	defer s2.Destroy()
	start, err := EventCreate(true)
	must(t, err)
	defer start.Destroy()
	end, err := EventCreate(true)
	must(t, err)
	defer end.Destroy()
	sync, err := EventCreate(false)
	must(t, err)
	defer sync.Destroy()

	h, err := HostAlloc(n * 4)
	must(t, err)
	defer h.Free()
	f := h.Float32s()
	for i := range f {
		f[i] = 1
	}
	x := alloc(t, n*4)
	y := alloc(t, n*4)
	a := NewArgs()
	defer a.Free()

	must(t, start.Record(s1))
	must(t, MemcpyHtoDAsync(x, h.Ptr(), n*4, s1))
	must(t, MemsetD32Async(y, math.Float32bits(3), n, s1))
	for i := 0; i < 10; i++ { // y = 3 + 10·2·1 = 23
		must(t, Launch(saxpy, [3]uint32{256, 1, 1}, [3]uint32{256, 1, 1}, 0, s1, saxpyArgs(a, y, x, 2, n)))
	}
	must(t, end.Record(s1))
	must(t, sync.Record(s1))
	// s2 waits for s1's work, then copies the result back.
	must(t, s2.WaitEvent(sync))
	must(t, MemcpyDtoHAsync(h.Ptr(), y, n*4, s2))
	must(t, s2.Synchronize())
	must(t, end.Synchronize())
	for i, v := range f {
		if v != 23 {
			t.Fatalf("y[%d] = %v, want 23", i, v)
		}
	}
	ms, err := ElapsedMs(start, end)
	must(t, err)
	if ms < 0 || ms > 10000 {
		t.Errorf("ElapsedMs = %v", ms)
	}
	t.Logf("HtoD 4 MiB + memset + 10 saxpy over 1M floats: %.3f ms", ms)
	if _, err := ElapsedMs(start, sync); err == nil {
		t.Error("ElapsedMs with a non-timing event succeeded")
	}
	must(t, Stream(0).Destroy()) // no-op
	must(t, Event(0).Destroy())
}

func TestGPUGraphCapture(t *testing.T) {
	gpu(t)
	const n = 4096
	saxpy := function(t, "aegpu_test_saxpy")
	s, err := StreamCreate(true)
	must(t, err)
	defer s.Destroy()
	x := alloc(t, n*4)
	y := alloc(t, n*4)
	h, err := HostAlloc(n * 4)
	must(t, err)
	defer h.Free()
	f := h.Float32s()
	for i := range f {
		f[i] = -1
	}
	a := NewArgs()
	defer a.Free()

	// x = 1.5; y = x; y = 2·x + y (= 4.5); h = y.
	must(t, s.BeginCapture())
	must(t, MemsetD32Async(x, math.Float32bits(1.5), n, s))
	must(t, MemcpyDtoDAsync(y, x, n*4, s))
	must(t, Launch(saxpy, [3]uint32{16, 1, 1}, [3]uint32{256, 1, 1}, 0, s, saxpyArgs(a, y, x, 2, n)))
	// The launch's arguments were copied: overwriting Args must not matter.
	saxpyArgs(a, 0, 0, 0, 0)
	must(t, MemcpyDtoHAsync(h.Ptr(), y, n*4, s))
	g, err := s.EndCapture()
	must(t, err)
	x1, err := g.Instantiate()
	must(t, err)
	must(t, g.Destroy())
	defer x1.Destroy()

	must(t, s.Synchronize())
	if f[0] != -1 {
		t.Fatalf("capture executed work: h[0] = %v", f[0])
	}
	for replay := 0; replay < 3; replay++ {
		for i := range f {
			f[i] = -1
		}
		must(t, x1.Launch(s))
		must(t, s.Synchronize())
		for i, v := range f {
			if v != 4.5 {
				t.Fatalf("replay %d: h[%d] = %v, want 4.5", replay, i, v)
			}
		}
	}
	if err := Stream(0).BeginCapture(); err == nil {
		t.Error("capture of the legacy stream accepted")
	}
	must(t, Graph(0).Destroy())
	must(t, GraphExec(0).Destroy())
}

// osThread runs functions on one OS thread of its own (a goroutine locked
// to it; the thread exits after stop).
type osThread struct{ fns chan func() }

func newOSThread() *osThread {
	w := &osThread{fns: make(chan func())}
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		for fn := range w.fns {
			fn()
		}
	}()
	return w
}

func (w *osThread) do(fn func()) {
	done := make(chan struct{})
	w.fns <- func() { fn(); close(done) }
	<-done
}

func (w *osThread) stop() { close(w.fns) }

// TestGPUCaptureAcrossThreads: a capture begun on one OS thread and ended
// on another works in the default (relaxed) mode — what happens when a
// goroutine migrates between BeginCapture and EndCapture.
func TestGPUCaptureAcrossThreads(t *testing.T) {
	gpu(t)
	s, err := StreamCreate(true)
	must(t, err)
	defer s.Destroy()
	p := alloc(t, 1024)
	t1, t2 := newOSThread(), newOSThread()
	defer t1.stop()
	defer t2.stop()
	var err1, err2 error
	t1.do(func() {
		if err1 = s.BeginCapture(); err1 == nil {
			err2 = MemsetD32Async(p, 7, 256, s)
		}
	})
	must(t, err1)
	must(t, err2)
	var g Graph
	t2.do(func() { g, err = s.EndCapture() })
	must(t, err)
	must(t, g.Destroy())
	if fakeDriver() {
		// The stricter modes need EndCapture on the beginning thread; the
		// fake enforces that like the real driver
		// (CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD), which is why
		// BeginCapture uses the relaxed mode.
		t1.do(func() { err = s.BeginCaptureMode(CaptureModeThreadLocal) })
		must(t, err)
		t2.do(func() { g, err = s.EndCapture() })
		var e *Error
		if !errors.As(err, &e) || e.Code != 908 {
			t.Errorf("thread-local capture ended on another thread: %v", err)
		}
		t1.do(func() { g, err = s.EndCapture() })
		must(t, err)
		must(t, g.Destroy())
	}
}

// TestGPUContextOnFreshThreads: calls from OS threads that never had the
// context made current (a goroutine can land on one at any call) work
// without SetCurrent or LockOSThread in the caller.
func TestGPUContextOnFreshThreads(t *testing.T) {
	gpu(t)
	var wg sync.WaitGroup
	errs := make(chan error, 128)
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			runtime.LockOSThread() // never unlocked: each goroutine ends its thread
			p, err := MemAlloc(4096)
			if err != nil {
				errs <- err
				return
			}
			defer MemFree(p)
			if err := MemsetD32Async(p, uint32(g), 1024, 0); err != nil {
				errs <- err
				return
			}
			runtime.Gosched()
			var v [4]uint32
			if err := MemcpyDtoH(unsafe.Pointer(&v[0]), p, 16); err != nil {
				errs <- err
				return
			}
			if v[3] != uint32(g) {
				errs <- errors.New("wrong value read back")
			}
		}(g)
	}
	// And plain goroutines, free to migrate.
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if _, _, err := MemGetInfo(); err != nil {
					errs <- err
					return
				}
				runtime.Gosched()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestGPUAllocator(t *testing.T) {
	gpu(t)
	a := NewAllocator(DriverBlocks())
	p1, err := a.Alloc(1000)
	must(t, err)
	must(t, a.Free(p1))
	p2, err := a.Alloc(900)
	must(t, err)
	if p2 != p1 {
		t.Errorf("same class not reused: %#x then %#x", p1, p2)
	}
	if err := a.Free(p1); err != nil {
		t.Fatal(err)
	}
	if err := a.Free(p1); err == nil {
		t.Error("double free not reported")
	}
	_, total, err := MemGetInfo()
	must(t, err)
	_, err = a.Alloc(2 * total)
	var oom *OutOfMemoryError
	if !errors.As(err, &oom) || oom.Total != total || oom.Free <= 0 || !IsOutOfMemory(err) {
		t.Fatalf("Alloc(2×total) = %v, want *OutOfMemoryError with Total %d", err, total)
	}
	t.Logf("%v", err)
	if s := a.Stats(); s.Cached != 0 || s.OOMRetries != 1 {
		t.Errorf("OOM did not release the cache: %+v", s)
	}
	must(t, a.ReleaseCached())
}

// TestGPUFakeErrorNames (fake driver only): error names come from the
// driver's cuGetErrorName when it knows the code, else from the cuda.h table.
func TestGPUFakeErrorNames(t *testing.T) {
	if !fakeDriver() {
		t.Skip("needs the fake driver's error hook")
	}
	f := function(t, "aegpu_test_saxpy")
	// The fake's cuFuncSetAttribute fails with code -value for value < 0.
	err := f.SetMaxDynamicShared(-4242)
	if err == nil || err.Error() != "cuFuncSetAttribute: CUDA_ERROR_FAKE_4242" {
		t.Errorf("driver-named error: %v", err)
	}
	err = f.SetMaxDynamicShared(-909) // the fake's cuGetErrorName does not know 909
	if err == nil || err.Error() != "cuFuncSetAttribute: CUDA_ERROR_TIMEOUT" {
		t.Errorf("table-named error: %v", err)
	}
	err = f.SetMaxDynamicShared(-77777)
	if err == nil || err.Error() != "cuFuncSetAttribute: CUresult 77777" {
		t.Errorf("unnamed error: %v", err)
	}
}

// TestGPUHotPathNoAllocations: a launch, an async copy from pinned memory,
// a memset and an event record allocate nothing on the Go heap.
func TestGPUHotPathNoAllocations(t *testing.T) {
	gpu(t)
	const n = 1024
	saxpy := function(t, "aegpu_test_saxpy")
	s, err := StreamCreate(true)
	must(t, err)
	defer s.Destroy()
	e, err := EventCreate(false)
	must(t, err)
	defer e.Destroy()
	h, err := HostAlloc(n * 4)
	must(t, err)
	defer h.Free()
	x, y := alloc(t, n*4), alloc(t, n*4)
	a := NewArgs()
	defer a.Free()
	var firstErr error
	allocs := testing.AllocsPerRun(100, func() {
		for _, err := range []error{
			MemcpyHtoDAsync(x, h.Ptr(), n*4, s),
			MemsetD32Async(y, 0, n, s),
			Launch(saxpy, [3]uint32{4, 1, 1}, [3]uint32{256, 1, 1}, 0, s, saxpyArgs(a, y, x, 1, n)),
			e.Record(s),
		} {
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}
	})
	must(t, firstErr)
	must(t, s.Synchronize())
	if allocs != 0 {
		t.Errorf("%v allocations per copy+memset+launch+record, want 0", allocs)
	}
}

// BenchmarkGPULaunch measures the host cost of one kernel launch through
// the binding (cgo call, context check, driver enqueue).
func BenchmarkGPULaunch(b *testing.B) {
	if err := Init(); err != nil {
		b.Skipf("no CUDA driver: %v", err)
	}
	c, err := RetainPrimary(0)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Release()
	ptx, err := os.ReadFile("testdata/testkernels.ptx")
	if err != nil {
		b.Fatal(err)
	}
	m, err := ModuleLoadData(append(ptx, 0))
	if err != nil {
		b.Fatal(err)
	}
	defer m.Unload()
	f, err := m.Function("aegpu_test_saxpy")
	if err != nil {
		b.Fatal(err)
	}
	s, err := StreamCreate(true)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Destroy()
	x, _ := MemAlloc(4096)
	y, _ := MemAlloc(4096)
	defer MemFree(x)
	defer MemFree(y)
	a := NewArgs()
	defer a.Free()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := Launch(f, [3]uint32{1, 1, 1}, [3]uint32{256, 1, 1}, 0, s, saxpyArgs(a, y, x, 1, 1024)); err != nil {
			b.Fatal(err)
		}
		if i%1024 == 1023 {
			s.Synchronize() // keep the launch queue from filling
		}
	}
	s.Synchronize()
}
