//go:build cgo

package cu

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <stddef.h>

// Our own declarations of the few CUDA driver types we use (ABI-compatible
// with cuda.h; cuda.h itself is deliberately not included so the package
// builds where no CUDA is installed).
typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef struct CUevent_st *CUevent;
typedef struct CUgraph_st *CUgraph;
typedef struct CUgraphExec_st *CUgraphExec;

// Entry points, resolved by dlsym in cu_load. Go never calls these
// pointers: it calls the static wrappers below.
static CUresult (*p_cuInit)(unsigned int);
static CUresult (*p_cuDriverGetVersion)(int *);
static CUresult (*p_cuGetErrorName)(CUresult, const char **);
static CUresult (*p_cuDeviceGetCount)(int *);
static CUresult (*p_cuDeviceGet)(CUdevice *, int);
static CUresult (*p_cuDeviceGetName)(char *, int, CUdevice);
static CUresult (*p_cuDeviceGetAttribute)(int *, int, CUdevice);
static CUresult (*p_cuDeviceTotalMem)(size_t *, CUdevice);
static CUresult (*p_cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
static CUresult (*p_cuDevicePrimaryCtxRelease)(CUdevice);
static CUresult (*p_cuCtxSetCurrent)(CUcontext);
static CUresult (*p_cuCtxSynchronize)(void);
static CUresult (*p_cuMemGetInfo)(size_t *, size_t *);
static CUresult (*p_cuMemAlloc)(CUdeviceptr *, size_t);
static CUresult (*p_cuMemFree)(CUdeviceptr);
static CUresult (*p_cuMemsetD32Async)(CUdeviceptr, unsigned int, size_t, CUstream);
static CUresult (*p_cuMemcpyHtoD)(CUdeviceptr, const void *, size_t);
static CUresult (*p_cuMemcpyDtoH)(void *, CUdeviceptr, size_t);
static CUresult (*p_cuMemcpyHtoDAsync)(CUdeviceptr, const void *, size_t, CUstream);
static CUresult (*p_cuMemcpyDtoHAsync)(void *, CUdeviceptr, size_t, CUstream);
static CUresult (*p_cuMemcpyDtoDAsync)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
static CUresult (*p_cuMemHostAlloc)(void **, size_t, unsigned int);
static CUresult (*p_cuMemFreeHost)(void *);
static CUresult (*p_cuStreamCreate)(CUstream *, unsigned int);
static CUresult (*p_cuStreamSynchronize)(CUstream);
static CUresult (*p_cuStreamQuery)(CUstream);
static CUresult (*p_cuStreamDestroy)(CUstream);
static CUresult (*p_cuStreamWaitEvent)(CUstream, CUevent, unsigned int);
static CUresult (*p_cuEventCreate)(CUevent *, unsigned int);
static CUresult (*p_cuEventRecord)(CUevent, CUstream);
static CUresult (*p_cuEventSynchronize)(CUevent);
static CUresult (*p_cuEventQuery)(CUevent);
static CUresult (*p_cuEventDestroy)(CUevent);
static CUresult (*p_cuEventElapsedTime)(float *, CUevent, CUevent);
static CUresult (*p_cuModuleLoadData)(CUmodule *, const void *);
static CUresult (*p_cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
static CUresult (*p_cuModuleUnload)(CUmodule);
static CUresult (*p_cuFuncSetAttribute)(CUfunction, int, int);
static CUresult (*p_cuLaunchKernel)(CUfunction, unsigned int, unsigned int, unsigned int,
	unsigned int, unsigned int, unsigned int, unsigned int, CUstream, void **, void **);
static CUresult (*p_cuStreamBeginCapture)(CUstream, int);
static CUresult (*p_cuStreamEndCapture)(CUstream, CUgraph *);
static CUresult (*p_cuGraphInstantiateWithFlags)(CUgraphExec *, CUgraph, unsigned long long);
static CUresult (*p_cuGraphLaunch)(CUgraphExec, CUstream);
static CUresult (*p_cuGraphDestroy)(CUgraph);
static CUresult (*p_cuGraphExecDestroy)(CUgraphExec);

typedef struct { void **slot; const char *name; } cu_sym;
#define SYM(var, name) { (void **)&var, name }

// The exact (versioned) symbol names: what cuda.h's #defines map the plain
// names to. dlsym bypasses those macros, so the version must be spelled out.
static const cu_sym cu_syms[] = {
	SYM(p_cuInit, "cuInit"),
	SYM(p_cuDriverGetVersion, "cuDriverGetVersion"),
	SYM(p_cuGetErrorName, "cuGetErrorName"),
	SYM(p_cuDeviceGetCount, "cuDeviceGetCount"),
	SYM(p_cuDeviceGet, "cuDeviceGet"),
	SYM(p_cuDeviceGetName, "cuDeviceGetName"),
	SYM(p_cuDeviceGetAttribute, "cuDeviceGetAttribute"),
	SYM(p_cuDeviceTotalMem, "cuDeviceTotalMem_v2"),
	SYM(p_cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain"),
	SYM(p_cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2"),
	SYM(p_cuCtxSetCurrent, "cuCtxSetCurrent"),
	SYM(p_cuCtxSynchronize, "cuCtxSynchronize"),
	SYM(p_cuMemGetInfo, "cuMemGetInfo_v2"),
	SYM(p_cuMemAlloc, "cuMemAlloc_v2"),
	SYM(p_cuMemFree, "cuMemFree_v2"),
	SYM(p_cuMemsetD32Async, "cuMemsetD32Async"),
	SYM(p_cuMemcpyHtoD, "cuMemcpyHtoD_v2"),
	SYM(p_cuMemcpyDtoH, "cuMemcpyDtoH_v2"),
	SYM(p_cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2"),
	SYM(p_cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2"),
	SYM(p_cuMemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2"),
	SYM(p_cuMemHostAlloc, "cuMemHostAlloc"),
	SYM(p_cuMemFreeHost, "cuMemFreeHost"),
	SYM(p_cuStreamCreate, "cuStreamCreate"),
	SYM(p_cuStreamSynchronize, "cuStreamSynchronize"),
	SYM(p_cuStreamQuery, "cuStreamQuery"),
	SYM(p_cuStreamDestroy, "cuStreamDestroy_v2"),
	SYM(p_cuStreamWaitEvent, "cuStreamWaitEvent"),
	SYM(p_cuEventCreate, "cuEventCreate"),
	SYM(p_cuEventRecord, "cuEventRecord"),
	SYM(p_cuEventSynchronize, "cuEventSynchronize"),
	SYM(p_cuEventQuery, "cuEventQuery"),
	SYM(p_cuEventDestroy, "cuEventDestroy_v2"),
	SYM(p_cuEventElapsedTime, "cuEventElapsedTime"),
	SYM(p_cuModuleLoadData, "cuModuleLoadData"),
	SYM(p_cuModuleGetFunction, "cuModuleGetFunction"),
	SYM(p_cuModuleUnload, "cuModuleUnload"),
	SYM(p_cuFuncSetAttribute, "cuFuncSetAttribute"),
	SYM(p_cuLaunchKernel, "cuLaunchKernel"),
	SYM(p_cuStreamBeginCapture, "cuStreamBeginCapture_v2"),
	SYM(p_cuStreamEndCapture, "cuStreamEndCapture"),
	SYM(p_cuGraphInstantiateWithFlags, "cuGraphInstantiateWithFlags"),
	SYM(p_cuGraphLaunch, "cuGraphLaunch"),
	SYM(p_cuGraphDestroy, "cuGraphDestroy"),
	SYM(p_cuGraphExecDestroy, "cuGraphExecDestroy"),
};

static void *cu_lib;

// cu_load opens the driver and resolves every entry point.
// Returns 0 on success; 1 when dlopen failed (*msg: dlerror's text);
// 2 when a symbol is missing (*msg: its name). *msg must be copied at once.
static int cu_load(const char *lib, const char **msg) {
	size_t i, n = sizeof cu_syms / sizeof cu_syms[0];
	cu_lib = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (!cu_lib) {
		const char *e = dlerror();
		*msg = e ? e : "dlopen failed";
		return 1;
	}
	for (i = 0; i < n; i++) {
		void *p = dlsym(cu_lib, cu_syms[i].name);
		if (!p) {
			size_t j;
			*msg = cu_syms[i].name;
			for (j = 0; j < n; j++) *cu_syms[j].slot = NULL;
			dlclose(cu_lib);
			cu_lib = NULL;
			return 2;
		}
		*cu_syms[i].slot = p;
	}
	return 0;
}

// ---- Automatic current context ------------------------------------------
//
// The current context is per OS thread and a goroutine may move to another
// thread between any two cgo calls, so "cuCtxSetCurrent, then work" from Go
// is not enough on its own. When the process holds exactly one context
// (g_ctx != NULL), every wrapper that needs a context first makes g_ctx
// current on the calling thread, at most once per thread per generation: one
// atomic load and one thread-local compare on the fast path.

#define ENSURE_FAILED (1 << 30)

static CUcontext g_ctx;
static unsigned long g_gen = 1;
static __thread unsigned long t_gen;

static void cu_set_auto_ctx(uintptr_t ctx) {
	__atomic_store_n(&g_ctx, (CUcontext)ctx, __ATOMIC_RELEASE);
	__atomic_add_fetch(&g_gen, 1, __ATOMIC_ACQ_REL);
}

static inline CUresult cu_ensure(void) {
	unsigned long gen = __atomic_load_n(&g_gen, __ATOMIC_ACQUIRE);
	if (gen == t_gen) return 0;
	CUcontext c = __atomic_load_n(&g_ctx, __ATOMIC_ACQUIRE);
	if (c) {
		CUresult r = p_cuCtxSetCurrent(c);
		if (r) return r;
	}
	t_gen = gen;
	return 0;
}

#define ENSURE() do { CUresult r_ = cu_ensure(); if (r_) return r_ | ENSURE_FAILED; } while (0)

// ---- Wrappers -------------------------------------------------------------
// Handles travel as uintptr_t / uint64_t and results come back by value, so
// no Go pointer crosses into C on these paths (no escapes, no cgo checks).

typedef struct { int r; uint64_t v; } res1;
typedef struct { int r; uint64_t a, b; } res2;
typedef struct { int r; float v; } resf;
typedef struct { int r; void *p; } resp;

static const char *w_errorName(int code) {
	const char *s = NULL;
	if (!p_cuGetErrorName || p_cuGetErrorName(code, &s) != 0) return NULL;
	return s;
}

static int w_init(void) { return p_cuInit(0); }
static res1 w_driverVersion(void) { int v = 0; res1 o; o.r = p_cuDriverGetVersion(&v); o.v = (uint64_t)v; return o; }
static res1 w_deviceCount(void) { int v = 0; res1 o; o.r = p_cuDeviceGetCount(&v); o.v = (uint64_t)v; return o; }
static res1 w_deviceGet(int ordinal) { CUdevice d = 0; res1 o; o.r = p_cuDeviceGet(&d, ordinal); o.v = (uint64_t)d; return o; }
static int w_deviceName(char *buf, int len, int dev) { return p_cuDeviceGetName(buf, len, dev); }
static res1 w_deviceAttr(int attr, int dev) { int v = 0; res1 o; o.r = p_cuDeviceGetAttribute(&v, attr, dev); o.v = (uint64_t)(int64_t)v; return o; }
static res1 w_deviceTotalMem(int dev) { size_t v = 0; res1 o; o.r = p_cuDeviceTotalMem(&v, dev); o.v = v; return o; }
static res1 w_primaryRetain(int dev) { CUcontext c = NULL; res1 o; o.r = p_cuDevicePrimaryCtxRetain(&c, dev); o.v = (uintptr_t)c; return o; }
static int w_primaryRelease(int dev) { return p_cuDevicePrimaryCtxRelease(dev); }
static int w_ctxSetCurrent(uintptr_t c) {
	CUresult r = p_cuCtxSetCurrent((CUcontext)c);
	// A context the caller set by hand counts as "checked" on this thread
	// only if it is the automatic one; otherwise the next call re-checks.
	if (r == 0 && (CUcontext)c == __atomic_load_n(&g_ctx, __ATOMIC_ACQUIRE) && c)
		t_gen = __atomic_load_n(&g_gen, __ATOMIC_ACQUIRE);
	else
		t_gen = 0;
	return r;
}
static int w_ctxSynchronize(void) { ENSURE(); return p_cuCtxSynchronize(); }
static res2 w_memGetInfo(void) {
	size_t f = 0, t = 0; res2 o;
	CUresult e = cu_ensure();
	if (e) { o.r = e | ENSURE_FAILED; o.a = o.b = 0; return o; }
	o.r = p_cuMemGetInfo(&f, &t); o.a = f; o.b = t; return o;
}
static res1 w_memAlloc(size_t n) {
	CUdeviceptr p = 0; res1 o;
	CUresult e = cu_ensure();
	if (e) { o.r = e | ENSURE_FAILED; o.v = 0; return o; }
	o.r = p_cuMemAlloc(&p, n); o.v = p; return o;
}
static int w_memFree(uint64_t p) { ENSURE(); return p_cuMemFree(p); }
static int w_memsetD32Async(uint64_t p, unsigned int v, size_t n, uintptr_t s) { ENSURE(); return p_cuMemsetD32Async(p, v, n, (CUstream)s); }
static int w_memcpyHtoD(uint64_t dst, const void *src, size_t n) { ENSURE(); return p_cuMemcpyHtoD(dst, src, n); }
static int w_memcpyDtoH(void *dst, uint64_t src, size_t n) { ENSURE(); return p_cuMemcpyDtoH(dst, src, n); }
static int w_memcpyHtoDAsync(uint64_t dst, const void *src, size_t n, uintptr_t s) { ENSURE(); return p_cuMemcpyHtoDAsync(dst, src, n, (CUstream)s); }
static int w_memcpyDtoHAsync(void *dst, uint64_t src, size_t n, uintptr_t s) { ENSURE(); return p_cuMemcpyDtoHAsync(dst, src, n, (CUstream)s); }
static int w_memcpyDtoDAsync(uint64_t dst, uint64_t src, size_t n, uintptr_t s) { ENSURE(); return p_cuMemcpyDtoDAsync(dst, src, n, (CUstream)s); }
static resp w_memHostAlloc(size_t n, unsigned int flags) {
	void *p = NULL; resp o;
	CUresult e = cu_ensure();
	if (e) { o.r = e | ENSURE_FAILED; o.p = NULL; return o; }
	o.r = p_cuMemHostAlloc(&p, n, flags); o.p = p; return o;
}
static int w_memFreeHost(void *p) { ENSURE(); return p_cuMemFreeHost(p); }
static res1 w_streamCreate(unsigned int flags) {
	CUstream s = NULL; res1 o;
	CUresult e = cu_ensure();
	if (e) { o.r = e | ENSURE_FAILED; o.v = 0; return o; }
	o.r = p_cuStreamCreate(&s, flags); o.v = (uintptr_t)s; return o;
}
static int w_streamSynchronize(uintptr_t s) { ENSURE(); return p_cuStreamSynchronize((CUstream)s); }
static int w_streamQuery(uintptr_t s) { ENSURE(); return p_cuStreamQuery((CUstream)s); }
static int w_streamDestroy(uintptr_t s) { ENSURE(); return p_cuStreamDestroy((CUstream)s); }
static int w_streamWaitEvent(uintptr_t s, uintptr_t e) { ENSURE(); return p_cuStreamWaitEvent((CUstream)s, (CUevent)e, 0); }
static res1 w_eventCreate(unsigned int flags) {
	CUevent ev = NULL; res1 o;
	CUresult e = cu_ensure();
	if (e) { o.r = e | ENSURE_FAILED; o.v = 0; return o; }
	o.r = p_cuEventCreate(&ev, flags); o.v = (uintptr_t)ev; return o;
}
static int w_eventRecord(uintptr_t e, uintptr_t s) { ENSURE(); return p_cuEventRecord((CUevent)e, (CUstream)s); }
static int w_eventSynchronize(uintptr_t e) { ENSURE(); return p_cuEventSynchronize((CUevent)e); }
static int w_eventQuery(uintptr_t e) { ENSURE(); return p_cuEventQuery((CUevent)e); }
static int w_eventDestroy(uintptr_t e) { ENSURE(); return p_cuEventDestroy((CUevent)e); }
static resf w_eventElapsed(uintptr_t a, uintptr_t b) {
	float ms = 0; resf o;
	CUresult e = cu_ensure();
	if (e) { o.r = e | ENSURE_FAILED; o.v = 0; return o; }
	o.r = p_cuEventElapsedTime(&ms, (CUevent)a, (CUevent)b); o.v = ms; return o;
}
static res1 w_moduleLoadData(const void *image) {
	CUmodule m = NULL; res1 o;
	CUresult e = cu_ensure();
	if (e) { o.r = e | ENSURE_FAILED; o.v = 0; return o; }
	o.r = p_cuModuleLoadData(&m, image); o.v = (uintptr_t)m; return o;
}
static res1 w_moduleGetFunction(uintptr_t m, const char *name) {
	CUfunction f = NULL; res1 o;
	CUresult e = cu_ensure();
	if (e) { o.r = e | ENSURE_FAILED; o.v = 0; return o; }
	o.r = p_cuModuleGetFunction(&f, (CUmodule)m, name); o.v = (uintptr_t)f; return o;
}
static int w_moduleUnload(uintptr_t m) { ENSURE(); return p_cuModuleUnload((CUmodule)m); }
static int w_funcSetAttribute(uintptr_t f, int attr, int v) { ENSURE(); return p_cuFuncSetAttribute((CUfunction)f, attr, v); }
static int w_launch(uintptr_t f, unsigned int gx, unsigned int gy, unsigned int gz,
		unsigned int bx, unsigned int by, unsigned int bz, unsigned int shared,
		uintptr_t s, uintptr_t params) {
	ENSURE();
	return p_cuLaunchKernel((CUfunction)f, gx, gy, gz, bx, by, bz, shared, (CUstream)s, (void **)params, NULL);
}
static int w_beginCapture(uintptr_t s, int mode) { ENSURE(); return p_cuStreamBeginCapture((CUstream)s, mode); }
static res1 w_endCapture(uintptr_t s) {
	CUgraph g = NULL; res1 o;
	CUresult e = cu_ensure();
	if (e) { o.r = e | ENSURE_FAILED; o.v = 0; return o; }
	o.r = p_cuStreamEndCapture((CUstream)s, &g); o.v = (uintptr_t)g; return o;
}
static res1 w_graphInstantiate(uintptr_t g) {
	CUgraphExec x = NULL; res1 o;
	CUresult e = cu_ensure();
	if (e) { o.r = e | ENSURE_FAILED; o.v = 0; return o; }
	o.r = p_cuGraphInstantiateWithFlags(&x, (CUgraph)g, 0); o.v = (uintptr_t)x; return o;
}
static int w_graphLaunch(uintptr_t x, uintptr_t s) { ENSURE(); return p_cuGraphLaunch((CUgraphExec)x, (CUstream)s); }
static int w_graphDestroy(uintptr_t g) { ENSURE(); return p_cuGraphDestroy((CUgraph)g); }
static int w_graphExecDestroy(uintptr_t x) { ENSURE(); return p_cuGraphExecDestroy((CUgraphExec)x); }
*/
import "C"

import (
	"unsafe"
)

// libName is the driver library dlopen'ed by Init (a variable only so that
// a test can point it elsewhere before Init).
var libName = "libcuda.so.1"

// buildErr is nil in cgo builds: whether the driver is usable is decided by
// Init at run time.
var buildErr error

func drvLoad() error {
	lib := C.CString(libName)
	defer C.free(unsafe.Pointer(lib))
	var msg *C.char
	switch C.cu_load(lib, &msg) {
	case 0:
		return nil
	case 1:
		return &briefError{"no NVIDIA driver found", notLoaded(C.GoString(msg))}
	default:
		return &briefError{"the NVIDIA driver is too old", notLoaded(libName + ": missing symbol " + C.GoString(msg) + " (driver too old?)")}
	}
}

func drvErrorName(code int) (string, bool) {
	s := C.w_errorName(C.int(code))
	if s == nil {
		return "", false
	}
	return C.GoString(s), true
}

func drvSetAutoContext(ctx uintptr) { C.cu_set_auto_ctx(C.uintptr_t(ctx)) }

func r1(o C.res1) (uint64, int) { return uint64(o.v), int(o.r) }

func drvInit() int                 { return int(C.w_init()) }
func drvDriverVersion() (int, int) { v, r := r1(C.w_driverVersion()); return int(v), r }
func drvDeviceCount() (int, int)   { v, r := r1(C.w_deviceCount()); return int(v), r }
func drvDeviceGet(ordinal int) (int, int) {
	v, r := r1(C.w_deviceGet(C.int(ordinal)))
	return int(v), r
}

func drvDeviceName(dev int) (string, int) {
	const n = 256
	buf := (*C.char)(C.calloc(n, 1))
	defer C.free(unsafe.Pointer(buf))
	r := int(C.w_deviceName(buf, n, C.int(dev)))
	if r != 0 {
		return "", r
	}
	return C.GoString(buf), 0
}

func drvDeviceAttr(attr, dev int) (int, int) {
	v, r := r1(C.w_deviceAttr(C.int(attr), C.int(dev)))
	return int(int64(v)), r
}

func drvDeviceTotalMem(dev int) (int64, int) {
	v, r := r1(C.w_deviceTotalMem(C.int(dev)))
	return int64(v), r
}

func drvPrimaryRetain(dev int) (uintptr, int) {
	v, r := r1(C.w_primaryRetain(C.int(dev)))
	return uintptr(v), r
}

func drvPrimaryRelease(dev int) int    { return int(C.w_primaryRelease(C.int(dev))) }
func drvCtxSetCurrent(ctx uintptr) int { return int(C.w_ctxSetCurrent(C.uintptr_t(ctx))) }
func drvCtxSynchronize() int           { return int(C.w_ctxSynchronize()) }
func drvMemGetInfo() (int64, int64, int) {
	o := C.w_memGetInfo()
	return int64(o.a), int64(o.b), int(o.r)
}

func drvMemAlloc(bytes int64) (DevicePtr, int) {
	v, r := r1(C.w_memAlloc(C.size_t(bytes)))
	return DevicePtr(v), r
}

func drvMemFree(p DevicePtr) int { return int(C.w_memFree(C.uint64_t(p))) }

func drvMemsetD32Async(p DevicePtr, v uint32, n int64, s Stream) int {
	return int(C.w_memsetD32Async(C.uint64_t(p), C.uint(v), C.size_t(n), C.uintptr_t(s)))
}

func drvMemcpyHtoD(dst DevicePtr, src unsafe.Pointer, n int64) int {
	return int(C.w_memcpyHtoD(C.uint64_t(dst), src, C.size_t(n)))
}

func drvMemcpyDtoH(dst unsafe.Pointer, src DevicePtr, n int64) int {
	return int(C.w_memcpyDtoH(dst, C.uint64_t(src), C.size_t(n)))
}

func drvMemcpyHtoDAsync(dst DevicePtr, src unsafe.Pointer, n int64, s Stream) int {
	return int(C.w_memcpyHtoDAsync(C.uint64_t(dst), src, C.size_t(n), C.uintptr_t(s)))
}

func drvMemcpyDtoHAsync(dst unsafe.Pointer, src DevicePtr, n int64, s Stream) int {
	return int(C.w_memcpyDtoHAsync(dst, C.uint64_t(src), C.size_t(n), C.uintptr_t(s)))
}

func drvMemcpyDtoDAsync(dst, src DevicePtr, n int64, s Stream) int {
	return int(C.w_memcpyDtoDAsync(C.uint64_t(dst), C.uint64_t(src), C.size_t(n), C.uintptr_t(s)))
}

func drvMemHostAlloc(n int64, flags uint32) (unsafe.Pointer, int) {
	o := C.w_memHostAlloc(C.size_t(n), C.uint(flags))
	if o.r != 0 {
		return nil, int(o.r)
	}
	return o.p, 0
}

func drvMemFreeHost(p unsafe.Pointer) int { return int(C.w_memFreeHost(p)) }

func drvStreamCreate(flags uint32) (Stream, int) {
	v, r := r1(C.w_streamCreate(C.uint(flags)))
	return Stream(v), r
}

func drvStreamSynchronize(s Stream) int { return int(C.w_streamSynchronize(C.uintptr_t(s))) }
func drvStreamQuery(s Stream) int       { return int(C.w_streamQuery(C.uintptr_t(s))) }
func drvStreamDestroy(s Stream) int     { return int(C.w_streamDestroy(C.uintptr_t(s))) }
func drvStreamWaitEvent(s Stream, e Event) int {
	return int(C.w_streamWaitEvent(C.uintptr_t(s), C.uintptr_t(e)))
}

func drvEventCreate(flags uint32) (Event, int) {
	v, r := r1(C.w_eventCreate(C.uint(flags)))
	return Event(v), r
}

func drvEventRecord(e Event, s Stream) int {
	return int(C.w_eventRecord(C.uintptr_t(e), C.uintptr_t(s)))
}
func drvEventSynchronize(e Event) int { return int(C.w_eventSynchronize(C.uintptr_t(e))) }
func drvEventQuery(e Event) int       { return int(C.w_eventQuery(C.uintptr_t(e))) }
func drvEventDestroy(e Event) int     { return int(C.w_eventDestroy(C.uintptr_t(e))) }
func drvEventElapsed(a, b Event) (float32, int) {
	o := C.w_eventElapsed(C.uintptr_t(a), C.uintptr_t(b))
	return float32(o.v), int(o.r)
}

func drvModuleLoadData(image []byte) (Module, int) {
	// The driver parses the image during the call; a C copy keeps the cgo
	// pointer rules trivially satisfied and is freed right after.
	p := C.CBytes(image)
	defer C.free(p)
	v, r := r1(C.w_moduleLoadData(p))
	return Module(v), r
}

func drvModuleGetFunction(m Module, name string) (Function, int) {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	v, r := r1(C.w_moduleGetFunction(C.uintptr_t(m), cs))
	return Function(v), r
}

func drvModuleUnload(m Module) int { return int(C.w_moduleUnload(C.uintptr_t(m))) }
func drvFuncSetAttribute(f Function, attr, v int) int {
	return int(C.w_funcSetAttribute(C.uintptr_t(f), C.int(attr), C.int(v)))
}

func drvLaunch(f Function, grid, block [3]uint32, shared uint32, s Stream, params uintptr) int {
	return int(C.w_launch(C.uintptr_t(f),
		C.uint(grid[0]), C.uint(grid[1]), C.uint(grid[2]),
		C.uint(block[0]), C.uint(block[1]), C.uint(block[2]),
		C.uint(shared), C.uintptr_t(s), C.uintptr_t(params)))
}

func drvBeginCapture(s Stream, mode int) int {
	return int(C.w_beginCapture(C.uintptr_t(s), C.int(mode)))
}
func drvEndCapture(s Stream) (Graph, int) {
	v, r := r1(C.w_endCapture(C.uintptr_t(s)))
	return Graph(v), r
}

func drvGraphInstantiate(g Graph) (GraphExec, int) {
	v, r := r1(C.w_graphInstantiate(C.uintptr_t(g)))
	return GraphExec(v), r
}

func drvGraphLaunch(x GraphExec, s Stream) int {
	return int(C.w_graphLaunch(C.uintptr_t(x), C.uintptr_t(s)))
}
func drvGraphDestroy(g Graph) int         { return int(C.w_graphDestroy(C.uintptr_t(g))) }
func drvGraphExecDestroy(x GraphExec) int { return int(C.w_graphExecDestroy(C.uintptr_t(x))) }

// cMalloc returns n zeroed bytes of C memory (nil when out of memory).
func cMalloc(n int) unsafe.Pointer { return C.calloc(C.size_t(n), 1) }

// cFree frees memory from cMalloc.
func cFree(p unsafe.Pointer) { C.free(p) }
