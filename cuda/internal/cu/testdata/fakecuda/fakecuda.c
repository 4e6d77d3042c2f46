// A fake libcuda.so.1 for testing package cu without a GPU.
//
// fake_test.go compiles it with
//   gcc -shared -fPIC -O1 -o DIR/libcuda.so.1 fakecuda.c -lpthread
// and re-runs the test binary with LD_LIBRARY_PATH=DIR, so Init's dlopen
// finds it. "Device memory" is host memory, streams execute at once (or are
// recorded while captured), and the kernels of testdata/testkernels.cu run
// on the host, reading each kernel parameter at its own size as the real
// cuLaunchKernel does.
//
// It is deliberately strict where the real driver is strict and where the
// binding could go wrong:
//   - the current context is per thread: every call that needs one fails
//     with CUDA_ERROR_INVALID_CONTEXT on a thread where it was not set;
//   - capture in a mode other than RELAXED must end on the thread it began
//     on (CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD);
//   - device memory is bounded (FAKECUDA_MEM bytes, default 64 MiB), so
//     out-of-memory paths are reachable; freeing an unknown pointer fails.
// Build variants: -DFAKE_OMIT_GRAPH_INSTANTIATE leaves out one symbol;
// FAKECUDA_MODE=nodevice makes cuInit return CUDA_ERROR_NO_DEVICE.

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;

enum {
	OK = 0,
	INVALID_VALUE = 1,
	OUT_OF_MEMORY = 2,
	NOT_INITIALIZED = 3,
	NO_DEVICE = 100,
	INVALID_DEVICE = 101,
	INVALID_IMAGE = 200,
	INVALID_CONTEXT = 201,
	INVALID_HANDLE = 400,
	ILLEGAL_STATE = 401,
	NOT_FOUND = 500,
	NOT_READY = 600,
	STREAM_CAPTURE_UNSUPPORTED = 900,
	STREAM_CAPTURE_WRONG_THREAD = 908,
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int initialized;

// ---- context -------------------------------------------------------------

struct ctx { int magic; };
static struct ctx the_ctx = { 0x0c0c };
static int ctx_refs;
static __thread struct ctx *cur;

#define NEED_INIT() do { if (!initialized) return NOT_INITIALIZED; } while (0)
#define NEED_CTX() do { NEED_INIT(); if (cur != &the_ctx || ctx_refs <= 0) return INVALID_CONTEXT; } while (0)

CUresult cuInit(unsigned int flags) {
	const char *m = getenv("FAKECUDA_MODE");
	if (flags != 0) return INVALID_VALUE;
	if (m && strcmp(m, "nodevice") == 0) return NO_DEVICE;
	initialized = 1;
	return OK;
}

CUresult cuDriverGetVersion(int *v) { if (!v) return INVALID_VALUE; *v = 13000; return OK; }

CUresult cuGetErrorName(CUresult e, const char **s) {
	switch (e) {
	case OK: *s = "CUDA_SUCCESS"; return OK;
	case INVALID_VALUE: *s = "CUDA_ERROR_INVALID_VALUE"; return OK;
	case OUT_OF_MEMORY: *s = "CUDA_ERROR_OUT_OF_MEMORY"; return OK;
	case INVALID_CONTEXT: *s = "CUDA_ERROR_INVALID_CONTEXT"; return OK;
	case NOT_FOUND: *s = "CUDA_ERROR_NOT_FOUND"; return OK;
	case 4242: *s = "CUDA_ERROR_FAKE_4242"; return OK; // a code newer than any header
	default: *s = NULL; return INVALID_VALUE;         // exercise the fallback table
	}
}

CUresult cuDeviceGetCount(int *n) { NEED_INIT(); *n = 1; return OK; }
CUresult cuDeviceGet(CUdevice *d, int ordinal) {
	NEED_INIT();
	if (ordinal != 0) return INVALID_DEVICE;
	*d = 0;
	return OK;
}
CUresult cuDeviceGetName(char *buf, int len, CUdevice d) {
	NEED_INIT();
	if (d != 0) return INVALID_DEVICE;
	strncpy(buf, "Fake CUDA Device", len);
	buf[len - 1] = 0;
	return OK;
}
CUresult cuDeviceGetAttribute(int *v, int attr, CUdevice d) {
	NEED_INIT();
	if (d != 0) return INVALID_DEVICE;
	switch (attr) {
	case 1: *v = 1024; return OK;        // max threads per block
	case 8: *v = 48 << 10; return OK;    // shared per block
	case 10: *v = 32; return OK;         // warp size
	case 16: *v = 132; return OK;        // SMs
	case 37: *v = 5120; return OK;       // bus width
	case 38: *v = 50 << 20; return OK;   // L2
	case 75: *v = 9; return OK;          // CC major
	case 76: *v = 0; return OK;          // CC minor
	case 81: *v = 228 << 10; return OK;  // shared per SM
	case 97: *v = 227 << 10; return OK;  // shared per block opt-in
	default: return INVALID_VALUE;       // e.g. the clock rates (13, 36), as CUDA 13 may
	}
}

static size_t mem_limit(void) {
	const char *m = getenv("FAKECUDA_MEM");
	return m ? (size_t)strtoull(m, NULL, 10) : (size_t)64 << 20;
}

CUresult cuDeviceTotalMem_v2(size_t *b, CUdevice d) {
	NEED_INIT();
	if (d != 0) return INVALID_DEVICE;
	*b = mem_limit();
	return OK;
}

CUresult cuDevicePrimaryCtxRetain(void **pctx, CUdevice d) {
	NEED_INIT();
	if (d != 0) return INVALID_DEVICE;
	pthread_mutex_lock(&mu);
	ctx_refs++;
	pthread_mutex_unlock(&mu);
	*pctx = &the_ctx;
	return OK;
}
CUresult cuDevicePrimaryCtxRelease_v2(CUdevice d) {
	NEED_INIT();
	if (d != 0) return INVALID_DEVICE;
	pthread_mutex_lock(&mu);
	if (ctx_refs <= 0) { pthread_mutex_unlock(&mu); return INVALID_CONTEXT; }
	ctx_refs--;
	pthread_mutex_unlock(&mu);
	return OK;
}
CUresult cuCtxSetCurrent(void *c) {
	NEED_INIT();
	if (c != NULL && c != &the_ctx) return INVALID_CONTEXT;
	cur = c;
	return OK;
}
CUresult cuCtxSynchronize(void) { NEED_CTX(); return OK; }

// ---- memory --------------------------------------------------------------

#define MAXBLK 4096
static struct { void *p; size_t n; } blocks[MAXBLK];
static size_t used;

CUresult cuMemGetInfo_v2(size_t *f, size_t *t) {
	NEED_CTX();
	pthread_mutex_lock(&mu);
	*t = mem_limit();
	*f = *t - used;
	pthread_mutex_unlock(&mu);
	return OK;
}

CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t n) {
	NEED_CTX();
	if (n == 0) return INVALID_VALUE;
	pthread_mutex_lock(&mu);
	if (used + n > mem_limit()) { pthread_mutex_unlock(&mu); return OUT_OF_MEMORY; }
	for (int i = 0; i < MAXBLK; i++) {
		if (!blocks[i].p) {
			void *m = NULL;
			if (posix_memalign(&m, 256, n)) break;
			blocks[i].p = m;
			blocks[i].n = n;
			used += n;
			pthread_mutex_unlock(&mu);
			*p = (CUdeviceptr)(uintptr_t)m;
			return OK;
		}
	}
	pthread_mutex_unlock(&mu);
	return OUT_OF_MEMORY;
}

