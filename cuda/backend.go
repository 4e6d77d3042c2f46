package cuda

import (
	"errors"
	"fmt"
	"time"

	"github.com/aegpu/aegpu/cuda/internal/cu"
	"github.com/aegpu/aegpu/cuda/internal/nccl"
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/kernels"
)

// Backend runs engine ops on one GPU. Ops are queued on one stream in call
// order (UploadAfter copies on a second one); only Download and Sync wait
// for them. A Backend is used from one goroutine at a time, which may move
// between OS threads: its context is made current on every call.
type Backend struct {
	ctx    *cu.Context
	dev    cu.DeviceInfo
	info   engine.DeviceInfo
	stream cu.Stream
	mod    cu.Module
	k      kernelSet
	alloc  *cu.Allocator
	args   *cu.Args

	partial cu.DevicePtr // reduction scratch: kernels.ReduceBlocks doubles

	// Pinned staging for uploads: a ring of slots, each reused only after
	// the copy queued from it has completed (its event).
	stage     [2]*cu.HostBuffer
	stageDone [2]cu.Event
	stageUsed [2]bool
	stageNext int
	down      *cu.HostBuffer // pinned staging for downloads

	copyStream cu.Stream   // uploads that overlap compute (UploadAfter)
	marks      [4]cu.Event // Mark's events, reused round robin
	markNext   int
	closed     bool
	capturing  bool // inside Record

	prec engine.Precision // of Dense and DenseBackward's products (SetPrecision)

	comm *nccl.Comm // a data-parallel job's communicator (JoinNCCL); nil: none
	// collLimit bounds a wait for work that sums over comm (wait.go; 0: none).
	collLimit time.Duration
}

