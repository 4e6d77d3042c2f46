//go:build cgo

package nccl

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// Our own declarations of NCCL's few types (ABI-compatible with nccl.h,
// which is not included so that the package builds where NCCL is not
// installed).
typedef int ncclResult_t;
typedef struct ncclComm *ncclComm_t;
typedef struct { char internal[128]; } ncclUniqueId;

static ncclResult_t (*p_ncclGetVersion)(int *);
static ncclResult_t (*p_ncclGetUniqueId)(ncclUniqueId *);
static ncclResult_t (*p_ncclCommInitRank)(ncclComm_t *, int, ncclUniqueId, int);
static ncclResult_t (*p_ncclAllReduce)(const void *, void *, size_t, int, int, ncclComm_t, void *);
static ncclResult_t (*p_ncclCommGetAsyncError)(ncclComm_t, ncclResult_t *);
static ncclResult_t (*p_ncclCommAbort)(ncclComm_t);
static ncclResult_t (*p_ncclCommDestroy)(ncclComm_t);
static const char *(*p_ncclGetErrorString)(ncclResult_t);

typedef struct { void **slot; const char *name; } nccl_sym;
#define SYM(var, name) { (void **)&var, name }
static const nccl_sym nccl_syms[] = {
	SYM(p_ncclGetVersion, "ncclGetVersion"),
	SYM(p_ncclGetUniqueId, "ncclGetUniqueId"),
	SYM(p_ncclCommInitRank, "ncclCommInitRank"),
	SYM(p_ncclAllReduce, "ncclAllReduce"),
	SYM(p_ncclCommGetAsyncError, "ncclCommGetAsyncError"),
	SYM(p_ncclCommAbort, "ncclCommAbort"),
	SYM(p_ncclCommDestroy, "ncclCommDestroy"),
	SYM(p_ncclGetErrorString, "ncclGetErrorString"),
};

// nccl_load: 0 on success; 1 when dlopen failed (*msg: dlerror's text);
// 2 when a symbol is missing (*msg: its name).
static int nccl_load(const char *lib, const char **msg) {
	size_t i, n = sizeof nccl_syms / sizeof nccl_syms[0];
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *e = dlerror();
		*msg = e ? e : "dlopen failed";
		return 1;
	}
	for (i = 0; i < n; i++) {
		void *p = dlsym(h, nccl_syms[i].name);
		if (!p) {
			size_t j;
			*msg = nccl_syms[i].name;
			for (j = 0; j < n; j++) *nccl_syms[j].slot = NULL;
			dlclose(h);
			return 2;
		}
		*nccl_syms[i].slot = p;
	}
	return 0;
}

typedef struct { int r; uint64_t v; } res1;

static res1 w_version(void) { int v = 0; res1 o; o.r = p_ncclGetVersion(&v); o.v = (uint64_t)v; return o; }
static int w_uniqueId(void *out) {
	ncclUniqueId id;
	memset(&id, 0, sizeof id);
	int r = p_ncclGetUniqueId(&id);
	memcpy(out, &id, sizeof id);
	return r;
}
static res1 w_initRank(int nranks, const void *idp, int rank) {
	ncclUniqueId id;
	ncclComm_t c = NULL;
	res1 o;
	memcpy(&id, idp, sizeof id);
	o.r = p_ncclCommInitRank(&c, nranks, id, rank);
	o.v = (uintptr_t)c;
	return o;
}
static int w_allReduce(uint64_t send, uint64_t recv, size_t count, int dtype, int op, uintptr_t comm, uintptr_t stream) {
	return p_ncclAllReduce((const void *)(uintptr_t)send, (void *)(uintptr_t)recv, count, dtype, op,
		(ncclComm_t)comm, (void *)stream);
}
static res1 w_asyncError(uintptr_t comm) {
	ncclResult_t a = 0; res1 o;
	o.r = p_ncclCommGetAsyncError((ncclComm_t)comm, &a);
	o.v = (uint64_t)a;
	return o;
}
static int w_abort(uintptr_t comm) { return p_ncclCommAbort((ncclComm_t)comm); }
static int w_destroy(uintptr_t comm) { return p_ncclCommDestroy((ncclComm_t)comm); }
static const char *w_errorString(int r) { return p_ncclGetErrorString ? p_ncclGetErrorString(r) : NULL; }
*/
import "C"

import "unsafe"

var buildErr error

func libLoad(lib string) (int, string) {
	cs := C.CString(lib)
	defer C.free(unsafe.Pointer(cs))
	var msg *C.char
	r := int(C.nccl_load(cs, &msg))
	if r != 0 {
		return r, C.GoString(msg)
	}
	return 0, ""
}

func libVersion() (int, int) { o := C.w_version(); return int(o.v), int(o.r) }

func libUniqueID() (UniqueID, int) {
	var id UniqueID
	p := C.malloc(C.size_t(len(id)))
	defer C.free(p)
	r := int(C.w_uniqueId(p))
	copy(id[:], unsafe.Slice((*byte)(p), len(id)))
	return id, r
}

func libInitRank(nranks int, id UniqueID, rank int) (uintptr, int) {
	p := C.CBytes(id[:])
	defer C.free(p)
	o := C.w_initRank(C.int(nranks), p, C.int(rank))
	return uintptr(o.v), int(o.r)
}

func libAllReduce(send, recv uint64, count int64, dtype, op int, comm, stream uintptr) int {
	return int(C.w_allReduce(C.uint64_t(send), C.uint64_t(recv), C.size_t(count), C.int(dtype), C.int(op),
		C.uintptr_t(comm), C.uintptr_t(stream)))
}

func libAsyncError(comm uintptr) (int, int) {
	o := C.w_asyncError(C.uintptr_t(comm))
	return int(o.v), int(o.r)
}

func libAbort(comm uintptr) int   { return int(C.w_abort(C.uintptr_t(comm))) }
func libDestroy(comm uintptr) int { return int(C.w_destroy(C.uintptr_t(comm))) }

func libErrorString(code int) string {
	s := C.w_errorString(C.int(code))
	if s == nil {
		return ""
	}
	return C.GoString(s)
}
