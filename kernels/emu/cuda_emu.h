// cuda_emu.h: just enough of CUDA to run aegpu's kernels (kernels/aegpu.cu)
// on the CPU, compiled by g++ -std=c++20, for tests on machines without a GPU.
//
// Execution model. A launch runs its blocks one after another. __shared__ is
// `static` (one instance per variable, so shared by the block that is
// running), placed in the ELF section "emu_shared", which is filled with
// 0xFF bytes (NaN as float or double) before every block: a read of shared
// memory that the block has not written in this launch yields NaN.
// (GCC ignores the section attribute on statics of function templates: the
// kernels declare their shared memory in non-template functions, and a test
// checks the section's size.) threadIdx/blockIdx/blockDim/gridDim are
// thread_local. __syncthreads() is
// a barrier over the block's threads.
//
// Schedules (emu_set_mode):
//   0 concurrent      one std::thread per CUDA thread, all running freely on
//                     the host's cores, __syncthreads a real barrier;
//   1 serial forward  the block's threads as fibers (ucontext) on the calling
//                     thread, one at a time in threadIdx order, each running
//                     until its next __syncthreads (or its end) before the
//                     next one starts;
//   2 serial reverse  the same in reverse order;
//   3 serial shuffled the same in a pseudo-random order, new every phase.
// The serial schedules make shared-memory races deterministic: a read of a
// value that another thread writes in the same barrier phase sees the old
// value (NaN, or the previous phase's) in one order and the new one in the
// other, so a missing __syncthreads changes the results between schedules
// (the tests require bitwise-equal results under all four).
//
// Checks, reported as the launch's error (naming the kernel and block):
//   - barrier divergence: some threads wait at __syncthreads while others
//     of the block have returned (e.g. an early return before a barrier);
//   - __trap();
//   - launch configuration (block size, grid size);
//   - warp-level instructions (the emulated mma.sync of the TF32 GEMMs, see
//     warp_allgather below): every lane of a full warp must execute the
//     same one; a lane that has returned, waits at __syncthreads instead,
//     or belongs to a partial warp is an error (the real instruction is
//     .aligned: undefined behaviour, usually a hang).
// A watchdog thread aborts the process, naming the kernel and block, when a
// block makes no progress (no barrier completes, no thread finishes) for
// emu_set_watchdog_ms: a deadlock not explained by divergence, or an
// endless loop.
//
// Warps: lanes are the linear thread index mod 32 (warp w = threads 32w …
// 32w+31), as on the GPU. The only warp-synchronous code is the emulated
// mma.sync (warp_allgather: a per-warp barrier); plain code between
// barriers runs thread by thread, so implicit warp synchrony is not
// modelled (aegpu's kernels rely on none).
//
// What it cannot see: the performance of anything, memory coalescing,
// bank conflicts, register or shared-memory limits, out-of-bounds reads that
// stay inside the host's mapped memory, and the accuracy of the device's
// math functions (<cmath> stands in for them).
#pragma once

#include <math.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <semaphore>
#include <string>
#include <thread>
#include <ucontext.h>
#include <sys/mman.h>
#include <vector>

#define AEGPU_EMULATOR 1

// CUDA pragmas (#pragma unroll) mean nothing to g++.
#pragma GCC diagnostic ignored "-Wunknown-pragmas"

// Kernels become inline functions so that their __shared__ statics, like
// those of the inline device functions, have vague linkage: GCC cannot mix
// comdat and non-comdat variables in one named section.
#define __global__ inline
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __shared__ static __attribute__((section("emu_shared")))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))