CUresult cuMemFree_v2(CUdeviceptr p) {
	NEED_CTX();
	pthread_mutex_lock(&mu);
	for (int i = 0; i < MAXBLK; i++) {
		if (blocks[i].p && (CUdeviceptr)(uintptr_t)blocks[i].p == p) {
			free(blocks[i].p);
			used -= blocks[i].n;
			blocks[i].p = NULL;
			pthread_mutex_unlock(&mu);
			return OK;
		}
	}
	pthread_mutex_unlock(&mu);
	return INVALID_VALUE;
}

CUresult cuMemHostAlloc(void **pp, size_t n, unsigned int flags) {
	NEED_CTX();
	(void)flags;
	if (n == 0) return INVALID_VALUE;
	*pp = malloc(n);
	return *pp ? OK : OUT_OF_MEMORY;
}
CUresult cuMemFreeHost(void *p) { NEED_CTX(); free(p); return OK; }

CUresult cuMemcpyHtoD_v2(CUdeviceptr d, const void *s, size_t n) {
	NEED_CTX(); memcpy((void *)(uintptr_t)d, s, n); return OK;
}
CUresult cuMemcpyDtoH_v2(void *d, CUdeviceptr s, size_t n) {
	NEED_CTX(); memcpy(d, (const void *)(uintptr_t)s, n); return OK;
}

// ---- streams, capture and graphs -----------------------------------------

