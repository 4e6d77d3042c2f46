// Package nccl is aegpu's binding to NCCL, the GPU collectives library,
// loaded at run time like the CUDA driver (cuda/internal/cu): Load
// dlopen()s libnccl.so.2 and resolves the few entry points the
// data-parallel trainer needs with dlsym. Nothing NCCL is needed to build;
// with CGO_ENABLED=0 every call reports "built without cgo". Every failure
// to get a usable library wraps ErrNotLoaded; failed calls are *Error
// values that name the call ("ncclCommInitRank: ncclSystemError: ...").
//
// The caller owns the CUDA side: InitRank must run on an OS thread where
// the device's context is current (NCCL picks the device from it), and
// AllReduceSum is given device pointers and the stream to enqueue on.
package nccl

import (
	"errors"
	"fmt"
	"sync"
)

// NCCL's enum values (nccl.h).
const (
	codeSuccess         = 0
	codeSystemError     = 2
	codeInvalidArgument = 4
	codeInvalidUsage    = 5
	codeRemoteError     = 6
	codeInProgress      = 7

	typeFloat32 = 7
	opSum       = 0
)

// UniqueIDBytes is the size of ncclUniqueId.
const UniqueIDBytes = 128

// UniqueID is the id rank 0 makes (NewUniqueID) and every rank passes to
// InitRank: it names the job's communicator. It is plain bytes, to be
// sent to the other ranks (aegpu: MPI_Bcast).
type UniqueID [UniqueIDBytes]byte

// LibName is the library Load opens.
const LibName = "libnccl.so.2"

// ErrNotLoaded is wrapped by every error that means "no usable NCCL in this
// process": libnccl.so.2 could not be opened, an entry point is missing,
// or the binary was built without cgo.
var ErrNotLoaded = errors.New("nccl: NCCL not loaded")

func notLoaded(why string) error { return fmt.Errorf("%w: %s", ErrNotLoaded, why) }

// Error is a failed NCCL call.
type Error struct {
	Call string // the entry point ("ncclAllReduce")
	Code int    // the ncclResult_t
}

// Names of the ncclResult_t codes.
var codeNames = []string{"ncclSuccess", "ncclUnhandledCudaError", "ncclSystemError", "ncclInternalError",
	"ncclInvalidArgument", "ncclInvalidUsage", "ncclRemoteError", "ncclInProgress"}

// CodeName is the name of an ncclResult_t ("ncclRemoteError").
func CodeName(code int) string {
	if code >= 0 && code < len(codeNames) {
		return codeNames[code]
	}
	return fmt.Sprintf("ncclResult_t %d", code)
}

func (e *Error) Error() string {
	s := e.Call + ": " + CodeName(e.Code)
	if loaded && e.Code != codeSuccess {
		if msg := libErrorString(e.Code); msg != "" {
			s += " (" + msg + ")"
		}
	}
	return s
}

// Remote reports whether the error is a peer's failure (ncclRemoteError:
// a rank exited, or the network failed) rather than this process's own.
func (e *Error) Remote() bool { return e.Code == codeRemoteError }

func check(call string, code int) error {
	if code == codeSuccess {
		return nil
	}
	return &Error{Call: call, Code: code}
}

var (
	loadOnce sync.Once
	loadErr  error
	loaded   bool
)

// Load opens libnccl.so.2 once per process and resolves its entry points;
// later calls return the same result.
func Load() error {
	loadOnce.Do(func() {
		if buildErr != nil {
			loadErr = buildErr
			return
		}
		switch r, msg := libLoad(LibName); r {
		case 0:
			loaded = true
		case 1:
			loadErr = notLoaded(msg)
		default:
			loadErr = notLoaded(LibName + ": missing symbol " + msg + " (NCCL too old?)")
		}
	})
	return loadErr
}

// Version is NCCL's version code (ncclGetVersion: 22304 for 2.23.4).
func Version() (int, error) {
	if err := Load(); err != nil {
		return 0, err
	}
	v, r := libVersion()
	return v, check("ncclGetVersion", r)
}

// VersionString formats a version code as "2.23.4" (codes of NCCL ≥ 2.9
// are major·10000 + minor·100 + patch; older ones major·1000 + minor·100 +
// patch).
func VersionString(code int) string {
	if code >= 10000 {
		return fmt.Sprintf("%d.%d.%d", code/10000, code%10000/100, code%100)
	}
	return fmt.Sprintf("%d.%d.%d", code/1000, code%1000/100, code%100)
}

// NewUniqueID makes a communicator's id (ncclGetUniqueId), on rank 0.
func NewUniqueID() (UniqueID, error) {
	if err := Load(); err != nil {
		return UniqueID{}, err
	}
	id, r := libUniqueID()
	return id, check("ncclGetUniqueId", r)
}

// Comm is one rank's communicator.
type Comm struct {
	h      uintptr // ncclComm_t; 0 once destroyed or aborted
	rank   int
	nranks int
}

// InitRank joins the communicator of id as rank of nranks
// (ncclCommInitRank). Every rank calls it; it returns once all have.
func InitRank(id UniqueID, nranks, rank int) (*Comm, error) {
	if err := Load(); err != nil {
		return nil, err
	}
	if nranks < 1 || rank < 0 || rank >= nranks {
		return nil, fmt.Errorf("ncclCommInitRank: rank %d of %d", rank, nranks)
	}
	h, r := libInitRank(nranks, id, rank)
	if err := check("ncclCommInitRank", r); err != nil {
		return nil, err
	}
	return &Comm{h: h, rank: rank, nranks: nranks}, nil
}

// Rank is this process's rank in the communicator.
func (c *Comm) Rank() int { return c.rank }

// Size is the number of ranks.
func (c *Comm) Size() int { return c.nranks }

var errClosed = errors.New("nccl: communicator used after Destroy or Abort")

// AllReduceSum enqueues on stream the in-place sum over the ranks of the
// count float32 values at device address buf (ncclAllReduce, ncclFloat32,
// ncclSum). During stream capture it is recorded into the graph.
func (c *Comm) AllReduceSum(buf uint64, count int64, stream uintptr) error {
	if c.h == 0 {
		return errClosed
	}
	if count < 0 {
		return fmt.Errorf("ncclAllReduce: count %d", count)
	}
	return check("ncclAllReduce", libAllReduce(buf, buf, count, typeFloat32, opSum, c.h, stream))
}

// AsyncError is the communicator's asynchronous error
// (ncclCommGetAsyncError): nil while its collectives are healthy, an
// *Error (ncclRemoteError when a peer died) once one failed.
func (c *Comm) AsyncError() error {
	if c.h == 0 {
		return errClosed
	}
	a, r := libAsyncError(c.h)
	if err := check("ncclCommGetAsyncError", r); err != nil {
		return err
	}
	if a == codeSuccess || a == codeInProgress {
		return nil
	}
	return &Error{Call: "ncclCommGetAsyncError", Code: a}
}

// Abort frees the communicator at once, abandoning its pending collectives
// (ncclCommAbort): what to call after an asynchronous error.
func (c *Comm) Abort() error {
	if c.h == 0 {
		return nil
	}
	h := c.h
	c.h = 0
	return check("ncclCommAbort", libAbort(h))
}

// Destroy frees the communicator after its collectives completed
// (ncclCommDestroy).
func (c *Comm) Destroy() error {
	if c.h == 0 {
		return nil
	}
	h := c.h
	c.h = 0
	return check("ncclCommDestroy", libDestroy(h))
}
