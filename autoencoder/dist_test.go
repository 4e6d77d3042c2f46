package autoencoder

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

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
	batch  int // 0: 16
	stream bool
	set    func(c *TrainConfig)
	arch   func(a *Arch)
}

var distCases = []distCase{
	{name: "adam-l2", rows: 142, set: func(c *TrainConfig) { c.L2 = 1e-3 }},
	{name: "sgd-clip", rows: 160, set: func(c *TrainConfig) { c.Optimizer, c.Momentum, c.LR, c.ClipNorm = "sgd", 0.9, 0.05, 0.5 }},
	{name: "stream", rows: 160, stream: true},
	// The variants, at batch 17 (a share of 9/8 rows on 2 ranks, 6/6/5 on
	// 3) or with a last batch of 1 row (ranks without rows).
	{name: "denoising-masking", rows: 142, batch: 17, set: func(c *TrainConfig) { c.Noise = "masking:0.3" }},
	{name: "denoising-gaussian-stream", rows: 160, batch: 17, stream: true, set: func(c *TrainConfig) { c.Noise = "gaussian:0.2" }},
	{name: "sparse-kl-l1", rows: 142, set: func(c *TrainConfig) {
		c.Kind, c.SparsityBeta, c.SparsityTarget, c.SparsityL1, c.SparseLayers = "sparse", 0.5, 0.1, 1e-2, []int{1, 2}
	}, arch: func(a *Arch) { a.Hidden, a.Latent = engine.Sigmoid, engine.Sigmoid }},
	{name: "sparse-kl", rows: 142, batch: 17, set: func(c *TrainConfig) {
		c.Kind, c.SparsityBeta, c.SparsityTarget, c.L2 = "sparse", 1, 0.2, 1e-3
	}, arch: func(a *Arch) { a.Latent = engine.Sigmoid }},
	{name: "sparse-l1", rows: 142, batch: 17, set: func(c *TrainConfig) { c.Kind, c.SparsityL1 = "sparse", 0.05 }},
	{name: "contractive-exact", rows: 142, batch: 17, set: func(c *TrainConfig) { c.Kind, c.Contractive = "contractive", 0.1 },
		arch: func(a *Arch) { a.Layers, a.Hidden, a.Latent = []int{12, 5}, engine.Tanh, engine.Sigmoid }},
	{name: "contractive-exact-tied", rows: 142, set: func(c *TrainConfig) { c.Kind, c.Contractive, c.Noise = "contractive", 0.1, "salt_pepper:0.1" },
		arch: func(a *Arch) { a.Layers, a.Latent, a.Tied = []int{12, 5}, engine.Sigmoid, true }},
	{name: "contractive-projections", rows: 142, batch: 17, set: func(c *TrainConfig) { c.Kind, c.Contractive, c.Projections = "contractive", 0.05, 2 },
		arch: func(a *Arch) { a.Hidden = engine.Tanh }},
	{name: "vae", rows: 142, batch: 17, set: func(c *TrainConfig) { c.Kind, c.KLBeta, c.KLWarmup = "vae", 1, 1.5 },
		arch: func(a *Arch) { a.VAE = true }},
	{name: "vae-noisy", rows: 142, set: func(c *TrainConfig) { c.Kind, c.KLBeta, c.Noise = "vae", 0.5, "gaussian:0.1" },
		arch: func(a *Arch) { a.VAE = true }},
	// --norm layer: the LayerNorms' gradients are summed like the others
	// (with an L1 penalty on a normalized layer's activations).
	{name: "norm-layer-sparse-l1", rows: 142, batch: 17, set: func(c *TrainConfig) { c.Kind, c.SparsityL1, c.SparseLayers = "sparse", 0.05, []int{1} },
		arch: func(a *Arch) { a.Hidden, a.Norm = engine.ReLU, NormLayer }},
}

// distRun trains c on one rank of job (nil: a single process) and returns
// the final parameters and per-epoch metrics.
func distRun(t *testing.T, c distCase, job *localJob, rank int, paths []string) ([]float32, []EpochMetrics) {
	return distRunOn(t, c, job, rank, paths, false)
}

// deviceSums is a backend that sums on its own "device" (engine.AllReducer)
// over an in-process job, as the CUDA backend does over NCCL: the
// trainer's device path without a GPU. It hides the CPU backend's DrawsAt,
// as the CUDA backend has none.
type deviceSums struct {
	engine.Backend
	r     localRank
	polls *int
}

func (d deviceSums) Ranks() int { return d.r.Size() }

