package bench

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/engine"
)

// Comm is the communicator of an MPI job as the scaling benchmarks use it
// (internal/mpi's Comm).
type Comm interface {
	autoencoder.Collective
	AllreduceSum64(buf []float64) error
	Barrier() error
	// BarrierIdle is a barrier that sleeps instead of spinning; every rank
	// calls it (it does not match Barrier).
	BarrierIdle(poll time.Duration) error
}

// idlePoll is how often a waiting rank checks whether rank 0 is done.
const idlePoll = time.Millisecond

// Scaling is how the job's global batch relates to one rank's.
type Scaling string

const (
	// Strong keeps the global batch: one rank alone trains on all of the
	// model's batch, N ranks on a share each.
	Strong Scaling = "strong"
	// Weak keeps the batch per rank: one rank alone trains on the model's
	// batch, N ranks on N times it.
	Weak Scaling = "weak"
)

// ParseScaling reads --scaling.
func ParseScaling(s string) (Scaling, error) {
	switch Scaling(s) {
	case Strong, Weak:
		return Scaling(s), nil
	}
	return "", fmt.Errorf("%q: want strong or weak", s)
}

// RankResult is one rank's part of a job's measurement.
type RankResult struct {
	Rank          int     `json:"rank"`
	Rows          int     `json:"rows_per_step"` // its share of the global batch
	SamplesPerSec float64 `json:"samples_per_sec"`
	MinSPS        float64 `json:"samples_per_sec_min"`
	MaxSPS        float64 `json:"samples_per_sec_max"`
}

// ScalingResult is a model trained by rank 0 alone and then by every rank
// of the job together, in the same job.
type ScalingResult struct {
	Model   string  `json:"model"`
	Scaling Scaling `json:"scaling"`
	Ranks   int     `json:"ranks"`
	Threads int     `json:"threads_per_rank,omitempty"`
	// OneRank is rank 0 alone (no all-reduce) at the model's batch, while
	// the other ranks sleep; its windows alternate with the job's.
	OneRank Result `json:"one_rank"`
	// The job: Batch is its global batch; SamplesPerSec the median window
	// of Batch × steps over the slowest rank's time, with the min–max.
	Batch         int          `json:"batch"`
	Device        string       `json:"device"`
	SamplesPerSec float64      `json:"samples_per_sec"`
	MinSPS        float64      `json:"samples_per_sec_min"`
	MaxSPS        float64      `json:"samples_per_sec_max"`
	MicrosPerStep float64      `json:"us_per_step"`
	PerRank       []RankResult `json:"per_rank"`
	// Efficiency is SamplesPerSec ÷ (Ranks × OneRank.SamplesPerSec).
	Efficiency  float64 `json:"efficiency"`
	Windows     int     `json:"windows"`
	StepsPerWin int     `json:"steps_per_window"`
}

// shareRows is autoencoder's split of a global batch of n rows over size
// ranks: ⌊n/size⌋ each, one more for the first n mod size ranks.
func shareRows(n, size, rank int) int {
	k := n / size
	if rank < n%size {
		k++
	}
	return k
}

