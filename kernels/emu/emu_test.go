package emu

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/kernels"
)

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// TestEmulatorSources: the emulator was compiled from the current kernel
// sources. cgo does not see that emu.cpp's #include "../aegpu.cu" changed,
// so emu/sources_sha256.h (written by kernels/build.sh) carries their hash
// into the package, and this test catches a stale build.
func TestEmulatorSources(t *testing.T) {
	need(t)
	var names []string
	for _, pat := range []string{"../*.cu", "../*.cuh"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, m...)
	}
	slices.SortFunc(names, func(a, b string) int { return strings.Compare(filepath.Base(a), filepath.Base(b)) })
	h := sha256.New()
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(b)
	}
	if got, built := hex.EncodeToString(h.Sum(nil)), SourcesSHA256(); got != built {
		t.Fatalf("the emulator was built from other kernel sources (sha256 %s) than kernels/*.cu now (%s): "+
			"run make kernels (or kernels/build.sh emu without nvcc), which rewrites emu/sources_sha256.h", built, got)
	}
}

// TestABICovered: every kernel of ABI.md has a launcher here.
func TestABICovered(t *testing.T) {
	launchers := map[string]any{
		"gemm_nt_bias_act": GemmNTBiasAct, "gemm_nn": GemmNN, "gemm_tn": GemmTN,
		"gemm_nt_bias_act_64": GemmNTBiasAct64, "gemm_nn_64": GemmNN64, "gemm_tn_64": GemmTN64,
		"gemm_nn_bias_act": GemmNNBiasAct, "gemm_nn_bias_act_64": GemmNNBiasAct64, "gemm_nt": GemmNT, "gemm_nt_64": GemmNT64,
		"gemm_nt_bias_act_tf32": GemmNTBiasActTF32, "gemm_nn_tf32": GemmNNTF32, "gemm_tn_tf32": GemmTNTF32,
		"gemm_nn_bias_act_tf32": GemmNNBiasActTF32, "gemm_nt_tf32": GemmNTTF32,
		"gemm_nt_bias_act_tf32_64": GemmNTBiasActTF32x64, "gemm_nn_tf32_64": GemmNNTF32x64, "gemm_tn_tf32_64": GemmTNTF32x64,
		"gemm_nn_bias_act_tf32_64": GemmNNBiasActTF32x64, "gemm_nt_tf32_64": GemmNTTF32x64,
		"gemm_nt_bias_act_bf16": GemmNTBiasActBF16, "gemm_nn_bf16": GemmNNBF16, "gemm_tn_bf16": GemmTNBF16,
		"gemm_nn_bias_act_bf16": GemmNNBiasActBF16, "gemm_nt_bf16": GemmNTBF16,
		"gemm_nt_bias_act_bf16_64": GemmNTBiasActBF16x64, "gemm_nn_bf16_64": GemmNNBF16x64, "gemm_tn_bf16_64": GemmTNBF16x64,
		"gemm_nn_bias_act_bf16_64": GemmNNBiasActBF16x64, "gemm_nt_bf16_64": GemmNTBF16x64,
		"act_grad_bias":     ActGradBias,
		"loss_grad_partial": LossGradPartial, "loss_finish": LossFinish, "row_loss": RowLoss, "col_mean": ColMean,
		"sumsq_partial": SumsqPartial, "sumsq_finish": SumsqFinish, "clip_scale": ClipScale,
		"adam_step": AdamStep, "sgd_step": SGDStep,
		"fill_f32": Fill, "copy_f32": Copy, "axpy_f32": Axpy, "ema_f32": EMA, "scale_f32": Scale,
		"rand_uniform": RandUniform, "rand_normal": RandNormal,
		"corrupt_f32":   Corrupt,
		"sparsity_grad": SparsityGrad, "contractive_exact": ContractiveExact, "act_jvp": ActJVP,
		"act_jvp_backward": ActJVPBackward, "act_grad_add": ActGradAdd,
		"reparam_f32": Reparam, "reparam_grad_partial": ReparamGradPartial,
		"layernorm_fwd": LayerNormFwd, "layernorm_bwd_dx": LayerNormBwdDX, "layernorm_bwd_params": LayerNormBwdParams,
	}
	for _, n := range kernels.Names {
		if launchers[n] == nil {
			t.Errorf("kernel %s has no emulator launcher", n)
		}
	}
	if len(launchers) != len(kernels.Names) {
		t.Errorf("%d launchers for %d kernels", len(launchers), len(kernels.Names))
	}
}

