package cuda

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/aegpu/aegpu/cpu_fallback"
	"github.com/aegpu/aegpu/cuda/internal/cu"
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/engine/enginetest"
	"github.com/aegpu/aegpu/kernels"
)

// gpu opens device 0 or skips the test with the reason there is none.
func gpu(t *testing.T) *Backend {
	t.Helper()
	b, err := New(0)
	if err != nil {
		t.Skipf("no CUDA device: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// Without a device, asking for CUDA is a clear error and auto falls back
// to the CPU, saying why.
func TestNoDeviceFallsBack(t *testing.T) {
	if _, err := (driver{}).Probe(); err == nil {
		t.Skip("a CUDA device is present")
	}
	_, _, err := engine.Open("cuda")
	if !errors.Is(err, engine.ErrNoCUDA) {
		t.Fatalf("Open(cuda) = %v, want an error matching engine.ErrNoCUDA", err)
	}
	b, note, err := engine.Open("auto")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// One short line: the brief reason, the full one stays with Open("cuda").
	_, probeErr := (driver{}).Probe()
	if b.Info().Backend != "cpu" || !strings.HasSuffix(note, ": "+engine.BriefReason(probeErr)) || strings.Contains(note, "shared object") {
		t.Errorf("auto chose %v with note %q", b.Info(), note)
	}
	if strings.Contains(engine.BriefReason(probeErr), "cu:") {
		t.Errorf("brief reason %q carries the driver's full message", engine.BriefReason(probeErr))
	}
	if _, _, err := engine.Open("cuda:7"); err == nil {
		t.Error("Open(cuda:7) succeeded without a device")
	}
}

func TestConformance(t *testing.T) {
	enginetest.Run(t, gpu(t))
}

// TestMatchesCPU runs the same random ops on the CPU backend and the GPU.
func TestMatchesCPU(t *testing.T) {
	g := gpu(t)
	c := cpu_fallback.New(0)
	defer c.Close()
	enginetest.Compare(t, c, g)
}

func TestAllocatorReusesBlocks(t *testing.T) {
	g := gpu(t)
	m, err := g.Alloc(100, 37)
	if err != nil {
		t.Fatal(err)
	}
	before := g.MemoryStats()
	g.Free(m)
	m2, err := g.Alloc(37, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Free(m2)
	after := g.MemoryStats()
	if after.Reuses != before.Reuses+1 || after.Allocs != before.Allocs {
		t.Errorf("stats before %+v after %+v: want one reuse and no new allocation", before, after)
	}
	// Reused memory is zeroed like fresh memory.
	v := make([]float32, 3700)
	if err := g.Download(v, m2); err != nil {
		t.Fatal(err)
	}
	for i, x := range v {
		if x != 0 {
			t.Fatalf("reused block element %d = %v, want 0", i, x)
		}
	}
}

func TestOutOfMemoryIsAClearError(t *testing.T) {
	g := gpu(t)
	_, err := g.Alloc(1<<20, 1<<20) // 4 TiB
	if err == nil {
		t.Fatal("allocating 4 TiB succeeded")
	}
	if !strings.Contains(err.Error(), "out of GPU memory") || !strings.Contains(err.Error(), "free") {
		t.Errorf("err = %v, want the bytes requested and free", err)
	}
	// The device is still usable.
	m, err := g.Alloc(4, 4)
	if err != nil {
		t.Fatalf("after OOM: %v", err)
	}
	g.Free(m)
}

func TestBadDeviceIndex(t *testing.T) {
	gpu(t)
	if _, _, err := engine.Open("cuda:99"); err == nil || !strings.Contains(err.Error(), "cuda:99") {
		t.Errorf("Open(cuda:99) = %v", err)
	}
}

// Every kernel of the ABI is bound, and nothing else.
func TestKernelTableMatchesABI(t *testing.T) {
	var k kernelSet
	got := map[string]bool{}
	for _, e := range k.table() {
		got[e.name] = true
	}
	for _, n := range kernels.Names {
		if !got[n] {
			t.Errorf("kernel %s of kernels.Names is not bound", n)
		}
		delete(got, n)
	}
	for n := range got {
		t.Errorf("bound kernel %s is not in kernels.Names", n)
	}
}

func TestPeakFP32(t *testing.T) {
	h100 := cu.DeviceInfo{Major: 9, Minor: 0, SMs: 132, ClockKHz: 1980000}
	// bench/README.md: H100 SXM FP32 peak 66.9 TFLOP/s.
	if got := peakFP32(h100) / 1e12; math.Abs(got-66.9) > 0.05 {
		t.Errorf("H100 peak = %.2f TFLOP/s, want 66.9", got)
	}
	if peakFP32(cu.DeviceInfo{Major: 8, SMs: 108}) != 0 {
		t.Error("unknown clock should give an unknown (0) peak")
	}
}

func TestRecordAndReplay(t *testing.T) {
	g := gpu(t)
	x, _ := g.Alloc(3, 5)
	y, _ := g.Alloc(3, 5)
	defer g.Free(x)
	defer g.Free(y)
	if err := g.Fill(x, 2); err != nil {
		t.Fatal(err)
	}
	r, err := g.Record(func() error { return g.Axpy(0.5, x, y) })
	if err != nil {
		t.Fatal(err)
	}
	defer r.Free()
	for i := 0; i < 3; i++ {
		if err := r.Run(); err != nil {
			t.Fatal(err)
		}
	}
	v := make([]float32, 15)
	if err := g.Download(v, y); err != nil {
		t.Fatal(err)
	}
	for i, got := range v {
		if got != 3 { // three replays of y += 0.5·2, exact in float32
			t.Fatalf("y[%d] = %v after 3 replays, want 3", i, got)
		}
	}
	if _, err := g.Record(func() error { return g.Download(v, y) }); err == nil {
		t.Error("Download while recording succeeded")
	}
	// The backend is usable after a failed recording.
	if err := g.Sync(); err != nil {
		t.Fatal(err)
	}
}

// The GEMM table's names are the kernels' names, precision × shape × tile.
func TestGemmKernelNames(t *testing.T) {
	for _, c := range []struct {
		p    gemmPrec
		s    gemmShape
		tile gemmTile
		want string
	}{
		{precFP32, gemmNTBiasAct, tileDefault, "gemm_nt_bias_act"},
		{precFP32, gemmNT, tile64, "gemm_nt_64"},
		{precFP32, gemmNN, tileDefault, "gemm_nn"},
		{precTF32, gemmNNBiasAct, tileDefault, "gemm_nn_bias_act_tf32"},
		{precTF32, gemmNT, tile64, "gemm_nt_tf32_64"},
		{precBF16, gemmTN, tile64, "gemm_tn_bf16_64"},
		{precBF16, gemmNTBiasAct, tileDefault, "gemm_nt_bias_act_bf16"},
	} {
		if got := gemmKernelName(c.p, c.s, c.tile); got != c.want {
			t.Errorf("gemmKernelName(%d, %d, %d) = %s, want %s", c.p, c.s, c.tile, got, c.want)
		}
	}
	for p, want := range map[engine.Precision]gemmPrec{engine.FP32: precFP32, engine.TF32: precTF32, engine.BF16: precBF16} {
		if got := gemmPrecOf(p); got != want {
			t.Errorf("gemmPrecOf(%v) = %d, want %d", p, got, want)
		}
	}
}

// TestDrawsAt: RandNormalAt and CorruptAt from element start (a
// data-parallel rank's rows) are bitwise the elements start… of the same
// backend's RandNormal and Corrupt from 0, on a view one float into its
// buffer, for starts on and off the Philox blocks' bounds; masking is also
// bitwise the CPU backend's CorruptAt.
func TestDrawsAt(t *testing.T) {
	g := gpu(t)
	c := cpu_fallback.New(1)
	defer c.Close()
	const seed, stream = 11, 1<<33 + 5
	get := func(b engine.Backend, m engine.Matrix) []float32 {
		t.Helper()
		v := make([]float32, m.Len())
		if err := b.Download(v, m); err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, start := range []int{0, 1, 3, 6, 4097} {
		const n = 301
		all := start + n
		full, err := g.Alloc(1, all)
		if err != nil {
			t.Fatal(err)
		}
		buf, err := g.Alloc(1, n+1)
		if err != nil {
			t.Fatal(err)
		}
		part := buf.View(1, 1, n) // one float into its buffer
		if err := g.RandNormal(full, seed, stream, 0.5, 2); err != nil {
			t.Fatal(err)
		}
		if err := g.RandNormalAt(part, seed, stream, uint64(start), 0.5, 2); err != nil {
			t.Fatal(err)
		}
		want, got := get(g, full)[start:], get(g, part)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("RandNormalAt(start %d) element %d = %g, RandNormal's %g", start, i, got[i], want[i])
			}
		}
		src := make([]float32, all)
		for i := range src {
			src[i] = float32(i%13)/6 - 1
		}
		srcM, err := g.Alloc(1, all)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.Upload(srcM, src); err != nil {
			t.Fatal(err)
		}
		srcPart, err := g.Alloc(1, n)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.Upload(srcPart, src[start:]); err != nil {
			t.Fatal(err)
		}
		for _, k := range []engine.Noise{engine.NoiseGaussian, engine.NoiseMasking, engine.NoiseSaltPepper} {
			if err := g.Corrupt(full, srcM, k, 0.3, seed, stream); err != nil {
				t.Fatal(err)
			}
			if err := g.CorruptAt(part, srcPart, k, 0.3, seed, stream, uint64(start)); err != nil {
				t.Fatal(err)
			}
			want, got := get(g, full)[start:], get(g, part)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("CorruptAt(%s, start %d) element %d = %g, Corrupt's %g", k, start, i, got[i], want[i])
				}
			}
			if k == engine.NoiseMasking {
				cd, _ := c.Alloc(1, n)
				cs, _ := c.Alloc(1, n)
				if err := c.Upload(cs, src[start:]); err != nil {
					t.Fatal(err)
				}
				if err := c.CorruptAt(cd, cs, k, 0.3, seed, stream, uint64(start)); err != nil {
					t.Fatal(err)
				}
				want := get(c, cd)
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("CorruptAt(masking, start %d) element %d = %g, the CPU's %g", start, i, got[i], want[i])
					}
				}
			}
		}
		for _, m := range []engine.Matrix{full, buf, srcM, srcPart} {
			g.Free(m)
		}
	}
}
