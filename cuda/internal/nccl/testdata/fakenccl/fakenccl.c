// fakenccl.c: a fake libnccl.so.2 for tests, over the emulated GPU of
// cuda/internal/emugpu (whose device memory is host memory).
//
// It implements the few entry points cuda/internal/nccl resolves, with
// NCCL's C ABI (ncclResult_t codes, ncclFloat32 = 7, ncclSum = 0, a
// 128-byte ncclUniqueId passed by value), and runs a real float32 sum
// all-reduce between the processes of a job:
//
//   - ncclGetUniqueId makes an id that names a POSIX shared memory segment
//     ("/fakenccl-<hex>"); the ranks get it from rank 0 however the caller
//     sends it (aegpu: MPI_Bcast).
//   - ncclCommInitRank opens the segment, records the rank's pid and waits
//     at a barrier for every rank; the last one through unlinks the name
//     (the mapping stays), so nothing is left in /dev/shm.
//   - ncclAllReduce queues, with the emulated driver's cuLaunchHostFunc, a
//     host function on the stream: in stream order it copies the rank's
//     buffer into its slot of the segment, waits for every rank, sums the
//     slots in rank order (the same bits on every rank) into the receive
//     buffer and waits again. During stream capture the host function is
//     a node of the graph, run by every replay.
//   - Every barrier is timed (FAKENCCL_TIMEOUT_MS, default 20000) and
//     checks the peers' pids: a peer that exited gives ncclRemoteError, one
//     that stalls past the timeout ncclSystemError, and a peer's
//     ncclCommAbort ncclRemoteError — stored as the communicator's
//     asynchronous error (ncclCommGetAsyncError), after which its
//     collectives do nothing. Nothing hangs.
//   - FAKENCCL_LOG names a file that receives one line per call (appended,
//     one write each, so the ranks' lines interleave whole): tests assert
//     the call sequence from it.
//
// Build: gcc -shared -fPIC -O1 -o DIR/libnccl.so.2 fakenccl.c -ldl -lpthread
// (next to the emulated libcuda.so.1, both found through LD_LIBRARY_PATH).

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

typedef enum {
	ncclSuccess = 0,
	ncclUnhandledCudaError = 1,
	ncclSystemError = 2,
	ncclInternalError = 3,
	ncclInvalidArgument = 4,
	ncclInvalidUsage = 5,
	ncclRemoteError = 6,
	ncclInProgress = 7,
} ncclResult_t;

#define ID_BYTES 128
typedef struct {
	char internal[ID_BYTES];
} ncclUniqueId;

static const char kMagic[8] = {'f', 'a', 'k', 'e', 'n', 'c', 'c', 'l'};
#define MAX_RANKS 64
#define SLOT_FLOATS (1 << 18) // 1 MiB per rank; larger buffers go in chunks

struct shared {
	int nranks;
	int aborted;                 // a rank called ncclCommAbort
	unsigned long long arrivals; // barrier arrivals, ever (monotonic)
	int pid[MAX_RANKS];
	// then nranks slots of SLOT_FLOATS floats
};

struct job;

typedef struct ncclComm {
	struct shared *sh;
	size_t maplen;
	int rank, nranks;
	unsigned long long passed; // barriers this rank has passed
	ncclResult_t async;        // the asynchronous error (sticky)
	struct job *jobs;          // captured all-reduces, freed with the communicator
} * ncclComm_t;

struct job {
	ncclComm_t comm;
	const float *send;
	float *recv;
	size_t count;
	int once; // queued outside capture: freed after it ran
	struct job *next;
};

// ---- the log ------------------------------------------------------------

static void logf_(const char *fmt, ...) {
	const char *path = getenv("FAKENCCL_LOG");
	if (!path || !*path) return;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0) return;
	if (n > (int)sizeof line - 2) n = sizeof line - 2;
	line[n++] = '\n';
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (fd < 0) return;
	ssize_t w = write(fd, line, n);
	(void)w;
	close(fd);
}

// ---- the emulated driver's entry points ------------------------------------

typedef void (*hostfn)(void *);
static int (*p_cuLaunchHostFunc)(void *, hostfn, void *);
static int (*p_cuStreamIsCapturing)(void *, int *);

static int resolve_cuda(void) {
	if (p_cuLaunchHostFunc) return 1;
	void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
	if (!h) h = dlopen("libcuda.so.1", RTLD_NOW);
	if (!h) return 0;
	p_cuLaunchHostFunc = (int (*)(void *, hostfn, void *))dlsym(h, "cuLaunchHostFunc");
	p_cuStreamIsCapturing = (int (*)(void *, int *))dlsym(h, "cuStreamIsCapturing");
	return p_cuLaunchHostFunc && p_cuStreamIsCapturing;
}

