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
//   - launch configuration (block size, grid size).
// A watchdog thread aborts the process, naming the kernel and block, when a
// block makes no progress (no barrier completes, no thread finishes) for
// emu_set_watchdog_ms: a deadlock not explained by divergence, or an
// endless loop.
//
// What it cannot see: warp-synchronous behaviour (there are no warps here;
// aegpu's kernels use none), the performance of anything, memory coalescing,
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

inline thread_local uint3 threadIdx;
inline thread_local uint3 blockIdx;
inline thread_local dim3 blockDim;
inline thread_local dim3 gridDim;

// Device intrinsics, by their host equivalents. The _rn operations are plain
// float operations: g++ targeting x86-64 without -mfma cannot contract them.
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
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
  enum State { kReady = 0, kAtBarrier = 1, kExited = 2 };

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

  // serial schedules
  std::vector<ucontext_t> ctx;
  ucontext_t main_ctx;
  std::vector<int> order, state;
  unsigned long long rng = 0;

  Block(const char* k, uint3 b, dim3 g, dim3 bl, int m, const std::function<void()>* f)
      : kernel(k), bid(b), grid(g), block(bl), n((int)(bl.x * bl.y * bl.z)), mode(m), body(f) {}

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
      g = gen.load();
    }
    while (gen.load() == g) gen.wait(g);
  }

  void exit_concurrent() {
    std::lock_guard<std::mutex> lk(mu);
    ++exited;
    g_progress.fetch_add(1);
    if (!poisoned && arrived > 0 && arrived + exited == n) {
      char buf[256];
      snprintf(buf, sizeof buf, kDivergence, arrived, exited);
      fail_locked(buf);
    }
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
      int at = 0, ex = 0;
      for (int st : state) (st == kAtBarrier ? at : ex)++;
      if (at == 0) break;  // every thread has finished
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
