// emugpu.cpp: an emulated GPU behind the CUDA driver API — a libcuda.so.1
// whose kernels are aegpu's own (kernels/aegpu.cu, the very sources of the
// fatbin) run on the CPU by the CUDA emulator of kernels/emu.
//
// cuda/emulated_test.go compiles it with
//   g++ -std=c++20 -O1 -shared -fPIC -pthread -fvisibility=hidden
//       -o DIR/libcuda.so.1 emugpu.cpp
// and re-runs the test binary with LD_LIBRARY_PATH=DIR, so that cu.Init's
// dlopen("libcuda.so.1") finds this library before any installed driver.
// The cuda package's Go code (argument lists, launch geometry, pointer
// offsets, staging buffers, graph capture and replay) then runs unchanged
// end to end on the CPU.
//
// The emulator is included, not copied: kernels/emu/emu.cpp (cuda_emu.h,
// ../aegpu.cu and one emu_launch_* launcher per kernel) is #included below;
// cuLaunchKernel reads each kernel parameter from kernelParams[i] at its ABI
// size (kernels/ABI.md) and calls that launcher.
//
// Model of the device (stricter than "run everything at once" where that
// catches host-side bugs):
//   - Device memory is host memory from mmap, each allocation placed so it
//     ends (to 256 bytes) at an unmapped page and starts after one: a kernel
//     or copy that strays past an allocation faults. New allocations are
//     filled with 0xFF bytes (NaN as float and double), as uninitialized
//     device memory would hold garbage.
//   - Streams are queues executed lazily, in order, only when the host
//     waits: cuStreamSynchronize, cuEventSynchronize (up to the event),
//     cuCtxSynchronize, cuStreamDestroy, cuMemFree(Host), cuModuleUnload and
//     synchronous copies (which wait for blocking streams only, as the legacy
//     default stream does). So a host buffer of an async copy (pinned
//     memory) is read or written when the copy executes, as on a GPU that is
//     behind: reusing a staging buffer before its copy completed, or reading
//     a download before synchronizing, gives wrong data here. Copies from or
//     to pageable (non-pinned) memory behave as the real driver's: the
//     source is staged at the call, a download returns when it has arrived.
//   - Work on the legacy default stream (stream 0) runs at once, after the
//     blocking streams' work.
//   - Stream capture records kernels (function and a copy of the parameter
//     bytes, read at capture time as the real driver does), memsets and
//     copies into a graph instead of queueing them; cuGraphLaunch queues the
//     nodes in capture order. Synchronizing a capturing stream (or the
//     context) fails with CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED and
//     invalidates the capture (cuStreamEndCapture then returns
//     CUDA_ERROR_STREAM_CAPTURE_INVALIDATED), as does capturing a copy
//     to or from pageable memory. Events recorded during capture are no-ops.
//   - The current context is per OS thread: a call that needs one fails
//     with CUDA_ERROR_INVALID_CONTEXT on a thread where it was not set.
//   - cuLaunchKernel rejects at once (CUDA_ERROR_INVALID_VALUE) a bad
//     configuration (zero dims, > 1024 threads, grid y/z > 65535, dynamic
//     shared memory above 48 KiB), a null kernelParams, or `extra`.
//   - When a kernel executes, every pointer parameter is checked against
//     the live allocations with the extent the ABI implies (for example
//     M·K floats for X of gemm_nt_bias_act), its alignment, and the nulls
//     the ABI allows (bias of a GEMM, Y/Z of act_grad_bias for activations
//     that need them; act_grad_bias's db may be null). A violation, like a
//     kernel fault (__trap, barrier divergence), prints a line to stderr and
//     becomes the context's sticky error (CUDA_ERROR_ILLEGAL_ADDRESS 700 /
//     ILLEGAL_INSTRUCTION 715), returned by every later call until the
//     context is destroyed.
//     Overlapping __restrict__ parameters of one launch where one of them
//     is written are reported on stderr and counted (statistics), and so is
//     a 4-byte parameter passed as an 8-byte value (cu.Args gives each
//     argument a zero-filled 8-byte slot, so a non-zero upper half shows
//     I64/U64/Ptr/F64 where the ABI has int or float).
//   - The last cuDevicePrimaryCtxRelease destroys the context: every
//     allocation, pinned buffer, stream, event, module, graph and exec still
//     alive is counted as leaked (statistics) and freed.
//   - cuLaunchHostFunc queues a host function like any op (captured as a
//     graph node during capture) and runs it, in stream order, on the
//     thread that makes the stream execute; cuStreamIsCapturing says
//     whether a stream records. They are what the fake libnccl.so.2 of
//     cuda/internal/nccl/testdata builds its in-stream all-reduce on.
//
// Environment:
//   EMUGPU_SMS       multiprocessor count reported (default 132, an H100);
//                    the Go backend's choice of 128×128 or 64×64 GEMM tiles
//                    depends on it
//   EMUGPU_CC        compute capability reported, MAJOR.MINOR (default 9.0,
//                    an H100): below 8.0 the backend refuses TF32, as on a
//                    real pre-Ampere GPU (the emulated kernels run anyway)
//   EMUGPU_EAGER=1   execute each op on a stream when it is queued (a
//                    device that keeps up with the host) instead of lazily:
//                    the ranks of a job then run their all-reduces (the
//                    fake libnccl's host functions, which wait for every
//                    rank) in the order their hosts issue them, as real
//                    GPUs do, rather than whenever each host happens to
//                    wait — which differs between ranks (rank 0 alone
//                    writes checkpoints) and would deadlock them against
//                    their MPI calls. It gives up the lazy queue's checks.
//   EMUGPU_DEVICES   device count reported (default 1); every ordinal is
//                    the same emulated device
//   EMUGPU_MEM       device memory in bytes (default 4 GiB), so OOM is
//                    reachable
//   EMUGPU_SCHEDULE  emulator schedule: 0 concurrent (a thread per CUDA
//                    thread), 1 serial forward (default: fibers, fastest),
//                    2 serial reverse, 3 serial shuffled
//   EMUGPU_TRACE=1   print every executed kernel, copy and memset to stderr
//   EMUGPU_STATS     a file that receives counters (launches per kernel,
//                    graph launches, leaks, ...) whenever the context is
//                    destroyed (Go's os.Exit runs no atexit handlers)
//
// What it cannot see: anything of the real driver's or hardware's
// behaviour that is not modelled above (see cuda_emu.h for the emulator's
// own limits): concurrency between streams or between host and device
// beyond the lazy queue, timing, the real fatbin's loading (the image is
// ignored), a parameter appended at the wrong width when its value is a
// small non-negative integer (I32 where the ABI has long long, or I64 where
// it has int: the zero-filled slot reads the same, as it does for the real
// driver), the number of arguments appended (kernelParams has no length),
// and device memory errors that stay inside an allocation (cu.Allocator
// rounds blocks up to size classes, so a small overrun of a view often
// stays inside its block).

#include "../../../kernels/emu/emu.cpp"

#include <pthread.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cinttypes>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#define EXPORT extern "C" __attribute__((visibility("default")))

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;