func (d deviceSums) AllReduceSum(m engine.Matrix) error {
	h := make([]float32, m.Len())
	if err := d.Backend.Download(h, m); err != nil {
		return err
	}
	if err := d.r.AllreduceSum(h); err != nil {
		return err
	}
	return d.Backend.Upload(m, h)
}

func (d deviceSums) CollectiveError() error {
	*d.polls++
	return nil
}

// deviceSumsAt is deviceSums drawing from any position of a stream, as
// the CUDA backend does (engine.DrawsAt).
type deviceSumsAt struct {
	deviceSums
	at engine.DrawsAt
}

func (d deviceSumsAt) RandNormalAt(dst engine.Matrix, seed, stream, start uint64, mean, std float32) error {
	return d.at.RandNormalAt(dst, seed, stream, start, mean, std)
}

func (d deviceSumsAt) CorruptAt(dst, src engine.Matrix, kind engine.Noise, level float32, seed, stream, start uint64) error {
	return d.at.CorruptAt(dst, src, kind, level, seed, stream, start)
}

// distRunOn is distRun; dev sums on the device (deviceSumsAt) in a job.
func distRunOn(t *testing.T, c distCase, job *localJob, rank int, paths []string, dev bool) ([]float32, []EpochMetrics) {
	cb := cpu_fallback.New(1)
	defer cb.Close()
	var b engine.Backend = cb
	polls := 0
	if dev && job != nil {
		b = deviceSumsAt{deviceSums{cb, localRank{job, rank}, &polls}, cb}
	}
	cfg := DefaultTrainConfig()
	cfg.Epochs, cfg.Batch, cfg.LR, cfg.ValSplit, cfg.Seed = 3, 16, 3e-3, 0.2, 7
	if c.batch > 0 {
		cfg.Batch = c.batch
	}
	if c.set != nil {
		c.set(&cfg)
	}
	arch := Arch{Layers: []int{12, 8, 3}, Hidden: engine.ReLU, Latent: engine.Linear, Output: engine.Sigmoid}
	if c.arch != nil {
		c.arch(&arch)
	}
	x := pinData()[:c.rows*pinCols]
	opts := FitOptions{Data: &dataset.Table{Rows: c.rows, Cols: pinCols, Data: x, Shape: []int{c.rows, pinCols}},
		Source: "dist", Arch: arch, Train: cfg, Scale: dataset.ScaleMinMax, Backend: b}
	var r *Run
	var err error
	if c.stream {
		// The ranks open the run at once: the preparing pass is split
		// over them.
		spec := RunSpec{Fit: opts, Paths: paths, ChunkRows: 40}
		if job != nil {
			spec.Job = localRank{job, rank}
		}
		r, err = OpenRun(spec)
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
	if dev && job != nil && polls < int(r.Trainer.State.Step) {
		t.Errorf("rank %d: the device sums' error was polled %d times in %d steps, want at least once a step", rank, polls, r.Trainer.State.Step)
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

// relDiff is |a-b| / max(|b|, 1e-6).
func relDiff(a, b float64) float64 { return math.Abs(a-b) / max(math.Abs(b), 1e-6) }

// optionalDiffers reports whether two optional figures differ: one absent,
// or more than tol relative apart.
func optionalDiffers(a, b *float64, tol float64) bool {
	return (a == nil) != (b == nil) || a != nil && relDiff(*a, *b) > tol
}

// TestDataParallelMatchesOneProcess trains every variant on 2 and 3
// in-process ranks and compares every rank's final weights and the
// epochs' metrics with one process on the same seed and global batch.
func TestDataParallelMatchesOneProcess(t *testing.T) {
	x := pinData()
	paths := writePinParts(t, x)
	for _, c := range distCases {
		want, wantM := distRun(t, c, nil, 0, paths)
		if want == nil {
			return
		}
		worst := 0.0
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
				// Tolerance: the final weights within 1e-5 relative of
				// one process's (the bound; only the order of the
				// sums differs).
				d := maxRel(got[r], want)
				worst = max(worst, d)
				if d > 1e-5 {
					t.Errorf("%s on %d ranks: rank %d's weights differ from one process's by %.3g relative", c.name, size, r, d)
				}
				if len(mets[r]) != len(wantM) {
					t.Fatalf("%s on %d ranks: rank %d ran %d epochs, one process %d", c.name, size, r, len(mets[r]), len(wantM))
				}
				for e, m := range mets[r] {
					w := wantM[e]
					// Tolerance: the epoch's figures within 1e-5 relative.
					if rel := relDiff(m.TrainLoss, w.TrainLoss); rel > 1e-5 {
						t.Errorf("%s on %d ranks: rank %d epoch %d train loss %v, one process %v", c.name, size, r, e+1, m.TrainLoss, w.TrainLoss)
					}
					for _, f := range []struct {
						name string
						a, b *float64
					}{{"val loss", m.ValLoss, w.ValLoss}, {"penalty", m.TrainPenalty, w.TrainPenalty},
						{"train KL", m.TrainKL, w.TrainKL}, {"KL β", m.KLBeta, w.KLBeta},
						{"val noisy MSE", m.ValNoisyMSE, w.ValNoisyMSE}, {"val denoised MSE", m.ValDenoisedMSE, w.ValDenoisedMSE},
						{"mean activation", m.MeanActivationAvg, w.MeanActivationAvg}} {
						if optionalDiffers(f.a, f.b, 1e-5) {
							t.Errorf("%s on %d ranks: rank %d epoch %d %s %v, one process %v", c.name, size, r, e+1, f.name, show(f.a), show(f.b))
						}
					}
					if m.Best != w.Best {
						t.Errorf("%s on %d ranks: rank %d epoch %d best %v, one process %v", c.name, size, r, e+1, m.Best, w.Best)
					}
				}
			}
		}
		t.Logf("%s on 2 and 3 ranks: max relative weight difference %.3g", c.name, worst)
	}
}

// TestDataParallelDeviceSums is TestDataParallelMatchesOneProcess for a
// backend that sums on its device (the GPU over NCCL), every variant: the
// gradients and the sparse KL term's ρ̂ go through AllReduceSum, the stop
// flag over the job's host collective, including steps where a rank has
// no rows.
func TestDataParallelDeviceSums(t *testing.T) {
	x := pinData()
	paths := writePinParts(t, x)
	for _, c := range distCases {
		want, _ := distRun(t, c, nil, 0, paths)
		if want == nil {
			return
		}
		worst := 0.0
		for _, size := range []int{2, 3} {
			job := newLocalJob(size)
			got := make([][]float32, size)
			var wg sync.WaitGroup
			for r := range size {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got[r], _ = distRunOn(t, c, job, r, paths, true)
				}()
			}
			wg.Wait()
			for r := range size {
				if got[r] == nil {
					t.Fatalf("%s/%d: rank %d failed", c.name, size, r)
				}
				// Tolerance: 1e-5 relative, as with the host's sums.
				d := maxRel(got[r], want)
				worst = max(worst, d)
				if d > 1e-5 {
					t.Errorf("%s on %d ranks summing on the device: rank %d's weights differ from one process's by %.3g relative", c.name, size, r, d)
				}
			}
		}
		t.Logf("%s on 2 and 3 ranks, device sums: max relative weight difference %.3g", c.name, worst)
	}
	// Without DrawsAt a denoising model is refused: its per-row draws
	// need it.
	c := distCase{name: "denoising", rows: 142, set: func(c *TrainConfig) { c.Noise = "masking:0.3" }}
	cb := cpu_fallback.New(1)
	defer cb.Close()
	opts := fitOpts(t, deviceSums{cb, localRank{newLocalJob(2), 0}, new(int)}, t.TempDir())
	c.set(&opts.Train)
	r, err := NewRun(opts)
	must(t, err)
	defer r.Close()
	if err := r.Trainer.SetCollective(localRank{newLocalJob(2), 0}); err == nil || !strings.Contains(err.Error(), "--device cpu") {
		t.Errorf("a denoising model on a device-sum backend: SetCollective = %v, want a refusal suggesting --device cpu", err)
	}
}