enum { OP_MEMSET, OP_COPY, OP_KERNEL };
struct op {
	int kind;
	uintptr_t dst, src;
	size_t n;
	unsigned int v;
	int fn;
	unsigned char args[64];
	unsigned int grid, block;
};
struct graph { int magic; int nops; struct op ops[64]; };
struct stream {
	int magic;
	int capturing, mode, invalid;
	pthread_t owner;
	struct graph *g;
};
#define STREAM_MAGIC 0x57
#define GRAPH_MAGIC 0x6a
#define EXEC_MAGIC 0x6b

static struct stream *as_stream(void *s) { return (struct stream *)s; }

CUresult cuStreamCreate(void **ps, unsigned int flags) {
	NEED_CTX();
	if (flags > 1) return INVALID_VALUE;
	struct stream *s = calloc(1, sizeof *s);
	s->magic = STREAM_MAGIC;
	*ps = s;
	return OK;
}
static int bad_stream(void *p) { return p && as_stream(p)->magic != STREAM_MAGIC; }
CUresult cuStreamSynchronize(void *s) {
	NEED_CTX();
	if (bad_stream(s)) return INVALID_HANDLE;
	if (s && as_stream(s)->capturing) return 906; // STREAM_CAPTURE_IMPLICIT-like: illegal during capture
	return OK;
}
CUresult cuStreamQuery(void *s) {
	NEED_CTX();
	if (bad_stream(s)) return INVALID_HANDLE;
	if (s && as_stream(s)->capturing) return 900; // STREAM_CAPTURE_UNSUPPORTED
	return OK;
}
CUresult cuStreamDestroy_v2(void *s) {
	NEED_CTX();
	if (!s || bad_stream(s)) return INVALID_HANDLE;
	as_stream(s)->magic = 0;
	free(s);
	return OK;
}

// run executes an op now.
static void run_kernel(const struct op *o);
static void run(const struct op *o) {
	switch (o->kind) {
	case OP_MEMSET: {
		unsigned int *p = (unsigned int *)o->dst;
		for (size_t i = 0; i < o->n; i++) p[i] = o->v;
		break;
	}
	case OP_COPY: memmove((void *)o->dst, (const void *)o->src, o->n); break;
	case OP_KERNEL: run_kernel(o); break;
	}
}

// submit runs op on stream s, or records it if s is capturing.
static CUresult submit(void *sp, const struct op *o) {
	if (bad_stream(sp)) return INVALID_HANDLE;
	struct stream *s = as_stream(sp);
	if (s && s->capturing) {
		if (s->g->nops == 64) { s->invalid = 1; return OUT_OF_MEMORY; }
		s->g->ops[s->g->nops++] = *o;
		return OK;
	}
	run(o);
	return OK;
}

CUresult cuMemsetD32Async(CUdeviceptr d, unsigned int v, size_t n, void *s) {
	NEED_CTX();
	if (d & 3) return INVALID_VALUE;
	struct op o = { .kind = OP_MEMSET, .dst = (uintptr_t)d, .n = n, .v = v };
	return submit(s, &o);
}
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr d, const void *src, size_t n, void *s) {
	NEED_CTX();
	struct op o = { .kind = OP_COPY, .dst = (uintptr_t)d, .src = (uintptr_t)src, .n = n };
	return submit(s, &o);
}
CUresult cuMemcpyDtoHAsync_v2(void *d, CUdeviceptr src, size_t n, void *s) {
	NEED_CTX();
	struct op o = { .kind = OP_COPY, .dst = (uintptr_t)d, .src = (uintptr_t)src, .n = n };
	return submit(s, &o);
}
CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr d, CUdeviceptr src, size_t n, void *s) {
	NEED_CTX();
	struct op o = { .kind = OP_COPY, .dst = (uintptr_t)d, .src = (uintptr_t)src, .n = n };
	return submit(s, &o);
}

