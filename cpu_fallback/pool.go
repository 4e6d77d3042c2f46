package cpu_fallback

import (
	"sync"
	"sync/atomic"
)

// job is a unit of parallel work split into numbered tasks. Ops keep their
// job structs on the Backend and pass a pointer, so handing work to the pool
// allocates nothing.
type job interface {
	// do runs task i. Tasks of one run execute concurrently in any order
	// and on any thread; a task's result must not depend on either.
	do(i int)
}

// pool is a fixed set of worker goroutines, started once, that help the
// calling goroutine run the tasks of one job at a time (a parallel-for).
// Tasks are handed out through an atomic counter; the caller works too.
//
// A pool is used from one goroutine at a time (the Backend's caller).
type pool struct {
	wake []chan struct{} // one per helper; a receive starts a drain
	wg   sync.WaitGroup  // helpers still draining the current job

	j    job
	n    int          // tasks of the current job
	next atomic.Int64 // next task to hand out
}

// newPool starts threads−1 helper goroutines; the caller is the last thread.
func newPool(threads int) *pool {
	p := &pool{}
	for range threads - 1 {
		c := make(chan struct{}, 1)
		p.wake = append(p.wake, c)
		go p.helper(c)
	}
	return p
}

func (p *pool) helper(wake chan struct{}) {
	for range wake {
		p.drain()
		p.wg.Done()
	}
}

// threads is the number of goroutines that run a job's tasks.
func (p *pool) threads() int { return len(p.wake) + 1 }

// run executes tasks 0…n−1 of j and returns when all are done. With one
// task, or no helpers, the tasks run inline on the caller.
func (p *pool) run(n int, j job) {
	helpers := min(len(p.wake), n-1)
	if helpers <= 0 {
		for i := range n {
			j.do(i)
		}
		return
	}
	p.j, p.n = j, n
	p.next.Store(0)
	p.wg.Add(helpers)
	for _, c := range p.wake[:helpers] {
		c <- struct{}{}
	}
	p.drain()
	p.wg.Wait()
	p.j = nil // do not keep the job (and the Backend behind it) reachable
}

func (p *pool) drain() {
	for {
		i := int(p.next.Add(1) - 1)
		if i >= p.n {
			return
		}
		p.j.do(i)
	}
}

// close stops the helpers; later runs execute inline.
func (p *pool) close() {
	for _, c := range p.wake {
		close(c)
	}
	p.wake = nil
}
