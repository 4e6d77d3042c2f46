package cuda_test

// The CUDA backend end to end on the CPU: internal/emugpu/emugpu.cpp is
// compiled into an emulated libcuda.so.1 (the driver API over host memory,
// with aegpu's kernels run by the CUDA emulator of kernels/emu), and this
// test binary is run again with LD_LIBRARY_PATH pointing at it, so that
// cu.Init's dlopen finds it before any installed driver (the pattern of
// cuda/internal/cu/fake_test.go). In that child run cuda.New(0) opens the
// emulated device and the package's GPU tests (which otherwise skip) run
// against it, together with the TestEmulated* tests below. Everything the
// Go side does — argument lists, launch geometry, pointer offsets, staging
// buffers, graph capture and replay — goes through the real binding to the
// real kernel sources.

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/autoencoder/paritytest"
	"github.com/aegpu/aegpu/cpu_fallback"
	"github.com/aegpu/aegpu/cuda"
	"github.com/aegpu/aegpu/cuda/internal/cu"
	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/kernels"
)

// envEmulated is set in the child run, where libcuda.so.1 is the emulator.
const envEmulated = "AEGPU_EMULATED_GPU"

// emulatedTests is what the child runs (-test.run): the package's GPU
// tests and the TestEmulated* tests. Each must pass; none may skip.
var emulatedTests = []string{
	"TestConformance", "TestMatchesCPU", "TestRecordAndReplay", "TestDrawsAt", "TestAllocatorReusesBlocks", "TestBadDeviceIndex",
	"TestOutOfMemoryIsAClearError",
	"TestEmulatedDevice", "TestEmulatedOutOfMemory", "TestEmulatedLargeVectors", "TestEmulatedTraining", "TestEmulatedVariants", "TestEmulatedEncode", "TestEmulatedServe",
	"TestEmulatedTF32Dense", "TestEmulatedTF32Training", "TestEmulatedBF16Dense", "TestEmulatedBF16Training",
}

// unusedKernels are bound by the backend but never launched by it:
// Backend.Copy copies with cuMemcpyDtoDAsync, not copy_f32.
var unusedKernels = map[string]bool{"copy_f32": true}

func cgoEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return true // unknown: try, Init will say
	}
	for _, s := range bi.Settings {
		if s.Key == "CGO_ENABLED" {
			return s.Value == "1"
		}
	}
	return true
}

// emugpuSources lists the files the emulated driver is compiled from. The
// test reads them (hashing them into the log), which also tells go test's
// cache that its result depends on them.
func emugpuSources(t *testing.T) []string {
	t.Helper()
	files := []string{filepath.Join("internal", "emugpu", "emugpu.cpp")}
	for _, pat := range []string{"../kernels/emu/*.cpp", "../kernels/emu/*.h", "../kernels/*.cu", "../kernels/*.cuh"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	for _, f := range files {
		if _, err := os.ReadFile(f); err != nil {
			t.Fatalf("emulated driver source: %v", err)
		}
	}
	return files
}

// buildEmulatedDriver compiles internal/emugpu/emugpu.cpp into
// DIR/libcuda.so.1 and returns DIR; it skips when there is no C++ compiler.
func buildEmulatedDriver(t *testing.T) string {
	t.Helper()
	cxx := os.Getenv("CXX")
	if cxx == "" {
		cxx = "g++"
	}
	if _, err := exec.LookPath(cxx); err != nil {
		t.Skipf("no C++ compiler (%s) to build the emulated GPU driver", cxx)
	}
	emugpuSources(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "libcuda.so.1")
	start := time.Now()
	cmd := exec.Command(cxx, "-std=c++20", "-O1", "-shared", "-fPIC", "-pthread", "-fvisibility=hidden",
		"-Wall", "-Wno-unknown-pragmas", "-o", out, filepath.Join("internal", "emugpu", "emugpu.cpp"))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the emulated GPU driver: %v\n%s", err, b)
	}
	t.Logf("built %s in %.1fs", out, time.Since(start).Seconds())
	return dir
}