struct uint3 {
  unsigned int x, y, z;
};
struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(16) float4 {
  float x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
struct alignas(8) float2 {
  float x, y;
};
inline float2 make_float2(float x, float y) { return float2{x, y}; }

inline thread_local uint3 threadIdx;
inline thread_local uint3 blockIdx;
inline thread_local dim3 blockDim;
inline thread_local dim3 gridDim;

// Device intrinsics, by their host equivalents. The _rn operations are plain
// float operations: g++ targeting x86-64 without -mfma cannot contract them.
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __uint_as_float(unsigned int u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}
inline unsigned int __float_as_uint(float f) {
  unsigned int u;
  memcpy(&u, &f, 4);
  return u;
}
inline void sincospif(float x, float* s, float* c) {
  const double a = 3.14159265358979323846 * (double)x;
  *s = (float)sin(a);
  *c = (float)cos(a);
}

namespace emu {

enum Mode { kConcurrent = 0, kSerialForward = 1, kSerialReverse = 2, kSerialShuffle = 3 };

inline std::atomic<int> g_mode{kConcurrent};
inline std::atomic<int> g_watchdog_ms{120000};

struct Trap {};  // thrown by __trap, caught where the thread's kernel call began

// The shared-memory section (see the header comment). The linker defines
// these for a section whose name is a C identifier.
extern "C" char __start_emu_shared[] __attribute__((weak));
extern "C" char __stop_emu_shared[] __attribute__((weak));
inline void poison_shared() {
  if (+__start_emu_shared != nullptr && +__stop_emu_shared > +__start_emu_shared)
    memset(__start_emu_shared, 0xFF, (size_t)(__stop_emu_shared - __start_emu_shared));
}

// ---------------------------------------------------------------------------
// Watchdog: one monitor thread for the process; a running block bumps
// g_progress whenever a barrier phase completes or a thread finishes.
inline std::atomic<unsigned long long> g_progress{0};
inline std::atomic<bool> g_block_running{false};
inline std::mutex g_where_mu;
inline std::string g_where;  // kernel and block running

inline void watchdog_thread() {
  unsigned long long last = 0;
  auto since = std::chrono::steady_clock::now();
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const unsigned long long p = g_progress.load();
    const auto now = std::chrono::steady_clock::now();
    if (p != last || !g_block_running.load()) {
      last = p;
      since = now;
      continue;
    }
    if (now - since > std::chrono::milliseconds(g_watchdog_ms.load())) {
      std::lock_guard<std::mutex> lk(g_where_mu);
      fprintf(stderr,
              "emu: %s: watchdog: no barrier completed and no thread finished for %d ms "
              "(deadlock or endless loop); aborting\n",
              g_where.c_str(), g_watchdog_ms.load());
      fflush(stderr);
      abort();
    }
  }
}

inline void start_watchdog() {
  static std::once_flag once;
  std::call_once(once, [] { std::thread(watchdog_thread).detach(); });
}

// ---------------------------------------------------------------------------

inline const char* kDivergence =
    "barrier divergence: %d threads wait at __syncthreads while %d have returned "
    "(a return or a branch around a barrier that not all threads take)";

struct Block;
inline thread_local Block* tl_block = nullptr;
inline thread_local int tl_tid = 0;

// Fiber stacks for the serial schedules, kept for the process.
struct Stacks {
  static constexpr size_t kSize = 256 << 10;
  static constexpr size_t kGuard = 4096;
  std::vector<char*> s;
  char* get(int i) {
    while ((int)s.size() <= i) {
      void* p = mmap(nullptr, kSize + kGuard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) {
        perror("emu: mmap fiber stack");
        abort();
      }
      mprotect(p, kGuard, PROT_NONE);  // overflow faults instead of corrupting
      s.push_back((char*)p + kGuard);
    }
    return s[i];
  }
};
inline Stacks g_stacks;

// Block runs the threads of one block and implements __syncthreads.
struct Block {
  enum State { kReady = 0, kAtBarrier = 1, kExited = 2, kAtWarpBarrier = 3 };
  static constexpr int kWarp = 32;
  static constexpr int kMaxXRegs = 64;  // 32-bit registers one lane may publish per warp_allgather

  const char* kernel;
  uint3 bid;
  dim3 grid, block;
  int n;
  int mode;
  const std::function<void()>* body;

  std::mutex mu;
  bool failed = false;
  std::string err;
  std::atomic<bool> poisoned{false};  // after an error: barriers no longer wait

  // concurrent schedule
  int arrived = 0, exited = 0;
  std::atomic<unsigned int> gen{0};

  // warps (warp_sync, warp_allgather): per warp, lanes waiting at the warp
  // barrier and lanes exited (concurrent schedule), its barrier generation,
  // and a double-buffered exchange area of kWarp × kMaxXRegs words; per
  // thread, the number of exchanges it has made (the buffer half to use).
  int nwarps;
  int warp_waiting = 0;  // concurrent: threads waiting at some warp barrier
  std::vector<int> warp_arrived, warp_exited;
  std::unique_ptr<std::atomic<unsigned int>[]> warp_gen;
  std::vector<uint32_t> xbuf;  // allocated by the first exchange
  std::once_flag xbuf_once;
  std::vector<unsigned> xcount;

  // serial schedules
  std::vector<ucontext_t> ctx;
  ucontext_t main_ctx;
  std::vector<int> order, state;
  unsigned long long rng = 0;

  Block(const char* k, uint3 b, dim3 g, dim3 bl, int m, const std::function<void()>* f)
      : kernel(k), bid(b), grid(g), block(bl), n((int)(bl.x * bl.y * bl.z)), mode(m), body(f) {
    nwarps = (n + kWarp - 1) / kWarp;
    warp_arrived.assign(nwarps, 0);
    warp_exited.assign(nwarps, 0);
    warp_gen.reset(new std::atomic<unsigned int>[nwarps]);
    for (int w = 0; w < nwarps; ++w) warp_gen[w] = 0;
    xcount.assign(n, 0);
  }

  int lanes(int w) const { return std::min(kWarp, n - kWarp * w); }

  std::string where() const {
    char buf[256];
    snprintf(buf, sizeof buf, "kernel %s, block (%u,%u,%u)", kernel, bid.x, bid.y, bid.z);
    return buf;
  }

  void fail_locked(const std::string& msg) {
    if (!failed) {
      failed = true;
      err = where() + ": " + msg;
    }
    poisoned = true;
    gen.fetch_add(1);
    gen.notify_all();
    for (int w = 0; w < nwarps; ++w) {
      warp_gen[w].fetch_add(1);
      warp_gen[w].notify_all();
    }
  }

  void set_thread(int t) {
    tl_block = this;
    tl_tid = t;
    blockDim = block;
    gridDim = grid;
    blockIdx = bid;
    threadIdx = uint3{(unsigned)t % block.x, ((unsigned)t / block.x) % block.y, (unsigned)t / (block.x * block.y)};
  }

  void call_body() {
    try {
      (*body)();
    } catch (const Trap&) {
    }
  }

  // ---- concurrent --------------------------------------------------------

  void sync_concurrent() {
    unsigned int g;
    {
      std::lock_guard<std::mutex> lk(mu);
      if (poisoned) return;
      ++arrived;
      if (arrived + exited == n) {
        if (exited > 0) {
          char buf[256];
          snprintf(buf, sizeof buf, kDivergence, arrived, exited);
          fail_locked(buf);
          return;
        }
        arrived = 0;
        g_progress.fetch_add(1);
        gen.fetch_add(1);
        gen.notify_all();
        return;
      }
      if (arrived + warp_waiting + exited == n) {  // nobody left to complete either barrier
        fail_mixed_locked(arrived, warp_waiting);
        return;
      }
      g = gen.load();
    }
    while (gen.load() == g) gen.wait(g);
  }

  void fail_mixed_locked(int at_block, int at_warp) {
    char buf[256];
    snprintf(buf, sizeof buf,
             "barrier mismatch: %d threads wait at __syncthreads while %d wait at a warp-level "
             "instruction (mma.sync) that not all lanes of their warp reach",
             at_block, at_warp);
    fail_locked(buf);
  }

  void warp_divergence_locked(int w, int waiting, int gone) {
    char buf[256];
    snprintf(buf, sizeof buf,
             "warp divergence: in warp %d, %d lanes execute a warp-level instruction (mma.sync) while %d "
             "have returned",
             w, waiting, gone);
    fail_locked(buf);
  }

  void exit_concurrent() {
    std::lock_guard<std::mutex> lk(mu);
    ++exited;
    const int w = tl_tid / kWarp;
    ++warp_exited[w];
    g_progress.fetch_add(1);
    if (poisoned) return;
    if (warp_arrived[w] > 0 && warp_arrived[w] + warp_exited[w] == lanes(w)) {
      warp_divergence_locked(w, warp_arrived[w], warp_exited[w]);
    } else if (arrived > 0 && arrived + exited == n) {
      char buf[256];
      snprintf(buf, sizeof buf, kDivergence, arrived, exited);
      fail_locked(buf);
    } else if ((arrived > 0 || warp_waiting > 0) && arrived + warp_waiting + exited == n) {
      fail_mixed_locked(arrived, warp_waiting);
    }
  }

  // The warp barrier, concurrent schedule: the lanes of one warp wait for
  // each other (and for nobody else).
  void warp_sync_concurrent() {
    const int w = tl_tid / kWarp;
    unsigned int g;
    {
      std::lock_guard<std::mutex> lk(mu);
      if (poisoned) return;
      ++warp_arrived[w];
      ++warp_waiting;
      if (warp_arrived[w] + warp_exited[w] == lanes(w)) {
        if (warp_exited[w] > 0) {
          warp_divergence_locked(w, warp_arrived[w], warp_exited[w]);
          return;
        }
        warp_waiting -= warp_arrived[w];
        warp_arrived[w] = 0;
        g_progress.fetch_add(1);
        warp_gen[w].fetch_add(1);
        warp_gen[w].notify_all();
        return;
      }
      if (arrived + warp_waiting + exited == n) {
        fail_mixed_locked(arrived, warp_waiting);
        return;
      }
      g = warp_gen[w].load();
    }
    while (warp_gen[w].load() == g) warp_gen[w].wait(g);
  }

  void run_concurrent() {
    std::vector<std::thread> threads;
    threads.reserve(n);
    for (int t = 0; t < n; ++t) {
      threads.emplace_back([this, t] {
        set_thread(t);
        call_body();
        exit_concurrent();
        tl_block = nullptr;
      });
    }
    for (auto& th : threads) th.join();
  }

  // ---- serial (fibers) ---------------------------------------------------

  void shuffle_order() {
    for (int i = n - 1; i > 0; --i) {  // xorshift64*, seeded by the block: reproducible
      rng ^= rng >> 12;
      rng ^= rng << 25;
      rng ^= rng >> 27;
      const unsigned long long r = rng * 2685821657736338717ull;
      std::swap(order[i], order[(int)(r % (unsigned long long)(i + 1))]);
    }
  }

  static void fiber_entry() {
    Block* b = tl_block;
    const int t = tl_tid;
    b->call_body();
    b->state[t] = kExited;
    g_progress.fetch_add(1);
    swapcontext(&b->ctx[t], &b->main_ctx);  // never resumed
  }

  void sync_serial() {
    if (poisoned) return;
    const int t = tl_tid;
    state[t] = kAtBarrier;
    swapcontext(&ctx[t], &main_ctx);
  }

  void warp_sync_serial() {
    if (poisoned) return;
    const int t = tl_tid;
    state[t] = kAtWarpBarrier;
    swapcontext(&ctx[t], &main_ctx);
  }

  // release_warps readies the lanes of every warp whose live lanes all wait
  // at the warp barrier (after running the ready threads); true when some
  // warp was released.
  bool release_warps() {
    bool released = false;
    for (int w = 0; w < nwarps; ++w) {
      int at = 0, ex = 0;
      for (int t = kWarp * w; t < kWarp * w + lanes(w); ++t) {
        if (state[t] == kAtWarpBarrier) ++at;
        if (state[t] == kExited) ++ex;
      }
      if (at == 0 || at + ex != lanes(w)) continue;
      if (ex > 0 && !poisoned) {
        std::lock_guard<std::mutex> lk(mu);
        warp_divergence_locked(w, at, ex);
      }
      for (int t = kWarp * w; t < kWarp * w + lanes(w); ++t)
        if (state[t] == kAtWarpBarrier) state[t] = kReady;
      released = true;
    }
    return released;
  }

  void run_serial() {
    ctx.resize(n);
    state.assign(n, kReady);
    order.resize(n);
    for (int i = 0; i < n; ++i) order[i] = mode == kSerialReverse ? n - 1 - i : i;
    rng = 0x9E3779B97F4A7C15ull ^ ((unsigned long long)bid.x << 1) ^ ((unsigned long long)bid.y << 21) ^
          ((unsigned long long)bid.z << 41);
    if (mode == kSerialShuffle) shuffle_order();
    for (int t = 0; t < n; ++t) {
      getcontext(&ctx[t]);
      ctx[t].uc_stack.ss_sp = g_stacks.get(t);
      ctx[t].uc_stack.ss_size = Stacks::kSize;
      ctx[t].uc_link = nullptr;
      makecontext(&ctx[t], &Block::fiber_entry, 0);
    }
    for (;;) {
      for (int p = 0; p < n; ++p) {
        const int t = order[p];
        if (state[t] != kReady) continue;
        set_thread(t);
        swapcontext(&main_ctx, &ctx[t]);  // runs t until its next barrier or its end
      }
      if (release_warps()) {
        g_progress.fetch_add(1);
        if (mode == kSerialShuffle) shuffle_order();
        continue;
      }
      int at = 0, ex = 0, aw = 0;
      for (int st : state) (st == kAtBarrier ? at : st == kAtWarpBarrier ? aw : ex)++;
      if (at == 0 && aw == 0) break;  // every thread has finished
      if (aw > 0) {  // lanes at a warp barrier that the rest of their warp never reaches
        if (!poisoned) {
          std::lock_guard<std::mutex> lk(mu);
          fail_mixed_locked(at, aw);
        }
        for (int& st : state)  // poisoned: the barriers return at once, the threads run out
          if (st == kAtBarrier || st == kAtWarpBarrier) st = kReady;
        continue;
      }
      if (ex > 0 && !poisoned) {
        char buf[256];
        snprintf(buf, sizeof buf, kDivergence, at, ex);
        std::lock_guard<std::mutex> lk(mu);
        fail_locked(buf);
      }
      for (int& st : state)
        if (st == kAtBarrier) st = kReady;
      g_progress.fetch_add(1);
      if (mode == kSerialShuffle) shuffle_order();
    }
    tl_block = nullptr;
  }

  void sync() {
    if (mode == kConcurrent) {
      sync_concurrent();
    } else {
      sync_serial();
    }
  }

  void warp_sync() {
    if (mode == kConcurrent) {
      warp_sync_concurrent();
    } else {
      warp_sync_serial();
    }
  }

  // fail reports msg as the launch's error (the thread then unwinds with Trap).
  void fail(const std::string& msg) {
    std::lock_guard<std::mutex> lk(mu);
    fail_locked(msg);
  }

  // allgather: this lane publishes nregs words, and after the warp barrier
  // all[l·nregs + i] is word i of lane l, for the 32 lanes of its warp.
  // The exchange area has two halves used alternately: a lane writes half h
  // again only two exchanges later, after the barrier of the exchange in
  // between, which every lane reaches only after reading half h.
  void allgather(const uint32_t* mine, int nregs, uint32_t* all) {
    const int t = tl_tid, w = t / kWarp, lane = t % kWarp;
    if (nregs < 1 || nregs > kMaxXRegs) {
      fprintf(stderr, "emu: warp_allgather of %d registers (at most %d)\n", nregs, kMaxXRegs);
      abort();
    }
    if (lanes(w) != kWarp) {
      char buf[200];
      snprintf(buf, sizeof buf, "a warp-level instruction (mma.sync) in warp %d of only %d lanes", w, lanes(w));
      fail(buf);
      throw Trap{};
    }
    std::call_once(xbuf_once, [this] { xbuf.assign((size_t)nwarps * 2 * kWarp * kMaxXRegs, 0); });
    const unsigned h = xcount[t]++ & 1u;
    uint32_t* half = &xbuf[((size_t)w * 2 + h) * kWarp * kMaxXRegs];
    memcpy(half + (size_t)lane * kMaxXRegs, mine, sizeof(uint32_t) * (size_t)nregs);
    warp_sync();
    for (int l = 0; l < kWarp; ++l) memcpy(all + (size_t)l * nregs, half + (size_t)l * kMaxXRegs, sizeof(uint32_t) * (size_t)nregs);
  }

  void trap() {
    std::lock_guard<std::mutex> lk(mu);
    fail_locked("__trap() (the kernel rejected its launch configuration or arguments)");
  }

  // run executes the block and returns its error ("" when none).
  std::string run() {
    poison_shared();
    {
      std::lock_guard<std::mutex> lk(g_where_mu);
      g_where = where();
    }
    g_block_running = true;
    if (mode == kConcurrent) {
      run_concurrent();
    } else {
      run_serial();
    }
    g_block_running = false;
    std::lock_guard<std::mutex> lk(mu);
    return failed ? err : std::string();
  }
};

inline std::string g_last_error;

// launch runs body (a call of one kernel) over grid × block, blocks in
// order x, then y, then z. It returns 0, or 1 with the error in g_last_error.
inline int launch(const char* kernel, dim3 grid, dim3 block, const std::function<void()>& body) {
  g_last_error.clear();
  start_watchdog();
  const unsigned long long nt = (unsigned long long)block.x * block.y * block.z;
  if (block.x == 0 || block.y == 0 || block.z == 0 || grid.x == 0 || grid.y == 0 || grid.z == 0 ||
      nt > 1024 || block.z > 64 || grid.y > 65535 || grid.z > 65535) {
    char buf[256];
    snprintf(buf, sizeof buf, "kernel %s: invalid launch configuration grid (%u,%u,%u) block (%u,%u,%u)", kernel,
             grid.x, grid.y, grid.z, block.x, block.y, block.z);
    g_last_error = buf;
    return 1;
  }
  const int mode = g_mode.load();
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        Block b(kernel, uint3{x, y, z}, grid, block, mode, &body);
        std::string e = b.run();
        if (!e.empty()) {
          g_last_error = e;
          return 1;
        }
      }
  return 0;
}

}  // namespace emu

