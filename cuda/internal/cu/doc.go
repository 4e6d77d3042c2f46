// Package cu is aegpu's binding to the CUDA driver API.
//
// The driver is loaded at run time: Init dlopen()s libcuda.so.1 and
// resolves every entry point with dlsym by its exact versioned name
// (cuMemAlloc_v2, cuStreamBeginCapture_v2, ...). Nothing CUDA is needed to
// build: the package declares the few driver types it uses itself, links
// only -ldl, and with CGO_ENABLED=0 builds a stub whose every call reports
// "built without cgo". Every failure to get a usable driver wraps
// ErrNotLoaded, so callers can fall back to the CPU; failed driver calls
// are *Error values ("cuMemAlloc_v2: CUDA_ERROR_OUT_OF_MEMORY").
//
// No function panics when the driver is missing or Init was not called;
// each returns an error wrapping ErrNotLoaded instead.
//
// Contexts: use RetainPrimary. While only one device's primary context is
// retained, the package makes it current on whatever OS thread a call
// happens to run on (see Context), so goroutines need not be locked to
// threads.
//
// Host memory rules (cgo): synchronous copies may use Go memory that holds
// no Go pointers; async copies should use HostBuffer (pinned C memory) and
// leave it alone until the stream has been synchronized. Kernel arguments go
// through Args, which lives in C memory and allocates nothing per launch.
//
// Allocator is a caching allocator over a BlockSource (DriverBlocks for the
// real device), with size classes, statistics and an out-of-memory retry.
package cu
