package cu

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Driver enum values used below (from cuda.h).
const (
	attrMaxThreadsPerBlock     = 1
	attrMaxSharedPerBlock      = 8
	attrWarpSize               = 10
	attrClockRate              = 13
	attrMultiprocessorCount    = 16
	attrMemoryClockRate        = 36
	attrGlobalMemoryBusWidth   = 37
	attrL2CacheSize            = 38
	attrComputeCapabilityMajor = 75
	attrComputeCapabilityMinor = 76
	attrMaxSharedPerSM         = 81
	attrMaxSharedPerBlockOptin = 97

	funcAttrMaxDynamicSharedSizeBytes = 8

	streamNonBlocking    = 0x1
	eventDisableTiming   = 0x2
	memHostAllocPortable = 0x1
)

var (
	initOnce sync.Once
	initErr  error
	loaded   atomic.Bool // Init succeeded: every entry point is resolved and cuInit returned 0
	initDone atomic.Bool // Init ran (with or without success)
)

// Init loads the driver once per process: dlopen("libcuda.so.1"), dlsym of
// every entry point this package uses, then cuInit(0). The result is cached;
// later calls (from any goroutine) return the same error or nil at once.
// Every error means "no usable driver" and wraps ErrNotLoaded.
func Init() error {
	initOnce.Do(func() {
		if buildErr != nil {
			initErr = buildErr
		} else if err := drvLoad(); err != nil {
			initErr = err
		} else if err := check("cuInit", drvInit()); err != nil {
			// Name the library, and the CUDA version it supports (which
			// needs no cuInit), next to the failure.
			lib := libName
			if v, r := drvDriverVersion(); r == 0 && v > 0 {
				lib = fmt.Sprintf("%s (CUDA %d.%d driver)", libName, v/1000, v%1000/10)
			}
			initErr = fmt.Errorf("%w: %s: %w", ErrNotLoaded, lib, err)
		} else {
			loaded.Store(true)
		}
		initDone.Store(true)
	})
	return initErr
}

var errNoInit = notLoaded("cu.Init has not been called")

// ready is the gate in front of every driver call: nil once Init succeeded,
// else the reason there is no driver (always wrapping ErrNotLoaded).
func ready() error {
	if loaded.Load() {
		return nil
	}
	if buildErr != nil {
		return buildErr
	}
	if initDone.Load() {
		return initErr
	}
	return errNoInit
}

// DriverVersion returns the CUDA version the driver supports, encoded as
// 1000*major + 10*minor (13000 for CUDA 13.0).
func DriverVersion() (int, error) {
	if err := ready(); err != nil {
		return 0, err
	}
	v, r := drvDriverVersion()
	return v, check("cuDriverGetVersion", r)
}

// DeviceCount returns the number of CUDA devices.
func DeviceCount() (int, error) {
	if err := ready(); err != nil {
		return 0, err
	}
	n, r := drvDeviceCount()
	return n, check("cuDeviceGetCount", r)
}

// DeviceInfo describes one device. Fields after SMs are best effort: a
// driver that no longer reports an attribute (CUDA 13 deprecates the clock
// rates) leaves it 0 rather than failing Device.
type DeviceInfo struct {
	Ordinal                int
	Name                   string
	Major, Minor           int   // compute capability
	SMs                    int   // multiprocessors
	TotalMem               int64 // bytes
	ClockKHz               int
	MemClockKHz            int
	BusWidth               int // bits
	L2Bytes                int
	MaxSharedPerBlockOptin int // bytes; the limit for Function.SetMaxDynamicShared
	// Added beyond the brief:
	MaxSharedPerBlock  int // bytes without opt-in (48 KiB)
	MaxSharedPerSM     int // bytes
	MaxThreadsPerBlock int
	WarpSize           int
}