// show formats an optional figure.
func show(v *float64) string {
	if v == nil {
		return "absent"
	}
	return fmt.Sprint(*v)
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

// TestSetCollectiveNeedsDrawsAt: a variant that draws per row is refused
// on a backend that cannot draw from a row's place in the global batch;
// the plain autoencoder is not.
func TestSetCollectiveNeedsDrawsAt(t *testing.T) {
	type plainBackend struct{ engine.Backend } // hides DrawsAt
	for _, c := range []struct {
		name   string
		set    func(o *FitOptions)
		refuse bool
	}{
		{"plain", func(o *FitOptions) {}, false},
		{"sparse", func(o *FitOptions) { o.Train.Kind, o.Train.SparsityL1 = "sparse", 0.1 }, false},
		{"denoising", func(o *FitOptions) { o.Train.Noise = "masking:0.2" }, true},
		{"vae", func(o *FitOptions) { o.Arch.VAE, o.Train.Kind, o.Train.KLBeta = true, "vae", 1 }, true},
	} {
		opts := fitOpts(t, plainBackend{cpu(t)}, t.TempDir())
		c.set(&opts)
		r, err := NewRun(opts)
		must(t, err)
		err = r.Trainer.SetCollective(localRank{newLocalJob(2), 0})
		if (err != nil) != c.refuse {
			t.Errorf("%s: SetCollective: %v, want refused %v", c.name, err, c.refuse)
		}
		r.Close()
	}
}

// TestDataParallelStop: a stop request on one rank (its ctx cancelled, as
// SIGTERM does) stops every rank after the same step; rank 0 saves once,
// and the others return only after its save.
func TestDataParallelStop(t *testing.T) {
	t.Run("host-sums", func(t *testing.T) { dataParallelStop(t, false) })
	// The stop flag goes over the host's collective while the gradients
	// are summed on the device (the GPU path): the same step.
	t.Run("device-sums", func(t *testing.T) { dataParallelStop(t, true) })
}

func dataParallelStop(t *testing.T, dev bool) {
	const size, stopAt = 3, 5
	job := newLocalJob(size)
	steps := make([]int64, size)
	errs := make([]error, size)
	savesSeen := make([]int, size) // rank 0's saves when the rank returned
	saves := 0                     // written by rank 0 before the all-reduce that others wait in
	var wg sync.WaitGroup
	for r := range size {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cb := cpu_fallback.New(1)
			defer cb.Close()
			var b engine.Backend = cb
			cfg := DefaultTrainConfig()
			cfg.Epochs, cfg.Batch, cfg.ValSplit, cfg.Seed, cfg.Noise = 3, 16, 0.2, 7, "gaussian:0.1"
			if dev {
				b, cfg.Noise = deviceSums{cb, localRank{job, r}, new(int)}, "" // no DrawsAt on the device
			}
			x := pinData()
			run, err := NewRun(FitOptions{Data: &dataset.Table{Rows: pinRows, Cols: pinCols, Data: x, Shape: []int{pinRows, pinCols}},
				Source: "dist", Arch: Arch{Layers: []int{12, 8, 3}, Hidden: engine.ReLU, Output: engine.Sigmoid},
				Train: cfg, Scale: dataset.ScaleMinMax, Backend: b})
			if err != nil {
				errs[r] = err
				return
			}
			defer run.Close()
			tr := run.Trainer
			if err := tr.SetCollective(localRank{job, r}); err != nil {
				errs[r] = err
				return
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			switch r {
			case 0:
				tr.Checkpoint = func(*Trainer) error {
					time.Sleep(100 * time.Millisecond) // a slow disk: the others must wait
					saves++
					return nil
				}
			case 1:
				tr.ProgressEvery = 0
				tr.OnProgress = func(p Progress) {
					if p.Step == stopAt {
						cancel()
					}
				}
			}
			errs[r] = tr.Train(ctx)
			steps[r], savesSeen[r] = tr.State.Step, saves
		}()
	}
	wg.Wait()
	for r := range size {
		if !IsInterrupted(errs[r]) {
			t.Errorf("rank %d: %v, want ErrInterrupted", r, errs[r])
		}
		// The request rides on step stopAt+1's all-reduce.
		if steps[r] != stopAt+1 {
			t.Errorf("rank %d stopped after step %d, want %d", r, steps[r], stopAt+1)
		}
		if savesSeen[r] != 1 {
			t.Errorf("rank %d returned when rank 0 had saved %d times, want after its one save", r, savesSeen[r])
		}
	}
}

// TestTimeStopIsRankZeros: a time budget's stop is decided by rank 0's
// clock for the whole job, whichever ranks' own clocks ran out: rank 0
// out of time stops every rank, another rank out of time alone stops
// none; runs without a time budget are left alone.
func TestTimeStopIsRankZeros(t *testing.T) {
	for _, c := range []struct {
		name   string
		budget float64
		out    []bool // whose clock says stop
		want   bool
	}{
		{"rank 0's clock", 10, []bool{true, false, false}, true},
		{"rank 2's clock", 10, []bool{false, false, true}, false},
		{"every clock", 10, []bool{true, true, true}, true},
		{"no budget", 0, []bool{true, false, false}, true}, // not asked: each rank's state stands
	} {
		job := newLocalJob(len(c.out))
		trs := make([]*Trainer, len(c.out))
		var wg sync.WaitGroup
		for r := range c.out {
			tr := &Trainer{Cfg: TrainConfig{TimeBudget: c.budget}, dist: &distState{c: localRank{job, r}, rank: r, size: len(c.out)}}
			if c.out[r] {
				tr.State.StopReason, tr.State.Finished = "time", true
			}
			trs[r] = tr
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := tr.agreeTimeStop(); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		for r, tr := range trs {
			want := c.want
			if c.budget == 0 {
				want = c.out[r]
			}
			if tr.State.Finished != want || (want && tr.State.StopReason != "time") {
				t.Errorf("%s: rank %d finished %v (%q), want %v", c.name, r, tr.State.Finished, tr.State.StopReason, want)
			}
		}
	}
}

// TestRootValue: every rank gets rank 0's float64 value bit for bit.
func TestRootValue(t *testing.T) {
	job := newLocalJob(3)
	got := make([]float64, 3)
	var wg sync.WaitGroup
	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := rootValue(localRank{job, r}, 0.1+float64(r))
			if err != nil {
				t.Error(err)
			}
			got[r] = v
		}()
	}
	wg.Wait()
	for r, v := range got {
		if v != 0.1 {
			t.Errorf("rank %d got %v, want rank 0's 0.1 bit for bit", r, v)
		}
	}
}

