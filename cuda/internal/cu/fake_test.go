//go:build cgo

package cu

// Runs the cgo binding end to end without a GPU: testdata/fakecuda/fakecuda.c
// is compiled into a fake libcuda.so.1 and this test binary is run again
// with LD_LIBRARY_PATH pointing at it (LD_LIBRARY_PATH comes before the
// system's libcuda.so.1 in dlopen's search, so this works on GPU machines
// too). Skipped when no C compiler is found.

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const envExpect = "AEGPU_CU_TEST_EXPECT" // TestHelperInitFails: text Init's error must contain
const envLib = "AEGPU_CU_TEST_LIB"       // TestHelperInitFails: library to dlopen instead
const envBrief = "AEGPU_CU_TEST_BRIEF"   // TestHelperInitFails: what Brief(Init's error) must be

// buildFake compiles the fake driver into a fresh directory and returns it.
func buildFake(t *testing.T, defines ...string) string {
	t.Helper()
	if os.Getenv(envChild) != "" {
		t.Skip("child run")
	}
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "gcc"
	}
	if _, err := exec.LookPath(cc); err != nil {
		t.Skipf("no C compiler (%s) to build the fake driver", cc)
	}
	dir := t.TempDir()
	args := append([]string{"-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o", filepath.Join(dir, "libcuda.so.1")}, defines...)
	args = append(args, "testdata/fakecuda/fakecuda.c", "-lpthread")
	if out, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		t.Fatalf("building the fake driver: %v\n%s", err, out)
	}
	return dir
}

func ldPath(dir string) string {
	if old := os.Getenv("LD_LIBRARY_PATH"); old != "" {
		return "LD_LIBRARY_PATH=" + dir + ":" + old
	}
	return "LD_LIBRARY_PATH=" + dir
}

// TestFakeDriver runs every TestGPU* test against the fake driver; none may
// skip or fail.
func TestFakeDriver(t *testing.T) {
	dir := buildFake(t)
	out, err := runChild(t, "^TestGPU", ldPath(dir), envRequireGPU+"=1", envFake+"=1")
	if err != nil || strings.Contains(out, "--- FAIL") || strings.Contains(out, "--- SKIP") {
		t.Fatalf("GPU tests against the fake driver (%v):\n%s", err, out)
	}
	passed := len(regexp.MustCompile(`(?m)^--- PASS: TestGPU`).FindAllString(out, -1))
	if passed < 14 {
		t.Fatalf("only %d GPU tests passed against the fake driver:\n%s", passed, out)
	}
	if testing.Verbose() {
		t.Logf("%d GPU tests passed against the fake driver", passed)
	}
}

func TestFakeDriverMissingSymbol(t *testing.T) {
	dir := buildFake(t, "-DFAKE_OMIT_GRAPH_INSTANTIATE")
	out, err := runChild(t, "^TestHelperInitFails$", ldPath(dir),
		envExpect+"=libcuda.so.1: missing symbol cuGraphInstantiateWithFlags", envBrief+"=the NVIDIA driver is too old")
	if err != nil || !strings.Contains(out, "--- PASS: TestHelperInitFails") {
		t.Fatalf("child (%v):\n%s", err, out)
	}
}

func TestFakeDriverNoDevice(t *testing.T) {
	dir := buildFake(t)
	out, err := runChild(t, "^TestHelperInitFails$", ldPath(dir), "FAKECUDA_MODE=nodevice",
		envExpect+"=libcuda.so.1 (CUDA 13.0 driver): cuInit: CUDA_ERROR_NO_DEVICE", envBrief+"=no NVIDIA GPU found")
	if err != nil || !strings.Contains(out, "--- PASS: TestHelperInitFails") {
		t.Fatalf("child (%v):\n%s", err, out)
	}
}

func TestDlopenFails(t *testing.T) {
	out, err := runChild(t, "^TestHelperInitFails$",
		envLib+"=/nonexistent/libcuda.so.1",
		envExpect+"=/nonexistent/libcuda.so.1: cannot open shared object file", envBrief+"=no NVIDIA driver found")
	if err != nil || !strings.Contains(out, "--- PASS: TestHelperInitFails") {
		t.Fatalf("child (%v):\n%s", err, out)
	}
}

func TestHelperInitFails(t *testing.T) {
	want := os.Getenv(envExpect)
	if want == "" {
		t.Skip("helper of TestFakeDriverMissingSymbol, TestFakeDriverNoDevice, TestDlopenFails")
	}
	if lib := os.Getenv(envLib); lib != "" {
		libName = lib
	}
	err := Init()
	if err == nil || !errors.Is(err, ErrNotLoaded) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Init() = %v, want an ErrNotLoaded containing %q", err, want)
	}
	t.Logf("Init() = %v", err)
	if brief := os.Getenv(envBrief); Brief(err) != brief {
		t.Errorf("Brief(%v) = %q, want %q", err, Brief(err), brief)
	}
	checkEveryCallFails(t, want)
}