// TestEmulatedGPU runs, against the emulated GPU, the cuda package's GPU
// tests (enginetest.Run in full, enginetest.Compare with the CPU backend,
// Record/Replay, allocator reuse, bad device index), large-vector ops, and
// training runs compared step by step with the CPU; then it checks the
// driver's counters (every kernel ran, graphs replayed, no fault, no leak).
// TestEmulatedDriverChecks, in a child of its own, first checks that the
// emulated driver is as strict as all this relies on.
func TestEmulatedGPU(t *testing.T) {
	if os.Getenv(envEmulated) != "" {
		t.Skip("child run")
	}
	if !cgoEnabled() {
		t.Skip("the emulated GPU needs cgo (the driver binding of cuda/internal/cu is cgo)")
	}
	dir := buildEmulatedDriver(t)
	stats := filepath.Join(t.TempDir(), "stats")
	ld := dir
	if old := os.Getenv("LD_LIBRARY_PATH"); old != "" {
		ld += ":" + old
	}
	run := "^(" + strings.Join(emulatedTests, "|") + ")$"
	cmd := exec.Command(os.Args[0], "-test.run="+run, "-test.v", "-test.count=1", "-test.timeout=8m")
	cmd.Env = append(os.Environ(),
		"LD_LIBRARY_PATH="+ld,
		envEmulated+"=1",
		// Two SMs: GEMMs with ≥ 2 tiles of 128×128 take the 128×128
		// kernels, the smaller ones the 64×64 kernels, so both run.
		"EMUGPU_SMS=2",
		"EMUGPU_MEM="+strconv.FormatInt(4<<30, 10),
		"EMUGPU_STATS="+stats,
	)
	// The driver's own checks fault on purpose (sticky errors, leaks): a
	// child of their own, with no statistics.
	chk := exec.Command(os.Args[0], "-test.run=^TestEmulatedDriverChecks$", "-test.v", "-test.count=1", "-test.timeout=1m")
	chk.Env = append(os.Environ(), "LD_LIBRARY_PATH="+ld, envEmulated+"=1")
	if b, err := chk.CombinedOutput(); err != nil || !strings.Contains(string(b), "--- PASS: TestEmulatedDriverChecks") {
		t.Errorf("the emulated driver's own checks failed (%v):\n%s", err, b)
	}
	// A pre-Ampere device (compute capability 7.5): TF32 is refused.
	old := exec.Command(os.Args[0], "-test.run=^TestEmulatedTF32NeedsAmpere$", "-test.v", "-test.count=1", "-test.timeout=1m")
	old.Env = append(os.Environ(), "LD_LIBRARY_PATH="+ld, envEmulated+"=1", "EMUGPU_CC=7.5")
	if b, err := old.CombinedOutput(); err != nil || !strings.Contains(string(b), "--- PASS: TestEmulatedTF32NeedsAmpere") {
		t.Errorf("TestEmulatedTF32NeedsAmpere failed (%v):\n%s", err, b)
	}

	start := time.Now()
	b, err := cmd.CombinedOutput()
	out := string(b)
	elapsed := time.Since(start)
	bad := err != nil || strings.Contains(out, "--- FAIL") || strings.Contains(out, "--- SKIP")
	for _, name := range emulatedTests {
		if !regexp.MustCompile(`(?m)^--- PASS: ` + name + ` `).MatchString(out) {
			t.Errorf("%s did not pass against the emulated GPU", name)
			bad = true
		}
	}
	if bad {
		t.Fatalf("the emulated GPU run failed (%v) after %.1fs:\n%s", err, elapsed.Seconds(), failureLines(out))
	}
	t.Logf("%d tests and subtests passed against the emulated GPU in %.1fs",
		len(regexp.MustCompile(`(?m)^\s*--- PASS`).FindAllString(out, -1)), elapsed.Seconds())
	checkStats(t, stats)
}

// failureLines keeps the interesting part of a long -test.v output: the
// failures, skips, the emulator's own messages, and the tail.
func failureLines(out string) string {
	var keep []string
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if strings.Contains(l, "FAIL") || strings.Contains(l, "SKIP") || strings.HasPrefix(l, "emugpu:") ||
			strings.HasPrefix(l, "emu:") || strings.HasPrefix(l, "panic") ||
			(i > 0 && strings.Contains(lines[i-1], "--- FAIL") && strings.HasPrefix(l, "    ")) ||
			strings.Contains(l, ".go:") {
			keep = append(keep, l)
		}
	}
	if len(keep) > 300 {
		keep = append(keep[:300], fmt.Sprintf("... %d more lines", len(keep)-300))
	}
	tail := lines[max(0, len(lines)-40):]
	return strings.Join(keep, "\n") + "\n---- last lines:\n" + strings.Join(tail, "\n")
}

// checkStats reads the emulated driver's counters: every kernel of the ABI
// ran (directly and from a graph replay where the training step uses it),
// graphs were replayed, nothing faulted, and the backend freed everything
// it allocated.
func checkStats(t *testing.T, path string) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("the emulated driver wrote no statistics: %v", err)
	}
	defer f.Close()
	launches := map[string]int64{}
	graph := map[string]int64{}
	counters := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		switch {
		case len(fs) == 3 && fs[0] == "launch":
			launches[fs[1]], _ = strconv.ParseInt(fs[2], 10, 64)
		case len(fs) == 3 && fs[0] == "graph_kernel":
			graph[fs[1]], _ = strconv.ParseInt(fs[2], 10, 64)
		case len(fs) == 2:
			counters[fs[0]], _ = strconv.ParseInt(fs[1], 10, 64)
		default:
			t.Logf("stats: %s", sc.Text())
		}
	}
	var total int64
	for _, n := range kernels.Names {
		if unusedKernels[n] {
			if launches[n] != 0 {
				t.Errorf("kernel %s ran %d times: remove it from unusedKernels", n, launches[n])
			}
			continue
		}
		if launches[n] == 0 {
			t.Errorf("kernel %s never ran on the emulated GPU", n)
		}
		total += launches[n]
	}
	for _, k := range []string{"faults", "aliasing", "width_mismatch", "invalidated_captures", "leak_allocs", "leak_host",
		"leak_streams", "leak_events", "leak_modules", "leak_graphs", "leak_execs"} {
		if counters[k] != 0 {
			t.Errorf("emulated driver: %s = %d, want 0", k, counters[k])
		}
	}
	if counters["graph_runs"] == 0 || len(graph) == 0 {
		t.Errorf("no graph was replayed (graph_runs %d)", counters["graph_runs"])
	}
	var names []string
	for k, v := range graph {
		names = append(names, fmt.Sprintf("%s×%d", k, v))
	}
	t.Logf("emulated driver: %d kernel launches (%v), %d memsets, %d copies, %d captures of %d nodes, "+
		"%d graph replays running %v, deepest stream queue %d",
		total, launches, counters["memsets"], counters["copies"], counters["captures"], counters["captured_nodes"],
		counters["graph_runs"], names, counters["max_queue"])
}

// ---------------------------------------------------------------------------
// Child-only tests.

