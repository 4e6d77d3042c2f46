package cu

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestErrorFormatting(t *testing.T) {
	e := &Error{Call: "cuMemAlloc_v2", Code: 2, Name: "CUDA_ERROR_OUT_OF_MEMORY"}
	if got, want := e.Error(), "cuMemAlloc_v2: CUDA_ERROR_OUT_OF_MEMORY"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	// Name left empty: filled from the table.
	e2 := &Error{Call: "cuLaunchKernel", Code: 719}
	if got, want := e2.Error(), "cuLaunchKernel: CUDA_ERROR_LAUNCH_FAILED"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestCheck(t *testing.T) {
	if err := check("cuInit", 0); err != nil {
		t.Fatalf("check(0) = %v", err)
	}
	err := check("cuMemAlloc_v2", codeOutOfMemory)
	var e *Error
	if !errors.As(err, &e) || e.Code != 2 || e.Call != "cuMemAlloc_v2" || e.Name != "CUDA_ERROR_OUT_OF_MEMORY" {
		t.Fatalf("check(2) = %#v", err)
	}
	// A failure of the automatic cuCtxSetCurrent is attributed to it.
	err = check("cuMemAlloc_v2", 201|ensureFailed)
	if !errors.As(err, &e) || e.Code != 201 || !strings.HasPrefix(e.Call, "cuCtxSetCurrent") ||
		err.Error() != "cuCtxSetCurrent (before cuMemAlloc_v2): CUDA_ERROR_INVALID_CONTEXT" {
		t.Fatalf("check(201|ensureFailed) = %v", err)
	}
}

func TestErrorNames(t *testing.T) {
	for code, want := range map[int]string{
		0:   "CUDA_SUCCESS",
		1:   "CUDA_ERROR_INVALID_VALUE",
		2:   "CUDA_ERROR_OUT_OF_MEMORY",
		100: "CUDA_ERROR_NO_DEVICE",
		201: "CUDA_ERROR_INVALID_CONTEXT",
		209: "CUDA_ERROR_NO_BINARY_FOR_GPU",
		700: "CUDA_ERROR_ILLEGAL_ADDRESS",
		908: "CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD",
		999: "CUDA_ERROR_UNKNOWN",
		// Not in any table: still readable.
		123456: "CUresult 123456",
	} {
		if got := errorName(code); got != want {
			t.Errorf("errorName(%d) = %q, want %q", code, got, want)
		}
	}
	if n := len(fallbackErrorNames); n < 80 {
		t.Errorf("fallback table has %d names; want the whole cuda.h enum", n)
	}
}

func TestIsOutOfMemory(t *testing.T) {
	drv := &Error{Call: "cuMemAlloc_v2", Code: codeOutOfMemory}
	oom := &OutOfMemoryError{Requested: 1, Err: drv}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("x"), false},
		{&Error{Call: "cuMemAlloc_v2", Code: codeInvalidValue}, false},
		{drv, true},
		{fmt.Errorf("wrapped: %w", drv), true},
		{oom, true},
		{fmt.Errorf("layer 3: %w", oom), true},
		{&OutOfMemoryError{Requested: 1}, true},
		{ErrNotLoaded, false},
	} {
		if got := IsOutOfMemory(c.err); got != c.want {
			t.Errorf("IsOutOfMemory(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestOutOfMemoryErrorMessage(t *testing.T) {
	drv := &Error{Call: "cuMemAlloc_v2", Code: codeOutOfMemory}
	e := &OutOfMemoryError{
		Requested: 1288490189, // 1.2 GiB
		Free:      300 << 20,
		Total:     80 << 30,
		Err:       drv,
	}
	if got, want := e.Error(), "out of GPU memory: requested 1.2 GiB, 300 MiB free of 80 GiB"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(e, drv) {
		t.Error("OutOfMemoryError does not unwrap to the driver error")
	}
	noInfo := &OutOfMemoryError{Requested: 3 << 20}
	if got, want := noInfo.Error(), "out of GPU memory: requested 3 MiB"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0:               "0 B",
		512:             "512 B",
		1023:            "1023 B",
		1024:            "1 KiB",
		1536:            "1.5 KiB",
		300 << 20:       "300 MiB",
		(1 << 30) - 1:   "1 GiB", // rounds up and carries into the next unit
		80 << 30:        "80 GiB",
		1288490189:      "1.2 GiB",
		-(2 << 20):      "-2 MiB",
		3 << 40:         "3 TiB",
		(1 << 20) + 105: "1 MiB",
	} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestNotLoadedWrapping(t *testing.T) {
	err := notLoaded("libcuda.so.1: cannot open shared object file: No such file or directory")
	if !errors.Is(err, ErrNotLoaded) {
		t.Fatal("notLoaded(string) does not wrap ErrNotLoaded")
	}
	if got, want := err.Error(), "cu: CUDA driver not loaded: libcuda.so.1: cannot open shared object file: No such file or directory"; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
	inner := &Error{Call: "cuInit", Code: 100, Name: "CUDA_ERROR_NO_DEVICE"}
	err = notLoaded(inner)
	var e *Error
	if !errors.Is(err, ErrNotLoaded) || !errors.As(err, &e) || e.Code != 100 {
		t.Fatalf("notLoaded(*Error) = %v: must wrap both ErrNotLoaded and the *Error", err)
	}
}
