package bench

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/aegpu/aegpu/cpu_fallback"
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
