package cu

import (
	"errors"
	"fmt"
	"strconv"
)

// CUresult codes this package inspects (values from cuda.h).
const (
	codeSuccess        = 0
	codeInvalidValue   = 1
	codeOutOfMemory    = 2
	codeNotInitialized = 3
	codeNoDevice       = 100
)

// ensureFailed is OR-ed into a CUresult by the C wrappers when the failure
// came from making the package's context current on the calling thread
// (cuCtxSetCurrent) rather than from the wrapped call itself. Real CUresult
// codes are < 1000, so the bit never collides.
const ensureFailed = 1 << 30

// Error is a failed driver call, for example
// "cuMemAlloc_v2: CUDA_ERROR_OUT_OF_MEMORY".
type Error struct {
	Call string // driver entry point, by the symbol name that was resolved ("cuMemAlloc_v2")
	Code int    // the CUresult
	Name string // "CUDA_ERROR_OUT_OF_MEMORY"; "CUresult 1234" for a code no table knows
}

func (e *Error) Error() string {
	name := e.Name
	if name == "" {
		name = errorName(e.Code)
	}
	return e.Call + ": " + name
}

// ErrNotLoaded is wrapped by every error that means "there is no usable CUDA
// driver in this process": libcuda.so.1 could not be opened, an entry point
// is missing from it, cuInit failed (for example CUDA_ERROR_NO_DEVICE), the
// package was built without cgo, or Init has not been called yet. The
// wrapping error's message says which, e.g.
//
//	cu: CUDA driver not loaded: libcuda.so.1: cannot open shared object file: No such file or directory
//	cu: CUDA driver not loaded: built without cgo
//	cu: CUDA driver not loaded: cuInit: CUDA_ERROR_NO_DEVICE
//
// Use errors.Is(err, ErrNotLoaded) to decide on the CPU fallback.
var ErrNotLoaded = errors.New("cu: CUDA driver not loaded")

// briefError gives a "no driver" error a short summary for one-line
// notices; Error is the full reason.
type briefError struct {
	brief string
	err   error
}

func (e *briefError) Error() string { return e.err.Error() }
func (e *briefError) Unwrap() error { return e.err }

// Brief summarizes why there is no usable driver in a few words ("no NVIDIA
// driver found", "no NVIDIA GPU found"), for the one line a command prints
// when it falls back to the CPU; err's own message is the full reason. It
// returns "" for nil and err's message when it knows no summary.
func Brief(err error) string {
	if err == nil {
		return ""
	}
	var b *briefError
	if errors.As(err, &b) {
		return b.brief
	}
	var e *Error
	if errors.As(err, &e) && e.Call == "cuInit" {
		if e.Code == codeNoDevice {
			return "no NVIDIA GPU found"
		}
		name := e.Name
		if name == "" {
			name = errorName(e.Code)
		}
		return "the NVIDIA driver did not start (" + name + ")"
	}
	return err.Error()
}

// notLoaded wraps ErrNotLoaded with a reason (a string or an error).
func notLoaded(reason any) error {
	if err, ok := reason.(error); ok {
		return fmt.Errorf("%w: %w", ErrNotLoaded, err)
	}
	return fmt.Errorf("%w: %v", ErrNotLoaded, reason)
}

// IsOutOfMemory reports whether err is (or wraps) a driver
// CUDA_ERROR_OUT_OF_MEMORY or an *OutOfMemoryError from the Allocator.
func IsOutOfMemory(err error) bool {
	var oom *OutOfMemoryError
	if errors.As(err, &oom) {
		return true
	}
	var e *Error
	return errors.As(err, &e) && e.Code == codeOutOfMemory
}

// OutOfMemoryError is returned by Allocator.Alloc when a request still fails
// with CUDA_ERROR_OUT_OF_MEMORY after the cache was released and the
// allocation retried. Its message reads
//
//	out of GPU memory: requested 1.2 GiB, 300 MiB free of 80 GiB
//
// (Free and Total as reported by the BlockSource right after the failure;
// both 0, and the "free of" part omitted, when that query failed too).
type OutOfMemoryError struct {
	Requested int64 // bytes the caller asked for (before rounding)
	Free      int64
	Total     int64
	Err       error // the driver error of the retry
}

func (e *OutOfMemoryError) Error() string {
	if e.Total <= 0 {
		return "out of GPU memory: requested " + FormatBytes(e.Requested)
	}
	return "out of GPU memory: requested " + FormatBytes(e.Requested) + ", " +
		FormatBytes(e.Free) + " free of " + FormatBytes(e.Total)
}

func (e *OutOfMemoryError) Unwrap() error { return e.Err }

// FormatBytes formats a byte count with binary units and at most one
// decimal: 512 B, 1.5 KiB, 300 MiB, 1.2 GiB, 80 GiB.
func FormatBytes(n int64) string {
	neg := n < 0
	if neg {
		n = -n
	}
	const k = 1024
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	v := float64(n)
	i := 0
	for v >= k && i < len(units)-1 {
		v /= k
		i++
	}
	var s string
	if i == 0 {
		s = strconv.FormatInt(n, 10)
	} else {
		s = strconv.FormatFloat(v, 'f', 1, 64)
		if len(s) > 2 && s[len(s)-2:] == ".0" {
			s = s[:len(s)-2]
		}
		// Rounding can carry into the next unit ("1024.0 MiB").
		if s == "1024" && i < len(units)-1 {
			s, i = "1", i+1
		}
	}
	if neg {
		s = "-" + s
	}
	return s + " " + units[i]
}

// errorName names a CUresult: the running driver's cuGetErrorName when the
// library is loaded, else the cuda.h table, else "CUresult N".
func errorName(code int) string {
	if name, ok := drvErrorName(code); ok {
		return name
	}
	if name, ok := fallbackErrorNames[code]; ok {
		return name
	}
	return "CUresult " + strconv.Itoa(code)
}

// check turns a CUresult returned by a C wrapper into an error (nil for
// CUDA_SUCCESS).
func check(call string, code int) error {
	if code == codeSuccess {
		return nil
	}
	if code&ensureFailed != 0 {
		code &^= ensureFailed
		call = "cuCtxSetCurrent (before " + call + ")"
	}
	return &Error{Call: call, Code: code, Name: errorName(code)}
}
