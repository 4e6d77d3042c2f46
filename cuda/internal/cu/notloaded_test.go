package cu

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"unsafe"
)

// Environment variables of the test binary's child runs (see runChild).
const (
	envChild      = "AEGPU_CU_TEST_CHILD"     // set in every child run: no grandchildren
	envPhase      = "AEGPU_CU_TEST_PHASE"     // "before-init": TestHelperCalls must not call Init
	envRequireGPU = "AEGPU_CU_REQUIRE_DRIVER" // "1": GPU tests fail instead of skipping
	envFake       = "AEGPU_CU_FAKE_DRIVER"    // "1": the driver is testdata/fakecuda
)

// runChild runs this test binary again with only the tests matching run,
// in extra environment, and returns its combined output.
func runChild(t *testing.T, run string, env ...string) (string, error) {
	t.Helper()
	if os.Getenv(envChild) != "" {
		t.Skip("child run")
	}
	cmd := exec.Command(os.Args[0], "-test.run="+run, "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), append([]string{envChild + "=1"}, env...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// apiCall is one exported entry point, called with harmless arguments.
type apiCall struct {
	name string
	fn   func() error
}

// everyCall lists every exported function and method that can reach the
// driver.
func everyCall() []apiCall {
	var buf [16]byte
	host := unsafe.Pointer(&buf[0])
	e1 := func(_ any, err error) error { return err }
	e2 := func(_, _ any, err error) error { return err }
	ctx := &Context{handle: 1} // a Context that was never retained
	hb := &HostBuffer{p: host, bytes: 16}
	args := NewArgs().I32(1)
	return []apiCall{
		{"DriverVersion", func() error { return e1(DriverVersion()) }},
		{"DeviceCount", func() error { return e1(DeviceCount()) }},
		{"Device", func() error { return e1(Device(0)) }},
		{"RetainPrimary", func() error { return e1(RetainPrimary(0)) }},
		{"Context.SetCurrent", ctx.SetCurrent},
		{"Context.Release", ctx.Release},
		{"Synchronize", Synchronize},
		{"MemGetInfo", func() error { return e2(MemGetInfo()) }},
		{"MemAlloc", func() error { return e1(MemAlloc(1024)) }},
		{"MemFree", func() error { return MemFree(0x1000) }},
		{"MemFree(0)", func() error { return MemFree(0) }},
		{"MemsetD32Async", func() error { return MemsetD32Async(0x1000, 7, 4, 0) }},
		{"MemcpyHtoDAsync", func() error { return MemcpyHtoDAsync(0x1000, host, 16, 0) }},
		{"MemcpyDtoHAsync", func() error { return MemcpyDtoHAsync(host, 0x1000, 16, 0) }},
		{"MemcpyDtoDAsync", func() error { return MemcpyDtoDAsync(0x1000, 0x2000, 16, 0) }},
		{"MemcpyHtoD", func() error { return MemcpyHtoD(0x1000, host, 16) }},
		{"MemcpyDtoH", func() error { return MemcpyDtoH(host, 0x1000, 16) }},
		{"HostAlloc", func() error { return e1(HostAlloc(64)) }},
		{"HostBuffer.Free", hb.Free},
		{"StreamCreate", func() error { return e1(StreamCreate(true)) }},
		{"Stream.Synchronize", Stream(1).Synchronize},
		{"Stream.Destroy", Stream(1).Destroy},
		{"Stream.WaitEvent", func() error { return Stream(1).WaitEvent(1) }},
		{"Stream.BeginCapture", Stream(1).BeginCapture},
		{"Stream.BeginCaptureMode", func() error { return Stream(1).BeginCaptureMode(CaptureModeGlobal) }},
		{"Stream.EndCapture", func() error { return e1(Stream(1).EndCapture()) }},
		{"EventCreate", func() error { return e1(EventCreate(true)) }},
		{"Event.Record", func() error { return Event(1).Record(0) }},
		{"Event.Synchronize", Event(1).Synchronize},
		{"Event.Destroy", Event(1).Destroy},
		{"ElapsedMs", func() error { return e1(ElapsedMs(1, 2)) }},
		{"ModuleLoadData", func() error { return e1(ModuleLoadData([]byte("x"))) }},
		{"Module.Function", func() error { return e1(Module(1).Function("k")) }},
		{"Module.Unload", Module(1).Unload},
		{"Function.SetMaxDynamicShared", func() error { return Function(1).SetMaxDynamicShared(1 << 16) }},
		{"Launch", func() error { return Launch(1, [3]uint32{1, 1, 1}, [3]uint32{1, 1, 1}, 0, 0, args) }},
		{"Launch(nil args)", func() error { return Launch(1, [3]uint32{1, 1, 1}, [3]uint32{1, 1, 1}, 0, 0, nil) }},
		{"Graph.Instantiate", func() error { return e1(Graph(1).Instantiate()) }},
		{"Graph.Destroy", Graph(1).Destroy},
		{"GraphExec.Launch", func() error { return GraphExec(1).Launch(0) }},
		{"GraphExec.Destroy", GraphExec(1).Destroy},
		{"DriverBlocks.Alloc", func() error { return e1(DriverBlocks().Alloc(512)) }},
		{"DriverBlocks.Free", func() error { return DriverBlocks().Free(0x1000) }},
		{"DriverBlocks.Info", func() error { return e2(DriverBlocks().Info()) }},
		{"Allocator.Alloc", func() error { return e1(NewAllocator(DriverBlocks()).Alloc(512)) }},
	}
}

// checkEveryCallFails calls every entry point and wants an error wrapping
// ErrNotLoaded whose message contains want; a panic fails the test.
func checkEveryCallFails(t *testing.T, want string) {
	t.Helper()
	for _, c := range everyCall() {
		err := func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("PANIC: %v", r)
				}
			}()
			return c.fn()
		}()
		switch {
		case err == nil:
			t.Errorf("%s: no error without a driver", c.name)
		case strings.HasPrefix(err.Error(), "PANIC"):
			t.Errorf("%s: %v", c.name, err)
		case !errors.Is(err, ErrNotLoaded):
			t.Errorf("%s: error %q does not wrap ErrNotLoaded", c.name, err)
		case !strings.Contains(err.Error(), want):
			t.Errorf("%s: error %q does not say %q", c.name, err, want)
		}
	}
}