namespace emugpu {

enum : int {
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
  ILLEGAL_ADDRESS = 700,
  ILLEGAL_INSTRUCTION = 715,
  LAUNCH_FAILED = 719,
  STREAM_CAPTURE_UNSUPPORTED = 900,
  STREAM_CAPTURE_INVALIDATED = 901,
  STREAM_CAPTURE_WRONG_THREAD = 908,
};

// One lock for the whole driver: kernels run under it (the emulator's
// globals are process-wide anyway).
std::recursive_mutex mu;
#define LOCK() std::lock_guard<std::recursive_mutex> lk_(mu)

bool initialized = false;
int sticky = 0;  // the context's sticky error (a kernel fault)

// ---- context -------------------------------------------------------------

struct Ctx {
  int magic;
};
Ctx the_ctx = {0x0c0c};
int ctx_refs = 0;
thread_local Ctx* cur = nullptr;

#define NEED_INIT()                      \
  do {                                   \
    if (!initialized) return NOT_INITIALIZED; \
  } while (0)
#define NEED_CTX()                                                 \
  do {                                                             \
    NEED_INIT();                                                   \
    if (cur != &the_ctx || ctx_refs <= 0) return INVALID_CONTEXT;  \
    if (sticky) return sticky;                                     \
  } while (0)

long env_long(const char* name, long def) {
  const char* v = getenv(name);
  if (!v || !*v) return def;
  return strtol(v, nullptr, 10);
}

// cc_part is the major (0) or minor (1) compute capability of EMUGPU_CC.
int cc_part(int which) {
  int major = 9, minor = 0;
  const char* v = getenv("EMUGPU_CC");
  if (v && *v && sscanf(v, "%d.%d", &major, &minor) < 1) major = 9, minor = 0;
  return which == 0 ? major : minor;
}

// device_count is EMUGPU_DEVICES (default 1): the ordinals the driver
// answers for, all of them the same emulated device, so that the ranks of
// a job on one machine can each open "the GPU of its local rank".
int device_count() {
  long n = env_long("EMUGPU_DEVICES", 1);
  return n < 1 ? 1 : (int)n;
}

// eager is EMUGPU_EAGER: streams execute each op when it is queued
// instead of when the host waits.
bool eager() {
  static int e = -1;
  if (e < 0) e = env_long("EMUGPU_EAGER", 0) != 0;
  return e;
}

bool trace() {
  static int t = -1;
  if (t < 0) t = env_long("EMUGPU_TRACE", 0) != 0;
  return t;
}

double now_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// ---- statistics ------------------------------------------------------------

struct Stats {
  std::map<std::string, long long> launches;        // kernel → executions
  std::map<std::string, long long> graph_launches;  // kernel → executions from a graph replay
  long long memsets = 0, copies = 0, graph_runs = 0, captures = 0, captured_nodes = 0, invalidated = 0;
  long long max_queue = 0, faults = 0, aliasing = 0, width = 0, ctx_destroyed = 0;
  long long host_fns = 0, graph_host_fns = 0;
  long long leak_allocs = 0, leak_bytes = 0, leak_host = 0, leak_streams = 0, leak_events = 0,
            leak_modules = 0, leak_graphs = 0, leak_execs = 0;
  std::string first_fault;
};
Stats stats;

void dump_stats() {
  const char* path = getenv("EMUGPU_STATS");
  if (!path || !*path) return;
  FILE* f = fopen(path, "w");
  if (!f) return;
  for (auto& [k, v] : stats.launches) fprintf(f, "launch %s %lld\n", k.c_str(), v);
  for (auto& [k, v] : stats.graph_launches) fprintf(f, "graph_kernel %s %lld\n", k.c_str(), v);
  fprintf(f, "memsets %lld\ncopies %lld\ngraph_runs %lld\ncaptures %lld\ncaptured_nodes %lld\n", stats.memsets,
          stats.copies, stats.graph_runs, stats.captures, stats.captured_nodes);
  fprintf(f, "invalidated_captures %lld\nmax_queue %lld\nfaults %lld\naliasing %lld\nwidth_mismatch %lld\n",
          stats.invalidated, stats.max_queue, stats.faults, stats.aliasing, stats.width);
  fprintf(f, "ctx_destroyed %lld\n", stats.ctx_destroyed);
  fprintf(f, "host_fns %lld\ngraph_host_fns %lld\n", stats.host_fns, stats.graph_host_fns);
  fprintf(f, "leak_allocs %lld\nleak_bytes %lld\nleak_host %lld\nleak_streams %lld\nleak_events %lld\n",
          stats.leak_allocs, stats.leak_bytes, stats.leak_host, stats.leak_streams, stats.leak_events);
  fprintf(f, "leak_modules %lld\nleak_graphs %lld\nleak_execs %lld\n", stats.leak_modules, stats.leak_graphs,
          stats.leak_execs);
  if (!stats.first_fault.empty()) fprintf(f, "first_fault %s\n", stats.first_fault.c_str());
  fclose(f);
}

void fault(int code, const std::string& msg) {
  fprintf(stderr, "emugpu: %s\n", msg.c_str());
  fflush(stderr);
  stats.faults++;
  if (stats.first_fault.empty()) stats.first_fault = msg;
  if (!sticky) sticky = code;
}

// ---- device memory -----------------------------------------------------------

const size_t kPage = 4096;

struct Alloc {
  char* map;      // the whole mapping (guard pages included)
  size_t maplen;  // its length
  size_t n;       // bytes requested
};
std::map<uintptr_t, Alloc> allocs;  // by start address
size_t used = 0;

size_t mem_limit() { return (size_t)env_long("EMUGPU_MEM", 4L << 30); }

// find returns the allocation holding [p, p+bytes), or null.
const Alloc* find_range(uintptr_t p, size_t bytes, uintptr_t* start) {
  auto it = allocs.upper_bound(p);
  if (it == allocs.begin()) return nullptr;
  --it;
  if (p < it->first || p - it->first > it->second.n || bytes > it->second.n - (p - it->first)) return nullptr;
  if (start) *start = it->first;
  return &it->second;
}

std::map<uintptr_t, size_t> pinned;  // cuMemHostAlloc: start → bytes

bool is_pinned(uintptr_t p, size_t bytes) {
  auto it = pinned.upper_bound(p);
  if (it == pinned.begin()) return false;
  --it;
  return p >= it->first && p - it->first <= it->second && bytes <= it->second - (p - it->first);
}

// ---- kernels -------------------------------------------------------------------

// A parameter list as the launch packs it: parameter i at bytes [8i, 8i+size).
struct Params {
  const unsigned char* a;
  template <class T>
  T get(int i) const {
    T v;
    memcpy(&v, a + 8 * i, sizeof v);
    return v;
  }
  float* p(int i) const { return get<float*>(i); }
  double* d(int i) const { return get<double*>(i); }
  uintptr_t u(int i) const { return get<uintptr_t>(i); }
  int i32(int i) const { return get<int>(i); }
  long long i64(int i) const { return get<long long>(i); }
  unsigned long long u64(int i) const { return get<unsigned long long>(i); }
  float f32(int i) const { return get<float>(i); }
};

// A pointer parameter's extent for the checks.
struct Extent {
  int param;
  long long bytes;  // < 0: the sizes do not make sense
  int align;
  bool nullable;
  bool written;
};

struct Kernel {
  const char* name;
  const char* sig;  // per parameter: p ptr, i i32, l i64, u u64, f f32
  int (*run)(emu_dims, const Params&);
  void (*extents)(const Params&, dim3 grid, std::vector<Extent>*);
};

long long fl(long long n) { return n < 0 ? -1 : 4 * n; }
long long prod(long long a, long long b) { return a < 0 || b < 0 ? -1 : a * b; }

bool act_needs_y(int act) { return act >= 1 && act <= 4; }
bool act_needs_z(int act) { return act == 5; }

#define RUN(...) [](emu_dims d, const Params& a) -> int { return __VA_ARGS__; }
#define EXT(...) [](const Params& a, dim3 g, std::vector<Extent>* e) { (void)g; __VA_ARGS__; }

// Extents: E(param, bytes, align, nullable, written).
#define E(...) e->push_back(Extent{__VA_ARGS__})

const Kernel kernels[] = {
    {"gemm_nt_bias_act", "pppppiiii",
     RUN(emu_launch_gemm_nt_bias_act(d, a.p(0), a.p(1), a.p(2), a.p(3), a.p(4), a.i32(5), a.i32(6), a.i32(7),
                                     a.i32(8))),
     EXT(long long M = a.i32(5), N = a.i32(6), K = a.i32(7); E(0, fl(prod(M, K)), 4, false, false);
         E(1, fl(prod(N, K)), 4, false, false); E(2, fl(N), 4, false, false);
         E(3, fl(prod(M, N)), 4, true, true); E(4, fl(prod(M, N)), 4, false, true))},
    {"gemm_nn", "pppiiif",
     RUN(emu_launch_gemm_nn(d, a.p(0), a.p(1), a.p(2), a.i32(3), a.i32(4), a.i32(5), a.f32(6))),
     EXT(long long M = a.i32(3), N = a.i32(4), K = a.i32(5); E(0, fl(prod(M, K)), 4, false, false);
         E(1, fl(prod(K, N)), 4, false, false); E(2, fl(prod(M, N)), 4, false, true))},
    {"gemm_tn", "pppiiif",
     RUN(emu_launch_gemm_tn(d, a.p(0), a.p(1), a.p(2), a.i32(3), a.i32(4), a.i32(5), a.f32(6))),
     EXT(long long M = a.i32(3), N = a.i32(4), K = a.i32(5); E(0, fl(prod(K, M)), 4, false, false);
         E(1, fl(prod(K, N)), 4, false, false); E(2, fl(prod(M, N)), 4, false, true))},
    {"gemm_nt_bias_act_64", "pppppiiii",
     RUN(emu_launch_gemm_nt_bias_act_64(d, a.p(0), a.p(1), a.p(2), a.p(3), a.p(4), a.i32(5), a.i32(6),
                                        a.i32(7), a.i32(8))),
     EXT(long long M = a.i32(5), N = a.i32(6), K = a.i32(7); E(0, fl(prod(M, K)), 4, false, false);
         E(1, fl(prod(N, K)), 4, false, false); E(2, fl(N), 4, false, false);
         E(3, fl(prod(M, N)), 4, true, true); E(4, fl(prod(M, N)), 4, false, true))},
    {"gemm_nn_64", "pppiiif",
     RUN(emu_launch_gemm_nn_64(d, a.p(0), a.p(1), a.p(2), a.i32(3), a.i32(4), a.i32(5), a.f32(6))),
     EXT(long long M = a.i32(3), N = a.i32(4), K = a.i32(5); E(0, fl(prod(M, K)), 4, false, false);
         E(1, fl(prod(K, N)), 4, false, false); E(2, fl(prod(M, N)), 4, false, true))},
    {"gemm_tn_64", "pppiiif",
     RUN(emu_launch_gemm_tn_64(d, a.p(0), a.p(1), a.p(2), a.i32(3), a.i32(4), a.i32(5), a.f32(6))),
     EXT(long long M = a.i32(3), N = a.i32(4), K = a.i32(5); E(0, fl(prod(K, M)), 4, false, false);
         E(1, fl(prod(K, N)), 4, false, false); E(2, fl(prod(M, N)), 4, false, true))},
    {"gemm_nn_bias_act", "pppppiiii",
     RUN(emu_launch_gemm_nn_bias_act(d, a.p(0), a.p(1), a.p(2), a.p(3), a.p(4), a.i32(5), a.i32(6), a.i32(7),
                                     a.i32(8))),
     EXT(long long M = a.i32(5), N = a.i32(6), K = a.i32(7); E(0, fl(prod(M, K)), 4, false, false);
         E(1, fl(prod(K, N)), 4, false, false); E(2, fl(N), 4, false, false);
         E(3, fl(prod(M, N)), 4, true, true); E(4, fl(prod(M, N)), 4, false, true))},
    {"gemm_nn_bias_act_64", "pppppiiii",
     RUN(emu_launch_gemm_nn_bias_act_64(d, a.p(0), a.p(1), a.p(2), a.p(3), a.p(4), a.i32(5), a.i32(6),
                                        a.i32(7), a.i32(8))),
     EXT(long long M = a.i32(5), N = a.i32(6), K = a.i32(7); E(0, fl(prod(M, K)), 4, false, false);
         E(1, fl(prod(K, N)), 4, false, false); E(2, fl(N), 4, false, false);
         E(3, fl(prod(M, N)), 4, true, true); E(4, fl(prod(M, N)), 4, false, true))},
    {"gemm_nt", "pppiiif",
     RUN(emu_launch_gemm_nt(d, a.p(0), a.p(1), a.p(2), a.i32(3), a.i32(4), a.i32(5), a.f32(6))),
     EXT(long long M = a.i32(3), N = a.i32(4), K = a.i32(5); E(0, fl(prod(M, K)), 4, false, false);
         E(1, fl(prod(N, K)), 4, false, false); E(2, fl(prod(M, N)), 4, false, true))},
    {"gemm_nt_64", "pppiiif",
     RUN(emu_launch_gemm_nt_64(d, a.p(0), a.p(1), a.p(2), a.i32(3), a.i32(4), a.i32(5), a.f32(6))),
     EXT(long long M = a.i32(3), N = a.i32(4), K = a.i32(5); E(0, fl(prod(M, K)), 4, false, false);
         E(1, fl(prod(N, K)), 4, false, false); E(2, fl(prod(M, N)), 4, false, true))},
    // The TF32 tensor-core GEMMs: the extents of their fp32 namesakes.
    {"gemm_nt_bias_act_tf32", "pppppiiii",
     RUN(emu_launch_gemm_nt_bias_act_tf32(d, a.p(0), a.p(1), a.p(2), a.p(3), a.p(4), a.i32(5), a.i32(6), a.i32(7), a.i32(8))),
     EXT(long long M = a.i32(5), N = a.i32(6), K = a.i32(7); E(0, fl(prod(M, K)), 4, false, false);
         E(1, fl(prod(N, K)), 4, false, false); E(2, fl(N), 4, false, false);
         E(3, fl(prod(M, N)), 4, true, true); E(4, fl(prod(M, N)), 4, false, true))},
    {"gemm_nn_tf32", "pppiiif",
     RUN(emu_launch_gemm_nn_tf32(d, a.p(0), a.p(1), a.p(2), a.i32(3), a.i32(4), a.i32(5), a.f32(6))),
     EXT(long long M = a.i32(3), N = a.i32(4), K = a.i32(5); E(0, fl(prod(M, K)), 4, false, false);
         E(1, fl(prod(K, N)), 4, false, false); E(2, fl(prod(M, N)), 4, false, true))},
    {"gemm_tn_tf32", "pppiiif",
     RUN(emu_launch_gemm_tn_tf32(d, a.p(0), a.p(1), a.p(2), a.i32(3), a.i32(4), a.i32(5), a.f32(6))),
     EXT(long long M = a.i32(3), N = a.i32(4), K = a.i32(5); E(0, fl(prod(K, M)), 4, false, false);
         E(1, fl(prod(K, N)), 4, false, false); E(2, fl(prod(M, N)), 4, false, true))},
    {"gemm_nn_bias_act_tf32", "pppppiiii",
     RUN(emu_launch_gemm_nn_bias_act_tf32(d, a.p(0), a.p(1), a.p(2), a.p(3), a.p(4), a.i32(5), a.i32(6), a.i32(7), a.i32(8))),
     EXT(long long M = a.i32(5), N = a.i32(6), K = a.i32(7); E(0, fl(prod(M, K)), 4, false, false);
         E(1, fl(prod(N, K)), 4, false, false); E(2, fl(N), 4, false, false);
         E(3, fl(prod(M, N)), 4, true, true); E(4, fl(prod(M, N)), 4, false, true))},
    {"gemm_nt_tf32", "pppiiif",
     RUN(emu_launch_gemm_nt_tf32(d, a.p(0), a.p(1), a.p(2), a.i32(3), a.i32(4), a.i32(5), a.f32(6))),
     EXT(long long M = a.i32(3), N = a.i32(4), K = a.i32(5); E(0, fl(prod(M, K)), 4, false, false);
         E(1, fl(prod(N, K)), 4, false, false); E(2, fl(prod(M, N)), 4, false, true))},
    {"gemm_nt_bias_act_tf32_64", "pppppiiii",
     RUN(emu_launch_gemm_nt_bias_act_tf32_64(d, a.p(0), a.p(1), a.p(2), a.p(3), a.p(4), a.i32(5), a.i32(6), a.i32(7), a.i32(8))),
     EXT(long long M = a.i32(5), N = a.i32(6), K = a.i32(7); E(0, fl(prod(M, K)), 4, false, false);
         E(1, fl(prod(N, K)), 4, false, false); E(2, fl(N), 4, false, false);
         E(3, fl(prod(M, N)), 4, true, true); E(4, fl(prod(M, N)), 4, false, true))},
    {"gemm_nn_tf32_64", "pppiiif",
     RUN(emu_launch_gemm_nn_tf32_64(d, a.p(0), a.p(1), a.p(2), a.i32(3), a.i32(4), a.i32(5), a.f32(6))),
     EXT(long long M = a.i32(3), N = a.i32(4), K = a.i32(5); E(0, fl(prod(M, K)), 4, false, false);
         E(1, fl(prod(K, N)), 4, false, false); E(2, fl(prod(M, N)), 4, false, true))},
    {"gemm_tn_tf32_64", "pppiiif",
     RUN(emu_launch_gemm_tn_tf32_64(d, a.p(0), a.p(1), a.p(2), a.i32(3), a.i32(4), a.i32(5), a.f32(6))),
     EXT(long long M = a.i32(3), N = a.i32(4), K = a.i32(5); E(0, fl(prod(K, M)), 4, false, false);
         E(1, fl(prod(K, N)), 4, false, false); E(2, fl(prod(M, N)), 4, false, true))},
    {"gemm_nn_bias_act_tf32_64", "pppppiiii",
     RUN(emu_launch_gemm_nn_bias_act_tf32_64(d, a.p(0), a.p(1), a.p(2), a.p(3), a.p(4), a.i32(5), a.i32(6), a.i32(7), a.i32(8))),
     EXT(long long M = a.i32(5), N = a.i32(6), K = a.i32(7); E(0, fl(prod(M, K)), 4, false, false);
         E(1, fl(prod(N, K)), 4, false, false); E(2, fl(N), 4, false, false);
         E(3, fl(prod(M, N)), 4, true, true); E(4, fl(prod(M, N)), 4, false, true))},
    {"gemm_nt_tf32_64", "pppiiif",
     RUN(emu_launch_gemm_nt_tf32_64(d, a.p(0), a.p(1), a.p(2), a.i32(3), a.i32(4), a.i32(5), a.f32(6))),
     EXT(long long M = a.i32(3), N = a.i32(4), K = a.i32(5); E(0, fl(prod(M, K)), 4, false, false);
         E(1, fl(prod(N, K)), 4, false, false); E(2, fl(prod(M, N)), 4, false, true))},
    // The TF32 tensor-core GEMMs: the extents of their fp32 namesakes.
    {"gemm_nt_bias_act_bf16", "pppppiiii",
     RUN(emu_launch_gemm_nt_bias_act_bf16(d, a.p(0), a.p(1), a.p(2), a.p(3), a.p(4), a.i32(5), a.i32(6), a.i32(7), a.i32(8))),
     EXT(long long M = a.i32(5), N = a.i32(6), K = a.i32(7); E(0, fl(prod(M, K)), 4, false, false);
         E(1, fl(prod(N, K)), 4, false, false); E(2, fl(N), 4, false, false);
         E(3, fl(prod(M, N)), 4, true, true); E(4, fl(prod(M, N)), 4, false, true))},
    {"gemm_nn_bf16", "pppiiif",
     RUN(emu_launch_gemm_nn_bf16(d, a.p(0), a.p(1), a.p(2), a.i32(3), a.i32(4), a.i32(5), a.f32(6))),
     EXT(long long M = a.i32(3), N = a.i32(4), K = a.i32(5); E(0, fl(prod(M, K)), 4, false, false);
         E(1, fl(prod(K, N)), 4, false, false); E(2, fl(prod(M, N)), 4, false, true))},
    {"gemm_tn_bf16", "pppiiif",
     RUN(emu_launch_gemm_tn_bf16(d, a.p(0), a.p(1), a.p(2), a.i32(3), a.i32(4), a.i32(5), a.f32(6))),
     EXT(long long M = a.i32(3), N = a.i32(4), K = a.i32(5); E(0, fl(prod(K, M)), 4, false, false);
         E(1, fl(prod(K, N)), 4, false, false); E(2, fl(prod(M, N)), 4, false, true))},
    {"gemm_nn_bias_act_bf16", "pppppiiii",
     RUN(emu_launch_gemm_nn_bias_act_bf16(d, a.p(0), a.p(1), a.p(2), a.p(3), a.p(4), a.i32(5), a.i32(6), a.i32(7), a.i32(8))),
     EXT(long long M = a.i32(5), N = a.i32(6), K = a.i32(7); E(0, fl(prod(M, K)), 4, false, false);
         E(1, fl(prod(N, K)), 4, false, false); E(2, fl(N), 4, false, false);
         E(3, fl(prod(M, N)), 4, true, true); E(4, fl(prod(M, N)), 4, false, true))},
    {"gemm_nt_bf16", "pppiiif",
     RUN(emu_launch_gemm_nt_bf16(d, a.p(0), a.p(1), a.p(2), a.i32(3), a.i32(4), a.i32(5), a.f32(6))),
     EXT(long long M = a.i32(3), N = a.i32(4), K = a.i32(5); E(0, fl(prod(M, K)), 4, false, false);
         E(1, fl(prod(N, K)), 4, false, false); E(2, fl(prod(M, N)), 4, false, true))},
    {"gemm_nt_bias_act_bf16_64", "pppppiiii",
     RUN(emu_launch_gemm_nt_bias_act_bf16_64(d, a.p(0), a.p(1), a.p(2), a.p(3), a.p(4), a.i32(5), a.i32(6), a.i32(7), a.i32(8))),
     EXT(long long M = a.i32(5), N = a.i32(6), K = a.i32(7); E(0, fl(prod(M, K)), 4, false, false);
         E(1, fl(prod(N, K)), 4, false, false); E(2, fl(N), 4, false, false);
         E(3, fl(prod(M, N)), 4, true, true); E(4, fl(prod(M, N)), 4, false, true))},
    {"gemm_nn_bf16_64", "pppiiif",
     RUN(emu_launch_gemm_nn_bf16_64(d, a.p(0), a.p(1), a.p(2), a.i32(3), a.i32(4), a.i32(5), a.f32(6))),
     EXT(long long M = a.i32(3), N = a.i32(4), K = a.i32(5); E(0, fl(prod(M, K)), 4, false, false);
         E(1, fl(prod(K, N)), 4, false, false); E(2, fl(prod(M, N)), 4, false, true))},
    {"gemm_tn_bf16_64", "pppiiif",
     RUN(emu_launch_gemm_tn_bf16_64(d, a.p(0), a.p(1), a.p(2), a.i32(3), a.i32(4), a.i32(5), a.f32(6))),
     EXT(long long M = a.i32(3), N = a.i32(4), K = a.i32(5); E(0, fl(prod(K, M)), 4, false, false);
         E(1, fl(prod(K, N)), 4, false, false); E(2, fl(prod(M, N)), 4, false, true))},
    {"gemm_nn_bias_act_bf16_64", "pppppiiii",
     RUN(emu_launch_gemm_nn_bias_act_bf16_64(d, a.p(0), a.p(1), a.p(2), a.p(3), a.p(4), a.i32(5), a.i32(6), a.i32(7), a.i32(8))),
     EXT(long long M = a.i32(5), N = a.i32(6), K = a.i32(7); E(0, fl(prod(M, K)), 4, false, false);
         E(1, fl(prod(N, K)), 4, false, false); E(2, fl(N), 4, false, false);
         E(3, fl(prod(M, N)), 4, true, true); E(4, fl(prod(M, N)), 4, false, true))},
    {"gemm_nt_bf16_64", "pppiiif",
     RUN(emu_launch_gemm_nt_bf16_64(d, a.p(0), a.p(1), a.p(2), a.i32(3), a.i32(4), a.i32(5), a.f32(6))),
     EXT(long long M = a.i32(3), N = a.i32(4), K = a.i32(5); E(0, fl(prod(M, K)), 4, false, false);
         E(1, fl(prod(N, K)), 4, false, false); E(2, fl(prod(M, N)), 4, false, true))},
    // db may be null: DenseBackward without a bias gradient.
    {"act_grad_bias", "ppppiiif",
     RUN(emu_launch_act_grad_bias(d, a.p(0), a.p(1), a.p(2), a.p(3), a.i32(4), a.i32(5), a.i32(6), a.f32(7))),
     EXT(long long M = a.i32(4), N = a.i32(5); int act = a.i32(6); E(0, fl(prod(M, N)), 4, false, act != 0);
         E(1, fl(prod(M, N)), 4, !act_needs_y(act), false); E(2, fl(prod(M, N)), 4, !act_needs_z(act), false);
         E(3, fl(N), 4, true, true))},
    {"loss_grad_partial", "ipppplf",
     RUN(emu_launch_loss_grad_partial(d, a.i32(0), a.p(1), a.p(2), a.p(3), a.d(4), a.i64(5), a.f32(6))),
     EXT(long long n = a.i64(5); E(1, fl(n), 4, false, false); E(2, fl(n), 4, false, false);
         E(3, fl(n), 4, false, true); E(4, 8LL * g.x, 8, false, true))},
    {"loss_finish", "pipf", RUN(emu_launch_loss_finish(d, a.d(0), a.i32(1), a.p(2), a.f32(3))),
     EXT(E(0, a.i32(1) < 0 ? -1 : 8LL * a.i32(1), 8, false, false); E(2, 4, 4, false, true))},
    {"row_loss", "ipppii", RUN(emu_launch_row_loss(d, a.i32(0), a.p(1), a.p(2), a.p(3), a.i32(4), a.i32(5))),
     EXT(long long R = a.i32(4), C = a.i32(5); E(1, fl(prod(R, C)), 4, false, false);
         E(2, fl(prod(R, C)), 4, false, false); E(3, fl(R), 4, false, true))},
    {"col_mean", "ppii", RUN(emu_launch_col_mean(d, a.p(0), a.p(1), a.i32(2), a.i32(3))),
     EXT(long long R = a.i32(2), C = a.i32(3); E(0, fl(prod(R, C)), 4, false, false); E(1, fl(C), 4, false, true))},
    {"layernorm_fwd", "ppppppiif",
     RUN(emu_launch_layernorm_fwd(d, a.p(0), a.p(1), a.p(2), a.p(3), a.p(4), a.p(5), a.i32(6), a.i32(7), a.f32(8))),
     EXT(long long R = a.i32(6), C = a.i32(7); E(0, fl(prod(R, C)), 4, false, false); E(1, fl(C), 4, false, false);
         E(2, fl(C), 4, false, false); E(3, fl(prod(R, C)), 4, false, true); E(4, fl(R), 4, false, true);
         E(5, fl(R), 4, false, true))},
    {"layernorm_bwd_dx", "ppppppii",
     RUN(emu_launch_layernorm_bwd_dx(d, a.p(0), a.p(1), a.p(2), a.p(3), a.p(4), a.p(5), a.i32(6), a.i32(7))),
     EXT(long long R = a.i32(6), C = a.i32(7); E(0, fl(prod(R, C)), 4, false, false);
         E(1, fl(prod(R, C)), 4, false, false); E(2, fl(C), 4, false, false); E(3, fl(R), 4, false, false);
         E(4, fl(R), 4, false, false); E(5, fl(prod(R, C)), 4, false, true))},
    {"layernorm_bwd_params", "ppppppii",
     RUN(emu_launch_layernorm_bwd_params(d, a.p(0), a.p(1), a.p(2), a.p(3), a.p(4), a.p(5), a.i32(6), a.i32(7))),
     EXT(long long R = a.i32(6), C = a.i32(7); E(0, fl(prod(R, C)), 4, false, false);
         E(1, fl(prod(R, C)), 4, false, false); E(2, fl(R), 4, false, false); E(3, fl(R), 4, false, false);
         E(4, fl(C), 4, false, true); E(5, fl(C), 4, false, true))},
    {"sumsq_partial", "ppl", RUN(emu_launch_sumsq_partial(d, a.p(0), a.d(1), a.i64(2))),
     EXT(E(0, fl(a.i64(2)), 4, false, false); E(1, 8LL * g.x, 8, false, true))},
    {"sumsq_finish", "pipi", RUN(emu_launch_sumsq_finish(d, a.d(0), a.i32(1), a.p(2), a.i32(3))),
     EXT(E(0, a.i32(1) < 0 ? -1 : 8LL * a.i32(1), 8, false, false); E(2, 4, 4, false, true))},
    {"clip_scale", "plpf", RUN(emu_launch_clip_scale(d, a.p(0), a.i64(1), a.p(2), a.f32(3))),
     EXT(E(0, fl(a.i64(1)), 4, false, true); E(2, 4, 4, false, false))},
    {"adam_step", "pppplffffffffi",
     RUN(emu_launch_adam_step(d, a.p(0), a.p(1), a.p(2), a.p(3), a.i64(4), a.f32(5), a.f32(6), a.f32(7), a.f32(8),
                              a.f32(9), a.f32(10), a.f32(11), a.i32(12))),
     EXT(long long n = a.i64(4); E(0, fl(n), 4, false, true); E(1, fl(n), 4, false, false);
         E(2, fl(n), 4, false, true); E(3, fl(n), 4, false, true))},
    {"sgd_step", "ppplfffi",
     RUN(emu_launch_sgd_step(d, a.p(0), a.p(1), a.p(2), a.i64(3), a.f32(4), a.f32(5), a.f32(6), a.i32(7))),
     EXT(long long n = a.i64(3); E(0, fl(n), 4, false, true); E(1, fl(n), 4, false, false);
         E(2, fl(n), 4, a.f32(5) == 0.0f, true))},
    {"fill_f32", "plf", RUN(emu_launch_fill_f32(d, a.p(0), a.i64(1), a.f32(2))),
     EXT(E(0, fl(a.i64(1)), 4, false, true))},
    {"copy_f32", "ppl", RUN(emu_launch_copy_f32(d, a.p(0), a.p(1), a.i64(2))),
     EXT(E(0, fl(a.i64(2)), 4, false, true); E(1, fl(a.i64(2)), 4, false, false))},
    {"axpy_f32", "fppl", RUN(emu_launch_axpy_f32(d, a.f32(0), a.p(1), a.p(2), a.i64(3))),
     EXT(E(1, fl(a.i64(3)), 4, false, false); E(2, fl(a.i64(3)), 4, false, true))},
    {"ema_f32", "fppl", RUN(emu_launch_ema_f32(d, a.f32(0), a.p(1), a.p(2), a.i64(3))),
     EXT(E(1, fl(a.i64(3)), 4, false, false); E(2, fl(a.i64(3)), 4, false, true))},
    {"scale_f32", "plf", RUN(emu_launch_scale_f32(d, a.p(0), a.i64(1), a.f32(2))),
     EXT(E(0, fl(a.i64(1)), 4, false, true))},
    {"rand_uniform", "pluuff",
     RUN(emu_launch_rand_uniform(d, a.p(0), a.i64(1), a.u64(2), a.u64(3), a.f32(4), a.f32(5))),
     EXT(E(0, fl(a.i64(1)), 4, false, true))},
    {"rand_normal", "pluuffu",
     RUN(emu_launch_rand_normal(d, a.p(0), a.i64(1), a.u64(2), a.u64(3), a.f32(4), a.f32(5), a.u64(6))),
     EXT(E(0, fl(a.i64(1)), 4, false, true))},
    // dst may be src itself (in place: the kernel's pointers are not
    // __restrict__), so src's extent is checked, and checked against dst's
    // for overlap, only when it is another pointer.
    {"corrupt_f32", "pplifuuu",
     RUN(emu_launch_corrupt_f32(d, a.p(0), a.p(1), a.i64(2), a.i32(3), a.f32(4), a.u64(5), a.u64(6), a.u64(7))),
     EXT(long long n = a.i64(2); E(0, fl(n), 4, false, true); if (a.u(1) != a.u(0)) E(1, fl(n), 4, false, false))},
    // The variant regularizers (kernels/penalty.cu). partial: one double per block.
    {"sparsity_grad", "ppppiifff",
     RUN(emu_launch_sparsity_grad(d, a.p(0), a.p(1), a.p(2), a.d(3), a.i32(4), a.i32(5), a.f32(6), a.f32(7),
                                  a.f32(8))),
     EXT(long long B = a.i32(4), D = a.i32(5); E(0, fl(prod(B, D)), 4, false, false);
         E(1, fl(prod(B, D)), 4, false, true); E(2, fl(D), 4, false, true); E(3, 8LL * g.x, 8, false, true))},
    {"contractive_exact", "pppppppiiiif",
     RUN(emu_launch_contractive_exact(d, a.p(0), a.p(1), a.p(2), a.p(3), a.p(4), a.p(5), a.d(6), a.i32(7), a.i32(8),
                                      a.i32(9), a.i32(10), a.f32(11))),
     EXT(long long B = a.i32(7), D = a.i32(8), K = a.i32(9); int act = a.i32(10);
         E(0, fl(prod(B, D)), 4, false, true); E(1, fl(prod(B, D)), 4, !act_needs_y(act), false);
         E(2, fl(prod(B, D)), 4, !act_needs_z(act), false); E(3, fl(prod(D, K)), 4, false, false);
         E(4, fl(prod(D, K)), 4, false, true); E(5, fl(D), 4, true, true); E(6, 8LL * g.x, 8, false, true))},
    // U may be S itself (in place), as dS may be dU: the input's extent is
    // checked only when it is another pointer.
    {"act_jvp", "ppppli", RUN(emu_launch_act_jvp(d, a.p(0), a.p(1), a.p(2), a.p(3), a.i64(4), a.i32(5))),
     EXT(long long n = a.i64(4); int act = a.i32(5); E(0, fl(n), 4, false, true);
         if (a.u(1) != a.u(0)) E(1, fl(n), 4, false, false); E(2, fl(n), 4, !act_needs_y(act), false);
         E(3, fl(n), 4, !act_needs_z(act), false))},
    {"act_jvp_backward", "ppppppli",
     RUN(emu_launch_act_jvp_backward(d, a.p(0), a.p(1), a.p(2), a.p(3), a.p(4), a.p(5), a.i64(6), a.i32(7))),
     EXT(long long n = a.i64(6); int act = a.i32(7); E(0, fl(n), 4, false, true); E(1, fl(n), 4, false, true);
         if (a.u(2) != a.u(0)) E(2, fl(n), 4, false, false); E(3, fl(n), 4, false, false);
         E(4, fl(n), 4, !act_needs_y(act), false); E(5, fl(n), 4, !act_needs_z(act), false))},
    {"act_grad_add", "ppppli", RUN(emu_launch_act_grad_add(d, a.p(0), a.p(1), a.p(2), a.p(3), a.i64(4), a.i32(5))),
     EXT(long long n = a.i64(4); int act = a.i32(5); E(0, fl(n), 4, false, true); E(1, fl(n), 4, true, false);
         E(2, fl(n), 4, !act_needs_y(act), false); E(3, fl(n), 4, !act_needs_z(act), false))},
    {"reparam_f32", "ppppl", RUN(emu_launch_reparam_f32(d, a.p(0), a.p(1), a.p(2), a.p(3), a.i64(4))),
     EXT(long long n = a.i64(4); E(0, fl(n), 4, false, true); E(1, fl(n), 4, false, false);
         E(2, fl(n), 4, false, false); E(3, fl(n), 4, false, false))},
    {"reparam_grad_partial", "pppppppplf",
     RUN(emu_launch_reparam_grad_partial(d, a.p(0), a.p(1), a.p(2), a.p(3), a.p(4), a.p(5), a.p(6), a.d(7), a.i64(8),
                                         a.f32(9))),
     EXT(long long n = a.i64(8); E(0, fl(n), 4, false, true); E(1, fl(n), 4, false, true); E(2, 4, 4, false, false);
         E(3, fl(n), 4, false, false); E(4, fl(n), 4, false, false); E(5, fl(n), 4, false, false);
         E(6, fl(n), 4, false, false); E(7, 8LL * g.x, 8, false, true))},
};
const int nkernels = sizeof kernels / sizeof kernels[0];

const int kMaxParams = 16;

int sig_size(char c) { return c == 'i' || c == 'f' ? 4 : 8; }

std::string describe(const Kernel& k, const Params& a) {
  std::string s = k.name;
  s += "(";
  for (int i = 0; k.sig[i]; ++i) {
    char buf[64];
    switch (k.sig[i]) {
      case 'p': snprintf(buf, sizeof buf, "%#" PRIxPTR, a.u(i)); break;
      case 'i': snprintf(buf, sizeof buf, "%d", a.i32(i)); break;
      case 'l': snprintf(buf, sizeof buf, "%lld", a.i64(i)); break;
      case 'u': snprintf(buf, sizeof buf, "%#llx", a.u64(i)); break;
      default: snprintf(buf, sizeof buf, "%g", (double)a.f32(i)); break;
    }
    if (i) s += ", ";
    s += buf;
  }
  return s + ")";
}

// check_kernel validates the pointer parameters of a launch about to run;
// "" when fine.
std::string check_kernel(const Kernel& k, const Params& a, dim3 grid) {
  std::vector<Extent> ex;
  k.extents(a, grid, &ex);
  for (const Extent& e : ex) {
    const uintptr_t p = a.u(e.param);
    char buf[256];
    if (p == 0) {
      if (e.nullable) continue;
      snprintf(buf, sizeof buf, "parameter %d is a null pointer, which the ABI does not allow here", e.param);
      return buf;
    }
    if (e.bytes < 0) {
      snprintf(buf, sizeof buf, "parameter %d: negative extent from the size parameters", e.param);
      return buf;
    }
    if (p % e.align) {
      snprintf(buf, sizeof buf, "parameter %d = %#" PRIxPTR " is not %d-byte aligned", e.param, p, e.align);
      return buf;
    }
    uintptr_t start = 0;
    const Alloc* al = find_range(p, (size_t)e.bytes, &start);
    if (!al) {
      const Alloc* in = find_range(p, 0, &start);
      if (in)
        snprintf(buf, sizeof buf,
                 "parameter %d: %lld bytes at offset %" PRIuPTR " overrun its allocation of %zu bytes", e.param,
                 e.bytes, p - start, in->n);
      else
        snprintf(buf, sizeof buf, "parameter %d = %#" PRIxPTR " is not in any live device allocation", e.param, p);
      return buf;
    }
  }
  // __restrict__: a written range must not overlap another parameter's.
  for (const Extent& w : ex) {
    if (!w.written || a.u(w.param) == 0 || w.bytes <= 0) continue;
    for (const Extent& o : ex) {
      if (o.param == w.param || a.u(o.param) == 0 || o.bytes <= 0) continue;
      const uintptr_t p0 = a.u(w.param), p1 = a.u(o.param);
      if (p0 < p1 + (uintptr_t)o.bytes && p1 < p0 + (uintptr_t)w.bytes) {
        stats.aliasing++;
        fprintf(stderr, "emugpu: warning: %s: written __restrict__ parameter %d overlaps parameter %d\n", k.name,
                w.param, o.param);
      }
    }
  }
  return "";
}

struct Function {
  int magic;
  const Kernel* k;
  int maxdyn;
};
const int kFunctionMagic = 0xf0;

struct Module {
  int magic;
  std::vector<Function*> fns;
};
const int kModuleMagic = 0x3d;
std::set<Module*> modules;
std::vector<Module*> unloaded;  // their Functions stay valid objects until the context goes

// ---- streams, events, graphs -------------------------------------------------

struct Event;

enum OpKind { OP_MEMSET, OP_COPY, OP_KERNEL, OP_EVENT, OP_HOST };
typedef void (*HostFn)(void*);
struct Op {
  OpKind kind;
  uintptr_t dst = 0, src = 0;
  size_t n = 0;
  unsigned v = 0;
  int copy_dir = 0;  // 1 HtoD, 2 DtoH, 3 DtoD
  std::shared_ptr<std::vector<unsigned char>> staged;  // a pageable source, staged at the call
  const Kernel* k = nullptr;
  Function* f = nullptr;
  dim3 grid, block;
  unsigned char args[8 * kMaxParams];
  Event* ev = nullptr;
  unsigned long long ev_gen = 0;
  bool from_graph = false;
  HostFn fn = nullptr;  // OP_HOST: cuLaunchHostFunc's function and its argument
  void* fn_data = nullptr;
};

struct Graph {
  int magic;
  std::vector<Op> ops;
};
const int kGraphMagic = 0x6a, kExecMagic = 0x6b;
std::set<Graph*> graphs, execs;

struct Stream {
  int magic;
  unsigned flags;
  std::deque<Op> q;
  bool capturing = false, invalid = false;
  int mode = 0;
  pthread_t owner;
  Graph* g = nullptr;
};
const int kStreamMagic = 0x57;
std::set<Stream*> streams;

struct Event {
  int magic;
  bool timing;
  bool pending = false;  // recorded, its record not yet executed
  bool done = false;     // its last record has executed
  unsigned long long gen = 0;
  Stream* s = nullptr;
  double ms = 0;
};
const int kEventMagic = 0xe7;
std::set<Event*> events;

Stream* as_stream(void* p) {
  Stream* s = (Stream*)p;
  return s && streams.count(s) ? s : nullptr;
}
bool bad_stream(void* p) { return p && !as_stream(p); }
Event* as_event(void* p) {
  Event* e = (Event*)p;
  return e && events.count(e) ? e : nullptr;
}

const char* dir_name(int d) { return d == 1 ? "HtoD" : d == 2 ? "DtoH" : "DtoD"; }

// execute runs one op now (its stream's turn has come).
void execute(Op& o) {
  if (sticky) return;  // a faulted context runs nothing more
  switch (o.kind) {
    case OP_MEMSET: {
      if (!find_range(o.dst, 4 * o.n, nullptr)) {
        char buf[160];
        snprintf(buf, sizeof buf, "memset of %zu words at %#" PRIxPTR " is outside every live allocation", o.n,
                 o.dst);
        fault(ILLEGAL_ADDRESS, buf);
        return;
      }
      if (trace()) fprintf(stderr, "emugpu: memset32 %#" PRIxPTR " n=%zu v=%#x\n", o.dst, o.n, o.v);
      unsigned* p = (unsigned*)o.dst;
      for (size_t i = 0; i < o.n; ++i) p[i] = o.v;
      stats.memsets++;
      return;
    }
    case OP_COPY: {
      const bool dev_dst = o.copy_dir != 2, dev_src = o.copy_dir != 1;
      if ((dev_dst && !find_range(o.dst, o.n, nullptr)) || (dev_src && !o.staged && !find_range(o.src, o.n, nullptr))) {
        char buf[200];
        snprintf(buf, sizeof buf, "copy %s of %zu bytes %#" PRIxPTR " -> %#" PRIxPTR " is outside every live allocation",
                 dir_name(o.copy_dir), o.n, o.src, o.dst);
        fault(ILLEGAL_ADDRESS, buf);
        return;
      }
      if (trace())
        fprintf(stderr, "emugpu: copy %s %#" PRIxPTR " -> %#" PRIxPTR " n=%zu%s\n", dir_name(o.copy_dir), o.src,
                o.dst, o.n, o.staged ? " (staged)" : "");
      memmove((void*)o.dst, o.staged ? (const void*)o.staged->data() : (const void*)o.src, o.n);
      stats.copies++;
      return;
    }
    case OP_HOST:
      // The stream's turn has come: the host function runs now, on the
      // thread that waits (the real driver runs it on a thread of its own;
      // it must not call the driver either way).
      if (trace()) fprintf(stderr, "emugpu: host function %p(%p)%s\n", (void*)o.fn, o.fn_data, o.from_graph ? " [graph]" : "");
      o.fn(o.fn_data);
      stats.host_fns++;
      if (o.from_graph) stats.graph_host_fns++;
      return;
    case OP_EVENT:
      if (o.ev && o.ev->gen == o.ev_gen) {
        o.ev->done = true;
        o.ev->pending = false;
        o.ev->ms = now_ms();
      }
      return;
    case OP_KERNEL: {
      Params a{o.args};
      if (o.f->magic != kFunctionMagic) {
        fault(LAUNCH_FAILED, std::string("kernel ") + o.k->name + " launched after its module was unloaded");
        return;
      }
      std::string bad = check_kernel(*o.k, a, o.grid);
      if (!bad.empty()) {
        fault(ILLEGAL_ADDRESS, std::string(o.k->name) + ": " + bad + "; launch " + describe(*o.k, a));
        return;
      }
      if (trace())
        fprintf(stderr, "emugpu: %s grid (%u,%u,%u) block (%u,%u,%u)%s\n", describe(*o.k, a).c_str(), o.grid.x,
                o.grid.y, o.grid.z, o.block.x, o.block.y, o.block.z, o.from_graph ? " [graph]" : "");
      emu_dims d{o.grid.x, o.grid.y, o.grid.z, o.block.x, o.block.y, o.block.z};
      if (o.k->run(d, a) != 0) {
        fault(ILLEGAL_INSTRUCTION, std::string(emu_last_error()) + "; launch " + describe(*o.k, a));
        return;
      }
      stats.launches[o.k->name]++;
      if (o.from_graph) stats.graph_launches[o.k->name]++;
      return;
    }
  }
}

void flush(Stream* s, size_t count) {
  while (count-- > 0 && !s->q.empty()) {
    Op o = std::move(s->q.front());
    s->q.pop_front();
    execute(o);
  }
}
void flush_all(Stream* s) { flush(s, s->q.size()); }
void flush_blocking() {
  for (Stream* s : streams)
    if (!(s->flags & 1)) flush_all(s);
}
void flush_everything() {
  for (Stream* s : streams) flush_all(s);
}

bool any_capturing() {
  for (Stream* s : streams)
    if (s->capturing) return true;
  return false;
}
void invalidate_all_captures() {
  for (Stream* s : streams)
    if (s->capturing) s->invalid = true;
}

// submit queues op on stream sp (or records it when sp is capturing); on
// the legacy stream it runs at once after the blocking streams.
CUresult submit(void* sp, Op&& o) {
  if (bad_stream(sp)) return INVALID_HANDLE;
  Stream* s = as_stream(sp);
  if (!s) {
    // Legacy default stream. Work on it while a blocking stream captures
    // would join the capture's dependencies: the real driver invalidates.
    for (Stream* c : streams)
      if (c->capturing && !(c->flags & 1)) {
        c->invalid = true;
        return STREAM_CAPTURE_INVALIDATED;
      }
    flush_blocking();
    execute(o);
    return sticky ? sticky : OK;
  }
  if (s->capturing) {
    if (s->invalid) return STREAM_CAPTURE_INVALIDATED;
    if (o.kind == OP_EVENT) return OK;  // an event record node: nothing to replay here
    s->g->ops.push_back(std::move(o));
    stats.captured_nodes++;
    return OK;
  }
  s->q.push_back(std::move(o));
  stats.max_queue = std::max<long long>(stats.max_queue, (long long)s->q.size());
  if (eager()) flush_all(s);
  return OK;
}

// ---- context destruction -----------------------------------------------------------

void destroy_context() {
  flush_everything();
  stats.ctx_destroyed++;
  for (auto& [p, a] : allocs) {
    stats.leak_allocs++;
    stats.leak_bytes += (long long)a.n;
    munmap(a.map, a.maplen);
  }
  allocs.clear();
  used = 0;
  for (auto& [p, n] : pinned) {
    stats.leak_host++;
    free((void*)p);
  }
  pinned.clear();
  for (Stream* s : streams) {
    stats.leak_streams++;
    delete s->g;
    delete s;
  }
  streams.clear();
  for (Event* e : events) {
    stats.leak_events++;
    delete e;
  }
  events.clear();
  for (Module* m : modules) {
    stats.leak_modules++;
    for (Function* f : m->fns) delete f;
    delete m;
  }
  modules.clear();
  for (Module* m : unloaded) {
    for (Function* f : m->fns) delete f;
    delete m;
  }
  unloaded.clear();
  stats.leak_graphs += (long long)graphs.size();
  for (Graph* g : graphs) delete g;
  graphs.clear();
  stats.leak_execs += (long long)execs.size();
  for (Graph* g : execs) delete g;
  execs.clear();
  sticky = 0;
  dump_stats();
}

}  // namespace emugpu