// Device queries device ordinal. It needs no context.
func Device(ordinal int) (DeviceInfo, error) {
	if err := ready(); err != nil {
		return DeviceInfo{}, err
	}
	dev, r := drvDeviceGet(ordinal)
	if err := check("cuDeviceGet", r); err != nil {
		return DeviceInfo{}, err
	}
	info := DeviceInfo{Ordinal: ordinal}
	if info.Name, r = drvDeviceName(dev); r != 0 {
		return DeviceInfo{}, check("cuDeviceGetName", r)
	}
	if info.TotalMem, r = drvDeviceTotalMem(dev); r != 0 {
		return DeviceInfo{}, check("cuDeviceTotalMem_v2", r)
	}
	required := []struct {
		attr int
		dst  *int
	}{
		{attrComputeCapabilityMajor, &info.Major},
		{attrComputeCapabilityMinor, &info.Minor},
		{attrMultiprocessorCount, &info.SMs},
	}
	for _, q := range required {
		v, r := drvDeviceAttr(q.attr, dev)
		if err := check("cuDeviceGetAttribute", r); err != nil {
			return DeviceInfo{}, fmt.Errorf("attribute %d: %w", q.attr, err)
		}
		*q.dst = v
	}
	optional := []struct {
		attr int
		dst  *int
	}{
		{attrClockRate, &info.ClockKHz},
		{attrMemoryClockRate, &info.MemClockKHz},
		{attrGlobalMemoryBusWidth, &info.BusWidth},
		{attrL2CacheSize, &info.L2Bytes},
		{attrMaxSharedPerBlockOptin, &info.MaxSharedPerBlockOptin},
		{attrMaxSharedPerBlock, &info.MaxSharedPerBlock},
		{attrMaxSharedPerSM, &info.MaxSharedPerSM},
		{attrMaxThreadsPerBlock, &info.MaxThreadsPerBlock},
		{attrWarpSize, &info.WarpSize},
	}
	for _, q := range optional {
		if v, r := drvDeviceAttr(q.attr, dev); r == 0 {
			*q.dst = v
		}
	}
	return info, nil
}

// Context is the retained primary context of one device.
//
// Current context and OS threads: the driver keeps the current context per
// OS thread, and a goroutine can move to another OS thread between any two
// calls into this package. So while the process holds Contexts of exactly
// one device (the normal case), every call here that needs a context first
// makes that context current on the calling thread itself (once per thread;
// a thread-local check afterwards), and callers need neither SetCurrent nor
// runtime.LockOSThread. With Contexts of several devices retained at once
// that automatic context is off: each device's work must then run on a
// goroutine that called runtime.LockOSThread and its Context's SetCurrent.
// Context changes must go through this package (a library that calls
// cuCtxSetCurrent on its own would defeat the per-thread check).
type Context struct {
	mu      sync.Mutex
	ordinal int
	dev     int
	handle  uintptr // CUcontext; 0 after Release
}

var (
	ctxMu   sync.Mutex
	ctxLive = map[*Context]struct{}{}
	// autoHandle mirrors the C side's automatic context (0: none).
	autoHandle atomic.Uintptr
)

// updateAutoContext recomputes the automatic context: the live contexts'
// handle if they all share one, else none. Callers hold ctxMu.
func updateAutoContext() {
	var h uintptr
	for c := range ctxLive {
		switch {
		case h == 0:
			h = c.handle
		case h != c.handle:
			drvSetAutoContext(0)
			autoHandle.Store(0)
			return
		}
	}
	drvSetAutoContext(h)
	autoHandle.Store(h)
}

// Automatic reports whether c is the automatic context, which every call
// of this package makes current on its calling thread by itself: then
// SetCurrent is never needed for c. It is false once contexts of several
// devices are retained, or after Release.
func (c *Context) Automatic() bool {
	c.mu.Lock()
	h := c.handle
	c.mu.Unlock()
	return h != 0 && autoHandle.Load() == h
}

// RetainPrimary retains the primary context of device ordinal
// (cuDevicePrimaryCtxRetain) and makes it current on the calling thread.
func RetainPrimary(ordinal int) (*Context, error) {
	if err := ready(); err != nil {
		return nil, err
	}
	dev, r := drvDeviceGet(ordinal)
	if err := check("cuDeviceGet", r); err != nil {
		return nil, err
	}
	h, r := drvPrimaryRetain(dev)
	if err := check("cuDevicePrimaryCtxRetain", r); err != nil {
		return nil, err
	}
	c := &Context{ordinal: ordinal, dev: dev, handle: h}
	ctxMu.Lock()
	ctxLive[c] = struct{}{}
	updateAutoContext()
	ctxMu.Unlock()
	if err := c.SetCurrent(); err != nil {
		c.Release()
		return nil, err
	}
	return c, nil
}