// ---- the barrier --------------------------------------------------------------

static double now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static long timeout_ms(void) {
	const char *v = getenv("FAKENCCL_TIMEOUT_MS");
	long t = v && *v ? strtol(v, NULL, 10) : 0;
	return t > 0 ? t : 20000;
}

// gone reports whether process pid exited (a zombie not yet reaped by its
// parent counts as exited).
static int gone(int pid) {
	if (kill(pid, 0) != 0 && errno == ESRCH) return 1;
	char path[64], buf[256];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0) return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0) return 0;
	buf[n] = 0;
	char *p = strrchr(buf, ')'); // "pid (comm) S ..."
	return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

// barrier waits until every rank arrived at this rank's next barrier.
static ncclResult_t barrier(ncclComm_t c, const char *what) {
	struct shared *sh = c->sh;
	unsigned long long target = (c->passed + 1) * (unsigned long long)c->nranks;
	__atomic_add_fetch(&sh->arrivals, 1, __ATOMIC_ACQ_REL);
	double start = now_ms(), checked = start;
	long limit = timeout_ms();
	struct timespec nap = {0, 20000};
	while (__atomic_load_n(&sh->arrivals, __ATOMIC_ACQUIRE) < target) {
		if (__atomic_load_n(&sh->aborted, __ATOMIC_ACQUIRE)) {
			logf_("error rank=%d at=%s result=%d peer aborted", c->rank, what, ncclRemoteError);
			return ncclRemoteError;
		}
		double t = now_ms();
		if (t - checked > 10) {
			checked = t;
			for (int r = 0; r < c->nranks; r++) {
				int pid = __atomic_load_n(&sh->pid[r], __ATOMIC_ACQUIRE);
				if (r != c->rank && pid > 0 && gone(pid)) {
					logf_("error rank=%d at=%s result=%d peer %d (pid %d) exited", c->rank, what, ncclRemoteError, r, pid);
					return ncclRemoteError;
				}
			}
		}
		if (t - start > limit) {
			logf_("error rank=%d at=%s result=%d timed out after %ld ms", c->rank, what, ncclSystemError, limit);
			return ncclSystemError;
		}
		nanosleep(&nap, NULL);
	}
	c->passed++;
	return ncclSuccess;
}

static float *slot(ncclComm_t c, int r) {
	return (float *)((char *)c->sh + sizeof(struct shared)) + (size_t)r * SLOT_FLOATS;
}

// ---- the API ----------------------------------------------------------------------

EXPORT const char *ncclGetErrorString(ncclResult_t r) {
	switch (r) {
	case ncclSuccess: return "no error";
	case ncclUnhandledCudaError: return "unhandled cuda error (run with NCCL_DEBUG=INFO for details)";
	case ncclSystemError: return "unhandled system error (run with NCCL_DEBUG=INFO for details)";
	case ncclInternalError: return "internal error - please report this issue to the NCCL developers";
	case ncclInvalidArgument: return "invalid argument (run with NCCL_DEBUG=WARN for details)";
	case ncclInvalidUsage: return "invalid usage (run with NCCL_DEBUG=WARN for details)";
	case ncclRemoteError: return "remote process exited or there was a network error";
	case ncclInProgress: return "NCCL operation in progress";
	default: return "unknown result code";
	}
}

EXPORT ncclResult_t ncclGetVersion(int *v) {
	if (!v) return ncclInvalidArgument;
	*v = 22304; // "2.23.4"
	logf_("version pid=%d", (int)getpid());
	return ncclSuccess;
}