// TestInitNotLoaded: on a machine without libcuda.so.1 (or built without
// cgo) Init fails, says why, wraps ErrNotLoaded, and keeps failing the same
// way. Skipped where a driver is present.
func TestInitNotLoaded(t *testing.T) {
	err := Init()
	if err == nil {
		t.Skip("a CUDA driver is present; the no-driver path is tested on machines without one")
	}
	if !errors.Is(err, ErrNotLoaded) {
		t.Fatalf("Init() = %v, does not wrap ErrNotLoaded", err)
	}
	switch {
	case buildErr != nil:
		if !strings.Contains(err.Error(), "built without cgo") {
			t.Errorf("Init() = %q, want it to say \"built without cgo\"", err)
		}
	default:
		// No library: "libcuda.so.1: cannot open shared object file: ...";
		// a library but no device (driver package without its kernel
		// module): "libcuda.so.1 (CUDA 12.2 driver): cuInit: CUDA_ERROR_NO_DEVICE".
		if !strings.Contains(err.Error(), "libcuda.so.1") {
			t.Errorf("Init() = %q, want it to name libcuda.so.1", err)
		}
	}
	t.Logf("Init() = %v", err)
	// The one-line notice: a few words, not the dlopen message.
	if b := Brief(err); b == err.Error() || len(b) > 60 || b == "" {
		t.Errorf("Brief(%q) = %q, want a short summary", err, b)
	}
	for i := 0; i < 3; i++ {
		if again := Init(); again != err {
			t.Fatalf("Init() second call = %v, want the cached %v", again, err)
		}
	}
}

// TestCallsWithoutDriver: after a failed Init every call returns Init's
// error, never panics.
func TestCallsWithoutDriver(t *testing.T) {
	err := Init()
	if err == nil {
		t.Skip("a CUDA driver is present")
	}
	// The reason's text, after the sentinel's.
	reason := strings.TrimPrefix(err.Error(), ErrNotLoaded.Error()+": ")
	checkEveryCallFails(t, reason)
}

// TestCallsBeforeInit runs TestHelperCallsBeforeInit in a fresh process, so
// that Init has certainly not been called there.
func TestCallsBeforeInit(t *testing.T) {
	out, err := runChild(t, "^TestHelperCallsBeforeInit$", envPhase+"=before-init")
	if err != nil || !strings.Contains(out, "--- PASS: TestHelperCallsBeforeInit") {
		t.Fatalf("child failed (%v):\n%s", err, out)
	}
}

func TestHelperCallsBeforeInit(t *testing.T) {
	if os.Getenv(envPhase) != "before-init" {
		t.Skip("helper of TestCallsBeforeInit")
	}
	if initDone.Load() {
		t.Fatal("Init already ran in this process")
	}
	want := "cu.Init has not been called"
	if buildErr != nil {
		want = "built without cgo"
	}
	checkEveryCallFails(t, want)
	if initDone.Load() {
		t.Fatal("a call ran Init implicitly")
	}
}

// Host-side helpers work without a driver.
func TestHostSideWithoutDriver(t *testing.T) {
	var h *HostBuffer
	if h.Float32s() != nil || h.Ptr() != nil || h.Len() != 0 || h.Bytes() != nil {
		t.Error("nil HostBuffer accessors should return zero values")
	}
	a := NewArgs()
	defer a.Free()
	a.Ptr(1).I32(2).F32(3)
	if a.Len() != 3 || a.Err() != nil {
		t.Errorf("Args without a driver: Len %d Err %v", a.Len(), a.Err())
	}
}