// Ordinal is the device ordinal the context belongs to.
func (c *Context) Ordinal() int { return c.ordinal }

// SetCurrent makes c the calling OS thread's current context
// (cuCtxSetCurrent). Cheap. Only needed when Contexts of several devices are
// in use (see Context); harmless otherwise.
func (c *Context) SetCurrent() error {
	if err := ready(); err != nil {
		return err
	}
	c.mu.Lock()
	h := c.handle
	c.mu.Unlock()
	if h == 0 {
		return errors.New("cu: SetCurrent on a released Context")
	}
	return check("cuCtxSetCurrent", drvCtxSetCurrent(h))
}

// Release releases the primary context (cuDevicePrimaryCtxRelease_v2). The
// driver destroys it, with every allocation, stream, module and graph made
// in it, when its last retain is released. A second Release is a no-op.
func (c *Context) Release() error {
	if err := ready(); err != nil {
		return err
	}
	c.mu.Lock()
	h := c.handle
	c.handle = 0
	c.mu.Unlock()
	if h == 0 {
		return nil
	}
	ctxMu.Lock()
	delete(ctxLive, c)
	updateAutoContext()
	ctxMu.Unlock()
	return check("cuDevicePrimaryCtxRelease_v2", drvPrimaryRelease(c.dev))
}

// Synchronize waits for all work in the current context (cuCtxSynchronize).
func Synchronize() error {
	if err := ready(); err != nil {
		return err
	}
	return check("cuCtxSynchronize", drvCtxSynchronize())
}

// MemGetInfo returns free and total device memory of the current context's
// device (cuMemGetInfo_v2).
func MemGetInfo() (free, total int64, err error) {
	if err := ready(); err != nil {
		return 0, 0, err
	}
	f, t, r := drvMemGetInfo()
	if err := check("cuMemGetInfo_v2", r); err != nil {
		return 0, 0, err
	}
	return f, t, nil
}

// DevicePtr is a device address (CUdeviceptr, 64-bit).
type DevicePtr uint64

// Add returns p offset by bytes.
func (p DevicePtr) Add(bytes int64) DevicePtr { return p + DevicePtr(bytes) }

func checkBytes(call string, n int64) error {
	if n < 0 {
		return fmt.Errorf("cu: %s: negative byte count %d", call, n)
	}
	return nil
}

// MemAlloc allocates device memory (cuMemAlloc_v2). The memory is not
// zeroed. bytes must be > 0.
func MemAlloc(bytes int64) (DevicePtr, error) {
	if err := ready(); err != nil {
		return 0, err
	}
	if bytes <= 0 {
		return 0, fmt.Errorf("cu: cuMemAlloc_v2: byte count %d must be > 0", bytes)
	}
	p, r := drvMemAlloc(bytes)
	if err := check("cuMemAlloc_v2", r); err != nil {
		return 0, err
	}
	return p, nil
}

// MemFree frees memory from MemAlloc (cuMemFree_v2). MemFree(0) is a no-op.
func MemFree(p DevicePtr) error {
	if err := ready(); err != nil {
		return err
	}
	if p == 0 {
		return nil
	}
	return check("cuMemFree_v2", drvMemFree(p))
}

// MemsetD32Async sets n 32-bit words at p to v, in stream order
// (cuMemsetD32Async). p must be 4-byte aligned.
func MemsetD32Async(p DevicePtr, v uint32, n int64, s Stream) error {
	if err := ready(); err != nil {
		return err
	}
	if err := checkBytes("cuMemsetD32Async", n); err != nil || n == 0 {
		return err
	}
	return check("cuMemsetD32Async", drvMemsetD32Async(p, v, n, s))
}

