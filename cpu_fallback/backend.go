// Package cpu_fallback is aegpu's engine.Backend in pure Go: every operation
// of the engine contract on the host CPU, parallel over a fixed pool of
// worker goroutines. It registers itself as "cpu" with the engine:
//
//	import _ "github.com/aegpu/aegpu/cpu_fallback"
//	b, note, err := engine.Open("cpu")
//
// or is created directly with New.
//
// Numerics. Everything is float32 with the reductions that produce a scalar
// (losses, SumSquares, ColMean, the gradient norm) accumulated in float64.
// Every result is independent of the number of threads and of scheduling:
// work is split at fixed boundaries that depend only on the shapes (GEMM K
// blocks, element chunks), each output element is summed in a fixed order,
// and partial sums are combined in chunk order. The same calls therefore
// give bitwise the same results on any machine with the same binary and
// kernel path. The paths (dispatch.go: avx512, avx2, generic, chosen at
// run time or forced with AEGPU_CPU) give the same bits too, except the
// generic one in a build where Go does not fuse multiply-adds (GOAMD64 <
// v3): there its products are rounded before they are added.
//
// Concurrency. A Backend is used from one goroutine at a time (like every
// engine.Backend: a training step is a sequence of calls). Internally each
// op may run on all of the Backend's threads; the call returns when the op
// is complete, so Sync is a no-op. Ops allocate nothing in steady state:
// scratch space is grown on first use and kept on the Backend.
package cpu_fallback

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/aegpu/aegpu/engine"
)

func init() { engine.Register("cpu", driver{}) }

type driver struct{}

// Probe reports the one CPU device.
func (driver) Probe() ([]engine.DeviceInfo, error) {
	return []engine.DeviceInfo{deviceInfo(runtime.GOMAXPROCS(0))}, nil
}

// Open returns a Backend with GOMAXPROCS threads. It fails when
// AEGPU_CPU names a kernel path this CPU or build cannot run.
func (driver) Open(index int) (engine.Backend, error) {
	if index != 0 {
		return nil, fmt.Errorf("cpu: no device %d (the CPU backend has only device 0)", index)
	}
	if pathErr != nil {
		return nil, pathErr
	}
	return New(0), nil
}

func deviceInfo(threads int) engine.DeviceInfo {
	return engine.DeviceInfo{
		Backend: "cpu",
		Name:    cpuModel(),
		Detail:  fmt.Sprintf("%d threads, %s", threads, active.path),
		Memory:  memTotal(),
	}
}

// cpuModel is the "model name" of /proc/cpuinfo, else GOARCH.
func cpuModel() string {
	if v := procField("/proc/cpuinfo", "model name"); v != "" {
		return v
	}
	return runtime.GOARCH
}

// memTotal is MemTotal of /proc/meminfo in bytes, 0 when unknown.
func memTotal() int64 {
	v := procField("/proc/meminfo", "MemTotal")
	var kb int64
	if _, err := fmt.Sscanf(v, "%d kB", &kb); err != nil {
		return 0
	}
	return kb << 10
}

// procField returns the value of the first "key: value" line of a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// buffer is one allocation of the CPU backend.
type buffer struct{ data []float32 }

// Len is the number of float32 elements in the allocation.
func (b *buffer) Len() int { return len(b.data) }

// Backend is the CPU implementation of engine.Backend. It is used from one
// goroutine at a time; see the package documentation.
type Backend struct {
	pool    *pool
	info    engine.DeviceInfo
	closed  bool
	scratch scratch

	// Job structs of the ops, reused from call to call so that handing
	// work to the pool allocates nothing.
	gemm      gemmJob
	ew        ewJob
	colMean   colMeanJob
	layerNorm lnJob
	loss      lossJob
	opt       optJob
	pen       penJobs
}

// scratch is working memory grown on demand and kept between calls.
type scratch struct {
	pa, pb []float32 // packed GEMM panels
	part   []float64 // per-chunk partial sums
	col1   []float64 // per-column sums of the penalty ops
	col2   []float64
}