func emulated(t *testing.T) *cuda.Backend {
	t.Helper()
	if os.Getenv(envEmulated) == "" {
		t.Skip("runs inside TestEmulatedGPU")
	}
	b, err := cuda.New(0)
	if err != nil {
		t.Fatalf("cuda.New(0) on the emulated driver: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// TestEmulatedDriverChecks checks, through the binding, that the emulated
// driver is as strict as its tests rely on: kernel faults and stray
// pointers are sticky errors, bad launch configurations are rejected,
// synchronizing during capture invalidates it, streams run lazily (a
// pinned upload buffer is read when the copy executes) and a graph keeps
// the parameter values of capture time.
func TestEmulatedDriverChecks(t *testing.T) {
	if os.Getenv(envEmulated) == "" {
		t.Skip("runs inside TestEmulatedGPU")
	}
	if err := cu.Init(); err != nil {
		t.Fatal(err)
	}
	// Each check gets a fresh primary context (a sticky error lasts until
	// the context is destroyed).
	check := func(name string, f func(t *testing.T, mod cu.Module, s cu.Stream, a *cu.Args)) {
		t.Run(name, func(t *testing.T) {
			ctx, err := cu.RetainPrimary(0)
			if err != nil {
				t.Fatal(err)
			}
			defer ctx.Release() // destroys the context and whatever a fault left behind
			mod, err := cu.ModuleLoadData(kernels.Fatbin)
			if err != nil {
				t.Fatal(err)
			}
			s, err := cu.StreamCreate(true)
			if err != nil {
				t.Fatal(err)
			}
			a := cu.NewArgs()
			defer a.Free()
			f(t, mod, s, a)
		})
	}
	fn := func(t *testing.T, mod cu.Module, name string) cu.Function {
		f, err := mod.Function(name)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	alloc := func(t *testing.T, bytes int64) cu.DevicePtr {
		p, err := cu.MemAlloc(bytes)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	wantErr := func(t *testing.T, what string, err error, code string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), code) {
			t.Errorf("%s: %v, want %s", what, err, code)
		}
	}
	elem := [3]uint32{kernels.ElemThreads, 1, 1}
	one := [3]uint32{1, 1, 1}
	check("OverrunIsIllegalAddress", func(t *testing.T, mod cu.Module, s cu.Stream, a *cu.Args) {
		p := alloc(t, 512)
		a.Reset().Ptr(p).I64(129).F32(1) // 129 floats in 512 bytes
		if err := cu.Launch(fn(t, mod, "fill_f32"), one, elem, 0, s, a); err != nil {
			t.Fatal(err) // faults surface at the next synchronizing call
		}
		wantErr(t, "Synchronize", s.Synchronize(), "CUDA_ERROR_ILLEGAL_ADDRESS")
		wantErr(t, "the next call", cu.MemFree(p), "CUDA_ERROR_ILLEGAL_ADDRESS")
	})
	check("TrapIsIllegalInstruction", func(t *testing.T, mod cu.Module, s cu.Stream, a *cu.Args) {
		p := alloc(t, 512)
		a.Reset().Ptr(p).Ptr(0).Ptr(0).Ptr(p + 256).I32(1).I32(1).I32(0).F32(0)
		block := [3]uint32{kernels.ActGradRows, kernels.ActGradCols, 1} // transposed: the kernel traps
		if err := cu.Launch(fn(t, mod, "act_grad_bias"), one, block, 0, s, a); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "Synchronize", s.Synchronize(), "CUDA_ERROR_ILLEGAL_INSTRUCTION")
	})
	check("BadConfigurationIsRejected", func(t *testing.T, mod cu.Module, s cu.Stream, a *cu.Args) {
		p := alloc(t, 512)
		defer cu.MemFree(p)
		a.Reset().Ptr(p).I64(1).F32(1)
		wantErr(t, "Launch", cu.Launch(fn(t, mod, "fill_f32"), one, [3]uint32{2048, 1, 1}, 0, s, a), "CUDA_ERROR_INVALID_VALUE")
		if err := s.Synchronize(); err != nil {
			t.Errorf("a rejected launch is not sticky: %v", err)
		}
	})
	check("SyncInvalidatesCapture", func(t *testing.T, mod cu.Module, s cu.Stream, a *cu.Args) {
		p := alloc(t, 512)
		defer cu.MemFree(p)
		if err := s.BeginCapture(); err != nil {
			t.Fatal(err)
		}
		a.Reset().Ptr(p).I64(1).F32(1)
		if err := cu.Launch(fn(t, mod, "fill_f32"), one, elem, 0, s, a); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "Synchronize while capturing", s.Synchronize(), "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED")
		g, err := s.EndCapture()
		wantErr(t, "EndCapture", err, "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED")
		if g != 0 {
			g.Destroy()
		}
	})
	check("StreamsAreLazyAndGraphsKeepTheirParameters", func(t *testing.T, mod cu.Module, s cu.Stream, a *cu.Args) {
		p := alloc(t, 512)
		defer cu.MemFree(p)
		h, err := cu.HostAlloc(4)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Free()
		get := func() float32 {
			v := make([]float32, 1)
			if err := s.Synchronize(); err != nil {
				t.Fatal(err)
			}
			if err := cu.MemcpyDtoH(unsafe.Pointer(&v[0]), p, 4); err != nil {
				t.Fatal(err)
			}
			return v[0]
		}
		h.Float32s()[0] = 1
		if err := cu.MemcpyHtoDAsync(p, h.Ptr(), 4, s); err != nil {
			t.Fatal(err)
		}
		h.Float32s()[0] = 2 // before the copy has run: the device gets 2
		if v := get(); v != 2 {
			t.Errorf("the async upload read %v, want 2 (the staging buffer at execution time)", v)
		}
		fill := fn(t, mod, "fill_f32")
		if err := s.BeginCapture(); err != nil {
			t.Fatal(err)
		}
		a.Reset().Ptr(p).I64(1).F32(5)
		if err := cu.Launch(fill, one, elem, 0, s, a); err != nil {
			t.Fatal(err)
		}
		g, err := s.EndCapture()
		if err != nil {
			t.Fatal(err)
		}
		defer g.Destroy()
		x, err := g.Instantiate()
		if err != nil {
			t.Fatal(err)
		}
		defer x.Destroy()
		if v := get(); v != 2 {
			t.Errorf("a captured launch ran: %v, want 2", v)
		}
		a.Reset().Ptr(p).I64(1).F32(7) // refilling the Args does not change the graph
		if err := x.Launch(s); err != nil {
			t.Fatal(err)
		}
		if v := get(); v != 5 {
			t.Errorf("replay wrote %v, want 5 (the value at capture)", v)
		}
		if err := s.Destroy(); err != nil {
			t.Error(err)
		}
		if err := mod.Unload(); err != nil {
			t.Error(err)
		}
	})
}

// The device is the emulator, not some other libcuda.so.1.
func TestEmulatedDevice(t *testing.T) {
	b := emulated(t)
	if info := b.Info(); !strings.Contains(info.Name, "emulated") {
		t.Fatalf("device %+v is not the emulated GPU", info)
	}
	t.Logf("device: %s (%s)", b.Info().Name, b.Info().Detail)
}

// Out of device memory (the emulated device has EMUGPU_MEM = 4 GiB) is a
// clear error naming the bytes requested and free, and the backend stays
// usable.
func TestEmulatedOutOfMemory(t *testing.T) {
	b := emulated(t)
	_, err := b.Alloc(1<<16, 1<<15) // 8 GiB
	if err == nil {
		t.Fatal("allocating 8 GiB of a 4 GiB device succeeded")
	}
	if !strings.Contains(err.Error(), "out of GPU memory") || !strings.Contains(err.Error(), "free") {
		t.Errorf("err = %v, want the bytes requested and free", err)
	}
	m, err := b.Alloc(4, 4)
	if err != nil {
		t.Fatalf("after OOM: %v", err)
	}
	b.Free(m)
}

// TestEmulatedLargeVectors runs the reductions, clipping, optimizer,
// elementwise and random ops on more elements than enginetest's largest
// case (40 000), so that the grids are capped (ReduceBlocks blocks for the
// partial sums, ElemMaxBlocks for the elementwise kernels) and every
// grid-stride loop wraps, on views one float into their buffers (the
// kernels' scalar paths), and compares with the CPU backend.
func TestEmulatedLargeVectors(t *testing.T) {
	g := emulated(t)
	c := cpu_fallback.New(1)
	defer c.Close()
	// 1 060 899 elements > ElemMaxBlocks·ElemThreads (1 048 576) >
	// ReduceBlocks·ReduceThreads (131 072).
	const rows, cols = 1031, 1029
	const n = rows * cols
	if n <= kernels.ElemMaxBlocks*kernels.ElemThreads {
		t.Fatal("too small to wrap the elementwise grid")
	}
	p, tg, mo, ve := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	engine.FillUniform(p, 11, 1, 0, 0.01, 0.99)
	engine.FillUniform(tg, 11, 2, 0, 0, 1)
	engine.FillUniform(mo, 11, 3, 0, -0.01, 0.01)
	engine.FillUniform(ve, 11, 4, 0, 0, 1e-4)
	run := func(b engine.Backend) map[string][]float32 {
		var bufs []engine.Matrix
		defer func() {
			for _, m := range bufs {
				b.Free(m)
			}
		}()
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", b.Info().Backend, err)
			}
		}
		mat := func(r, c int, data []float32) engine.Matrix {
			m, err := b.Alloc(1, r*c+1)
			must(err)
			bufs = append(bufs, m)
			v := m.View(1, r, c)
			if data != nil {
				must(b.Upload(v, data))
			}
			return v
		}
		get := func(m engine.Matrix) []float32 {
			v := make([]float32, m.Len())
			must(b.Download(v, m))
			return v
		}
		P, T, S1, S2 := mat(rows, cols, p), mat(rows, cols, tg), mat(rows, cols, mo), mat(rows, cols, ve)
		G, acc, ss, norm := mat(rows, cols, nil), mat(1, 1, []float32{0.25}), mat(1, 1, []float32{1}), mat(1, 1, nil)
		U, N := mat(rows, cols, nil), mat(rows, cols, nil)
		out := map[string][]float32{}
		must(b.LossGrad(engine.BCE, acc, G, P, T, 0.5))
		out["loss grad"] = get(G)
		must(b.SumSquares(ss, P))
		must(b.ClipGradNorm(G, norm, 1e-4))
		must(b.Axpy(-0.7, P, T))
		must(b.OptimizerStep(engine.OptStep{Kind: engine.AdamW, LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8,
			WeightDecay: 0.01, Step: 3}, P, G, S1, S2))
		must(b.RandUniform(U, 7, 1<<40+3, -1, 2))
		must(b.RandNormal(N, 7, 1<<40+4, 0.5, 2))
		for k, m := range map[string]engine.Matrix{"loss": acc, "sum of squares": ss, "norm": norm,
			"clipped grad": G, "axpy": T, "params": P, "m": S1, "v": S2, "uniform": U, "normal": N} {
			out[k] = get(m)
		}
		return out
	}
	want, got := run(c), run(g)
	tols := map[string][2]float64{ // abs, rel
		"loss": {0, 1e-6}, "sum of squares": {0, 1e-6}, "norm": {0, 1e-6},
		"loss grad": {1e-12, 1e-6}, "clipped grad": {1e-15, 2e-6}, "axpy": {0, 0},
		"params": {1e-7, 1e-6}, "m": {1e-12, 1e-6}, "v": {1e-15, 1e-6},
		"uniform": {4e-7, 0}, "normal": {4e-5, 1e-6},
	}
	for k, tl := range tols {
		w, h := want[k], got[k]
		if len(w) != len(h) || len(w) == 0 {
			t.Fatalf("%s: %d and %d values", k, len(w), len(h))
		}
		bad, worst, maxd := 0, 0, 0.0
		for i := range w {
			d := math.Abs(float64(w[i]) - float64(h[i]))
			maxd = max(maxd, d)
			if !(d <= tl[0]+tl[1]*math.Abs(float64(w[i]))) {
				if bad == 0 || d > math.Abs(float64(w[worst])-float64(h[worst])) {
					worst = i
				}
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d values differ from the CPU's beyond (abs %g, rel %g); worst [%d]: cpu %v gpu %v",
				k, bad, len(w), tl[0], tl[1], worst, w[worst], h[worst])
		}
		t.Logf("%s: largest difference from the CPU %.3g", k, maxd)
	}
}