// MemcpyHtoDAsync copies bytes from host to device in stream order
// (cuMemcpyHtoDAsync_v2). src must be pinned memory (HostBuffer) and must
// stay untouched until the copy has run (synchronize the stream or an event
// recorded after it). With pageable (Go) memory the driver stages the data
// and the call is not truly asynchronous; that is allowed (Go memory without
// pointers, not kept by the driver after the call) but slow.
func MemcpyHtoDAsync(dst DevicePtr, src unsafe.Pointer, bytes int64, s Stream) error {
	if err := ready(); err != nil {
		return err
	}
	if err := checkBytes("cuMemcpyHtoDAsync_v2", bytes); err != nil || bytes == 0 {
		return err
	}
	return check("cuMemcpyHtoDAsync_v2", drvMemcpyHtoDAsync(dst, src, bytes, s))
}

// MemcpyDtoHAsync copies bytes from device to host in stream order
// (cuMemcpyDtoHAsync_v2). dst should be pinned (HostBuffer) and must not be
// read before the stream (or an event recorded after the copy) is
// synchronized; with pageable memory the call returns only once the copy
// has completed.
func MemcpyDtoHAsync(dst unsafe.Pointer, src DevicePtr, bytes int64, s Stream) error {
	if err := ready(); err != nil {
		return err
	}
	if err := checkBytes("cuMemcpyDtoHAsync_v2", bytes); err != nil || bytes == 0 {
		return err
	}
	return check("cuMemcpyDtoHAsync_v2", drvMemcpyDtoHAsync(dst, src, bytes, s))
}

// MemcpyDtoDAsync copies bytes between device buffers in stream order
// (cuMemcpyDtoDAsync_v2).
func MemcpyDtoDAsync(dst, src DevicePtr, bytes int64, s Stream) error {
	if err := ready(); err != nil {
		return err
	}
	if err := checkBytes("cuMemcpyDtoDAsync_v2", bytes); err != nil || bytes == 0 {
		return err
	}
	return check("cuMemcpyDtoDAsync_v2", drvMemcpyDtoDAsync(dst, src, bytes, s))
}

// MemcpyHtoD copies bytes from host to device and returns when the source
// may be reused (cuMemcpyHtoD_v2). It is ordered after the legacy default
// stream only: it does not wait for work on non-blocking streams, so
// synchronize those first. src may be Go memory
// that contains no Go pointers.
func MemcpyHtoD(dst DevicePtr, src unsafe.Pointer, bytes int64) error {
	if err := ready(); err != nil {
		return err
	}
	if err := checkBytes("cuMemcpyHtoD_v2", bytes); err != nil || bytes == 0 {
		return err
	}
	return check("cuMemcpyHtoD_v2", drvMemcpyHtoD(dst, src, bytes))
}

// MemcpyDtoH copies bytes from device to host and returns when they have
// arrived (cuMemcpyDtoH_v2). Same stream caveat as MemcpyHtoD.
func MemcpyDtoH(dst unsafe.Pointer, src DevicePtr, bytes int64) error {
	if err := ready(); err != nil {
		return err
	}
	if err := checkBytes("cuMemcpyDtoH_v2", bytes); err != nil || bytes == 0 {
		return err
	}
	return check("cuMemcpyDtoH_v2", drvMemcpyDtoH(dst, src, bytes))
}

// HostBuffer is page-locked host memory from cuMemHostAlloc (flag
// CU_MEMHOSTALLOC_PORTABLE), usable as the host side of async copies. It is
// C memory: slices from it may be kept and passed anywhere, but not used
// after Free.
type HostBuffer struct {
	mu    sync.Mutex
	p     unsafe.Pointer
	bytes int64
}

// HostAlloc allocates bytes (> 0) of pinned host memory. The memory is not
// zeroed.
func HostAlloc(bytes int64) (*HostBuffer, error) {
	if err := ready(); err != nil {
		return nil, err
	}
	if bytes <= 0 {
		return nil, fmt.Errorf("cu: cuMemHostAlloc: byte count %d must be > 0", bytes)
	}
	p, r := drvMemHostAlloc(bytes, memHostAllocPortable)
	if err := check("cuMemHostAlloc", r); err != nil {
		return nil, err
	}
	return &HostBuffer{p: p, bytes: bytes}, nil
}