CUresult cuStreamBeginCapture_v2(void *sp, int mode) {
	NEED_CTX();
	if (!sp) return STREAM_CAPTURE_UNSUPPORTED;
	if (bad_stream(sp)) return INVALID_HANDLE;
	struct stream *s = as_stream(sp);
	if (s->capturing) return ILLEGAL_STATE;
	if (mode < 0 || mode > 2) return INVALID_VALUE;
	s->capturing = 1;
	s->mode = mode;
	s->invalid = 0;
	s->owner = pthread_self();
	s->g = calloc(1, sizeof *s->g);
	s->g->magic = GRAPH_MAGIC;
	return OK;
}
CUresult cuStreamEndCapture(void *sp, void **pg) {
	NEED_CTX();
	if (!sp || bad_stream(sp)) return INVALID_HANDLE;
	struct stream *s = as_stream(sp);
	if (!s->capturing) return ILLEGAL_STATE;
	if (s->mode != 2 && !pthread_equal(s->owner, pthread_self())) return STREAM_CAPTURE_WRONG_THREAD;
	s->capturing = 0;
	if (s->invalid) { free(s->g); s->g = NULL; *pg = NULL; return 901; }
	*pg = s->g;
	s->g = NULL;
	return OK;
}
CUresult cuGraphDestroy(void *g) {
	NEED_CTX();
	if (!g || ((struct graph *)g)->magic != GRAPH_MAGIC) return INVALID_HANDLE;
	((struct graph *)g)->magic = 0;
	free(g);
	return OK;
}
#ifndef FAKE_OMIT_GRAPH_INSTANTIATE
CUresult cuGraphInstantiateWithFlags(void **px, void *g, unsigned long long flags) {
	NEED_CTX();
	if (flags) return INVALID_VALUE;
	if (!g || ((struct graph *)g)->magic != GRAPH_MAGIC) return INVALID_HANDLE;
	struct graph *x = malloc(sizeof *x);
	*x = *(struct graph *)g;
	x->magic = EXEC_MAGIC;
	*px = x;
	return OK;
}
#endif
CUresult cuGraphLaunch(void *xp, void *s) {
	NEED_CTX();
	struct graph *x = xp;
	if (!x || x->magic != EXEC_MAGIC) return INVALID_HANDLE;
	if (bad_stream(s)) return INVALID_HANDLE;
	for (int i = 0; i < x->nops; i++) run(&x->ops[i]);
	return OK;
}
CUresult cuGraphExecDestroy(void *xp) {
	NEED_CTX();
	struct graph *x = xp;
	if (!x || x->magic != EXEC_MAGIC) return INVALID_HANDLE;
	x->magic = 0;
	free(x);
	return OK;
}

// ---- events ---------------------------------------------------------------

struct event { int magic; int timing; int recorded; double ms; };
#define EVENT_MAGIC 0xe7

static double now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}
CUresult cuEventCreate(void **pe, unsigned int flags) {
	NEED_CTX();
	struct event *e = calloc(1, sizeof *e);
	e->magic = EVENT_MAGIC;
	e->timing = !(flags & 2);
	*pe = e;
	return OK;
}
static struct event *as_event(void *p) {
	struct event *e = p;
	return e && e->magic == EVENT_MAGIC ? e : NULL;
}
CUresult cuEventRecord(void *ep, void *s) {
	NEED_CTX();
	struct event *e = as_event(ep);
	if (!e || bad_stream(s)) return INVALID_HANDLE;
	e->recorded = 1;
	e->ms = now_ms();
	return OK;
}
CUresult cuEventQuery(void *ep) { NEED_CTX(); return as_event(ep) ? OK : INVALID_HANDLE; }
CUresult cuEventSynchronize(void *ep) { NEED_CTX(); return as_event(ep) ? OK : INVALID_HANDLE; }
CUresult cuEventDestroy_v2(void *ep) {
	NEED_CTX();
	struct event *e = as_event(ep);
	if (!e) return INVALID_HANDLE;
	e->magic = 0;
	free(e);
	return OK;
}
CUresult cuEventElapsedTime(float *ms, void *a, void *b) {
	NEED_CTX();
	struct event *x = as_event(a), *y = as_event(b);
	if (!x || !y || !x->timing || !y->timing) return INVALID_HANDLE;
	if (!x->recorded || !y->recorded) return NOT_READY;
	*ms = (float)(y->ms - x->ms);
	return OK;
}
CUresult cuStreamWaitEvent(void *s, void *ep, unsigned int flags) {
	NEED_CTX();
	if (flags || bad_stream(s) || !as_event(ep)) return flags ? INVALID_VALUE : INVALID_HANDLE;
	return OK;
}

// ---- modules and kernels -------------------------------------------------

struct module { int magic; };
#define MODULE_MAGIC 0x3d
enum { FN_SAXPY = 1, FN_ARGS, FN_SHARED };
static struct function { int id; int maxdyn; } fns[] = { { 0, 0 }, { FN_SAXPY, 0 }, { FN_ARGS, 0 }, { FN_SHARED, 0 } };

