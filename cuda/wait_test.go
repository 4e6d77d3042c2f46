package cuda

import (
	"errors"
	"testing"
	"time"
)

// fakeWait is a stream that completes after pending polls (or never:
// pending < 0) and a communicator that fails at poll failAt (0: never),
// on a clock that only the wait's sleeps advance.
type fakeWait struct {
	pending, failAt, polls int
	driverErr, peerErr     error
	clock                  time.Time
	slept                  []time.Duration
}

func (f *fakeWait) wait(limit time.Duration) error {
	return collectiveWait{
		done: func() (bool, error) {
			f.polls++
			if f.driverErr != nil && f.polls == 2 {
				return false, f.driverErr
			}
			return f.pending >= 0 && f.polls > f.pending, nil
		},
		failed: func() error {
			if f.failAt > 0 && f.polls >= f.failAt {
				return f.peerErr
			}
			return nil
		},
		limit: limit,
		now:   func() time.Time { return f.clock },
		sleep: func(d time.Duration) { f.clock = f.clock.Add(d); f.slept = append(f.slept, d) },
	}.run()
}

func TestCollectiveWait(t *testing.T) {
	t.Run("completes", func(t *testing.T) {
		f := &fakeWait{pending: 3}
		if err := f.wait(time.Second); err != nil {
			t.Fatal(err)
		}
		// Three polls found it pending, the fourth done: three sleeps,
		// doubling from the shortest.
		want := []time.Duration{minPoll, 2 * minPoll, 4 * minPoll}
		if f.polls != 4 || len(f.slept) != 3 || f.slept[0] != want[0] || f.slept[1] != want[1] || f.slept[2] != want[2] {
			t.Fatalf("polls %d, sleeps %v; want 4 polls and sleeps %v", f.polls, f.slept, want)
		}
	})
	t.Run("peer failed", func(t *testing.T) {
		peer := errors.New("ncclRemoteError")
		f := &fakeWait{pending: -1, failAt: 5, peerErr: peer}
		err := f.wait(time.Hour)
		var failed *errPeerFailed
		if !errors.As(err, &failed) || !errors.Is(err, peer) || f.polls != 5 {
			t.Fatalf("err %v after %d polls; want the communicator's error at poll 5", err, f.polls)
		}
	})
	t.Run("stalled peer", func(t *testing.T) {
		const limit = 3 * time.Second
		f := &fakeWait{pending: -1}
		err := f.wait(limit)
		var timedOut *errCollectiveTimeout
		if !errors.As(err, &timedOut) {
			t.Fatalf("err %v; want the timeout", err)
		}
		// It gave up at the first poll past the limit: the clock stands
		// within one (longest) pause after it.
		waited := f.clock.Sub(time.Time{})
		if waited < limit || waited >= limit+maxPoll {
			t.Fatalf("gave up after %s; want within [%s, %s)", waited, limit, limit+maxPoll)
		}
		for _, d := range f.slept {
			if d > maxPoll {
				t.Fatalf("slept %s at once; the longest pause is %s", d, maxPoll)
			}
		}
	})
	t.Run("driver error", func(t *testing.T) {
		drv := errors.New("cuStreamQuery: CUDA_ERROR_ILLEGAL_ADDRESS")
		f := &fakeWait{pending: -1, driverErr: drv}
		err := f.wait(0)
		var failed *errPeerFailed
		if err != drv || errors.As(err, &failed) {
			t.Fatalf("err %v; want the driver's error as is", err)
		}
	})
	t.Run("no limit", func(t *testing.T) {
		f := &fakeWait{pending: 2000}
		if err := f.wait(0); err != nil {
			t.Fatal(err)
		}
		if f.slept[len(f.slept)-1] != maxPoll {
			t.Fatalf("last pause %s; want the longest, %s", f.slept[len(f.slept)-1], maxPoll)
		}
	})
}