// Len is the buffer's size in bytes (0 after Free).
func (h *HostBuffer) Len() int64 {
	if h == nil || h.p == nil {
		return 0
	}
	return h.bytes
}

// Ptr is the buffer's address (nil after Free).
func (h *HostBuffer) Ptr() unsafe.Pointer {
	if h == nil {
		return nil
	}
	return h.p
}

// Float32s views the buffer as bytes/4 float32s, without copying (nil after
// Free).
func (h *HostBuffer) Float32s() []float32 {
	if h == nil || h.p == nil {
		return nil
	}
	return unsafe.Slice((*float32)(h.p), h.bytes/4)
}

// Bytes views the buffer as bytes, without copying (nil after Free).
func (h *HostBuffer) Bytes() []byte {
	if h == nil || h.p == nil {
		return nil
	}
	return unsafe.Slice((*byte)(h.p), h.bytes)
}

// Free releases the buffer (cuMemFreeHost). A second Free is a no-op.
func (h *HostBuffer) Free() error {
	if err := ready(); err != nil {
		return err
	}
	if h == nil {
		return nil
	}
	h.mu.Lock()
	p := h.p
	h.p = nil
	h.mu.Unlock()
	if p == nil {
		return nil
	}
	return check("cuMemFreeHost", drvMemFreeHost(p))
}

// Stream is a CUstream; 0 is the legacy default stream.
type Stream uintptr

// StreamCreate creates a stream (cuStreamCreate). A nonBlocking stream does
// not synchronize with the legacy default stream (CU_STREAM_NON_BLOCKING);
// use one for graph capture.
func StreamCreate(nonBlocking bool) (Stream, error) {
	if err := ready(); err != nil {
		return 0, err
	}
	var flags uint32
	if nonBlocking {
		flags = streamNonBlocking
	}
	s, r := drvStreamCreate(flags)
	if err := check("cuStreamCreate", r); err != nil {
		return 0, err
	}
	return s, nil
}

// Synchronize waits for all work queued on s (cuStreamSynchronize).
func (s Stream) Synchronize() error {
	if err := ready(); err != nil {
		return err
	}
	return check("cuStreamSynchronize", drvStreamSynchronize(s))
}

// Query reports whether all work queued on s has completed (cuStreamQuery:
// CUDA_ERROR_NOT_READY is false, not an error), without blocking.
func (s Stream) Query() (bool, error) {
	if err := ready(); err != nil {
		return false, err
	}
	return queried("cuStreamQuery", drvStreamQuery(s))
}

// queried reads a cu*Query result: done, pending (NOT_READY), or an error.
func queried(call string, r int) (bool, error) {
	if r == errNotReady {
		return false, nil
	}
	if err := check(call, r); err != nil {
		return false, err
	}
	return true, nil
}

// errNotReady is CUDA_ERROR_NOT_READY: a query's "still running".
const errNotReady = 600

// Destroy destroys s (cuStreamDestroy_v2); queued work still completes.
// Destroying stream 0 is a no-op.
func (s Stream) Destroy() error {
	if err := ready(); err != nil {
		return err
	}
	if s == 0 {
		return nil
	}
	return check("cuStreamDestroy_v2", drvStreamDestroy(s))
}

// WaitEvent makes future work on s wait for e's last Record
// (cuStreamWaitEvent, flags 0).
func (s Stream) WaitEvent(e Event) error {
	if err := ready(); err != nil {
		return err
	}
	return check("cuStreamWaitEvent", drvStreamWaitEvent(s, e))
}

// Event is a CUevent.
type Event uintptr

// EventCreate creates an event; timing=false creates it with
// CU_EVENT_DISABLE_TIMING (cheaper, for pure synchronization).
func EventCreate(timing bool) (Event, error) {
	if err := ready(); err != nil {
		return 0, err
	}
	var flags uint32
	if !timing {
		flags = eventDisableTiming
	}
	e, r := drvEventCreate(flags)
	if err := check("cuEventCreate", r); err != nil {
		return 0, err
	}
	return e, nil
}

