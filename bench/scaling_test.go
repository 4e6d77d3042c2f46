package bench

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/aegpu/aegpu/cpu_fallback"
	"github.com/aegpu/aegpu/engine"
)

// fakeJob is an in-process job: its ranks are goroutines, and every
// collective is a sum over them (a barrier sums nothing).
type fakeJob struct {
	size    int
	mu      sync.Mutex
	cond    *sync.Cond
	acc     []float64
	out     []float64
	arrived int
	gen     int
}

func newFakeJob(size int) *fakeJob {
	j := &fakeJob{size: size}
	j.cond = sync.NewCond(&j.mu)
	return j
}

func (j *fakeJob) reduce(v []float64) []float64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.arrived == 0 {
		j.acc = make([]float64, len(v))
	}
	for i, x := range v {
		j.acc[i] += x
	}
	g := j.gen
	if j.arrived++; j.arrived < j.size {
		for j.gen == g {
			j.cond.Wait()
		}
	} else {
		j.out, j.arrived = j.acc, 0
		j.gen++
		j.cond.Broadcast()
	}
	return j.out
}

type fakeRank struct {
	j    *fakeJob
	rank int
	bad  bool // this rank's all-reduce returns element 0 off by one
}

func (r fakeRank) Rank() int { return r.rank }
func (r fakeRank) Size() int { return r.j.size }

func (r fakeRank) AllreduceSum(buf []float32) error {
	v := make([]float64, len(buf))
	for i, x := range buf {
		v[i] = float64(x)
	}
	for i, x := range r.j.reduce(v) {
		buf[i] = float32(x)
	}
	if r.bad && len(buf) > 0 {
		buf[0]++
	}
	return nil
}

func (r fakeRank) AllreduceSum64(buf []float64) error {
	copy(buf, r.j.reduce(buf))
	return nil
}

func (r fakeRank) Barrier() error                  { r.j.reduce(nil); return nil }
func (r fakeRank) BarrierIdle(time.Duration) error { r.j.reduce(nil); return nil }

// onRanks runs f on every rank of an in-process job of size ranks.
func onRanks(size int, bad int, f func(c Comm)) {
	j := newFakeJob(size)
	var wg sync.WaitGroup
	for r := range size {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(fakeRank{j, r, r == bad})
		}()
	}
	wg.Wait()
}

func TestRunScalingInProcess(t *testing.T) {
	o := Options{Windows: 2, MinWindow: 5 * time.Millisecond, Warmup: 1, Seed: 1}
	for _, s := range []Scaling{Strong, Weak} {
		const ranks = 3
		res := make([]ScalingResult, ranks)
		onRanks(ranks, -1, func(c Comm) {
			b := cpu_fallback.New(1)
			defer b.Close()
			r, err := RunScaling(b, Models[0], o, c, s)
			if err != nil {
				t.Errorf("%s, rank %d: %v", s, c.Rank(), err)
			}
			res[c.Rank()] = r
		})
		if t.Failed() {
			return
		}
		r := res[0]
		wantBatch := Models[0].Batch
		if s == Weak {
			wantBatch *= ranks
		}
		if r.Batch != wantBatch || r.OneRank.Batch != Models[0].Batch || r.Ranks != ranks || len(r.PerRank) != ranks {
			t.Fatalf("%s: batch %d (one rank %d), %d ranks, %d per rank; want batch %d", s, r.Batch, r.OneRank.Batch, r.Ranks, len(r.PerRank), wantBatch)
		}
		rows := 0
		for _, p := range r.PerRank {
			rows += p.Rows
			if !(p.SamplesPerSec > 0) || math.IsInf(p.SamplesPerSec, 0) {
				t.Errorf("%s: rank %d: %v samples/s", s, p.Rank, p.SamplesPerSec)
			}
		}
		if rows != r.Batch {
			t.Errorf("%s: the ranks' rows add to %d, not the global batch %d", s, rows, r.Batch)
		}
		if !(r.Efficiency > 0) || math.IsInf(r.Efficiency, 0) || !(r.OneRank.SamplesPerSec > 0) {
			t.Errorf("%s: efficiency %v, one rank %v samples/s", s, r.Efficiency, r.OneRank.SamplesPerSec)
		}
		for i := 1; i < ranks; i++ {
			if res[i].Efficiency != r.Efficiency || res[i].StepsPerWin != r.StepsPerWin {
				t.Errorf("%s: rank %d has efficiency %v, %d steps per window; rank 0 %v, %d", s, i, res[i].Efficiency, res[i].StepsPerWin, r.Efficiency, r.StepsPerWin)
			}
		}
		t.Logf("\n%s%s", ScalingHeader(), ScalingRows(r))
	}
}