using namespace emugpu;

// =============================================================================
// The driver API (the symbols cuda/internal/cu resolves).

EXPORT CUresult cuInit(unsigned int flags) {
  LOCK();
  if (flags != 0) return INVALID_VALUE;
  const long mode = env_long("EMUGPU_SCHEDULE", 1);
  if (mode < 0 || mode > 3) return INVALID_VALUE;
  emu_set_mode((int)mode);
  initialized = true;
  return OK;
}

EXPORT CUresult cuDriverGetVersion(int* v) {
  if (!v) return INVALID_VALUE;
  *v = 13000;
  return OK;
}

EXPORT CUresult cuGetErrorName(CUresult e, const char** s) {
  if (!s) return INVALID_VALUE;
  switch (e) {
    case OK: *s = "CUDA_SUCCESS"; return OK;
    case INVALID_VALUE: *s = "CUDA_ERROR_INVALID_VALUE"; return OK;
    case OUT_OF_MEMORY: *s = "CUDA_ERROR_OUT_OF_MEMORY"; return OK;
    case NOT_INITIALIZED: *s = "CUDA_ERROR_NOT_INITIALIZED"; return OK;
    case NO_DEVICE: *s = "CUDA_ERROR_NO_DEVICE"; return OK;
    case INVALID_DEVICE: *s = "CUDA_ERROR_INVALID_DEVICE"; return OK;
    case INVALID_IMAGE: *s = "CUDA_ERROR_INVALID_IMAGE"; return OK;
    case INVALID_CONTEXT: *s = "CUDA_ERROR_INVALID_CONTEXT"; return OK;
    case INVALID_HANDLE: *s = "CUDA_ERROR_INVALID_HANDLE"; return OK;
    case ILLEGAL_STATE: *s = "CUDA_ERROR_ILLEGAL_STATE"; return OK;
    case NOT_FOUND: *s = "CUDA_ERROR_NOT_FOUND"; return OK;
    case NOT_READY: *s = "CUDA_ERROR_NOT_READY"; return OK;
    case ILLEGAL_ADDRESS: *s = "CUDA_ERROR_ILLEGAL_ADDRESS"; return OK;
    case ILLEGAL_INSTRUCTION: *s = "CUDA_ERROR_ILLEGAL_INSTRUCTION"; return OK;
    case LAUNCH_FAILED: *s = "CUDA_ERROR_LAUNCH_FAILED"; return OK;
    case STREAM_CAPTURE_UNSUPPORTED: *s = "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED"; return OK;
    case STREAM_CAPTURE_INVALIDATED: *s = "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED"; return OK;
    case STREAM_CAPTURE_WRONG_THREAD: *s = "CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD"; return OK;
    default: *s = nullptr; return INVALID_VALUE;
  }
}