// Record records e on s (cuEventRecord).
func (e Event) Record(s Stream) error {
	if err := ready(); err != nil {
		return err
	}
	return check("cuEventRecord", drvEventRecord(e, s))
}

// Synchronize waits until the work before e's last Record has completed
// (cuEventSynchronize).
func (e Event) Synchronize() error {
	if err := ready(); err != nil {
		return err
	}
	return check("cuEventSynchronize", drvEventSynchronize(e))
}

// Query reports whether the work before e's last Record has completed
// (cuEventQuery), without blocking.
func (e Event) Query() (bool, error) {
	if err := ready(); err != nil {
		return false, err
	}
	return queried("cuEventQuery", drvEventQuery(e))
}

// Destroy destroys e (cuEventDestroy_v2). Destroying event 0 is a no-op.
func (e Event) Destroy() error {
	if err := ready(); err != nil {
		return err
	}
	if e == 0 {
		return nil
	}
	return check("cuEventDestroy_v2", drvEventDestroy(e))
}

// ElapsedMs is the time between two completed timing events, in
// milliseconds (cuEventElapsedTime; resolution about 0.5 µs).
func ElapsedMs(start, end Event) (float32, error) {
	if err := ready(); err != nil {
		return 0, err
	}
	ms, r := drvEventElapsed(start, end)
	if err := check("cuEventElapsedTime", r); err != nil {
		return 0, err
	}
	return ms, nil
}

// Module is a loaded CUmodule.
type Module uintptr

// ModuleLoadData loads a cubin, fatbin or NUL-terminated PTX image into the
// current context (cuModuleLoadData). The image is copied to C memory for
// the call, so it may be a Go slice (e.g. from go:embed).
func ModuleLoadData(image []byte) (Module, error) {
	if err := ready(); err != nil {
		return 0, err
	}
	if len(image) == 0 {
		return 0, errors.New("cu: cuModuleLoadData: empty image")
	}
	m, r := drvModuleLoadData(image)
	if err := check("cuModuleLoadData", r); err != nil {
		return 0, err
	}
	return m, nil
}

// Function looks up an (extern "C") kernel by name (cuModuleGetFunction).
// The error names the kernel.
func (m Module) Function(name string) (Function, error) {
	if err := ready(); err != nil {
		return 0, err
	}
	f, r := drvModuleGetFunction(m, name)
	if err := check("cuModuleGetFunction", r); err != nil {
		return 0, fmt.Errorf("kernel %q: %w", name, err)
	}
	return f, nil
}

// Unload unloads m (cuModuleUnload); its Functions become invalid.
// Unloading module 0 is a no-op.
func (m Module) Unload() error {
	if err := ready(); err != nil {
		return err
	}
	if m == 0 {
		return nil
	}
	return check("cuModuleUnload", drvModuleUnload(m))
}

// Function is a CUfunction (a kernel in a loaded Module).
type Function uintptr

// SetMaxDynamicShared allows launches of f with up to bytes of dynamic
// shared memory (cuFuncSetAttribute
// CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES); needed above 48 KiB, up
// to DeviceInfo.MaxSharedPerBlockOptin minus f's static shared memory.
func (f Function) SetMaxDynamicShared(bytes int) error {
	if err := ready(); err != nil {
		return err
	}
	return check("cuFuncSetAttribute", drvFuncSetAttribute(f, funcAttrMaxDynamicSharedSizeBytes, bytes))
}

// Launch launches f on s (cuLaunchKernel) with the arguments in a (nil for a
// kernel without parameters). It allocates nothing. Launch errors are
// reported here only when the launch itself is rejected (bad configuration,
// too many resources); faults while the kernel runs surface at the next
// synchronizing call.
func Launch(f Function, grid, block [3]uint32, sharedBytes uint32, s Stream, a *Args) error {
	if err := ready(); err != nil {
		return err
	}
	var params uintptr
	if a != nil {
		if a.err != nil {
			return a.err
		}
		if a.base == nil {
			return errors.New("cu: Launch with freed Args")
		}
		params = a.paramsAddr()
	}
	return check("cuLaunchKernel", drvLaunch(f, grid, block, sharedBytes, s, params))
}