// trainRun trains a small autoencoder on b and returns the running loss
// after every step and the final parameters. 150 rows, 20% for
// validation: 120 training rows in batches of 37 (three full batches,
// replayed from a recording, and a partial one of 9 rows, run op by op),
// with gradient clipping inside the recorded step, then RowLoss/ColMean
// validation.
func trainRun(t *testing.T, b engine.Backend, hidden engine.Act, loss string, noReplay bool) ([]float64, []float32) {
	t.Helper()
	return paritytest.Run{Rows: 150, Epochs: 3, Batch: 37, ValSplit: 0.2, ClipNorm: 0.5,
		Hidden: hidden, Loss: loss, NoReplay: noReplay}.Train(t, b)
}

// TestEmulatedTraining trains on the CPU and on the emulated GPU (whose full
// batches replay a captured CUDA graph) and compares the losses step by
// step; the GPU run without replay must give bitwise the same losses and
// parameters as the replayed one (the kernels are deterministic, and a
// graph replays the very launches it captured).
func TestEmulatedTraining(t *testing.T) {
	g := emulated(t)
	c := cpu_fallback.New(1)
	defer c.Close()
	for _, tc := range []struct {
		hidden engine.Act
		loss   string
	}{{engine.ReLU, "mse"}, {engine.GELU, "bce"}} {
		t.Run(fmt.Sprintf("%s/%s", tc.hidden, tc.loss), func(t *testing.T) {
			lc, pc := trainRun(t, c, tc.hidden, tc.loss, false)
			lg, pg := trainRun(t, g, tc.hidden, tc.loss, false)
			ln, pn := trainRun(t, g, tc.hidden, tc.loss, true)
			const steps = 3 * 4
			if len(lc) != steps || len(lg) != steps || len(ln) != steps {
				t.Fatalf("%d, %d and %d steps, want %d", len(lc), len(lg), len(ln), steps)
			}
			for i := range lc {
				if math.Abs(lc[i]-lg[i]) > 1e-4*math.Abs(lc[i]) {
					t.Errorf("step %d: cpu loss %.8g, gpu %.8g", i+1, lc[i], lg[i])
				}
				if lg[i] != ln[i] {
					t.Errorf("step %d: gpu loss %.9g replayed, %.9g op by op", i+1, lg[i], ln[i])
				}
			}
			var maxDiff float64
			for i := range pg {
				if math.Float32bits(pg[i]) != math.Float32bits(pn[i]) {
					t.Fatalf("parameter %d: %v replayed, %v op by op", i, pg[i], pn[i])
				}
				maxDiff = max(maxDiff, math.Abs(float64(pg[i])-float64(pc[i])))
			}
			if maxDiff > 1e-4 {
				t.Errorf("parameters differ from the CPU's by up to %g", maxDiff)
			}
			t.Logf("%d steps: final loss cpu %.8g gpu %.8g; parameters within %.2g of the CPU's", steps, lc[steps-1], lg[steps-1], maxDiff)
		})
	}
}