EXPORT CUresult cuDeviceGetCount(int* n) {
  NEED_INIT();
  if (!n) return INVALID_VALUE;
  *n = device_count();
  return OK;
}

EXPORT CUresult cuDeviceGet(CUdevice* d, int ordinal) {
  NEED_INIT();
  if (!d) return INVALID_VALUE;
  if (ordinal < 0 || ordinal >= device_count()) return INVALID_DEVICE;
  *d = 0;  // every ordinal is the one emulated device (a process uses one)
  return OK;
}

EXPORT CUresult cuDeviceGetName(char* buf, int len, CUdevice d) {
  NEED_INIT();
  if (d != 0) return INVALID_DEVICE;
  if (!buf || len <= 0) return INVALID_VALUE;
  snprintf(buf, (size_t)len, "aegpu emulated GPU (kernels on the CPU)");
  return OK;
}

EXPORT CUresult cuDeviceGetAttribute(int* v, int attr, CUdevice d) {
  NEED_INIT();
  if (d != 0) return INVALID_DEVICE;
  if (!v) return INVALID_VALUE;
  switch (attr) {
    case 1: *v = 1024; return OK;                            // max threads per block
    case 8: *v = 48 << 10; return OK;                        // shared per block
    case 10: *v = 32; return OK;                             // warp size
    case 13: *v = 1980000; return OK;                        // clock (kHz)
    case 16: *v = (int)env_long("EMUGPU_SMS", 132); return OK;  // SMs
    case 36: *v = 2619000; return OK;                        // memory clock (kHz)
    case 37: *v = 5120; return OK;                           // bus width
    case 38: *v = 50 << 20; return OK;                       // L2
    case 75: *v = cc_part(0); return OK;                     // CC major
    case 76: *v = cc_part(1); return OK;                     // CC minor
    case 81: *v = 228 << 10; return OK;                      // shared per SM
    case 97: *v = 227 << 10; return OK;                      // shared per block opt-in
    default: return INVALID_VALUE;
  }
}