// CaptureMode is a CUstreamCaptureMode.
type CaptureMode int

// Capture modes (cuda.h values).
const (
	CaptureModeGlobal      CaptureMode = 0
	CaptureModeThreadLocal CaptureMode = 1
	CaptureModeRelaxed     CaptureMode = 2
)

// BeginCapture starts capturing the work queued on s into a graph
// (cuStreamBeginCapture_v2) in CU_STREAM_CAPTURE_MODE_RELAXED.
//
// Why relaxed: in GLOBAL and THREAD_LOCAL mode, cuStreamEndCapture must be
// called from the OS thread that began the capture, and a goroutine may
// change threads between the two calls (CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD
// at random); the "unsafe call" protection those modes add is also tied to
// that thread, so it would guard an arbitrary thread in Go. RELAXED leaves
// the caller responsible for not calling synchronous APIs (MemAlloc,
// MemcpyHtoD/DtoH, MemFree, Synchronize, stream/event sync) that would touch
// the captured stream's work during capture; work on the legacy default
// stream during capture of a blocking stream invalidates it. Use a
// non-blocking stream, and BeginCaptureMode with a stricter mode from a
// goroutine that called runtime.LockOSThread if you want the checks.
//
// Captured host-device copies keep their host address in the graph: use
// HostBuffer memory that outlives every launch of the graph, never Go
// memory (the garbage collector does not know the graph holds it).
func (s Stream) BeginCapture() error { return s.BeginCaptureMode(CaptureModeRelaxed) }

// BeginCaptureMode is BeginCapture with an explicit capture mode.
func (s Stream) BeginCaptureMode(mode CaptureMode) error {
	if err := ready(); err != nil {
		return err
	}
	if s == 0 {
		return errors.New("cu: cuStreamBeginCapture_v2: the legacy default stream cannot be captured")
	}
	return check("cuStreamBeginCapture_v2", drvBeginCapture(s, int(mode)))
}

// EndCapture ends the capture begun on s and returns the captured graph
// (cuStreamEndCapture). On error (for example
// CUDA_ERROR_STREAM_CAPTURE_INVALIDATED) the capture is over and no graph
// is returned.
func (s Stream) EndCapture() (Graph, error) {
	if err := ready(); err != nil {
		return 0, err
	}
	g, r := drvEndCapture(s)
	if err := check("cuStreamEndCapture", r); err != nil {
		if g != 0 {
			drvGraphDestroy(g)
		}
		return 0, err
	}
	return g, nil
}

// Graph is a CUgraph (a captured, not yet instantiated, graph).
type Graph uintptr

// GraphExec is an instantiated, launchable CUgraphExec.
type GraphExec uintptr

// Instantiate makes g launchable (cuGraphInstantiateWithFlags, flags 0). g
// may be destroyed afterwards; the GraphExec does not need it.
func (g Graph) Instantiate() (GraphExec, error) {
	if err := ready(); err != nil {
		return 0, err
	}
	x, r := drvGraphInstantiate(g)
	if err := check("cuGraphInstantiateWithFlags", r); err != nil {
		return 0, err
	}
	return x, nil
}

// Destroy destroys g (cuGraphDestroy). Destroying graph 0 is a no-op.
func (g Graph) Destroy() error {
	if err := ready(); err != nil {
		return err
	}
	if g == 0 {
		return nil
	}
	return check("cuGraphDestroy", drvGraphDestroy(g))
}

// Launch replays x on s (cuGraphLaunch). The device addresses and kernel
// arguments captured in the graph are used as they were: buffers they name
// must stay allocated (and not be handed out for another use by an
// Allocator) while x may run.
func (x GraphExec) Launch(s Stream) error {
	if err := ready(); err != nil {
		return err
	}
	return check("cuGraphLaunch", drvGraphLaunch(x, s))
}

// Destroy destroys x (cuGraphExecDestroy). Destroying 0 is a no-op.
func (x GraphExec) Destroy() error {
	if err := ready(); err != nil {
		return err
	}
	if x == 0 {
		return nil
	}
	return check("cuGraphExecDestroy", drvGraphExecDestroy(x))
}