CUresult cuModuleLoadData(void **pm, const void *image) {
	NEED_CTX();
	if (!image || !strstr((const char *)image, ".entry aegpu_test_saxpy")) return INVALID_IMAGE;
	struct module *m = malloc(sizeof *m);
	m->magic = MODULE_MAGIC;
	*pm = m;
	return OK;
}
CUresult cuModuleUnload(void *mp) {
	NEED_CTX();
	struct module *m = mp;
	if (!m || m->magic != MODULE_MAGIC) return INVALID_HANDLE;
	m->magic = 0;
	free(m);
	return OK;
}
CUresult cuModuleGetFunction(void **pf, void *mp, const char *name) {
	NEED_CTX();
	struct module *m = mp;
	if (!m || m->magic != MODULE_MAGIC) return INVALID_HANDLE;
	if (!strcmp(name, "aegpu_test_saxpy")) *pf = &fns[FN_SAXPY];
	else if (!strcmp(name, "aegpu_test_args")) *pf = &fns[FN_ARGS];
	else if (!strcmp(name, "aegpu_test_shared")) *pf = &fns[FN_SHARED];
	else return NOT_FOUND;
	return OK;
}
static struct function *as_fn(void *p) {
	for (int i = 1; i < 4; i++) if (p == &fns[i]) return &fns[i];
	return NULL;
}
CUresult cuFuncSetAttribute(void *fp, int attr, int v) {
	NEED_CTX();
	struct function *f = as_fn(fp);
	if (!f) return INVALID_HANDLE;
	if (v < 0) return (CUresult)-v; // test hook: SetMaxDynamicShared(-code) fails with code
	if (attr != 8 || v > (227 << 10)) return INVALID_VALUE;
	f->maxdyn = v;
	return OK;
}

// Parameter sizes per kernel, as the real driver knows them from the image.
static const int saxpy_sizes[] = { 8, 8, 4, 4 };
static const int args_sizes[] = { 8, 4, 8, 4, 8, 4, 8 };
static const int shared_sizes[] = { 8, 4 };

// pack copies each parameter at its own size into a packed buffer at
// 8-byte-aligned offsets (what the real driver does into the launch's
// parameter buffer).
static void pack(unsigned char *dst, void **params, const int *sizes, int n) {
	for (int i = 0; i < n; i++) memcpy(dst + 8 * i, params[i], sizes[i]);
}

static void run_kernel(const struct op *o) {
	const unsigned char *a = o->args;
	switch (o->fn) {
	case FN_SAXPY: {
		float *y, *x, s; int n;
		memcpy(&y, a, 8); memcpy(&x, a + 8, 8); memcpy(&s, a + 16, 4); memcpy(&n, a + 24, 4);
		for (int i = 0; i < n; i++) y[i] = s * x[i] + y[i];
		break;
	}
	case FN_ARGS: {
		unsigned long long *out; int ia, ie; long long b; float c; unsigned long long d; double f;
		memcpy(&out, a, 8); memcpy(&ia, a + 8, 4); memcpy(&b, a + 16, 8); memcpy(&c, a + 24, 4);
		memcpy(&d, a + 32, 8); memcpy(&ie, a + 40, 4); memcpy(&f, a + 48, 8);
		out[0] = (unsigned long long)(long long)ia;
		out[1] = (unsigned long long)b;
		uint32_t cb; memcpy(&cb, &c, 4); out[2] = cb;
		out[3] = d;
		out[4] = (unsigned long long)(long long)ie;
		memcpy(&out[5], &f, 8);
		break;
	}
	case FN_SHARED: {
		int *out; int n;
		memcpy(&out, a, 8); memcpy(&n, a + 8, 4);
		for (int i = 0; i < n; i++) out[i] = i;
		break;
	}
	}
}

CUresult cuLaunchKernel(void *fp, unsigned int gx, unsigned int gy, unsigned int gz,
		unsigned int bx, unsigned int by, unsigned int bz, unsigned int shared,
		void *s, void **params, void **extra) {
	NEED_CTX();
	struct function *f = as_fn(fp);
	if (!f) return INVALID_HANDLE;
	if (extra) return INVALID_VALUE;
	if (!gx || !gy || !gz || !bx || !by || !bz) return INVALID_VALUE;
	if ((unsigned long long)bx * by * bz > 1024) return INVALID_VALUE;
	if (shared > (48u << 10) && shared > (unsigned)f->maxdyn) return INVALID_VALUE;
	if (!params) return INVALID_VALUE; // every test kernel has parameters
	struct op o = { .kind = OP_KERNEL, .fn = f->id, .grid = gx, .block = bx };
	switch (f->id) {
	case FN_SAXPY: pack(o.args, params, saxpy_sizes, 4); break;
	case FN_ARGS: pack(o.args, params, args_sizes, 7); break;
	case FN_SHARED:
		pack(o.args, params, shared_sizes, 2);
		{ int n; memcpy(&n, o.args + 8, 4); if ((unsigned long long)n * 4 > shared) return 719; } // LAUNCH_FAILED
		break;
	}
	return submit(s, &o);
}
