package cpu_fallback

import (
	"fmt"
	"os"
	"testing"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/aegpu/aegpu/engine"
)

// Benchmarks at the mnist autoencoder's shapes (bench/README.md), batch 256.
//
//	go test -run '^$' -bench . ./cpu_fallback/
//
// The machines are shared and noisy, so BenchmarkGemmMNIST times aegpu and
// gonum's blas32.Gemm (the reference point; it is never on the backend's
// path) alternately within each iteration and reports both rates and their
// ratio: GFLOP/s (aegpu), gonum-GFLOP/s and x-gonum.

const benchB = 256

// BenchmarkGemmMNIST times the three products of each mnist layer:
//
//	fwd  y  = x·wᵀ    [B×out] = [B×in]·[out×in]ᵀ
//	dx   dx = dz·w    [B×in]  = [B×out]·[out×in]
//	dw   dw = dzᵀ·x   [out×in] = [B×out]ᵀ·[B×in]
//
// at batch 256 and 4096 (sub-benchmarks b256/…, b4096/…).
func BenchmarkGemmMNIST(b *testing.B) {
	defer tuneBlocking(b)()
	for _, B := range []int{benchB, 4096} {
		b.Run(fmt.Sprintf("b%d", B), func(b *testing.B) { benchGemmMNIST(b, B) })
	}
}

func benchGemmMNIST(b *testing.B, benchB int) {
	bk := New(0)
	defer bk.Close()
	for _, l := range mnistLayers {
		in, out := l[0], l[1]
		x := randMat(b, bk, benchB, in, 1, -1, 1)
		w := randMat(b, bk, out, in, 2, -1, 1)
		dz := randMat(b, bk, benchB, out, 3, -1, 1)
		y, dx, dw := alloc(b, bk, benchB, out), alloc(b, bk, benchB, in), alloc(b, bk, out, in)
		s := func(m engine.Matrix) []float32 { d, _ := bk.slice(m); return d }
		gx := blas32.General{Rows: benchB, Cols: in, Stride: in, Data: host(b, bk, x)}
		gw := blas32.General{Rows: out, Cols: in, Stride: in, Data: host(b, bk, w)}
		gdz := blas32.General{Rows: benchB, Cols: out, Stride: out, Data: host(b, bk, dz)}
		gy := blas32.General{Rows: benchB, Cols: out, Stride: out, Data: make([]float32, benchB*out)}
		gdx := blas32.General{Rows: benchB, Cols: in, Stride: in, Data: make([]float32, benchB*in)}
		gdw := blas32.General{Rows: out, Cols: in, Stride: in, Data: make([]float32, out*in)}
		forms := []struct {
			name  string
			ours  gemmJob
			gonum func()
		}{
			{"fwd", gemmJob{m: benchB, n: out, k: in, a: s(x), ars: in, acs: 1, b: s(w), brs: 1, bcs: in, c: s(y)},
				func() { blas32.Gemm(blas.NoTrans, blas.Trans, 1, gx, gw, 0, gy) }},
			{"dx", gemmJob{m: benchB, n: in, k: out, a: s(dz), ars: out, acs: 1, b: s(w), brs: in, bcs: 1, c: s(dx)},
				func() { blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, gdz, gw, 0, gdx) }},
			{"dw", gemmJob{m: out, n: in, k: benchB, a: s(dz), ars: 1, acs: out, b: s(x), brs: in, bcs: 1, c: s(dw)},
				func() { blas32.Gemm(blas.Trans, blas.NoTrans, 1, gdz, gx, 0, gdw) }},
		}
		for _, f := range forms {
			b.Run(fmt.Sprintf("%s_%dx%d", f.name, in, out), func(b *testing.B) {
				flop := 2 * float64(benchB*in*out)
				var ours, theirs time.Duration
				j := &bk.gemm
				*j = f.ours
				bk.runGemm(j) // grows the packing scratch: untimed
				for b.Loop() {
					t0 := time.Now()
					j := &bk.gemm
					*j = f.ours
					bk.runGemm(j)
					t1 := time.Now()
					f.gonum()
					ours += t1.Sub(t0)
					theirs += time.Since(t1)
				}
				g, gg := flop*float64(b.N)/ours.Seconds()/1e9, flop*float64(b.N)/theirs.Seconds()/1e9
				b.ReportMetric(g, "GFLOP/s")
				b.ReportMetric(gg, "gonum-GFLOP/s")
				b.ReportMetric(g/gg, "x-gonum")
			})
		}
	}
}

