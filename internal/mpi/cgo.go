//go:build cgo

package mpi

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

// MPI is never included: the handles and the function types are spelled
// out here for both ABIs, so aegpu builds where no MPI is installed.
typedef void *P;

static void *mpi_lib;
static int mpi_abi; // 1: Open MPI (pointer handles), 2: MPICH (int handles)

// Open MPI: the predefined handles are the addresses of these objects.
static P o_comm_world, o_float, o_double, o_byte, o_sum;

// MPICH (mpi.h of MPICH 4.0.2, shared by its ABI-compatible derivatives).
enum {
	m_comm_world = 0x44000000,
	m_float = 0x4c00040a,
	m_double = 0x4c00080b,
	m_byte = 0x4c00010d,
	m_sum = 0x58000003,
};

static void *f_init_thread, *f_comm_rank, *f_comm_size, *f_allreduce, *f_bcast,
	*f_barrier, *f_ibarrier, *f_test, *f_abort, *f_finalize, *f_get_library_version;

// The request of the one MPI_Ibarrier in flight (BarrierIdle): a pointer
// in Open MPI, an integer in MPICH.
static P o_req;
static int m_req;

static char mpi_err[1024];

static int mpi_load(const char *name) {
	void *h = dlopen(name, RTLD_NOW | RTLD_GLOBAL); // Open MPI's plugins need its symbols global
	if (!h) {
		snprintf(mpi_err, sizeof mpi_err, "%s", dlerror());
		return -1;
	}
	struct { void **slot; const char *name; } syms[] = {
		{&f_init_thread, "MPI_Init_thread"}, {&f_comm_rank, "MPI_Comm_rank"},
		{&f_comm_size, "MPI_Comm_size"}, {&f_allreduce, "MPI_Allreduce"},
		{&f_bcast, "MPI_Bcast"}, {&f_barrier, "MPI_Barrier"}, {&f_ibarrier, "MPI_Ibarrier"},
		{&f_test, "MPI_Test"}, {&f_abort, "MPI_Abort"},
		{&f_finalize, "MPI_Finalize"}, {&f_get_library_version, "MPI_Get_library_version"},
	};
	for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
		if (!(*syms[i].slot = dlsym(h, syms[i].name))) {
			snprintf(mpi_err, sizeof mpi_err, "%s: no symbol %s", name, syms[i].name);
			dlclose(h);
			return -1;
		}
	}
	o_comm_world = dlsym(h, "ompi_mpi_comm_world");
	if (o_comm_world) {
		o_float = dlsym(h, "ompi_mpi_float");
		o_double = dlsym(h, "ompi_mpi_double");
		o_byte = dlsym(h, "ompi_mpi_byte");
		o_sum = dlsym(h, "ompi_mpi_op_sum");
		if (!o_float || !o_double || !o_byte || !o_sum) {
			snprintf(mpi_err, sizeof mpi_err, "%s: an Open MPI library without its predefined handles", name);
			dlclose(h);
			return -1;
		}
		mpi_abi = 1;
	} else {
		mpi_abi = 2;
	}
	mpi_lib = h;
	return mpi_abi;
}

static const char *mpi_error(void) { return mpi_err; }

static int mpi_library_version(char *buf, int *len) {
	return ((int (*)(char *, int *))f_get_library_version)(buf, len);
}

static int mpi_init_thread(int required, int *provided) {
	return ((int (*)(int *, char ***, int, int *))f_init_thread)(NULL, NULL, required, provided);
}

static int mpi_comm_rank(int *r) {
	if (mpi_abi == 1) return ((int (*)(P, int *))f_comm_rank)(o_comm_world, r);
	return ((int (*)(int, int *))f_comm_rank)(m_comm_world, r);
}

static int mpi_comm_size(int *r) {
	if (mpi_abi == 1) return ((int (*)(P, int *))f_comm_size)(o_comm_world, r);
	return ((int (*)(int, int *))f_comm_size)(m_comm_world, r);
}

// kind: 0 float, 1 double.
static int mpi_allreduce_sum(void *buf, int count, int kind) {
	if (mpi_abi == 1)
		return ((int (*)(const void *, void *, int, P, P, P))f_allreduce)(
			(void *)1, buf, count, kind ? o_double : o_float, o_sum, o_comm_world);
	return ((int (*)(const void *, void *, int, int, int, int))f_allreduce)(
		(void *)-1, buf, count, kind ? m_double : m_float, m_sum, m_comm_world);
}