// TestEmulatedVariants trains every variant (paritytest.Variants) for 12
// steps on the CPU and the emulated GPU (recorded steps, partial batches op
// by op) and requires the same losses and parameters.
func TestEmulatedVariants(t *testing.T) {
	g := emulated(t)
	c := cpu_fallback.New(1)
	defer c.Close()
	for _, v := range paritytest.Variants {
		t.Run(v.Name, func(t *testing.T) {
			r := paritytest.Run{Rows: 150, Epochs: 3, Batch: 37, ValSplit: 0.2, Hidden: engine.Tanh, Loss: "mse", Variant: &v}
			pc, pg := paritytest.SameLosses(t, r, c, g, 12)
			var maxDiff float64
			for i := range pg {
				maxDiff = max(maxDiff, math.Abs(float64(pg[i])-float64(pc[i])))
			}
			// 12 Adam steps of lr 1e-3 from the same start: parameters
			// within 1e-4 (a step moves a parameter by ≤ 1e-3).
			if maxDiff > 1e-4 {
				t.Errorf("parameters differ from the CPU's by up to %g", maxDiff)
			}
		})
	}
}

// TestEmulatedEncode encodes rows in several batches on the emulated GPU,
// where the next batch is copied on the copy stream while the current one
// is encoded, and compares with the CPU (twice, so the swapped input
// buffers are exercised from both starting states).
func TestEmulatedEncode(t *testing.T) {
	g := emulated(t)
	c := cpu_fallback.New(1)
	defer c.Close()
	a := autoencoder.Arch{Layers: []int{33, 17, 5}, Hidden: engine.Tanh, Output: engine.Sigmoid}
	const rows = 101 // batches of 16: six full and a partial one
	x := make([]float32, rows*33)
	engine.FillUniform(x, 2, 3, 0, -1, 2)
	cfg := autoencoder.Config{Scaler: dataset.Scaler{Kind: dataset.ScaleStandard, Offset: make([]float32, 33), Scale: make([]float32, 33)}}
	for i := range cfg.Scaler.Scale {
		cfg.Scaler.Offset[i], cfg.Scaler.Scale[i] = 0.5, 1.5
	}
	cfg.SetArch(a)
	codes := func(b engine.Backend) [2][]float32 {
		m, err := autoencoder.NewModel(b, a)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Free()
		if err := m.Init(4); err != nil {
			t.Fatal(err)
		}
		p, err := autoencoder.NewPredictor(m, cfg, 16)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Free()
		var out [2][]float32
		for i := range out {
			out[i] = make([]float32, rows*5)
			if err := p.EncodeInto(out[i], x, 33); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	want, got := codes(c), codes(g)
	for i := range 2 {
		for j := range want[i] {
			// fp32, different summation order: abs 1e-5 on codes of size ~1.
			if d := math.Abs(float64(want[i][j] - got[i][j])); d > 1e-5 {
				t.Fatalf("pass %d value %d (row %d): gpu %v, cpu %v", i, j, j/5, got[i][j], want[i][j])
			}
		}
	}
}

// ---------------------------------------------------------------------------
// TF32 (engine.TF32: the tensor-core kernels of kernels/gemm_tf32.cu, run
// by the emulated mma.sync).

// The error allowed against fp32 for a product element whose Σ_k |a_k·b_k|
// is abs: the operands' rounding moves each product by at most rel·|a·b|
// (kernels/ABI.md), plus the two fp32 accumulations' errors
// (4·√(K+1)·2⁻²³·abs each, as enginetest's dotTol).

// The operand rounding's worst-case relative error per product: TF32
// (2·2⁻¹¹ + 2⁻²², unit roundoff 2⁻¹¹) and BF16 (2·2⁻⁸ + 2⁻¹⁶, unit
// roundoff 2⁻⁸: 1.004·2⁻⁷; kernels/ABI.md).
var (
	tf32Rel = 1.001 * math.Ldexp(1, -10)
	bf16Rel = 1.004 * math.Ldexp(1, -7)
)

// precBound: rel·abs plus the two fp32 accumulations' errors.
func precBound(rel, abs float64, k int) float64 {
	return rel*abs + 8*math.Sqrt(float64(k)+1)*math.Ldexp(1, -23)*abs
}

// TestEmulatedTF32NeedsAmpere runs with EMUGPU_CC=7.5: SetPrecision(TF32)
// is a clear error naming the capability, and the backend stays fp32.
func TestEmulatedTF32NeedsAmpere(t *testing.T) {
	g := emulated(t)
	err := g.SetPrecision(engine.TF32)
	if err == nil || !strings.Contains(err.Error(), "compute capability ≥ 8.0") || !strings.Contains(err.Error(), "7.5") {
		t.Fatalf("SetPrecision(TF32) on compute capability 7.5 = %v, want an error naming 8.0 and 7.5", err)
	}
	if g.Precision() != engine.FP32 {
		t.Errorf("precision %v after the refusal, want fp32", g.Precision())
	}
	var pe *engine.PrecisionError
	if err := g.SetPrecision(engine.BF16); !errors.As(err, &pe) || pe.Precision != engine.BF16 || !strings.Contains(err.Error(), "precision bf16 needs") || g.Precision() != engine.FP32 {
		t.Errorf("SetPrecision(BF16) on compute capability 7.5 = %v (precision %v), want a refusal", err, g.Precision())
	}
	if err := engine.SetPrecision(g, engine.FP32); err != nil {
		t.Error(err)
	}
}

// TestEmulatedTF32Dense is the Dense/DenseBackward conformance under TF32:
// every output against the fp32 CPU backend within precBound(tf32Rel) of each
// element's Σ|a·b|, for untied and tied layers, with and without
// accumulation, on shapes that take the 128×128 kernels (≥ EMUGPU_SMS
// tiles) and the 64×64 ones; then every value must differ from the fp32
// kernels' somewhere (the TF32 kernels really ran).
func TestEmulatedTF32Dense(t *testing.T) {
	g := emulated(t)
	c := cpu_fallback.New(1)
	defer c.Close()
	if err := g.SetPrecision(engine.TF32); err != nil {
		t.Fatal(err)
	}
	tf32DenseCases(t, c, g, "tf32", tf32Rel)
}

// TestTF32Dense runs TestEmulatedTF32Dense's checks on a real GPU (the GPU
// check script runs it, also under compute-sanitizer); it skips without
// one, or on one before compute capability 8.0.
func TestTF32Dense(t *testing.T) {
	if os.Getenv(envEmulated) != "" {
		t.Skip("the emulated GPU runs TestEmulatedTF32Dense")
	}
	g, err := cuda.New(0)
	if err != nil {
		t.Skipf("no CUDA device: %v", err)
	}
	defer g.Close()
	if err := g.SetPrecision(engine.TF32); err != nil {
		t.Skipf("no TF32: %v", err)
	}
	c := cpu_fallback.New(0)
	defer c.Close()
	tf32DenseCases(t, c, g, "tf32", tf32Rel)
}

func tf32DenseCases(t *testing.T, c, g engine.Backend, prec string, rel float64) {
	type shape struct{ B, in, out int }
	for ci, sh := range []shape{{300, 70, 200}, {37, 33, 17}, {1, 7, 1}, {129, 257, 9}, {260, 40, 130}} {
		for _, opt := range []engine.DenseOpt{0, engine.TransW, engine.TransW | engine.Accumulate | engine.AccumulateDX, engine.Accumulate} {
			act := []engine.Act{engine.ReLU, engine.GELU, engine.Tanh, engine.Sigmoid, engine.Linear}[ci]
			t.Run(fmt.Sprintf("%dx%dx%d/%s/opt%d", sh.B, sh.in, sh.out, act, opt), func(t *testing.T) {
				tf32DenseCase(t, c, g, sh.B, sh.in, sh.out, act, opt, uint64(100+ci), prec, rel)
			})
		}
	}
}

func tf32DenseCase(t *testing.T, c, g engine.Backend, B, in, out int, act engine.Act, opt engine.DenseOpt, seed uint64, prec string, rel float64) {
	tied := opt&engine.TransW != 0
	x, w, bias := make([]float32, B*in), make([]float32, in*out), make([]float32, out)
	dy, dx0, dw0, db0 := make([]float32, B*out), make([]float32, B*in), make([]float32, in*out), make([]float32, out)
	engine.FillUniform(x, seed, 1, 0, -1, 1)
	engine.FillUniform(w, seed, 2, 0, -0.5, 0.5)
	engine.FillUniform(bias, seed, 3, 0, -0.2, 0.2)
	engine.FillUniform(dy, seed, 4, 0, -1, 1)
	engine.FillUniform(dx0, seed, 5, 0, -1, 1)
	engine.FillUniform(dw0, seed, 6, 0, -1, 1)
	engine.FillUniform(db0, seed, 7, 0, -1, 1)
	wRows, wCols := out, in
	if tied {
		wRows, wCols = in, out
	}
	// The backward pass of both runs starts from the CPU's y and z: act′ is
	// discontinuous (ReLU), and a z within TF32 error of 0 would otherwise
	// switch a whole dz element between the backends.
	run := func(b engine.Backend, yRef, zRef []float32) map[string][]float32 {
		var bufs []engine.Matrix
		defer func() {
			for _, m := range bufs {
				b.Free(m)
			}
		}()
		mat := func(r, cl int, data []float32) engine.Matrix {
			m, err := b.Alloc(r, cl)
			if err != nil {
				t.Fatal(err)
			}
			bufs = append(bufs, m)
			if data != nil {
				if err := b.Upload(m, data); err != nil {
					t.Fatal(err)
				}
			}
			return m
		}
		get := func(m engine.Matrix) []float32 {
			v := make([]float32, m.Len())
			if err := b.Download(v, m); err != nil {
				t.Fatal(err)
			}
			return v
		}
		X, W, Bi := mat(B, in, x), mat(wRows, wCols, w), mat(1, out, bias)
		Y, Z := mat(B, out, nil), mat(B, out, nil)
		if err := b.Dense(Y, Z, X, W, Bi, act, opt&engine.TransW); err != nil {
			t.Fatal(err)
		}
		res := map[string][]float32{"y": get(Y), "z": get(Z)}
		if yRef != nil {
			if err := b.Upload(Y, yRef); err != nil {
				t.Fatal(err)
			}
			if err := b.Upload(Z, zRef); err != nil {
				t.Fatal(err)
			}
		}
		DY, DX, DW, DB := mat(B, out, dy), mat(B, in, dx0), mat(wRows, wCols, dw0), mat(1, out, db0)
		if err := b.DenseBackward(DX, DW, DB, DY, Y, Z, X, W, act, opt); err != nil {
			t.Fatal(err)
		}
		res["dz"], res["dx"], res["dw"], res["db"] = get(DY), get(DX), get(DW), get(DB)
		return res
	}
	want := run(c, nil, nil)
	got := run(g, want["y"], want["z"])
	// Σ|a·b| per element, from the inputs and the CPU's dz.
	dz := want["dz"]
	wAt := func(j, k int) float64 { return float64(w[j*in+k]) } // W as [out×in]
	if tied {
		wAt = func(j, k int) float64 { return float64(w[k*out+j]) }
	}
	absZ := make([]float64, B*out)
	for i := range B {
		for j := range out {
			s := math.Abs(float64(bias[j]))
			for k := range in {
				s += math.Abs(float64(x[i*in+k]) * wAt(j, k))
			}
			absZ[i*out+j] = s
		}
	}
	absDX := make([]float64, B*in)
	for i := range B {
		for k := range in {
			s := 0.0
			if opt&engine.AccumulateDX != 0 {
				s = math.Abs(float64(dx0[i*in+k]))
			}
			for j := range out {
				s += math.Abs(float64(dz[i*out+j]) * wAt(j, k))
			}
			absDX[i*in+k] = s
		}
	}
	absDW := make([]float64, in*out) // indexed as dw is stored
	for j := range out {
		for k := range in {
			s := 0.0
			for i := range B {
				s += math.Abs(float64(dz[i*out+j]) * float64(x[i*in+k]))
			}
			idx := j*in + k
			if tied {
				idx = k*out + j
			}
			if opt&engine.Accumulate != 0 {
				s += math.Abs(float64(dw0[idx]))
			}
			absDW[idx] = s
		}
	}
	check := func(name string, abs []float64, k int, lip float64) {
		t.Helper()
		w, h := want[name], got[name]
		bad, worst := 0, 0.0
		for i := range w {
			d := math.Abs(float64(w[i]) - float64(h[i]))
			allowed := lip*precBound(rel, abs[i], k) + 1e-6*math.Abs(float64(w[i]))
			if !(d <= allowed) {
				if bad < 3 {
					t.Errorf("%s[%d]: gpu (%s) %.8g, cpu %.8g: |diff| %.3g > %.3g", name, i, prec, h[i], w[i], d, allowed)
				}
				bad++
			}
			worst = max(worst, d/max(abs[i], 1e-30))
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d values outside the %s tolerance", name, bad, len(w), prec)
		}
		t.Logf("%s: largest |diff|/Σ|a·b| %.3g (bound %.3g)", name, worst, rel)
	}
	check("z", absZ, in, 1)
	check("y", absZ, in, 1.13) // act is at most 1.13-Lipschitz (GELU)
	check("dx", absDX, out, 1)
	check("dw", absDW, B, 1)
	// dz and db are fp32 in both backends (act_grad_bias) from the same
	// inputs: a few roundings, and the device's erfcf/expf (GELU's act′)
	// a few ulps off the CPU's: 4e-6 relative (≈ 32 ulps).
	for _, name := range []string{"dz", "db"} {
		for i, w := range want[name] {
			if d := math.Abs(float64(w) - float64(got[name][i])); d > 4e-6*math.Abs(float64(w))+1e-6 {
				t.Fatalf("%s[%d]: gpu %v, cpu %v", name, i, got[name][i], w)
			}
		}
	}
}

// TestEmulatedTF32Training trains the parity model on the emulated GPU
// under TF32 and on the CPU in fp32 (see lowPrecisionTraining). Products of
// K ≤ 33 terms are off by ≈ 2⁻¹⁰·√33 ≈ 0.6% of their scale at worst,
// averaging out over the loss's 37×33 elements: 2e-3 relative per step's
// loss; 12 Adam steps of lr 1e-3 move a parameter by ≤ 1.2e-2, TF32
// gradients change each step's direction slightly: parameters within 1e-3.
func TestEmulatedTF32Training(t *testing.T) { lowPrecisionTraining(t, engine.TF32, 2e-3, 1e-3) }

// lowPrecisionTraining trains the parity model on the emulated GPU at
// precision p and on the CPU in fp32: every step's loss agrees within
// lossRel, the final parameters within paramAbs, and the run replayed from
// recorded steps equals the same run op by op bitwise (the graph captured
// the low-precision kernels).
func lowPrecisionTraining(t *testing.T, p engine.Precision, lossRel, paramAbs float64) {
	g := emulated(t)
	c := cpu_fallback.New(1)
	defer c.Close()
	if err := g.SetPrecision(p); err != nil {
		t.Fatal(err)
	}
	for _, hidden := range []engine.Act{engine.ReLU, engine.Tanh} {
		t.Run(hidden.String(), func(t *testing.T) {
			r := paritytest.Run{Rows: 150, Epochs: 3, Batch: 37, ValSplit: 0.2, ClipNorm: 0.5, Hidden: hidden, Loss: "mse"}
			pc, pg := paritytest.CloseLosses(t, r, c, g, 12, lossRel)
			r.NoReplay = true
			ln, pn := r.Train(t, g)
			if len(ln) != 12 {
				t.Fatalf("%d steps op by op", len(ln))
			}
			var maxDiff float64
			for i := range pg {
				if math.Float32bits(pg[i]) != math.Float32bits(pn[i]) {
					t.Fatalf("parameter %d: %v replayed, %v op by op (%s)", i, pg[i], pn[i], p)
				}
				maxDiff = max(maxDiff, math.Abs(float64(pg[i])-float64(pc[i])))
			}
			if maxDiff > paramAbs {
				t.Errorf("%s parameters differ from the CPU's by up to %g", p, maxDiff)
			}
			t.Logf("%s parameters within %.2g of the CPU's fp32 run", p, maxDiff)
		})
	}
}

// TestEmulatedBF16Dense: TestEmulatedTF32Dense's checks under BF16,
// within precBound(bf16Rel) = 1.004·2⁻⁷·Σ|a·b| + fp32 accumulation.
func TestEmulatedBF16Dense(t *testing.T) {
	g := emulated(t)
	c := cpu_fallback.New(1)
	defer c.Close()
	if err := g.SetPrecision(engine.BF16); err != nil {
		t.Fatal(err)
	}
	tf32DenseCases(t, c, g, "bf16", bf16Rel)
}

// TestBF16Dense: the same on a real GPU (skips without one, or before
// compute capability 8.0).
func TestBF16Dense(t *testing.T) {
	if os.Getenv(envEmulated) != "" {
		t.Skip("the emulated GPU runs TestEmulatedBF16Dense")
	}
	g, err := cuda.New(0)
	if err != nil {
		t.Skipf("no CUDA device: %v", err)
	}
	defer g.Close()
	if err := g.SetPrecision(engine.BF16); err != nil {
		t.Skipf("no BF16: %v", err)
	}
	c := cpu_fallback.New(0)
	defer c.Close()
	tf32DenseCases(t, c, g, "bf16", bf16Rel)
}

// TestEmulatedBF16Training: lowPrecisionTraining under BF16, whose
// operands are 8× coarser than TF32's (2⁻⁸ against 2⁻¹¹ unit roundoff):
// 1.6e-2 relative per step's loss, parameters within 8e-3.
func TestEmulatedBF16Training(t *testing.T) { lowPrecisionTraining(t, engine.BF16, 1.6e-2, 8e-3) }