// grow32 returns s resliced to n elements, reallocating only when its
// capacity is short.
func grow32(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

func grow64(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

// New returns a Backend that runs ops on threads goroutines (GOMAXPROCS when
// threads ≤ 0). Results do not depend on threads.
func New(threads int) *Backend {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	b := &Backend{pool: newPool(threads), info: deviceInfo(threads)}
	return b
}

var _ engine.Backend = (*Backend)(nil)

// Threads is the number of goroutines an op runs on.
func (b *Backend) Threads() int { return b.pool.threads() }

// Info describes the CPU.
func (b *Backend) Info() engine.DeviceInfo { return b.info }

var errClosed = errors.New("cpu: backend is closed")

// Alloc returns a zeroed rows×cols matrix that owns a new buffer.
func (b *Backend) Alloc(rows, cols int) (engine.Matrix, error) {
	if b.closed {
		return engine.Matrix{}, errClosed
	}
	if rows < 0 || cols < 0 || (cols > 0 && rows > engine.MaxElems/cols) {
		return engine.Matrix{}, &engine.ShapeError{Op: "Alloc", Msg: fmt.Sprintf("bad shape [%d×%d]", rows, cols)}
	}
	// Go cannot recover from running out of memory, so refuse what cannot
	// fit in the machine's RAM instead of dying in make.
	if need := int64(rows) * int64(cols) * 4; b.info.Memory > 0 && need > b.info.Memory {
		return engine.Matrix{}, fmt.Errorf("cpu: Alloc [%d×%d] needs %.1f GiB, more than this machine's %.1f GiB",
			rows, cols, float64(need)/(1<<30), float64(b.info.Memory)/(1<<30))
	}
	return engine.Matrix{Buf: &buffer{data: make([]float32, rows*cols)}, Rows: rows, Cols: cols}, nil
}

// Free drops m's buffer: its storage goes back to the garbage collector once
// no other reference remains, and every view of it becomes invalid (zero
// length, so ops on it fail their shape check).
func (b *Backend) Free(m engine.Matrix) {
	if buf, ok := m.Buf.(*buffer); ok {
		buf.data = nil
	}
}

// Upload copies src into dst.
func (b *Backend) Upload(dst engine.Matrix, src []float32) error {
	if err := engine.CheckTransfer("Upload", dst, len(src)); err != nil {
		return err
	}
	d, err := b.slice(dst)
	if err != nil {
		return err
	}
	copy(d, src)
	return nil
}

// UploadFill lets fill write dst's values in place (engine.FillUploader):
// the backend's memory is the host's.
func (b *Backend) UploadFill(dst engine.Matrix, fill func(host []float32) error) error {
	if err := engine.CheckTransfer("UploadFill", dst, dst.Len()); err != nil {
		return err
	}
	d, err := b.slice(dst)
	if err != nil {
		return err
	}
	return fill(d)
}

// Download copies src into dst.
func (b *Backend) Download(dst []float32, src engine.Matrix) error {
	if err := engine.CheckTransfer("Download", src, len(dst)); err != nil {
		return err
	}
	s, err := b.slice(src)
	if err != nil {
		return err
	}
	copy(dst, s)
	return nil
}

// Sync returns at once: every op has finished when it returns.
func (b *Backend) Sync() error { return nil }

// Close stops the worker goroutines. Later calls run on the caller alone
// (Alloc fails); Close twice is harmless.
func (b *Backend) Close() error {
	if !b.closed {
		b.closed = true
		b.pool.close()
	}
	return nil
}

// slice returns m's elements. The shape checks have already verified that
// m lies inside its buffer; what remains is that the buffer is ours.
func (b *Backend) slice(m engine.Matrix) ([]float32, error) {
	if m.Empty() {
		return nil, nil
	}
	buf, ok := m.Buf.(*buffer)
	if !ok {
		return nil, fmt.Errorf("cpu: matrix %s is stored in a %T, not a CPU buffer", m.Shape(), m.Buf)
	}
	return buf.data[m.Off : m.Off+m.Len() : m.Off+m.Len()], nil
}

// slices resolves several matrices at once (absent ones give nil).
func (b *Backend) slices(ms ...engine.Matrix) (out [8][]float32, err error) {
	for i, m := range ms {
		if out[i], err = b.slice(m); err != nil {
			return out, err
		}
	}
	return out, nil
}