static int mpi_bcast(void *buf, int count, int root) {
	if (mpi_abi == 1) return ((int (*)(void *, int, P, int, P))f_bcast)(buf, count, o_byte, root, o_comm_world);
	return ((int (*)(void *, int, int, int, int))f_bcast)(buf, count, m_byte, root, m_comm_world);
}

static int mpi_barrier(void) {
	if (mpi_abi == 1) return ((int (*)(P))f_barrier)(o_comm_world);
	return ((int (*)(int))f_barrier)(m_comm_world);
}

static int mpi_ibarrier(void) {
	if (mpi_abi == 1) return ((int (*)(P, P *))f_ibarrier)(o_comm_world, &o_req);
	return ((int (*)(int, int *))f_ibarrier)(m_comm_world, &m_req);
}

// MPI_Test of the Ibarrier's request, MPI_STATUS_IGNORE being 0 in Open
// MPI and 1 in MPICH.
static int mpi_test(int *flag) {
	if (mpi_abi == 1) return ((int (*)(P *, int *, void *))f_test)(&o_req, flag, (void *)0);
	return ((int (*)(int *, int *, void *))f_test)(&m_req, flag, (void *)1);
}

static int mpi_abort(int code) {
	if (mpi_abi == 1) return ((int (*)(P, int))f_abort)(o_comm_world, code);
	return ((int (*)(int, int))f_abort)(m_comm_world, code);
}

static int mpi_finalize(void) { return ((int (*)(void))f_finalize)(); }
*/
import "C"

import (
	"fmt"
	"unsafe"
)

var buildErr error

// threadFunneled is MPI_THREAD_FUNNELED (1 in both ABIs).
const threadFunneled = 1

func cLoad(name string) (ABI, error) {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	r := C.mpi_load(cs)
	if r < 0 {
		return 0, fmt.Errorf("%s", C.GoString(C.mpi_error()))
	}
	return ABI(r), nil
}

func cLibraryVersion() string {
	buf := make([]byte, 8192) // MPICH's MPI_MAX_LIBRARY_VERSION_STRING (Open MPI's is 256)
	var n C.int
	if C.mpi_library_version((*C.char)(unsafe.Pointer(&buf[0])), &n) != 0 || n <= 0 {
		return "unknown version"
	}
	b := buf[:min(int(n), len(buf))]
	for i, c := range b {
		if c == 0 {
			b = b[:i]
			break
		}
	}
	return string(b)
}

func check(call string, r C.int) error {
	if r != 0 {
		return &Error{Call: call, Code: int(r)}
	}
	return nil
}

func cInit() error {
	var provided C.int
	if err := check("MPI_Init_thread", C.mpi_init_thread(threadFunneled, &provided)); err != nil {
		return err
	}
	if provided < threadFunneled {
		return fmt.Errorf("MPI_Init_thread provided thread level %d, aegpu needs MPI_THREAD_FUNNELED", int(provided))
	}
	return nil
}

func cRank() (int, error) {
	var r C.int
	err := check("MPI_Comm_rank", C.mpi_comm_rank(&r))
	return int(r), err
}

func cSize() (int, error) {
	var r C.int
	err := check("MPI_Comm_size", C.mpi_comm_size(&r))
	return int(r), err
}

func cAllreduceF32(b []float32) error {
	if len(b) == 0 {
		return nil
	}
	return check("MPI_Allreduce", C.mpi_allreduce_sum(unsafe.Pointer(&b[0]), C.int(len(b)), 0))
}

func cAllreduceF64(b []float64) error {
	if len(b) == 0 {
		return nil
	}
	return check("MPI_Allreduce", C.mpi_allreduce_sum(unsafe.Pointer(&b[0]), C.int(len(b)), 1))
}

func cBcast(b []byte, root int) error {
	if len(b) == 0 {
		return nil
	}
	return check("MPI_Bcast", C.mpi_bcast(unsafe.Pointer(&b[0]), C.int(len(b)), C.int(root)))
}

func cBarrier() error  { return check("MPI_Barrier", C.mpi_barrier()) }
func cIbarrier() error { return check("MPI_Ibarrier", C.mpi_ibarrier()) }

func cTest() (bool, error) {
	var flag C.int
	err := check("MPI_Test", C.mpi_test(&flag))
	return flag != 0, err
}

func cAbort(code int)  { C.mpi_abort(C.int(code)) }
func cFinalize() error { return check("MPI_Finalize", C.mpi_finalize()) }