func TestRunAllreduceChecksTheSum(t *testing.T) {
	for _, bad := range []int{-1, 1} {
		rows := make([]AllreduceRow, 3)
		onRanks(3, bad, func(c Comm) {
			r, err := RunAllreduce(c, 8192, 1, 2)
			if err != nil {
				t.Error(err)
			}
			rows[c.Rank()] = r
		})
		want := 0
		if bad >= 0 {
			want = 1
		}
		for i, r := range rows {
			if r.Wrong != want || r.Count != 2048 || r.Bytes != 8192 {
				t.Errorf("bad rank %d: rank %d's row %+v: want %d wrong of 2048", bad, i, r, want)
			}
			if !(r.Micros > 0) || !(r.BusBW > 0) || math.Abs(r.BusBW-r.AlgBW*4/3) > 1e-9*r.AlgBW {
				t.Errorf("rank %d: time %v µs, algbw %v, busbw %v (want algbw·4/3)", i, r.Micros, r.AlgBW, r.BusBW)
			}
		}
	}
}

func TestAllreduceSizesEndAtTheMNISTGradients(t *testing.T) {
	top := GradientBytes(Models[1])
	// 1 083 696 parameters (tensors aligned to 64 bytes) and the stop flag.
	if top < 4*(1083696+1) || top > 4*(1083696+1)+64*12 {
		t.Fatalf("mnist gradients: %d bytes", top)
	}
	s := AllreduceSizes(top)
	if s[0] != 4096 || s[len(s)-1] != top || s[len(s)-2] != 4<<20 {
		t.Errorf("sizes %v", s)
	}
	for i := 1; i < len(s)-1; i++ {
		if s[i] != 2*s[i-1] {
			t.Errorf("sizes %v do not double", s)
		}
	}
}

// queuedSums is a backend that sums on its "device" over an in-process
// job, the way a stream does: AllReduceSum queues the sum, and Sync (or a
// Download) runs what is queued. It counts the sums that ran.
type queuedSums struct {
	engine.Backend
	c      fakeRank
	queued []engine.Matrix
	ran    int
}

func (q *queuedSums) Ranks() int { return q.c.Size() }
func (q *queuedSums) AllReduceSum(m engine.Matrix) error {
	q.queued = append(q.queued, m)
	return nil
}
func (q *queuedSums) CollectiveError() error { return nil }
func (q *queuedSums) Sync() error {
	for _, m := range q.queued {
		v := make([]float32, m.Len())
		if err := q.Backend.Download(v, m); err != nil {
			return err
		}
		if err := q.c.AllreduceSum(v); err != nil {
			return err
		}
		if err := q.Backend.Upload(m, v); err != nil {
			return err
		}
		q.ran++
	}
	q.queued = q.queued[:0]
	return q.Backend.Sync()
}
func (q *queuedSums) Download(dst []float32, src engine.Matrix) error {
	if err := q.Sync(); err != nil {
		return err
	}
	return q.Backend.Download(dst, src)
}

// TestRunDeviceAllreduce: the device sums are checked (a rank whose sum is
// off is counted) and every queued sum runs before the time is taken: one
// checked, warmup and iters, on every rank.
func TestRunDeviceAllreduce(t *testing.T) {
	for _, bad := range []int{-1, 2} {
		rows := make([]AllreduceRow, 3)
		ran := make([]int, 3)
		onRanks(3, bad, func(c Comm) {
			cpu := cpu_fallback.New(1)
			defer cpu.Close()
			q := &queuedSums{Backend: cpu, c: c.(fakeRank)}
			r, err := RunDeviceAllreduce(q, c, 4100, 2, 3)
			if err != nil {
				t.Error(err)
			}
			rows[c.Rank()], ran[c.Rank()] = r, q.ran
		})
		want := 0
		if bad >= 0 {
			want = 1
		}
		for i, r := range rows {
			if r.Wrong != want || r.Count != 1025 || r.Bytes != 4100 || ran[i] != 1+2+3 {
				t.Errorf("bad rank %d: rank %d's row %+v after %d sums: want %d wrong of 1025 after 6 sums", bad, i, r, ran[i], want)
			}
			if !(r.Micros > 0) || math.Abs(r.BusBW-r.AlgBW*4/3) > 1e-9*r.AlgBW {
				t.Errorf("rank %d: time %v µs, algbw %v, busbw %v (want algbw·4/3)", i, r.Micros, r.AlgBW, r.BusBW)
			}
		}
	}
	// A backend that does not sum over the job's ranks is refused.
	onRanks(2, -1, func(c Comm) {
		cpu := cpu_fallback.New(1)
		defer cpu.Close()
		if _, err := RunDeviceAllreduce(cpu, c, 4096, 0, 1); err == nil {
			t.Errorf("rank %d: the CPU backend was taken for a device that sums", c.Rank())
		}
	})
}
