package cuda

import (
	"errors"
	"fmt"
	"time"

	"github.com/aegpu/aegpu/cuda/internal/cu"
)

// Waiting on a GPU that sums over NCCL. A queued ncclAllReduce waits on the
// device for the other ranks: when one of them died or stalled, the stream
// never drains, and cuStreamSynchronize would block the host forever. A
// backend in a communicator therefore never blocks in the driver: it polls
// the stream (or event) and, between polls, the communicator's asynchronous
// error (which reports a peer that exited, or a network failure), and gives
// up after the collective timeout (a peer that stalls without failing). On
// either it aborts the communicator (ncclCommAbort, which also ends its
// kernels) and returns an error that says which.

// collectiveWait is one such wait: done polls the stream, failed the
// communicator; now and sleep are the clock (tests pass their own).
type collectiveWait struct {
	done   func() (bool, error)
	failed func() error
	limit  time.Duration // 0: no limit
	now    func() time.Time
	sleep  func(time.Duration)
}

// errCollectiveTimeout is the wait's error when limit passed.
type errCollectiveTimeout struct{ limit time.Duration }

func (e *errCollectiveTimeout) Error() string {
	return fmt.Sprintf("the GPU's queued work, which sums over NCCL, did not complete within %s: another rank stalled (--mpi-timeout sets the limit)", e.limit)
}

// errPeerFailed is the wait's error when the communicator failed.
type errPeerFailed struct{ err error }

func (e *errPeerFailed) Error() string { return e.err.Error() }
func (e *errPeerFailed) Unwrap() error { return e.err }

// Poll intervals: short at first (a step that is nearly done costs little
// latency), growing to at most maxPoll (an idle host costs little CPU).
const (
	minPoll = 5 * time.Microsecond
	maxPoll = 500 * time.Microsecond
)

// run polls until the work completed (nil), the communicator failed (its
// error), or the limit passed (*errCollectiveTimeout).
func (w collectiveWait) run() error {
	start := w.now()
	pause := minPoll
	for {
		ok, err := w.done()
		if err != nil || ok {
			return err
		}
		if err := w.failed(); err != nil {
			return &errPeerFailed{err}
		}
		if w.limit > 0 && w.now().Sub(start) >= w.limit {
			return &errCollectiveTimeout{w.limit}
		}
		w.sleep(pause)
		pause = min(2*pause, maxPoll)
	}
}

// SetCollectiveTimeout bounds how long the host waits for queued work that
// includes NCCL sums (0: no limit). The default is no limit.
func (b *Backend) SetCollectiveTimeout(limit time.Duration) { b.collLimit = limit }

// waitStream waits for the work queued on s: cuStreamSynchronize alone,
// or polling when the backend sums over NCCL.
func (b *Backend) waitStream(s cu.Stream) error {
	if b.comm == nil {
		return s.Synchronize()
	}
	return b.pollCollective(s.Query)
}

// waitEvent waits for e's last record (as waitStream).
func (b *Backend) waitEvent(e cu.Event) error {
	if b.comm == nil {
		return e.Synchronize()
	}
	return b.pollCollective(e.Query)
}

func (b *Backend) pollCollective(done func() (bool, error)) error {
	err := collectiveWait{done: done, failed: b.comm.AsyncError, limit: b.collLimit, now: time.Now, sleep: time.Sleep}.run()
	var timedOut *errCollectiveTimeout
	var failed *errPeerFailed
	if errors.As(err, &timedOut) || errors.As(err, &failed) {
		return b.abortCollective(err)
	}
	return err // nil, or the driver's own error
}