// BenchmarkDense times the fused layer (GEMM, bias, activation) of each
// mnist layer at batch 256.
func BenchmarkDense(b *testing.B) {
	bk := New(0)
	defer bk.Close()
	m := newMLP(b, bk, benchB, mnistLayers)
	for i, l := range mnistLayers {
		b.Run(fmt.Sprintf("%dx%d_%s", l[0], l[1], m.acts[i]), func(b *testing.B) {
			for b.Loop() {
				must(b, bk.Dense(m.ys[i], engine.Matrix{}, m.xs[i], m.w[i], m.bias[i], m.acts[i], 0))
			}
			b.ReportMetric(2*float64(benchB*l[0]*l[1])*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkDenseBackward times each mnist layer's backward pass (act′, dw,
// db and, except for the first layer, dx) at batch 256.
func BenchmarkDenseBackward(b *testing.B) {
	bk := New(0)
	defer bk.Close()
	m := newMLP(b, bk, benchB, mnistLayers)
	for i, l := range mnistLayers {
		b.Run(fmt.Sprintf("%dx%d_%s", l[0], l[1], m.acts[i]), func(b *testing.B) {
			var dx engine.Matrix
			gemms := 1.0
			if i > 0 {
				dx, gemms = m.dys[i-1], 2
			}
			for b.Loop() {
				must(b, bk.DenseBackward(dx, m.dw[i], m.db[i], m.dys[i], m.ys[i], engine.Matrix{}, m.xs[i], m.w[i], m.acts[i], 0))
			}
			b.ReportMetric(gemms*2*float64(benchB*l[0]*l[1])*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkTrainStepMNIST times a whole training step of the mnist
// autoencoder at batch 256 and 4096 (6 Dense, MSE LossGrad, 6
// DenseBackward, one Adam step over the flat parameter buffer) and reports
// samples/s, the figure of bench/README.md, and GFLOP/s counting the FLOPs
// done (the first layer has no dx).
func BenchmarkTrainStepMNIST(b *testing.B) {
	defer tuneBlocking(b)()
	for _, B := range []int{benchB, 4096} {
		b.Run(fmt.Sprintf("b%d", B), func(b *testing.B) {
			bk := New(0)
			defer bk.Close()
			m := newMLP(b, bk, B, mnistLayers)
			must(b, m.trainStep())
			for b.Loop() {
				must(b, m.trainStep())
			}
			flop := 0.0
			for i, l := range mnistLayers {
				f := 6 * float64(l[0]*l[1]) * float64(B)
				if i == 0 {
					f = 4 * float64(l[0]*l[1]) * float64(B)
				}
				flop += f
			}
			sec := b.Elapsed().Seconds()
			b.ReportMetric(float64(B*b.N)/sec, "samples/s")
			b.ReportMetric(flop*float64(b.N)/sec/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkKernelPeak: on each kernel path this CPU runs, one thread's
// micro-kernel on L1-resident panels (kc = 256, storing) and its FMA
// probe (MeasurePeak's loop) — the ceiling the GEMMs are measured against.
func BenchmarkKernelPeak(b *testing.B) {
	for _, p := range []kernelPath{pathGeneric, pathAVX2, pathAVX512} {
		k := kernelFor(p)
		if k == nil {
			continue
		}
		b.Run("kernel_"+p.String(), func(b *testing.B) {
			const kc = 256
			a, bp := make([]float32, kc*k.mr), make([]float32, kc*k.nr)
			c := make([]float32, k.mr*k.nr)
			for b.Loop() {
				k.tile(kc, a, bp, c, k.nr, false)
			}
			b.ReportMetric(2*kc*float64(k.mr*k.nr)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run("fma_"+p.String(), func(b *testing.B) {
			if _, ok := fmaLoop(p, 0); !ok {
				b.Skip("no FMA loop on the generic path")
			}
			f := 0.0
			for b.Loop() {
				d, _ := fmaLoop(p, 1000)
				f += d
			}
			b.ReportMetric(f/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// tuneBlocking applies AEGPU_CPU_BLOCK="kc,mt,nt" (any of them 0: keep)
// to a copy of the active kernel, for measuring the blocking; it returns
// the function that restores the kernel.
func tuneBlocking(b *testing.B) func() {
	v := os.Getenv("AEGPU_CPU_BLOCK")
	if v == "" {
		return func() {}
	}
	k := *active
	var kc, mt, nt int
	if _, err := fmt.Sscanf(v, "%d,%d,%d", &kc, &mt, &nt); err != nil {
		b.Fatalf("AEGPU_CPU_BLOCK=%q: want kc,mt,nt", v)
	}
	if kc > 0 {
		k.kc = kc
	}
	if mt > 0 {
		k.mt = mt
	}
	if nt > 0 {
		k.nt = nt
	}
	b.Logf("%s kernel, blocking kc %d mt %d nt %d", k.path, k.kc, k.mt, k.nt)
	return setKernel(&k)
}

// BenchmarkAdam times one Adam step over the mnist model's parameters
// (1.08 M) on each path, reporting the memory traffic it sustains (7
// streams of 4 bytes per parameter: p, g, m, v read; p, m, v written).
func BenchmarkAdam(b *testing.B) {
	n := 0
	for _, l := range mnistLayers {
		n += l[0]*l[1] + l[1]
	}
	for _, p := range []kernelPath{pathGeneric, pathAVX2, pathAVX512} {
		restore, ok := setPath(p)
		if !ok {
			continue
		}
		b.Run(p.String(), func(b *testing.B) {
			bk := New(0)
			defer bk.Close()
			pm, gm := randMat(b, bk, 1, n, 1, -1, 1), randMat(b, bk, 1, n, 2, -1, 1)
			mm, vm := randMat(b, bk, 1, n, 3, -1, 1), randMat(b, bk, 1, n, 4, 0, 1)
			o := engine.OptStep{Kind: engine.Adam, LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 1}
			for b.Loop() {
				o.Step++
				must(b, bk.OptimizerStep(o, pm, gm, mm, vm))
			}
			b.ReportMetric(7*4*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
		restore()
	}
}