EXPORT ncclResult_t ncclGetUniqueId(ncclUniqueId *id) {
	if (!id) return ncclInvalidArgument;
	unsigned char rnd[8];
	int fd = open("/dev/urandom", O_RDONLY);
	if (fd < 0 || read(fd, rnd, sizeof rnd) != (ssize_t)sizeof rnd) {
		if (fd >= 0) close(fd);
		return ncclSystemError;
	}
	close(fd);
	memset(id, 0, sizeof *id);
	memcpy(id->internal, kMagic, sizeof kMagic);
	char *name = id->internal + sizeof kMagic;
	snprintf(name, ID_BYTES - sizeof kMagic, "/fakenccl-%d-%02x%02x%02x%02x%02x%02x%02x%02x", (int)getpid(), rnd[0],
	         rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	logf_("uniqueid pid=%d id=%s", (int)getpid(), name);
	return ncclSuccess;
}

EXPORT ncclResult_t ncclCommInitRank(ncclComm_t *out, int nranks, ncclUniqueId id, int rank) {
	if (!out || nranks < 1 || nranks > MAX_RANKS || rank < 0 || rank >= nranks) return ncclInvalidArgument;
	if (memcmp(id.internal, kMagic, sizeof kMagic) != 0) return ncclInvalidArgument;
	if (!resolve_cuda()) return ncclUnhandledCudaError;
	const char *name = id.internal + sizeof kMagic;
	size_t len = sizeof(struct shared) + (size_t)nranks * SLOT_FLOATS * sizeof(float);
	int fd = shm_open(name, O_RDWR | O_CREAT, 0600);
	if (fd < 0) return ncclSystemError;
	if (ftruncate(fd, (off_t)len) != 0) {
		close(fd);
		return ncclSystemError;
	}
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) return ncclSystemError;
	ncclComm_t c = calloc(1, sizeof *c);
	if (!c) {
		munmap(p, len);
		return ncclSystemError;
	}
	c->sh = p;
	c->maplen = len;
	c->rank = rank;
	c->nranks = nranks;
	__atomic_store_n(&c->sh->pid[rank], (int)getpid(), __ATOMIC_RELEASE);
	logf_("init rank=%d nranks=%d id=%s", rank, nranks, name);
	ncclResult_t r = barrier(c, "init");
	if (r == ncclSuccess && rank == 0) shm_unlink(name); // every rank has it mapped
	if (r != ncclSuccess) {
		shm_unlink(name);
		munmap(p, len);
		free(c);
		return r;
	}
	*out = c;
	return ncclSuccess;
}

static void run_job(void *arg) {
	struct job *j = arg;
	ncclComm_t c = j->comm;
	if (c->async == ncclSuccess) {
		logf_("allreduce-run rank=%d count=%zu", c->rank, j->count);
		for (size_t off = 0; off < j->count; off += SLOT_FLOATS) {
			size_t n = j->count - off < SLOT_FLOATS ? j->count - off : SLOT_FLOATS;
			memcpy(slot(c, c->rank), j->send + off, n * sizeof(float));
			ncclResult_t r = barrier(c, "allreduce");
			if (r == ncclSuccess) {
				for (size_t i = 0; i < n; i++) {
					float acc = slot(c, 0)[i];
					for (int q = 1; q < c->nranks; q++) acc += slot(c, q)[i];
					j->recv[off + i] = acc;
				}
				r = barrier(c, "allreduce");
			}
			if (r != ncclSuccess) {
				c->async = r;
				break;
			}
		}
	}
	if (j->once) free(j);
}

EXPORT ncclResult_t ncclAllReduce(const void *send, void *recv, size_t count, int dtype, int op, ncclComm_t c,
                                  void *stream) {
	if (!c || !send || !recv) return ncclInvalidArgument;
	if (dtype != 7 || op != 0) return ncclInvalidArgument; // this fake sums float32 only
	if (c->async != ncclSuccess) return c->async;
	int capturing = 0;
	if (p_cuStreamIsCapturing(stream, &capturing) != 0) return ncclUnhandledCudaError;
	struct job *j = calloc(1, sizeof *j);
	if (!j) return ncclSystemError;
	j->comm = c;
	j->send = send;
	j->recv = recv;
	j->count = count;
	j->once = capturing == 0;
	if (p_cuLaunchHostFunc(stream, run_job, j) != 0) {
		free(j);
		return ncclUnhandledCudaError;
	}
	if (!j->once) {
		j->next = c->jobs;
		c->jobs = j;
	}
	logf_("allreduce rank=%d count=%zu captured=%d inplace=%d", c->rank, count, capturing, send == recv);
	return ncclSuccess;
}

EXPORT ncclResult_t ncclCommGetAsyncError(ncclComm_t c, ncclResult_t *r) {
	if (!c || !r) return ncclInvalidArgument;
	*r = c->async;
	logf_("asyncerror rank=%d result=%d", c->rank, c->async);
	return ncclSuccess;
}

static void release(ncclComm_t c) {
	for (struct job *j = c->jobs; j;) {
		struct job *n = j->next;
		free(j);
		j = n;
	}
	munmap(c->sh, c->maplen);
	free(c);
}

EXPORT ncclResult_t ncclCommAbort(ncclComm_t c) {
	if (!c) return ncclInvalidArgument;
	__atomic_store_n(&c->sh->aborted, 1, __ATOMIC_RELEASE);
	logf_("abort rank=%d", c->rank);
	release(c);
	return ncclSuccess;
}

EXPORT ncclResult_t ncclCommDestroy(ncclComm_t c) {
	if (!c) return ncclInvalidArgument;
	logf_("destroy rank=%d", c->rank);
	release(c);
	return ncclSuccess;
}