EXPORT CUresult cuDeviceTotalMem_v2(size_t* b, CUdevice d) {
  NEED_INIT();
  if (d != 0) return INVALID_DEVICE;
  if (!b) return INVALID_VALUE;
  *b = mem_limit();
  return OK;
}

EXPORT CUresult cuDevicePrimaryCtxRetain(void** pctx, CUdevice d) {
  NEED_INIT();
  if (d != 0) return INVALID_DEVICE;
  if (!pctx) return INVALID_VALUE;
  LOCK();
  ctx_refs++;
  *pctx = &the_ctx;
  return OK;
}

EXPORT CUresult cuDevicePrimaryCtxRelease_v2(CUdevice d) {
  NEED_INIT();
  if (d != 0) return INVALID_DEVICE;
  LOCK();
  if (ctx_refs <= 0) return INVALID_CONTEXT;
  if (--ctx_refs == 0) destroy_context();
  return OK;
}

EXPORT CUresult cuCtxSetCurrent(void* c) {
  NEED_INIT();
  if (c != nullptr && c != &the_ctx) return INVALID_CONTEXT;
  cur = (Ctx*)c;
  return OK;
}

EXPORT CUresult cuCtxSynchronize(void) {
  LOCK();
  NEED_CTX();
  if (any_capturing()) {
    invalidate_all_captures();
    return STREAM_CAPTURE_UNSUPPORTED;
  }
  flush_everything();
  return sticky ? sticky : OK;
}

