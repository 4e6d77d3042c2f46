package cpu_fallback

import (
	"os"
	"strings"
	"testing"
)

// asmPaths are the assembly kernel paths, each tested where the CPU runs it.
var asmPaths = []kernelPath{pathAVX2, pathAVX512}

// eachAsmPath runs f as a subtest for each assembly path, skipping with a
// one-line reason where this CPU or build cannot run it.
func eachAsmPath(t *testing.T, f func(t *testing.T, k *kernel)) {
	for _, p := range asmPaths {
		t.Run(p.String(), func(t *testing.T) {
			k := kernelFor(p)
			if k == nil {
				t.Skipf("%s path not tested: %s", p, missingFeature(p))
			}
			f(t, k)
		})
	}
}

// pick is k when use, else the generic path's kernel.
func pick(use bool, k *kernel) *kernel {
	if use {
		return k
	}
	return goKernel
}

// TestChoosePath: AEGPU_CPU selects a path, the default is the best one
// this CPU runs, and a path it cannot run or an unknown name is an error
// that names what it can run.
func TestChoosePath(t *testing.T) {
	avail := supportedPaths()
	if avail[len(avail)-1] != pathGeneric {
		t.Fatalf("supported paths %v do not end with generic", avail)
	}
	k, note, err := choosePath("")
	if err != nil || k.path != avail[0] || note != avail[0].String() {
		t.Fatalf(`choosePath("") = %v, %q, %v; want %v`, k.path, note, err, avail[0])
	}
	for _, p := range []kernelPath{pathGeneric, pathAVX2, pathAVX512} {
		k, note, err := choosePath(strings.ToUpper(p.String()))
		if kernelFor(p) == nil {
			if err == nil || !strings.Contains(err.Error(), EnvPath) || !strings.Contains(err.Error(), "generic") {
				t.Errorf("%s=%s on a CPU without it: error %v", EnvPath, p, err)
			}
			if k != kernelFor(avail[0]) {
				t.Errorf("%s=%s unsupported: fell back to %v, want %v", EnvPath, p, k.path, avail[0])
			}
			continue
		}
		if err != nil || k.path != p || !strings.Contains(note, "forced") {
			t.Errorf("%s=%s: %v, %q, %v", EnvPath, p, k.path, note, err)
		}
	}
	if _, _, err := choosePath("sse9"); err == nil || !strings.Contains(err.Error(), `"sse9"`) {
		t.Errorf("unknown path: error %v", err)
	}
	if k, _, err := choosePath(" auto "); err != nil || k.path != avail[0] {
		t.Errorf("auto: %v, %v", k.path, err)
	}
	if env := os.Getenv(EnvPath); env != "" {
		t.Logf("%s=%s: running the %s path", EnvPath, env, active.path)
	}
	// The kernels' tiles fit the edge buffers, and each twin has its tile.
	for _, p := range avail {
		k := kernelFor(p)
		if k.mr > maxMR || k.nr > maxNR || k.twin == nil || k.twin.mr != k.mr || k.twin.nr != k.nr || k.twin.path != pathGeneric {
			t.Errorf("%s kernel %d×%d, twin %+v", p, k.mr, k.nr, k.twin)
		}
	}
}