inline void __syncthreads() { emu::tl_block->sync(); }

[[noreturn]] inline void __trap() {
  emu::tl_block->trap();
  throw emu::Trap{};
}

// ---------------------------------------------------------------------------
// Tensor cores, TF32 (sm_80+): the two PTX instructions of the TF32 GEMMs
// (kernels/gemm_tf32.cu), which g++ cannot assemble, emulated. The kernel
// side calls them through its own inline wrappers (tf32_round,
// mma_tf32_tile), whose GPU path is the inline PTX.
//
//   cvt.rna.tf32.f32 d, a   a rounded to TF32 (8-bit exponent, 10-bit
//                           mantissa: the low 13 bits of the .b32 result are
//                           0), to nearest, ties away from zero; NaN stays
//                           NaN, ±Inf stays ±Inf, values that round past the
//                           largest finite TF32 become ±Inf.
//
//   mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {d0..d3}, {a0..a3}, {b0, b1}, {c0..c3}
//                           D[16×8] = A[16×8]·B[8×8] + C for the warp, each
//                           lane holding the fragments of the PTX ISA,
//                           §9.7.14.5.7 "Matrix Fragments for mma.m16n8k8"
//                           (docs.nvidia.com/cuda/parallel-thread-execution,
//                           #warp-level-matrix-fragment-mma-1688), with
//                           groupID = laneid >> 2, threadID_in_group = laneid % 4:
//                             A (.tf32, four .b32):  row = groupID      for a0, a2
//                                                          groupID + 8  for a1, a3
//                                                    col = threadID_in_group      for a0, a1
//                                                          threadID_in_group + 4  for a2, a3
//                             B (.tf32, two .b32):   row = threadID_in_group      for b0
//                                                          threadID_in_group + 4  for b1
//                                                    col = groupID
//                             C, D (four .f32):      row = groupID      for c0, c1
//                                                          groupID + 8  for c2, c3
//                                                    col = threadID_in_group·2 + (i & 1) for ci
//
// The emulation is warp-collective like the instruction: every lane
// publishes its A and B registers (warp_allgather, a barrier over the 32
// lanes of its warp), then computes its own four D elements from the
// gathered matrices: products exact (TF32 × TF32 fits a double), summed with
// C in double and rounded once to fp32. The hardware's internal summation
// order and rounding are not specified by the ISA (it accumulates in at
// least fp32), so tests compare with a tolerance, never bitwise against the
// device. Stricter than the hardware: an operand register whose low 13 bits
// are not 0 (a float that did not go through cvt.rna.tf32.f32) fails the
// launch, and so does a warp with fewer than 32 lanes or one whose lanes do
// not all reach the instruction.
namespace emu {

inline uint32_t cvt_rna_tf32(float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  if ((u & 0x7F800000u) == 0x7F800000u) {  // Inf or NaN
    if ((u & 0x007FFFFFu) == 0) return u;   // ±Inf
    return (u | 0x00400000u) & 0xFFFFE000u; // NaN: quiet, payload's top bits kept
  }
  // Sign-magnitude: adding half a unit of bit 13 to the magnitude, then
  // truncating, rounds to nearest with ties away from zero; a carry into the
  // exponent is the correct result (up to Inf).
  return (u + 0x00001000u) & 0xFFFFE000u;
}

inline void warp_allgather(const uint32_t* mine, int nregs, uint32_t* all) {
  tl_block->allgather(mine, nregs, all);
}

// The fragment layouts above, as (lane, register) of each matrix element,
// built from the ISA's formulas (lane, register) → (row, col).
struct Mma1688Tf32Layout {
  int a_lane[16][8], a_reg[16][8];
  int b_lane[8][8], b_reg[8][8];
  Mma1688Tf32Layout() {
    for (int i = 0; i < 16; ++i)
      for (int k = 0; k < 8; ++k) a_lane[i][k] = -1;
    for (int k = 0; k < 8; ++k)
      for (int j = 0; j < 8; ++j) b_lane[k][j] = -1;
    for (int lane = 0; lane < 32; ++lane) {
      const int groupID = lane >> 2, threadID_in_group = lane % 4;
      for (int i = 0; i < 4; ++i) {  // a0 … a3
        const int row = (i == 0 || i == 2) ? groupID : groupID + 8;
        const int col = (i == 0 || i == 1) ? threadID_in_group : threadID_in_group + 4;
        a_lane[row][col] = lane;
        a_reg[row][col] = i;
      }
      for (int i = 0; i < 2; ++i) {  // b0, b1
        const int row = i == 0 ? threadID_in_group : threadID_in_group + 4;
        const int col = groupID;
        b_lane[row][col] = lane;
        b_reg[row][col] = i;
      }
    }
    for (int i = 0; i < 16; ++i)
      for (int k = 0; k < 8; ++k)
        if (a_lane[i][k] < 0) abort();  // every element held by some lane
    for (int k = 0; k < 8; ++k)
      for (int j = 0; j < 8; ++j)
        if (b_lane[k][j] < 0) abort();
  }
};
inline const Mma1688Tf32Layout g_mma1688;

inline float tf32_operand(uint32_t r) {
  if (r & 0x1FFFu) {
    char buf[160];
    snprintf(buf, sizeof buf,
             "mma .tf32 operand 0x%08x has low bits set: not a TF32 value (convert with cvt.rna.tf32.f32)", r);
    tl_block->fail(buf);
    throw Trap{};
  }
  float f;
  memcpy(&f, &r, 4);
  return f;
}

// mma_lane_d computes lane's D fragment d[0…3] (its C fragment on entry)
// of an m16n8kK mma: d[i] += Σ_k A(row, k)·B(k, col) with the C/D layout
// shared by m16n8k8 and m16n8k16 (rows g, g+8; columns 2t, 2t+1), summed
// in double and rounded once. a_at(row, k) and b_at(k, col) read the
// operands from the registers the warp published.
template <int K, class AAt, class BAt>
inline void mma_lane_d(int lane, float (&d)[4], AAt a_at, BAt b_at) {
  const int groupID = lane >> 2, threadID_in_group = lane % 4;
  for (int i = 0; i < 4; ++i) {
    const int row = i < 2 ? groupID : groupID + 8;
    const int col = threadID_in_group * 2 + (i & 1);
    double s = (double)d[i];
    for (int k = 0; k < K; ++k) s += a_at(row, k) * b_at(k, col);
    d[i] = (float)s;
  }
}

// mma_tile is MI×NI independent mma.sync instructions of the warp,
// D[i][j] = A[i]·B[j] + C[i][j] (acc holds C on entry, D on return), with
// one exchange: each lane publishes a[i][0…3] for every i, then b[j][0…1]
// for every j; lane_fn(lane, regs, stride, aoff, boff, d) computes one
// instruction's fragment from them.
template <int MI, int NI, class LaneFn>
inline void mma_tile(float (&acc)[MI][NI][4], const uint32_t (&a)[MI][4], const uint32_t (&b)[NI][2], LaneFn lane_fn) {
  constexpr int R = MI * 4 + NI * 2;
  static_assert(R <= Block::kMaxXRegs, "too many registers for one exchange");
  uint32_t mine[R], all[32 * R];
  for (int i = 0; i < MI; ++i)
    for (int r = 0; r < 4; ++r) mine[4 * i + r] = a[i][r];
  for (int j = 0; j < NI; ++j)
    for (int r = 0; r < 2; ++r) mine[4 * MI + 2 * j + r] = b[j][r];
  warp_allgather(mine, R, all);
  const int lane = tl_tid % 32;
  for (int i = 0; i < MI; ++i)
    for (int j = 0; j < NI; ++j) lane_fn(lane, all, R, 4 * i, 4 * MI + 2 * j, acc[i][j]);
}

// mma_m16n8k8_tf32_lane computes lane's D fragment d[0…3] (holding its C
// fragment on entry) from the registers every lane of the warp published:
// lane l's a0…a3 at regs[l·stride + aoff …], b0, b1 at regs[l·stride + boff …].
inline void mma_m16n8k8_tf32_lane(int lane, const uint32_t* regs, int stride, int aoff, int boff, float (&d)[4]) {
  const Mma1688Tf32Layout& L = g_mma1688;
  mma_lane_d<8>(
      lane, d,
      [&](int row, int k) { return (double)tf32_operand(regs[L.a_lane[row][k] * stride + aoff + L.a_reg[row][k]]); },
      [&](int k, int col) { return (double)tf32_operand(regs[L.b_lane[k][col] * stride + boff + L.b_reg[k][col]]); });
}

// mma_m16n8k8_tf32_tile: mma_tile of m16n8k8 .tf32 instructions.
template <int MI, int NI>
inline void mma_m16n8k8_tf32_tile(float (&acc)[MI][NI][4], const uint32_t (&a)[MI][4], const uint32_t (&b)[NI][2]) {
  mma_tile(acc, a, b, mma_m16n8k8_tf32_lane);
}

}  // namespace emu

