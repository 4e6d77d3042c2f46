package cpu_fallback

import (
	"fmt"
	"os"
	"strings"
)

// Kernel paths. The backend runs one of them, chosen once at start-up:
// the best the CPU supports (AVX-512 → AVX2/FMA → pure Go), or the one the
// environment variable AEGPU_CPU names (avx512, avx2, generic), so that
// every path can be tested and compared on one machine. -tags noasm and
// non-amd64 builds have only the generic path.
type kernelPath int

const (
	pathGeneric kernelPath = iota // pure Go: the generated twin (kernel_gen.go)
	pathAVX2                      // AVX2/FMA: 6×16 kernel, AVX2 packing, epilogues, Adam
	pathAVX512                    // AVX-512F/VL/BW/DQ: 14×32 kernel (ZMM), AVX-512 epilogues and Adam
)

// EnvPath is the environment variable that forces a kernel path.
const EnvPath = "AEGPU_CPU"

var pathNames = [...]string{pathGeneric: "generic", pathAVX2: "avx2", pathAVX512: "avx512"}

func (p kernelPath) String() string {
	if p >= 0 && int(p) < len(pathNames) {
		return pathNames[p]
	}
	return fmt.Sprintf("path(%d)", int(p))
}

// kernel describes one GEMM micro-kernel: its path, its tile and which
// function computes it (see tile).
type kernel struct {
	path   kernelPath
	mr, nr int
	fn     tileFn
	twin   *kernel // the pure-Go kernel of the same tile and sums (itself when pure Go)

	// Blocking (gemm.go), measured for each kernel (bench/NOTES.md): the
	// longest K block, and the largest C tile, mt rows × nt columns.
	kc, mt, nt int
}

// tileFn names a micro-kernel function. A switch over it (rather than a
// func value) keeps the calls direct, so that the operands (the edge
// tile's buffer on the caller's stack) do not escape.
type tileFn int

const (
	fnGo6x16 tileFn = iota
	fnGo14x32
	fnAVX2
	fnAVX512
)

// tile sets (acc: adds) the mr×nr tile c[i·ldc+j] to Σ_k a[k·mr+i]·b[k·nr+j]
// over the packed panels a [kc×mr] and b [kc×nr], rows of C ldc apart.
func (k *kernel) tile(kc int, a, b, c []float32, ldc int, acc bool) {
	switch k.fn {
	case fnGo6x16:
		kernelGoTile(kc, a, b, c, ldc, acc)
	case fnGo14x32:
		kernelGoTile14x32(kc, a, b, c, ldc, acc)
	default:
		asmTile(k.fn, kc, a, b, c, ldc, acc)
	}
}

// maxMR, maxNR bound every kernel's tile (edge buffers are this size).
const maxMR, maxNR = 14, 32

// goKernel is the generic path's kernel, the pure-Go 6×16 twin.
var goKernel = &kernel{path: pathGeneric, mr: mr, nr: nr, fn: fnGo6x16, kc: kcMax, mt: mtMax, nt: ntMax}

func init() { goKernel.twin = goKernel }

// active is the kernel path in use (tests switch it with setPath).
var active *kernel

// pathNote says which path was chosen and why, for the backend's Info and
// the note engine.Open prints; pathErr is set when AEGPU_CPU asks for a
// path this CPU or build cannot run (engine.Open fails with it).
var pathNote string
var pathErr error

func init() {
	active, pathNote, pathErr = choosePath(os.Getenv(EnvPath))
}

// supportedPaths lists the paths this CPU and build can run, best first.
func supportedPaths() []kernelPath {
	var ps []kernelPath
	for _, p := range []kernelPath{pathAVX512, pathAVX2} {
		if kernelFor(p) != nil {
			ps = append(ps, p)
		}
	}
	return append(ps, pathGeneric)
}

// choosePath picks the kernel for the value of AEGPU_CPU ("" for the
// best). An unknown or unsupported value gives the best path with an
// error saying so.
func choosePath(env string) (*kernel, string, error) {
	avail := supportedPaths()
	best := kernelFor(avail[0])
	if best == nil {
		best = goKernel
	}
	names := make([]string, len(avail))
	for i, p := range avail {
		names[i] = p.String()
	}
	env = strings.ToLower(strings.TrimSpace(env))
	if env == "" || env == "auto" {
		return best, best.path.String(), nil
	}
	for p, name := range pathNames {
		if name != env {
			continue
		}
		if k := kernelFor(kernelPath(p)); k != nil {
			return k, fmt.Sprintf("%s (forced by %s)", k.path, EnvPath), nil
		}
		return best, best.path.String(), fmt.Errorf("cpu: %s=%s: %s (this CPU and build run: %s)",
			EnvPath, env, missingFeature(kernelPath(p)), strings.Join(names, ", "))
	}
	return best, best.path.String(), fmt.Errorf("cpu: %s=%q is not a kernel path (avx512, avx2 or generic; this CPU and build run: %s)",
		EnvPath, env, strings.Join(names, ", "))
}

// setPath makes p the active path and returns a function that restores
// the previous one; it reports false (and changes nothing) when p cannot
// run here.
func setPath(p kernelPath) (restore func(), ok bool) {
	k := kernelFor(p)
	if k == nil {
		return func() {}, false
	}
	old := active
	active = k
	return func() { active = old }, true
}

// setKernel makes k the active kernel (a twin, in tests).
func setKernel(k *kernel) (restore func()) {
	old := active
	active = k
	return func() { active = old }
}

// KernelPath is the name of the kernel path in use: avx512, avx2 or generic.
func KernelPath() string { return active.path.String() }