// New opens CUDA device ordinal with its primary context, loads the
// embedded kernels and creates the backend's stream.
func New(ordinal int) (b *Backend, err error) {
	if err := cu.Init(); err != nil {
		return nil, err
	}
	dev, err := cu.Device(ordinal)
	if err != nil {
		return nil, err
	}
	b = &Backend{dev: dev, info: deviceInfo(dev)}
	defer func() {
		if err != nil {
			b.Close()
			b = nil
		}
	}()
	if b.ctx, err = cu.RetainPrimary(ordinal); err != nil {
		return nil, err
	}
	if err = b.ctx.SetCurrent(); err != nil {
		return nil, err
	}
	if b.stream, err = cu.StreamCreate(true); err != nil {
		return nil, err
	}
	if b.mod, err = cu.ModuleLoadData(kernels.Fatbin); err != nil {
		return nil, fmt.Errorf("load the aegpu kernels on %s (sm_%d%d): %w", dev.Name, dev.Major, dev.Minor, err)
	}
	if err = b.k.bind(b.mod); err != nil {
		return nil, err
	}
	b.alloc = cu.NewAllocator(cu.DriverBlocks())
	b.args = cu.NewArgs()
	if b.partial, err = b.alloc.Alloc(8 * kernels.ReduceBlocks); err != nil {
		return nil, err
	}
	for i := range b.stageDone {
		if b.stageDone[i], err = cu.EventCreate(false); err != nil {
			return nil, err
		}
	}
	if b.copyStream, err = cu.StreamCreate(true); err != nil {
		return nil, err
	}
	for i := range b.marks {
		if b.marks[i], err = cu.EventCreate(false); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Info describes the device.
func (b *Backend) Info() engine.DeviceInfo { return b.info }

// SetPrecision selects the arithmetic of Dense and DenseBackward's
// products (engine.PrecisionSetter): engine.FP32 (the default), or
// engine.TF32 / engine.BF16 — the tensor-core kernels of
// kernels/gemm_tf32.cu and kernels/gemm_bf16.cu — which need compute
// capability ≥ 8.0. It applies to ops issued later (a recorded step keeps
// the kernels it captured).
func (b *Backend) SetPrecision(p engine.Precision) error {
	switch p {
	case engine.FP32:
	case engine.TF32, engine.BF16:
		if b.dev.Major < 8 {
			return &engine.PrecisionError{Precision: p, Reason: fmt.Sprintf("%s is sm_%d%d (compute capability %d.%d)",
				b.dev.Name, b.dev.Major, b.dev.Minor, b.dev.Major, b.dev.Minor)}
		}
	default:
		return fmt.Errorf("engine.SetPrecision: unknown precision %v", p)
	}
	b.prec = p
	return nil
}

// Precision is the precision set by SetPrecision.
func (b *Backend) Precision() engine.Precision { return b.prec }

// MemoryStats reports the caching allocator's bytes in use, peak and cached.
func (b *Backend) MemoryStats() cu.AllocStats { return b.alloc.Stats() }

// Close frees every resource of the backend.
func (b *Backend) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	var errs []error
	if b.ctx != nil {
		errs = append(errs, b.ctx.SetCurrent())
	}
	if b.stream != 0 {
		errs = append(errs, b.waitStream(b.stream)) // aborts the communicator if a peer failed
	}
	if b.comm != nil {
		errs = append(errs, b.comm.Destroy())
		b.comm = nil
	}
	for i := range b.stage {
		if b.stage[i] != nil {
			errs = append(errs, b.stage[i].Free())
		}
		if b.stageDone[i] != 0 {
			errs = append(errs, b.stageDone[i].Destroy())
		}
	}
	if b.down != nil {
		errs = append(errs, b.down.Free())
	}
	if b.copyStream != 0 {
		errs = append(errs, b.copyStream.Synchronize(), b.copyStream.Destroy())
	}
	for _, e := range b.marks {
		if e != 0 {
			errs = append(errs, e.Destroy())
		}
	}
	if b.alloc != nil {
		if b.partial != 0 {
			b.alloc.Free(b.partial)
		}
		errs = append(errs, b.alloc.ReleaseCached())
	}
	if b.args != nil {
		b.args.Free()
	}
	if b.mod != 0 {
		errs = append(errs, b.mod.Unload())
	}
	if b.stream != 0 {
		errs = append(errs, b.stream.Destroy())
	}
	if b.ctx != nil {
		errs = append(errs, b.ctx.Release())
	}
	return errors.Join(errs...)
}

// buffer is a device allocation.
type buffer struct {
	ptr cu.DevicePtr
	n   int
	b   *Backend
}

func (d *buffer) Len() int { return d.n }

// ptr returns the device address of m's first element.
func (b *Backend) ptr(m engine.Matrix) cu.DevicePtr {
	if m.Empty() {
		return 0
	}
	return m.Buf.(*buffer).ptr + cu.DevicePtr(4*m.Off)
}

// own checks that every present matrix lives on this backend.
func (b *Backend) own(op string, ms ...engine.Matrix) error {
	for _, m := range ms {
		if m.Empty() {
			continue
		}
		d, ok := m.Buf.(*buffer)
		if !ok || d.b != b {
			return fmt.Errorf("engine.%s: a matrix belongs to another backend (%T)", op, m.Buf)
		}
	}
	return nil
}

// enter checks ownership and, when the binding does not do it itself,
// makes the context current; every op starts here. With one device the
// binding makes its context current inside each driver call (a goroutine
// may change OS threads between any two calls), so no extra driver call is
// spent per op; with several, each op sets its device's context.
func (b *Backend) enter(op string, ms ...engine.Matrix) error {
	if b.closed {
		return fmt.Errorf("engine.%s: backend is closed", op)
	}
	if err := b.own(op, ms...); err != nil {
		return err
	}
	if b.ctx.Automatic() {
		return nil
	}
	return b.ctx.SetCurrent()
}

// Alloc returns a zeroed rows×cols matrix.
func (b *Backend) Alloc(rows, cols int) (engine.Matrix, error) {
	if rows < 0 || cols < 0 || (cols > 0 && rows > engine.MaxElems/cols) {
		return engine.Matrix{}, fmt.Errorf("engine.Alloc: bad shape %d×%d", rows, cols)
	}
	if err := b.noCapture("Alloc"); err != nil {
		return engine.Matrix{}, err
	}
	if err := b.enter("Alloc"); err != nil {
		return engine.Matrix{}, err
	}
	n := rows * cols
	bytes := int64(4 * max(n, 1))
	p, err := b.alloc.Alloc(bytes)
	if err != nil {
		var oom *cu.OutOfMemoryError
		if errors.As(err, &oom) {
			return engine.Matrix{}, fmt.Errorf("allocate %d×%d float32 on %s: %w", rows, cols, b.info, err)
		}
		return engine.Matrix{}, err
	}
	if err := cu.MemsetD32Async(p, 0, int64(max(n, 1)), b.stream); err != nil {
		b.alloc.Free(p)
		return engine.Matrix{}, err
	}
	return engine.Matrix{Buf: &buffer{ptr: p, n: n, b: b}, Rows: rows, Cols: cols}, nil
}

// Free returns m's buffer to the caching allocator. Work already queued on
// the stream that uses it still completes first: the allocator hands the
// block out again only to work queued later on the same stream.
func (b *Backend) Free(m engine.Matrix) {
	if m.Empty() || b.closed {
		return
	}
	if d, ok := m.Buf.(*buffer); ok && d.b == b && d.ptr != 0 {
		b.alloc.Free(d.ptr)
		d.ptr = 0
	}
}

// Sync waits for all queued work.
func (b *Backend) Sync() error {
	if err := b.noCapture("Sync"); err != nil {
		return err
	}
	if err := b.enter("Sync"); err != nil {
		return err
	}
	return b.waitStream(b.stream)
}
