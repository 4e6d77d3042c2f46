package autoencoder

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/aegpu/aegpu/cpu_fallback"
	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
)

// localJob is an in-process Collective: size ranks as goroutines, summing
// in rank order at a barrier. It checks the trainer's data-parallel
// arithmetic without MPI (the MPI runs are cmd/aegpu's tests).
type localJob struct {
	size    int
	mu      sync.Mutex
	cond    *sync.Cond
	bufs    [][]float32
	arrived int
	gen     int
	err     error
}

func newLocalJob(size int) *localJob {
	j := &localJob{size: size, bufs: make([][]float32, size)}
	j.cond = sync.NewCond(&j.mu)
	return j
}

type localRank struct {
	j    *localJob
	rank int
}

func (r localRank) Rank() int { return r.rank }
func (r localRank) Size() int { return r.j.size }

func (r localRank) AllreduceSum(buf []float32) error {
	j := r.j
	j.mu.Lock()
	defer j.mu.Unlock()
	g := j.gen
	j.bufs[r.rank] = buf
	if j.arrived++; j.arrived < j.size {
		for j.gen == g {
			j.cond.Wait()
		}
		return j.err
	}
	j.err = nil
	sum := make([]float32, len(buf))
	for _, b := range j.bufs {
		if len(b) != len(sum) {
			j.err = fmt.Errorf("all-reduce of %d and %d values: the ranks' calls differ", len(b), len(sum))
		}
		for i := range min(len(b), len(sum)) {
			sum[i] += b[i]
		}
	}
	for _, b := range j.bufs {
		copy(b, sum)
	}
	j.arrived, j.gen = 0, j.gen+1
	j.cond.Broadcast()
	return j.err
}

// distCase is a run that data-parallel training must reproduce.
type distCase struct {
	name   string
	rows   int // 0.8 of them train: 113 rows leave a last batch of 1 at batch 16
	stream bool
	set    func(c *TrainConfig)
}

var distCases = []distCase{
	{name: "adam-l2", rows: 142, set: func(c *TrainConfig) { c.L2 = 1e-3 }},
	{name: "sgd-clip", rows: 160, set: func(c *TrainConfig) { c.Optimizer, c.Momentum, c.LR, c.ClipNorm = "sgd", 0.9, 0.05, 0.5 }},
	{name: "stream", rows: 160, stream: true},
}

// distRun trains c on one rank of job (nil: a single process) and returns
// the final parameters and per-epoch metrics.
func distRun(t *testing.T, c distCase, job *localJob, rank int, paths []string) ([]float32, []EpochMetrics) {
	b := cpu_fallback.New(1)
	defer b.Close()
	cfg := DefaultTrainConfig()
	cfg.Epochs, cfg.Batch, cfg.LR, cfg.ValSplit, cfg.Seed = 3, 16, 3e-3, 0.2, 7
	if c.set != nil {
		c.set(&cfg)
	}
	x := pinData()[:c.rows*pinCols]
	opts := FitOptions{Data: &dataset.Table{Rows: c.rows, Cols: pinCols, Data: x, Shape: []int{c.rows, pinCols}},
		Source: "dist", Arch: Arch{Layers: []int{12, 8, 3}, Hidden: engine.ReLU, Latent: engine.Linear, Output: engine.Sigmoid},
		Train: cfg, Scale: dataset.ScaleMinMax, Backend: b}
	var r *Run
	var err error
	if c.stream {
		r, err = NewStreamRun(opts, paths, 40)
	} else {
		r, err = NewRun(opts)
	}
	if err != nil {
		t.Error(err)
		return nil, nil
	}
	defer r.Close()
	if job != nil {
		if err := r.Trainer.SetCollective(localRank{job, rank}); err != nil {
			t.Error(err)
			return nil, nil
		}
	}
	if err := r.Train(context.Background()); err != nil {
		t.Errorf("rank %d: %v", rank, err)
		return nil, nil
	}
	p := make([]float32, r.Trainer.Model.Params.Len())
	if err := b.Download(p, r.Trainer.Model.Params); err != nil {
		t.Error(err)
	}
	return p, r.Trainer.State.Metrics
}

// maxRel is the largest |a-b| / max(|b|, 1e-3) over the values.
func maxRel(a, b []float32) float64 {
	var m float64
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		m = max(m, d/max(math.Abs(float64(b[i])), 1e-3))
	}
	return m
}

// TestDataParallelMatchesOneProcess trains on 2 and 3 in-process ranks and
// compares every rank's final weights and the epochs' metrics with one
// process on the same seed and global batch.
func TestDataParallelMatchesOneProcess(t *testing.T) {
	x := pinData()
	paths := writePinParts(t, x)
	for _, c := range distCases {
		want, wantM := distRun(t, c, nil, 0, paths)
		if want == nil {
			return
		}
		for _, size := range []int{2, 3} {
			job := newLocalJob(size)
			got := make([][]float32, size)
			mets := make([][]EpochMetrics, size)
			var wg sync.WaitGroup
			for r := range size {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got[r], mets[r] = distRun(t, c, job, r, paths)
				}()
			}
			wg.Wait()
			for r := range size {
				if got[r] == nil {
					t.Fatalf("%s/%d: rank %d failed", c.name, size, r)
				}
				if d := maxRel(got[r], want); d > 1e-5 {
					t.Errorf("%s on %d ranks: rank %d's weights differ from one process's by %.3g relative", c.name, size, r, d)
				}
				for e, m := range mets[r] {
					w := wantM[e]
					if rel := math.Abs(m.TrainLoss-w.TrainLoss) / w.TrainLoss; rel > 1e-5 {
						t.Errorf("%s on %d ranks: rank %d epoch %d train loss %v, one process %v", c.name, size, r, e+1, m.TrainLoss, w.TrainLoss)
					}
					if rel := math.Abs(*m.ValLoss-*w.ValLoss) / *w.ValLoss; rel > 1e-5 {
						t.Errorf("%s on %d ranks: rank %d epoch %d val loss %v, one process %v", c.name, size, r, e+1, *m.ValLoss, *w.ValLoss)
					}
					if (m.TrainPenalty == nil) != (w.TrainPenalty == nil) || m.TrainPenalty != nil && math.Abs(*m.TrainPenalty-*w.TrainPenalty) / *w.TrainPenalty > 1e-5 {
						t.Errorf("%s on %d ranks: rank %d epoch %d penalty differs", c.name, size, r, e+1)
					}
				}
			}
			t.Logf("%s on %d ranks: max relative weight difference %.3g", c.name, size, maxRel(got[0], want))
		}
	}
}

func TestShare(t *testing.T) {
	for _, size := range []int{1, 2, 3, 5} {
		for _, n := range []int{1, 2, 7, 16, 17} {
			next := 0
			for r := range size {
				tr := &Trainer{dist: &distState{rank: r, size: size}}
				lo, k := tr.share(n)
				if lo != next || k < 0 || (r == 0 && k == 0) {
					t.Fatalf("n %d on %d ranks: rank %d gets [%d, %d+%d)", n, size, r, lo, lo, k)
				}
				next = lo + k
			}
			if next != n {
				t.Fatalf("n %d on %d ranks: shares cover %d rows", n, size, next)
			}
		}
	}
}