// gather returns every rank's v, indexed by rank (an all-reduce of a
// buffer in which each rank fills its own slot).
func gather(c Comm, v float64) ([]float64, error) {
	buf := make([]float64, c.Size())
	buf[c.Rank()] = v
	if err := c.AllreduceSum64(buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// threader is a backend that says how many threads it computes on.
type threader interface{ Threads() int }

// RunScaling measures m on b, in a job of c.Size() ranks that all call it:
// rank 0 alone at the model's batch, with no all-reduce (the other ranks
// wait in a barrier that sleeps), and every rank together, data-parallel
// as `aegpu train` under mpirun (autoencoder's Trainer.SetCollective: each
// rank computes its share of the global batch, one all-reduce of the
// gradients per step), at the same global batch (Strong) or at Size()
// times it (Weak). The two alternate window by window, so that both see
// the same load of a shared machine. Each is warmed up and its window
// sized first; a job window starts at a barrier, and every rank runs the
// same steps, sized by the slowest rank. Only rank 0 has OneRank; the
// job's figures and the efficiency are the same on every rank.
func RunScaling(b engine.Backend, m Model, o Options, c Comm, s Scaling) (ScalingResult, error) {
	n, rank := c.Size(), c.Rank()
	r := ScalingResult{Model: m.Name, Scaling: s, Ranks: n, Batch: m.Batch, Device: b.Info().String(), Windows: o.Windows}
	if t, ok := b.(threader); ok {
		r.Threads = t.Threads()
	}
	var soloWindow func(steps int) (float64, error)
	soloSteps := 0
	if rank == 0 {
		solo, free, err := newTrainer(b, m, o)
		if err != nil {
			return r, fmt.Errorf("rank 0 alone: %w", err)
		}
		defer free()
		if err := solo.Benchmark(max(o.Warmup, 1)); err != nil {
			return r, fmt.Errorf("rank 0 alone: %w", err)
		}
		soloWindow = func(steps int) (float64, error) { return timeSteps(solo, steps) }
		if soloSteps, err = sizeWindow(o, soloWindow); err != nil {
			return r, fmt.Errorf("rank 0 alone: %w", err)
		}
	}
	if err := c.BarrierIdle(idlePoll); err != nil {
		return r, err
	}
	if s == Weak {
		r.Batch = n * m.Batch
	}
	job := m
	job.Batch = r.Batch
	tr, free, err := newTrainer(b, job, o)
	if err != nil {
		return r, err
	}
	defer free()
	if err := tr.SetCollective(c); err != nil {
		return r, err
	}
	if err := tr.Benchmark(max(o.Warmup, 1)); err != nil {
		return r, err
	}
	// jobWindow times steps on every rank: each rank's seconds.
	jobWindow := func(steps int) ([]float64, error) {
		if err := c.Barrier(); err != nil {
			return nil, err
		}
		secs, err := timeSteps(tr, steps)
		if err != nil {
			return nil, err
		}
		return gather(c, secs)
	}
	steps, err := sizeWindow(o, func(steps int) (float64, error) {
		ts, err := jobWindow(steps)
		if err != nil {
			return 0, err
		}
		return slices.Max(ts), nil
	})
	if err != nil {
		return r, err
	}
	r.StepsPerWin = steps
	var soloRates, jobRates []float64
	rankRates := make([][]float64, n)
	for range o.Windows {
		if rank == 0 {
			secs, err := soloWindow(soloSteps)
			if err != nil {
				return r, fmt.Errorf("rank 0 alone: %w", err)
			}
			soloRates = append(soloRates, float64(soloSteps*m.Batch)/secs)
		}
		if err := c.BarrierIdle(idlePoll); err != nil {
			return r, err
		}
		ts, err := jobWindow(steps)
		if err != nil {
			return r, err
		}
		jobRates = append(jobRates, float64(steps*r.Batch)/slices.Max(ts))
		for i, t := range ts {
			rankRates[i] = append(rankRates[i], float64(steps*shareRows(r.Batch, n, i))/t)
		}
	}
	if rank == 0 {
		r.OneRank = result(b, m, o, soloRates, soloSteps)
	}
	r.SamplesPerSec, r.MinSPS, r.MaxSPS = medianSpread(jobRates)
	r.MicrosPerStep = 1e6 * float64(r.Batch) / r.SamplesPerSec
	for i, rates := range rankRates {
		rr := RankResult{Rank: i, Rows: shareRows(r.Batch, n, i)}
		rr.SamplesPerSec, rr.MinSPS, rr.MaxSPS = medianSpread(rates)
		r.PerRank = append(r.PerRank, rr)
	}
	// Rank 0's one-rank figure, for the efficiency on every rank.
	one, err := gather(c, r.OneRank.SamplesPerSec)
	if err != nil {
		return r, err
	}
	r.Efficiency = r.SamplesPerSec / (float64(n) * one[0])
	return r, nil
}

// medianSpread is the median, min and max of xs (which it sorts).
func medianSpread(xs []float64) (med, lo, hi float64) {
	slices.Sort(xs)
	return xs[len(xs)/2], xs[0], xs[len(xs)-1]
}

// ScalingPreamble says what a job's scaling rows compare.
func ScalingPreamble(s Scaling, ranks, threads int, library string) string {
	how := fmt.Sprintf("the global batch is the model's batch on 1 rank and on %d (each rank computes its share)", ranks)
	if s == Weak {
		how = fmt.Sprintf("each rank computes the model's batch: 1 rank alone, then %d ranks on %d× the global batch", ranks, ranks)
	}
	th := ""
	if threads > 0 {
		th = fmt.Sprintf(", %d threads per rank", threads)
	}
	return fmt.Sprintf("%s scaling over %d ranks (%s)%s: %s; rank 0 alone (the others sleep) and the job alternate window by window.\n"+
		"efficiency = the job's samples/s ÷ (%d × rank 0 alone's); a rank's samples/s is its rows over its own time.\n",
		s, ranks, library, th, how, ranks)
}

// ScalingHeader is the first line of the scaling table.
func ScalingHeader() string {
	return fmt.Sprintf("%-8s %6s %5s  %-8s %9s %12s %25s %10s %10s\n", "model", "batch", "ranks", "rank", "rows/step", "samples/s", "min–max", "µs/step", "efficiency")
}

// ScalingRows formats a scaling result: rank 0 alone, each rank of the
// job, and the job.
func ScalingRows(r ScalingResult) string {
	var sb strings.Builder
	row := func(batch, ranks int, who string, rows int, sps, lo, hi float64, eff string) {
		fmt.Fprintf(&sb, "%-8s %6d %5d  %-8s %9d %12.0f %12.0f–%-12.0f %10.1f %10s\n",
			r.Model, batch, ranks, who, rows, sps, lo, hi, 1e6*float64(rows)/sps, eff)
	}
	o := r.OneRank
	row(o.Batch, 1, "0 alone", o.Batch, o.SamplesPerSec, o.MinSPS, o.MaxSPS, "")
	for _, p := range r.PerRank {
		row(r.Batch, r.Ranks, fmt.Sprint(p.Rank), p.Rows, p.SamplesPerSec, p.MinSPS, p.MaxSPS, "")
	}
	row(r.Batch, r.Ranks, "job", r.Batch, r.SamplesPerSec, r.MinSPS, r.MaxSPS, fmt.Sprintf("%.1f%%", 100*r.Efficiency))
	return sb.String()
}

// AllreduceRow is one buffer size of the all-reduce benchmark, in the
// columns of nccl-tests: the time is the largest over the ranks of the
// mean per iteration; algbw = size ÷ time; busbw = algbw × 2(n−1)/n, the
// bandwidth each link needs in a ring, comparable across rank counts.
type AllreduceRow struct {
	Bytes  int     `json:"size_bytes"`
	Count  int     `json:"count"`
	Type   string  `json:"type"`
	Op     string  `json:"redop"`
	Micros float64 `json:"time_us"`
	AlgBW  float64 `json:"algbw_gbps"` // 1e9 bytes/s
	BusBW  float64 `json:"busbw_gbps"`
	Wrong  int     `json:"wrong"` // elements of the checked call that differ from the exact sum, over all ranks
	Iters  int     `json:"iters"`
	Warmup int     `json:"warmup"`
}

// GradientBytes is what data-parallel training all-reduces every step for
// model m: its flat gradient buffer and one float (the stop flag).
func GradientBytes(m Model) int {
	return 4 * (autoencoder.Arch{Layers: m.Layers}.FlatLen() + 1)
}

// AllreduceSizes are the buffer sizes measured: 4 KiB doubling while
// below top, then top.
func AllreduceSizes(top int) []int {
	var out []int
	for s := 4096; s < top; s *= 2 {
		out = append(out, s)
	}
	return append(out, top)
}

// RunAllreduce measures the float32 sum all-reduce of bytes bytes in
// place, the call the trainer makes on the CPU (MPI_Allreduce through the
// MPI thread of internal/mpi), on every rank of c: one checked call on
// known values, warmup untimed calls, then iters timed ones after a
// barrier.
func RunAllreduce(c Comm, bytes, warmup, iters int) (AllreduceRow, error) {
	buf := make([]float32, bytes/4)
	return runAllreduce(c, hostSum{c, buf}, bytes, warmup, iters)
}

// RunDeviceAllreduce is RunAllreduce for the sums on a device, the call
// the trainer makes on GPUs: b's AllReduceSum of a device buffer (NCCL's
// ncclAllReduce on the compute stream), b joined to a job of c's ranks.
// The timed calls are queued back to back and waited for once, as a
// training step queues its sum.
func RunDeviceAllreduce(b engine.Backend, c Comm, bytes, warmup, iters int) (AllreduceRow, error) {
	ar, ok := b.(engine.AllReducer)
	if !ok || ar.Ranks() != c.Size() {
		return AllreduceRow{}, fmt.Errorf("%s does not sum over the job's %d ranks on its device", b.Info(), c.Size())
	}
	m, err := b.Alloc(1, max(bytes/4, 1))
	if err != nil {
		return AllreduceRow{}, err
	}
	defer b.Free(m)
	return runAllreduce(c, deviceSum{b, ar, m}, bytes, warmup, iters)
}

// summer is one way of summing a float32 buffer over the ranks in place.
type summer interface {
	set(v []float32) error // the buffer's values
	get(v []float32) error // the buffer's values, once its sums are done
	sum() error            // one all-reduce, maybe queued
	wait() error           // until the queued sums are done
}

// hostSum sums a host buffer with MPI.
type hostSum struct {
	c   Comm
	buf []float32
}

func (h hostSum) set(v []float32) error { copy(h.buf, v); return nil }
func (h hostSum) get(v []float32) error { copy(v, h.buf); return nil }
func (h hostSum) sum() error            { return h.c.AllreduceSum(h.buf) }
func (h hostSum) wait() error           { return nil }

// deviceSum sums a device buffer on the device.
type deviceSum struct {
	b  engine.Backend
	ar engine.AllReducer
	m  engine.Matrix
}

func (d deviceSum) set(v []float32) error { return d.b.Upload(d.m, v) }
func (d deviceSum) get(v []float32) error { return d.b.Download(v, d.m) }
func (d deviceSum) sum() error            { return d.ar.AllReduceSum(d.m) }
func (d deviceSum) wait() error {
	if err := d.b.Sync(); err != nil {
		return err
	}
	return d.ar.CollectiveError()
}

// runAllreduce is RunAllreduce over s.
func runAllreduce(c Comm, s summer, bytes, warmup, iters int) (AllreduceRow, error) {
	n, rank := c.Size(), c.Rank()
	count := bytes / 4
	r := AllreduceRow{Bytes: 4 * count, Count: count, Type: "float", Op: "sum", Iters: iters, Warmup: warmup}
	buf := make([]float32, count)
	// Small integers: every partial sum is exact in float32, in any order.
	for i := range buf {
		buf[i] = float32((rank + 1) * (1 + i%1000))
	}
	if err := s.set(buf); err != nil {
		return r, err
	}
	if err := s.sum(); err != nil {
		return r, err
	}
	if err := s.get(buf); err != nil {
		return r, err
	}
	wrong := 0
	for i, v := range buf {
		if v != float32(n*(n+1)/2*(1+i%1000)) {
			wrong++
		}
	}
	w, err := gather(c, float64(wrong))
	if err != nil {
		return r, err
	}
	for _, x := range w {
		r.Wrong += int(x)
	}
	clear(buf)
	if err := s.set(buf); err != nil {
		return r, err
	}
	for range warmup {
		if err := s.sum(); err != nil {
			return r, err
		}
	}
	if err := s.wait(); err != nil {
		return r, err
	}
	if err := c.Barrier(); err != nil {
		return r, err
	}
	start := time.Now()
	for range iters {
		if err := s.sum(); err != nil {
			return r, err
		}
	}
	if err := s.wait(); err != nil {
		return r, err
	}
	ts, err := gather(c, time.Since(start).Seconds()/float64(max(iters, 1)))
	if err != nil {
		return r, err
	}
	t := slices.Max(ts)
	r.Micros = 1e6 * t
	r.AlgBW = float64(r.Bytes) / t / 1e9
	r.BusBW = r.AlgBW * 2 * float64(n-1) / float64(n)
	if math.IsInf(r.AlgBW, 0) || math.IsNaN(r.AlgBW) {
		r.AlgBW, r.BusBW = 0, 0
	}
	return r, nil
}

// DeviceGradientBytes is what data-parallel training sums on the devices
// every step for model m: its flat gradient buffer (the stop flag goes
// over MPI).
func DeviceGradientBytes(m Model) int {
	return 4 * autoencoder.Arch{Layers: m.Layers}.FlatLen()
}

// AllreducePreamble says what the all-reduce table measures: MPI_Allreduce
// of host buffers, or (device) the sums on each rank's device, with the
// library that does them.
func AllreducePreamble(device bool, ranks, warmup, iters int, library string) string {
	what := fmt.Sprintf("MPI_Allreduce, float32 sum in place, %d ranks (%s), through aegpu's MPI thread as the trainer calls it on the CPU;\n", ranks, library)
	if device {
		what = fmt.Sprintf("the all-reduce on each rank's device, float32 sum in place, %d ranks (%s), on the compute stream as the trainer queues it;\n"+
			"the timed calls are queued back to back and waited for once;\n", ranks, library)
	}
	return what + fmt.Sprintf("%d warm-up and %d timed iterations per size; time = the largest over the ranks of the mean per iteration;\n"+
		"algbw = size ÷ time, busbw = algbw × 2(n−1)/n (nccl-tests' all-reduce convention); #wrong = elements of a checked call off the exact sum.\n",
		warmup, iters)
}

// AllreduceHeader is the first line of the all-reduce table.
func AllreduceHeader() string {
	return fmt.Sprintf("%12s %10s %6s %6s %10s %10s %10s %7s\n", "size (B)", "count", "type", "redop", "time (µs)", "algbw GB/s", "busbw GB/s", "#wrong")
}

// AllreduceLine formats one row of the all-reduce table.
func AllreduceLine(r AllreduceRow) string {
	return fmt.Sprintf("%12d %10d %6s %6s %10.1f %10.3f %10.3f %7d\n", r.Bytes, r.Count, r.Type, r.Op, r.Micros, r.AlgBW, r.BusBW, r.Wrong)
}