// ---- memory --------------------------------------------------------------

EXPORT CUresult cuMemGetInfo_v2(size_t* f, size_t* t) {
  LOCK();
  NEED_CTX();
  if (!f || !t) return INVALID_VALUE;
  *t = mem_limit();
  *f = *t - used;
  return OK;
}

EXPORT CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t n) {
  LOCK();
  NEED_CTX();
  if (!p || n == 0) return INVALID_VALUE;
  if (n > mem_limit() || used + n > mem_limit()) return OUT_OF_MEMORY;
  // [guard page][slack][n rounded to 256][guard page]: the block ends at
  // the second guard (when n is a multiple of 256; cu.Allocator asks for
  // multiples of 512).
  const size_t n256 = (n + 255) & ~(size_t)255;
  const size_t body = (n256 + kPage - 1) & ~(kPage - 1);
  const size_t maplen = body + 2 * kPage;
  void* m = mmap(nullptr, maplen, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) return OUT_OF_MEMORY;
  char* base = (char*)m;
  if (mprotect(base + kPage, body, PROT_READ | PROT_WRITE) != 0) {
    munmap(m, maplen);
    return OUT_OF_MEMORY;
  }
  char* start = base + kPage + body - n256;
  memset(start, 0xFF, n);  // uninitialized device memory: NaN
  allocs[(uintptr_t)start] = Alloc{base, maplen, n};
  used += n;
  *p = (CUdeviceptr)(uintptr_t)start;
  return OK;
}