// TestEmulatorCatches runs deliberately broken kernels: the emulator must
// report barrier divergence and traps under every schedule, and its serial
// schedules must expose a shared-memory race as schedule-dependent results.
func TestEmulatorCatches(t *testing.T) {
	need(t)
	// Every __shared__ variable is in the poisoned section: the GEMMs'
	// tiles alone take 100 KiB.
	if b := sharedBytes(); b < 100<<10 {
		t.Fatalf("emulated shared memory is %d bytes: the emu_shared section is missing", b)
	}
	const n = 64
	for _, m := range Modes {
		SetMode(m)
		out := make([]float32, n)
		if err := selftest(D1(2), D1(n), 0, out); err == nil || !contains(err.Error(), "barrier divergence") {
			t.Errorf("%s: early return before __syncthreads: got %v, want a barrier divergence error", m, err)
		} else if !contains(err.Error(), "selftest_kernel") || !contains(err.Error(), "block (0,0,0)") {
			t.Errorf("%s: the error should name the kernel and block: %v", m, err)
		}
		if err := selftest(D1(1), D1(n), 1, out); err == nil || !contains(err.Error(), "__trap") {
			t.Errorf("%s: __trap: got %v", m, err)
		}
		must(t, selftest(D1(1), D1(n), 3, out))
		for i, v := range out {
			if want := float32((i+1)%n + 1); v != want {
				t.Fatalf("%s: fixed kernel: out[%d] = %g, want %g", m, i, v, want)
			}
		}
	}
	for _, m := range Modes {
		SetMode(m)
		for _, nt := range []int{256, 96, 7} { // block_sum for any block ≤ REDUCE_THREADS
			out := make([]float32, nt)
			must(t, selftest(D1(2), D1(nt), 4, out))
			a, b := float64(nt*(nt+1)/2), float64(nt*(nt-1))
			for i, v := range out {
				if want := float32(a + float64(i)*b); v != want {
					t.Fatalf("%s, %d threads: block_sum: out[%d] = %g, want %g", m, nt, i, v, want)
				}
			}
		}
	}
	race := map[Mode][]float32{}
	for _, m := range []Mode{SerialForward, SerialReverse} {
		SetMode(m)
		out := make([]float32, n)
		must(t, selftest(D1(1), D1(n), 2, out))
		race[m] = out
	}
	if slices.Equal(race[SerialForward], race[SerialReverse]) {
		t.Errorf("a read of a neighbour's shared slot without a barrier gave the same results in forward and reverse order")
	}
}

// TestSchedulesAgree runs one case of each kernel with shared memory or
// barriers under every schedule: the results must be bitwise identical (a
// missing barrier or a shared-memory race shows up as a difference).
func TestSchedulesAgree(t *testing.T) {
	need(t)
	g := newGen(12345)
	const M, N, K = 70, 130, 40
	x, w, b := g.uniform(M*K, -1, 1), g.uniform(N*K, -0.2, 0.2), g.uniform(N, -0.5, 0.5)
	a, c0 := g.uniform(K*M, -1, 1), g.uniform(M*N, -1, 1)
	dy, y := g.uniform(M*N, -1, 1), g.uniform(M*N, 0, 1)
	p, tg := lossInputs(g, engine.BCE, M*N, false)
	run := func() [][]float32 {
		var res [][]float32
		for _, cfg := range []gemmCfg{cfg128, cfg64} {
			Y, Z := make([]float32, M*N), make([]float32, M*N)
			grid, block := cfg.grid(M, N)
			must(t, cfg.nt(grid, block, x, w, b, Z, Y, M, N, K, int(engine.GELU)))
			C := append([]float32(nil), c0...)
			must(t, cfg.tn(grid, block, a, w[:K*N], C, M, N, K, 1))
			C2 := make([]float32, M*N)
			must(t, cfg.nn(grid, block, x, w[:K*N], C2, M, N, K, 0))
			res = append(res, Y, Z, C, C2)
		}
		d := append([]float32(nil), dy...)
		db := make([]float32, N)
		must(t, ActGradBias(D1(3), Dim3{kernels.ActGradCols, kernels.ActGradRows, 1}, d, y, nil, db, M, N, int(engine.Sigmoid), 0))
		G, acc, out := make([]float32, M*N), []float32{0}, make([]float32, M)
		part := make([]float64, 3)
		must(t, LossGradPartial(D1(3), D1(kernels.ReduceThreads), int(engine.BCE), p, tg, G, part, M*N, 1.0/(M*N)))
		must(t, LossFinish(D1(1), D1(kernels.ReduceThreads), part, 3, acc, 1.0/(M*N)))
		must(t, RowLoss(D1(4), D1(kernels.ReduceThreads), int(engine.BCE), p, tg, out, M, N))
		ss := []float32{0}
		must(t, SumsqPartial(D1(3), D1(kernels.ReduceThreads), p, part, M*N))
		must(t, SumsqFinish(D1(1), D1(kernels.ReduceThreads), part, 3, ss, 0))
		return append(res, d, db, G, acc, out, ss)
	}
	var first [][]float32
	for _, m := range Modes {
		SetMode(m)
		res := run()
		if first == nil {
			first = res
			continue
		}
		for i := range res {
			checkBits(t, m.String()+" vs "+Modes[0].String()+": result "+string(rune('A'+i)), res[i], first[i])
		}
	}
}

// TestReduceFullGrid runs the partial kernels on the launcher's grid
// (kernels.ReduceGrid, uncapped) and a block smaller than REDUCE_THREADS.
func TestReduceFullGrid(t *testing.T) {
	need(t)
	const n = 5000
	x := newGen(77).uniform(n, -1, 1)
	want := 0.0
	for _, v := range x {
		want += float64(v) * float64(v)
	}
	for _, c := range []struct{ grid, block int }{{kernels.ReduceGrid(n), kernels.ReduceThreads}, {3, 64}} {
		nextMode()
		part := make([]float64, c.grid)
		acc := []float32{0}
		must(t, SumsqPartial(D1(c.grid), D1(c.block), x, part, n))
		must(t, SumsqFinish(D1(1), D1(c.block), part, c.grid, acc, 0))
		// float64 sum, rounded once.
		checkClose(t, "sumsq", acc, []float64{want}, 0, eps32)
	}
}
