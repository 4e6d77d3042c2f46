package cuda

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/aegpu/aegpu/cuda/internal/nccl"
	"github.com/aegpu/aegpu/engine"
)

// The GPU side of data-parallel training: the backend joins an NCCL
// communicator (JoinNCCL) and then sums device buffers over the ranks on
// its compute stream (AllReduceSum, engine.AllReducer), inside a recorded
// step too. libnccl.so.2 is loaded at run time, as libcuda.so.1 is.

// NCCLID is an NCCL communicator's unique id: made by rank 0 (NewNCCLID)
// and sent to every rank, which passes it to JoinNCCL.
type NCCLID [nccl.UniqueIDBytes]byte

// ErrNCCLNotLoaded is wrapped by every error that means libnccl.so.2 could
// not be used (not installed, too old, or a binary built without cgo).
var ErrNCCLNotLoaded = nccl.ErrNotLoaded

// NCCLVersion loads NCCL and returns its version ("2.23.4").
func NCCLVersion() (string, error) {
	v, err := nccl.Version()
	if err != nil {
		return "", err
	}
	return nccl.VersionString(v), nil
}

// NewNCCLID makes a communicator's id (ncclGetUniqueId).
func NewNCCLID() (NCCLID, error) {
	id, err := nccl.NewUniqueID()
	return NCCLID(id), err
}

// onDevice runs fn on a locked OS thread where the backend's context is
// current: NCCL finds its device from the current context.
func (b *Backend) onDevice(fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := b.ctx.SetCurrent(); err != nil {
		return err
	}
	return fn()
}

// JoinNCCL makes the backend rank of nranks of the communicator id
// (ncclCommInitRank, which returns once every rank joined). Each rank
// needs a GPU of its own: NCCL refuses two ranks on one device.
func (b *Backend) JoinNCCL(id NCCLID, nranks, rank int) error {
	if err := b.enter("JoinNCCL"); err != nil {
		return err
	}
	if b.comm != nil {
		return errors.New("cuda: the backend already joined an NCCL communicator")
	}
	return b.onDevice(func() error {
		c, err := nccl.InitRank(nccl.UniqueID(id), nranks, rank)
		if err != nil {
			return fmt.Errorf("join the NCCL communicator as rank %d of %d on %s: %w", rank, nranks, b.info, err)
		}
		b.comm = c
		return nil
	})
}

// Ranks is the size of the backend's NCCL communicator (0: none).
func (b *Backend) Ranks() int {
	if b.comm == nil {
		return 0
	}
	return b.comm.Size()
}

// AllReduceSum queues the in-place sum of m over the ranks on the
// backend's stream (ncclAllReduce); during Record it is captured into the
// graph.
func (b *Backend) AllReduceSum(m engine.Matrix) error {
	if err := b.enter("AllReduceSum", m); err != nil {
		return err
	}
	if b.comm == nil {
		return errors.New("engine.AllReduceSum: the backend joined no NCCL communicator")
	}
	if m.Empty() {
		return nil
	}
	return b.onDevice(func() error {
		return b.comm.AllReduceSum(uint64(b.ptr(m)), int64(m.Len()), uintptr(b.stream))
	})
}

// CollectiveError polls the communicator's asynchronous error
// (ncclCommGetAsyncError). On an error it aborts the communicator
// (ncclCommAbort), as NCCL requires, and the backend leaves the job.
func (b *Backend) CollectiveError() error {
	if b.comm == nil {
		return nil
	}
	if err := b.comm.AsyncError(); err != nil {
		return b.abortCollective(err)
	}
	return nil
}

// abortCollective aborts the backend's communicator after err (ncclCommAbort,
// as NCCL requires after an error; it also ends the communicator's kernels)
// and leaves the job; the error says which rank failed and why.
func (b *Backend) abortCollective(err error) error {
	rank, size := b.comm.Rank(), b.comm.Size()
	b.comm.Abort()
	b.comm = nil
	var ne *nccl.Error
	if errors.As(err, &ne) && ne.Remote() {
		return fmt.Errorf("NCCL all-reduce of rank %d of %d failed: another rank exited or the network failed: %w", rank, size, err)
	}
	return fmt.Errorf("NCCL all-reduce of rank %d of %d failed: %w", rank, size, err)
}

// LeaveNCCL destroys the backend's communicator after its queued sums
// complete (ncclCommDestroy). Recorded steps that sum must be freed first.
func (b *Backend) LeaveNCCL() error {
	if b.comm == nil {
		return nil
	}
	var errs []error
	if !b.closed {
		errs = append(errs, b.Sync())
	}
	c := b.comm
	b.comm = nil
	if err := errors.Join(errs...); err != nil {
		return errors.Join(err, c.Abort())
	}
	return c.Destroy()
}

var _ engine.AllReducer = (*Backend)(nil)