EXPORT CUresult cuMemFree_v2(CUdeviceptr p) {
  LOCK();
  NEED_CTX();
  auto it = allocs.find((uintptr_t)p);
  if (it == allocs.end()) return INVALID_VALUE;
  flush_everything();  // cuMemFree waits for the work that may use the block
  if (sticky) return sticky;
  munmap(it->second.map, it->second.maplen);
  used -= it->second.n;
  allocs.erase(it);
  return OK;
}

EXPORT CUresult cuMemHostAlloc(void** pp, size_t n, unsigned int flags) {
  LOCK();
  NEED_CTX();
  if (!pp || n == 0 || flags > 0xf) return INVALID_VALUE;
  void* p = malloc(n);
  if (!p) return OUT_OF_MEMORY;
  memset(p, 0xFF, n);
  pinned[(uintptr_t)p] = n;
  *pp = p;
  return OK;
}

EXPORT CUresult cuMemFreeHost(void* p) {
  LOCK();
  NEED_CTX();
  auto it = pinned.find((uintptr_t)p);
  if (it == pinned.end()) return INVALID_VALUE;
  flush_everything();
  pinned.erase(it);
  free(p);
  return sticky ? sticky : OK;
}

EXPORT CUresult cuMemsetD32Async(CUdeviceptr d, unsigned int v, size_t n, void* s) {
  LOCK();
  NEED_CTX();
  if (d & 3) return INVALID_VALUE;
  if (!find_range((uintptr_t)d, 4 * n, nullptr)) return INVALID_VALUE;
  Op o{OP_MEMSET};
  o.dst = (uintptr_t)d;
  o.n = n;
  o.v = v;
  return submit(s, std::move(o));
}

// copy_op builds a copy and checks its device side now (the real driver
// rejects unknown device ranges at the call).
static CUresult copy_op(int dir, uintptr_t dst, uintptr_t src, size_t n, Op* o) {
  if ((dir != 2 && !find_range(dst, n, nullptr)) || (dir != 1 && !find_range(src, n, nullptr))) {
    fprintf(stderr, "emugpu: copy %s of %zu bytes %#" PRIxPTR " -> %#" PRIxPTR ": device range not allocated\n",
            dir_name(dir), n, src, dst);
    return INVALID_VALUE;
  }
  if ((dir == 1 && !src) || (dir == 2 && !dst)) return INVALID_VALUE;
  o->kind = OP_COPY;
  o->copy_dir = dir;
  o->dst = dst;
  o->src = src;
  o->n = n;
  return OK;
}

EXPORT CUresult cuMemcpyHtoD_v2(CUdeviceptr d, const void* src, size_t n) {
  LOCK();
  NEED_CTX();
  Op o{OP_COPY};
  if (CUresult r = copy_op(1, (uintptr_t)d, (uintptr_t)src, n, &o)) return r;
  return submit(nullptr, std::move(o));
}

EXPORT CUresult cuMemcpyDtoH_v2(void* d, CUdeviceptr src, size_t n) {
  LOCK();
  NEED_CTX();
  Op o{OP_COPY};
  if (CUresult r = copy_op(2, (uintptr_t)d, (uintptr_t)src, n, &o)) return r;
  return submit(nullptr, std::move(o));
}

// A host side that is not pinned: the real driver cannot capture the copy;
// outside capture it stages an upload at the call and completes a download
// before returning.
static CUresult host_copy_async(void* sp, Op&& o, uintptr_t host) {
  if (bad_stream(sp)) return INVALID_HANDLE;
  Stream* s = as_stream(sp);
  const bool pin = is_pinned(host, o.n);
  if (s && s->capturing && !pin) {
    fprintf(stderr, "emugpu: async %s copy of pageable host memory %#" PRIxPTR " during stream capture\n",
            dir_name(o.copy_dir), host);
    s->invalid = true;
    return STREAM_CAPTURE_UNSUPPORTED;
  }
  if (pin || !s) return submit(sp, std::move(o));
  if (o.copy_dir == 1) {
    o.staged = std::make_shared<std::vector<unsigned char>>((const unsigned char*)host,
                                                            (const unsigned char*)host + o.n);
    return submit(sp, std::move(o));
  }
  CUresult r = submit(sp, std::move(o));
  if (r) return r;
  flush_all(s);
  return sticky ? sticky : OK;
}

EXPORT CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr d, const void* src, size_t n, void* s) {
  LOCK();
  NEED_CTX();
  Op o{OP_COPY};
  if (CUresult r = copy_op(1, (uintptr_t)d, (uintptr_t)src, n, &o)) return r;
  return host_copy_async(s, std::move(o), (uintptr_t)src);
}

EXPORT CUresult cuMemcpyDtoHAsync_v2(void* d, CUdeviceptr src, size_t n, void* s) {
  LOCK();
  NEED_CTX();
  Op o{OP_COPY};
  if (CUresult r = copy_op(2, (uintptr_t)d, (uintptr_t)src, n, &o)) return r;
  return host_copy_async(s, std::move(o), (uintptr_t)d);
}

EXPORT CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr d, CUdeviceptr src, size_t n, void* s) {
  LOCK();
  NEED_CTX();
  Op o{OP_COPY};
  if (CUresult r = copy_op(3, (uintptr_t)d, (uintptr_t)src, n, &o)) return r;
  return submit(s, std::move(o));
}

// ---- streams and events --------------------------------------------------------

EXPORT CUresult cuStreamCreate(void** ps, unsigned int flags) {
  LOCK();
  NEED_CTX();
  if (!ps || flags > 1) return INVALID_VALUE;
  Stream* s = new Stream{kStreamMagic, flags};
  streams.insert(s);
  *ps = s;
  return OK;
}

EXPORT CUresult cuStreamSynchronize(void* sp) {
  LOCK();
  NEED_CTX();
  if (bad_stream(sp)) return INVALID_HANDLE;
  Stream* s = as_stream(sp);
  if (!s) {
    flush_blocking();
    return sticky ? sticky : OK;
  }
  if (s->capturing) {
    s->invalid = true;
    return STREAM_CAPTURE_UNSUPPORTED;
  }
  flush_all(s);
  return sticky ? sticky : OK;
}

EXPORT CUresult cuStreamDestroy_v2(void* sp) {
  LOCK();
  NEED_CTX();
  Stream* s = as_stream(sp);
  if (!s) return INVALID_HANDLE;
  flush_all(s);  // queued work still completes
  for (Event* e : events)
    if (e->s == s) e->s = nullptr;
  streams.erase(s);
  delete s->g;
  delete s;
  return OK;
}

EXPORT CUresult cuEventCreate(void** pe, unsigned int flags) {
  LOCK();
  NEED_CTX();
  if (!pe || flags > 0xf) return INVALID_VALUE;
  Event* e = new Event{kEventMagic, !(flags & 2)};
  events.insert(e);
  *pe = e;
  return OK;
}

EXPORT CUresult cuEventRecord(void* ep, void* sp) {
  LOCK();
  NEED_CTX();
  Event* e = as_event(ep);
  if (!e || bad_stream(sp)) return INVALID_HANDLE;
  Stream* s = as_stream(sp);
  if (s && s->capturing) return submit(sp, Op{OP_EVENT});
  e->gen++;
  e->pending = true;
  e->done = false;
  e->s = s;
  Op o{OP_EVENT};
  o.ev = e;
  o.ev_gen = e->gen;
  return submit(sp, std::move(o));
}

// wait_event runs e's stream up to e's last record.
static void wait_event(Event* e) {
  if (!e->pending || !e->s) return;
  Stream* s = e->s;
  while (e->pending && !s->q.empty() && !sticky) flush(s, 1);
}

// cuStreamQuery and cuEventQuery are a host that polls instead of
// blocking: each call runs one queued op of the stream (the work a GPU
// would have done meanwhile) and answers CUDA_ERROR_NOT_READY while more
// is queued, so a poll loop goes round as it does on a GPU that is behind.
EXPORT CUresult cuStreamQuery(void* sp) {
  LOCK();
  NEED_CTX();
  if (bad_stream(sp)) return INVALID_HANDLE;
  Stream* s = as_stream(sp);
  if (!s) {
    flush_blocking();
    return sticky ? sticky : OK;
  }
  if (s->capturing) {
    s->invalid = true;
    return STREAM_CAPTURE_UNSUPPORTED;
  }
  if (!s->q.empty()) flush(s, 1);
  if (sticky) return sticky;
  return s->q.empty() ? OK : NOT_READY;
}

EXPORT CUresult cuEventQuery(void* ep) {
  LOCK();
  NEED_CTX();
  Event* e = as_event(ep);
  if (!e) return INVALID_HANDLE;
  if (e->pending && e->s && !e->s->q.empty()) flush(e->s, 1);
  if (sticky) return sticky;
  return e->pending ? NOT_READY : OK;
}

