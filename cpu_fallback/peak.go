package cpu_fallback

import (
	"sync/atomic"
	"time"
)

// peakJob is the FMA-throughput probe: every task runs its path's FMA loop
// (the generic path: its Go kernel on L1-resident panels) until the
// deadline and adds the FLOPs it did.
type peakJob struct {
	path     kernelPath
	deadline time.Time
	flop     atomic.Uint64 // FLOPs done, summed over tasks
}

func (p *peakJob) do(int) {
	const iters = 1 << 14 // ~0.1 ms of FMAs per call
	var a [256 * mr]float32
	var bb [256 * nr]float32
	var c [mr * nr]float32
	done := 0.0
	for time.Now().Before(p.deadline) {
		if f, ok := fmaLoop(p.path, iters); ok {
			done += f
			continue
		}
		for range 16 {
			kernelGoTile(256, a[:], bb[:], c[:], nr, false)
		}
		done += 16 * 2 * 256 * mr * nr
	}
	p.flop.Add(uint64(done))
}

// MeasurePeak measures the FMA throughput of the kernel path in use on all
// of the backend's threads at once for about d (AVX-512 and AVX2: a loop
// of independent FMAs in registers, the ceiling of the micro-kernel; the
// generic path: its pure-Go kernel on panels in L1) and returns it in
// FLOP/s (an FMA is 2 FLOP). It is also kept as Info().PeakFLOPS, so that
// throughput can be reported as a fraction of it. On a machine shared with
// other work it measures what the other work leaves.
func (b *Backend) MeasurePeak(d time.Duration) float64 {
	threads := b.pool.threads()
	j := &peakJob{path: active.path}
	fmaLoop(j.path, 1<<12) // wake the wide units before timing
	start := time.Now()
	j.deadline = start.Add(d)
	b.pool.run(threads, j)
	peak := float64(j.flop.Load()) / time.Since(start).Seconds()
	b.info.PeakFLOPS = peak
	return peak
}

// KernelPath is the kernel path this backend's operations run on: avx512,
// avx2 or generic.
func (b *Backend) KernelPath() string { return active.path.String() }