// TestResumeInJob resumes a streamed run on 3 in-process ranks opened
// together (RunSpec.Job: the followers wait for the leader to take the
// directory, and the preparing pass is split over the ranks: each reads
// only its chunks) and trains it on: the weights equal one process's
// resumed run within 1e-5 relative. A leader that cannot open the
// directory fails the followers instead of leaving them waiting.
func TestResumeInJob(t *testing.T) {
	x := pinData()
	paths := writePinParts(t, x)
	b := cpu_fallback.New(1)
	defer b.Close()
	fresh := func(dir string) {
		opts := fitOpts(t, b, dir)
		opts.Data = &dataset.Table{Rows: 160, Cols: pinCols, Data: x[:160*pinCols], Shape: []int{160, pinCols}}
		opts.Arch = Arch{Layers: []int{pinCols, 8, 3}, Hidden: engine.ReLU, Latent: engine.Linear, Output: engine.Sigmoid}
		opts.Train.Epochs, opts.Train.Schedule, opts.Train.Warmup = 1, "constant", 0
		r, err := OpenRun(RunSpec{Fit: opts, Paths: paths, ChunkRows: 40})
		must(t, err)
		must(t, r.Train(context.Background()))
		r.Close()
	}
	one, job := t.TempDir()+"/one", t.TempDir()+"/job"
	fresh(one)
	fresh(job)
	r, err := OpenRun(RunSpec{Resume: one, Epochs: 2, Paths: paths, Fit: FitOptions{Backend: b}})
	must(t, err)
	must(t, r.Train(context.Background()))
	want := make([]float32, r.Trainer.Model.Params.Len())
	must(t, b.Download(want, r.Trainer.Model.Params))
	r.Close()

	const size = 3
	lj := newLocalJob(size)
	got, read := make([][]float32, size), make([]int64, size)
	var wg sync.WaitGroup
	for rank := range size {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rb := cpu_fallback.New(1)
			defer rb.Close()
			c := localRank{lj, rank}
			r, err := OpenRun(RunSpec{Resume: job, Epochs: 2, Paths: paths, Follower: rank != 0, Job: c, Fit: FitOptions{Backend: rb}})
			if err != nil {
				t.Errorf("rank %d: %v", rank, err)
				return
			}
			defer r.Close()
			read[rank] = r.disk.prepRows
			if err := r.Trainer.SetCollective(c); err != nil {
				t.Error(err)
				return
			}
			if err := r.Train(context.Background()); err != nil {
				t.Errorf("rank %d: %v", rank, err)
				return
			}
			got[rank] = make([]float32, r.Trainer.Model.Params.Len())
			if err := rb.Download(got[rank], r.Trainer.Model.Params); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	total := int64(0)
	for rank := range size {
		total += read[rank]
		// Tolerance: 1e-5 relative (the sums' order differs).
		if d := maxRel(got[rank], want); d > 1e-5 {
			t.Errorf("rank %d: the resumed job's weights differ from one process's by %.3g relative", rank, d)
		}
	}
	if total != 160 || read[0] == 160 {
		t.Errorf("the ranks' preparing passes read %v rows, want 160 between them", read)
	}

	// The leader fails (no such directory): every follower fails too.
	errs := make([]error, size)
	lj = newLocalJob(size)
	for rank := range size {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[rank] = OpenRun(RunSpec{Resume: t.TempDir() + "/missing", Paths: paths, Follower: rank != 0, Job: localRank{lj, rank}, Fit: FitOptions{Backend: b}})
		}()
	}
	wg.Wait()
	for rank, err := range errs {
		if err == nil || rank > 0 && !strings.Contains(err.Error(), "rank 0 could not open") {
			t.Errorf("rank %d: %v", rank, err)
		}
	}
}