EXPORT CUresult cuEventSynchronize(void* ep) {
  LOCK();
  NEED_CTX();
  Event* e = as_event(ep);
  if (!e) return INVALID_HANDLE;
  wait_event(e);
  return sticky ? sticky : OK;
}

EXPORT CUresult cuEventDestroy_v2(void* ep) {
  LOCK();
  NEED_CTX();
  Event* e = as_event(ep);
  if (!e) return INVALID_HANDLE;
  for (Stream* s : streams)
    for (Op& o : s->q)
      if (o.ev == e) o.ev = nullptr;
  events.erase(e);
  delete e;
  return OK;
}

EXPORT CUresult cuEventElapsedTime(float* ms, void* a, void* b) {
  LOCK();
  NEED_CTX();
  Event *x = as_event(a), *y = as_event(b);
  if (!ms || !x || !y || !x->timing || !y->timing) return INVALID_HANDLE;
  if (!x->done || !y->done) return NOT_READY;
  *ms = (float)(y->ms - x->ms);
  return OK;
}

EXPORT CUresult cuStreamWaitEvent(void* sp, void* ep, unsigned int flags) {
  LOCK();
  NEED_CTX();
  if (flags) return INVALID_VALUE;
  Event* e = as_event(ep);
  if (!e || bad_stream(sp)) return INVALID_HANDLE;
  // Every stream runs on the host in order: completing e's stream up to
  // the event now satisfies the dependency.
  Stream* s = as_stream(sp);
  if (!(s && s->capturing)) wait_event(e);
  return OK;
}

// cuLaunchHostFunc queues a host function on a stream, after the work
// queued before it; during capture it becomes a host node of the graph,
// run by each replay in its place (as the real driver does). The fake
// libnccl of cuda/internal/nccl/testdata resolves it from this library to
// run its all-reduce in stream order.
EXPORT CUresult cuLaunchHostFunc(void* sp, HostFn fn, void* data) {
  LOCK();
  NEED_CTX();
  if (!fn) return INVALID_VALUE;
  Op o{OP_HOST};
  o.fn = fn;
  o.fn_data = data;
  return submit(sp, std::move(o));
}

// cuStreamIsCapturing reports 1 (CU_STREAM_CAPTURE_STATUS_ACTIVE) while sp
// records a graph, 2 (INVALIDATED) after a capture was invalidated, else 0.
EXPORT CUresult cuStreamIsCapturing(void* sp, int* status) {
  LOCK();
  NEED_CTX();
  if (!status || bad_stream(sp)) return INVALID_HANDLE;
  Stream* s = as_stream(sp);
  *status = s && s->capturing ? (s->invalid ? 2 : 1) : 0;
  return OK;
}

// ---- modules and kernels ---------------------------------------------------------

EXPORT CUresult cuModuleLoadData(void** pm, const void* image) {
  LOCK();
  NEED_CTX();
  if (!pm || !image) return INVALID_VALUE;
  // The image (the fatbin) is not parsed: its kernels are the emulator's.
  Module* m = new Module{kModuleMagic};
  modules.insert(m);
  *pm = m;
  return OK;
}

EXPORT CUresult cuModuleUnload(void* mp) {
  LOCK();
  NEED_CTX();
  Module* m = (Module*)mp;
  if (!m || !modules.count(m)) return INVALID_HANDLE;
  flush_everything();
  for (Function* f : m->fns) f->magic = 0;  // kept: a later launch of it is reported, not a crash
  modules.erase(m);
  m->magic = 0;
  unloaded.push_back(m);
  return sticky ? sticky : OK;
}

EXPORT CUresult cuModuleGetFunction(void** pf, void* mp, const char* name) {
  LOCK();
  NEED_CTX();
  Module* m = (Module*)mp;
  if (!m || !modules.count(m)) return INVALID_HANDLE;
  if (!pf || !name) return INVALID_VALUE;
  for (Function* f : m->fns)
    if (!strcmp(f->k->name, name)) {
      *pf = f;
      return OK;
    }
  for (int i = 0; i < nkernels; ++i)
    if (!strcmp(kernels[i].name, name)) {
      Function* f = new Function{kFunctionMagic, &kernels[i], 0};
      m->fns.push_back(f);
      *pf = f;
      return OK;
    }
  return NOT_FOUND;
}

static Function* as_fn(void* p) {
  for (Module* m : modules)
    for (Function* f : m->fns)
      if (f == p) return f;
  return nullptr;
}

EXPORT CUresult cuFuncSetAttribute(void* fp, int attr, int v) {
  LOCK();
  NEED_CTX();
  Function* f = as_fn(fp);
  if (!f) return INVALID_HANDLE;
  if (attr != 8 || v < 0 || v > (227 << 10)) return INVALID_VALUE;
  f->maxdyn = v;
  return OK;
}

EXPORT CUresult cuLaunchKernel(void* fp, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
                               unsigned int by, unsigned int bz, unsigned int shared, void* s, void** params,
                               void** extra) {
  LOCK();
  NEED_CTX();
  Function* f = as_fn(fp);
  if (!f) return INVALID_HANDLE;
  auto reject = [&](const char* why) {
    fprintf(stderr, "emugpu: cuLaunchKernel %s grid (%u,%u,%u) block (%u,%u,%u) shared %u: %s\n", f->k->name, gx, gy,
            gz, bx, by, bz, shared, why);
    Stream* st = as_stream(s);
    if (st && st->capturing) st->invalid = true;
    return INVALID_VALUE;
  };
  if (extra) return reject("`extra` is not supported");
  if (!gx || !gy || !gz || !bx || !by || !bz) return reject("zero grid or block dimension");
  if ((unsigned long long)bx * by * bz > 1024 || bz > 64) return reject("block too large");
  if (gx > 0x7fffffffu || gy > 65535 || gz > 65535) return reject("grid too large");
  if (shared > (48u << 10) && shared > (unsigned)f->maxdyn) return reject("dynamic shared memory above the limit");
  if (!params) return reject("null kernelParams");
  Op o{OP_KERNEL};
  o.k = f->k;
  o.f = f;
  o.grid = dim3(gx, gy, gz);
  o.block = dim3(bx, by, bz);
  memset(o.args, 0, sizeof o.args);
  int np = 0;
  for (int i = 0; f->k->sig[i]; ++i, ++np) {
    if (!params[i]) return reject("null kernelParams entry");
    memcpy(o.args + 8 * i, params[i], (size_t)sig_size(f->k->sig[i]));
  }
  // cu.Args layout (parameter i in the 8-byte, zero-filled slot
  // params[0] + 8i): a 4-byte parameter whose slot's upper half is not
  // zero was appended as an 8-byte value (I64, U64, Ptr, F64). The real
  // driver reads the low 4 bytes, right only for small non-negative
  // integers: reported and counted (statistics), not an error.
  bool slots = true;
  for (int i = 1; i < np; ++i)
    if ((char*)params[i] != (char*)params[0] + 8 * i) slots = false;
  for (int i = 0; slots && i < np; ++i) {
    if (sig_size(f->k->sig[i]) != 4) continue;
    uint32_t hi;
    memcpy(&hi, (char*)params[i] + 4, 4);
    if (hi != 0) {
      stats.width++;
      fprintf(stderr, "emugpu: warning: %s: parameter %d is 4 bytes in the ABI, but an 8-byte value was passed\n",
              f->k->name, i);
    }
  }
  return submit(s, std::move(o));
}

// ---- capture and graphs ---------------------------------------------------------

EXPORT CUresult cuStreamBeginCapture_v2(void* sp, int mode) {
  LOCK();
  NEED_CTX();
  if (!sp) return STREAM_CAPTURE_UNSUPPORTED;
  Stream* s = as_stream(sp);
  if (!s) return INVALID_HANDLE;
  if (s->capturing) return ILLEGAL_STATE;
  if (mode < 0 || mode > 2) return INVALID_VALUE;
  s->capturing = true;
  s->invalid = false;
  s->mode = mode;
  s->owner = pthread_self();
  s->g = new Graph{kGraphMagic};
  stats.captures++;
  return OK;
}

EXPORT CUresult cuStreamEndCapture(void* sp, void** pg) {
  LOCK();
  NEED_CTX();
  Stream* s = as_stream(sp);
  if (!s || !pg) return INVALID_HANDLE;
  if (!s->capturing) return ILLEGAL_STATE;
  if (s->mode != 2 && !pthread_equal(s->owner, pthread_self())) return STREAM_CAPTURE_WRONG_THREAD;
  s->capturing = false;
  Graph* g = s->g;
  s->g = nullptr;
  if (s->invalid) {
    stats.invalidated++;
    delete g;
    *pg = nullptr;
    return STREAM_CAPTURE_INVALIDATED;
  }
  graphs.insert(g);
  *pg = g;
  return OK;
}

EXPORT CUresult cuGraphDestroy(void* gp) {
  LOCK();
  NEED_CTX();
  Graph* g = (Graph*)gp;
  if (!g || !graphs.count(g)) return INVALID_HANDLE;
  graphs.erase(g);
  delete g;
  return OK;
}

EXPORT CUresult cuGraphInstantiateWithFlags(void** px, void* gp, unsigned long long flags) {
  LOCK();
  NEED_CTX();
  if (!px || flags) return INVALID_VALUE;
  Graph* g = (Graph*)gp;
  if (!g || !graphs.count(g)) return INVALID_HANDLE;
  Graph* x = new Graph{kExecMagic, g->ops};
  execs.insert(x);
  *px = x;
  return OK;
}

EXPORT CUresult cuGraphLaunch(void* xp, void* sp) {
  LOCK();
  NEED_CTX();
  Graph* x = (Graph*)xp;
  if (!x || !execs.count(x)) return INVALID_HANDLE;
  if (bad_stream(sp)) return INVALID_HANDLE;
  stats.graph_runs++;
  for (const Op& o : x->ops) {
    Op c = o;
    c.from_graph = true;
    if (CUresult r = submit(sp, std::move(c))) return r;
  }
  return OK;
}

EXPORT CUresult cuGraphExecDestroy(void* xp) {
  LOCK();
  NEED_CTX();
  Graph* x = (Graph*)xp;
  if (!x || !execs.count(x)) return INVALID_HANDLE;
  execs.erase(x);
  delete x;
  return OK;
}