// ---------------------------------------------------------------------------
// Tensor cores, BF16 (sm_80+): the instructions of the BF16 GEMMs
// (kernels/gemm_bf16.cu, PrecBF16), called through bf16_round2 and
// mma_bf16_tile.
//
//   cvt.rn.bf16x2.f32 d, a, b   a and b rounded to bf16 (8-bit exponent,
//                           7-bit mantissa: the upper half of the fp32
//                           pattern), to nearest, ties to even; a in the
//                           upper half of d, b in the lower (PTX ISA, cvt:
//                           "the value converted from input a is stored in
//                           the upper half of d"). ±Inf stays ±Inf, finite
//                           values that round past the largest finite bf16
//                           become ±Inf, subnormals are kept (no .ftz); a
//                           NaN becomes the canonical NaN 0x7FFF (as
//                           cuda_bf16.hpp's host conversion does; tests only
//                           rely on its being a NaN).
//
//   mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {d0..d3}, {a0..a3}, {b0, b1}, {c0..c3}
//                           D[16×8] = A[16×16]·B[16×8] + C, fragments of the
//                           PTX ISA §9.7.14.5.8 "Matrix Fragments for
//                           mma.m16n8k16 with floating point type"
//                           (#warp-level-matrix-fragment-mma-16816-float),
//                           elements a0…a7 in four .b32 (ai in register i/2,
//                           the lower half for even i), b0…b3 in two:
//                             A: row = groupID      for ai, i < 2 or 4 ≤ i < 6
//                                      groupID + 8  otherwise
//                                col = threadID_in_group·2 + (i & 1)      for i < 4
//                                      threadID_in_group·2 + (i & 1) + 8  for i ≥ 4
//                             B: row = threadID_in_group·2 + (i & 1)      for bi, i < 2
//                                      threadID_in_group·2 + (i & 1) + 8  for i ≥ 2
//                                col = groupID
//                             C, D: as m16n8k8 above.
//
// Products of two bf16 are exact in a double; the 16 products and C are
// summed in double and rounded once to fp32 (tests use tolerances, as for
// TF32). Any .b32 pattern is a valid pair of bf16, so no operand check.
namespace emu {

inline uint16_t bf16_rn(float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return 0x7FFFu;  // NaN: canonical
  // Round the magnitude to nearest even at bit 16: add 0x7FFF plus the
  // kept LSB, truncate. Inf stays Inf (its low bits are 0); a carry into
  // the exponent is the correct rounding (up to Inf).
  u += 0x7FFFu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

inline uint32_t cvt_rn_bf16x2(float hi, float lo) { return ((uint32_t)bf16_rn(hi) << 16) | bf16_rn(lo); }

inline double bf16_value(uint32_t h) {
  const uint32_t u = (h & 0xFFFFu) << 16;
  float f;
  memcpy(&f, &u, 4);
  return (double)f;
}

// The fragment layouts above as (lane, register, half) of each element.
struct Mma16816Bf16Layout {
  int a_lane[16][16], a_reg[16][16], a_half[16][16];
  int b_lane[16][8], b_reg[16][8], b_half[16][8];
  Mma16816Bf16Layout() {
    for (int i = 0; i < 16; ++i)
      for (int k = 0; k < 16; ++k) a_lane[i][k] = -1;
    for (int k = 0; k < 16; ++k)
      for (int j = 0; j < 8; ++j) b_lane[k][j] = -1;
    for (int lane = 0; lane < 32; ++lane) {
      const int groupID = lane >> 2, threadID_in_group = lane % 4;
      for (int i = 0; i < 8; ++i) {  // a0 … a7
        const int row = (i < 2 || (i >= 4 && i < 6)) ? groupID : groupID + 8;
        const int col = threadID_in_group * 2 + (i & 1) + (i >= 4 ? 8 : 0);
        a_lane[row][col] = lane;
        a_reg[row][col] = i / 2;
        a_half[row][col] = i % 2;
      }
      for (int i = 0; i < 4; ++i) {  // b0 … b3
        const int row = threadID_in_group * 2 + (i & 1) + (i >= 2 ? 8 : 0);
        const int col = groupID;
        b_lane[row][col] = lane;
        b_reg[row][col] = i / 2;
        b_half[row][col] = i % 2;
      }
    }
    for (int i = 0; i < 16; ++i)
      for (int k = 0; k < 16; ++k)
        if (a_lane[i][k] < 0) abort();
    for (int k = 0; k < 16; ++k)
      for (int j = 0; j < 8; ++j)
        if (b_lane[k][j] < 0) abort();
  }
};
inline const Mma16816Bf16Layout g_mma16816;

inline double bf16_elem(const uint32_t* regs, int lane, int stride, int off, int reg, int half) {
  return bf16_value(regs[lane * stride + off + reg] >> (16 * half));
}

// mma_m16n8k16_bf16_lane: lane's D fragment (C on entry) from the gathered
// registers (lane l's a0…a3 at regs[l·stride + aoff …], b0, b1 at boff).
inline void mma_m16n8k16_bf16_lane(int lane, const uint32_t* regs, int stride, int aoff, int boff, float (&d)[4]) {
  const Mma16816Bf16Layout& L = g_mma16816;
  mma_lane_d<16>(
      lane, d,
      [&](int row, int k) { return bf16_elem(regs, L.a_lane[row][k], stride, aoff, L.a_reg[row][k], L.a_half[row][k]); },
      [&](int k, int col) { return bf16_elem(regs, L.b_lane[k][col], stride, boff, L.b_reg[k][col], L.b_half[k][col]); });
}

// mma_m16n8k16_bf16_tile: mma_tile of m16n8k16 .bf16 instructions.
template <int MI, int NI>
inline void mma_m16n8k16_bf16_tile(float (&acc)[MI][NI][4], const uint32_t (&a)[MI][4], const uint32_t (&b)[NI][2]) {
  mma_tile(acc, a, b, mma_m16n8k16_bf16_lane);
}

}  // namespace emu
