package mpi

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"
)

// LibEnv names the environment variable that chooses the MPI library (a
// file name dlopen resolves, or a path).
const LibEnv = "AEGPU_MPI_LIB"

// ABI is the handle convention of an MPI library.
type ABI int

const (
	ABIOpenMPI ABI = 1 // handles are pointers to exported objects
	ABIMPICH   ABI = 2 // handles are integer constants (MPICH, Intel MPI, MVAPICH, Cray MPICH)
)

func (a ABI) String() string {
	switch a {
	case ABIOpenMPI:
		return "Open MPI ABI"
	case ABIMPICH:
		return "MPICH ABI"
	}
	return "unknown ABI"
}

// ErrNoMPI is wrapped by every error that means no usable MPI library.
var ErrNoMPI = errors.New("no MPI library")

// Error is a failed MPI call.
type Error struct {
	Call string
	Code int
}

func (e *Error) Error() string { return fmt.Sprintf("%s returned MPI error %d", e.Call, e.Code) }

// Library is an MPI library that was found (loaded, not initialised).
type Library struct {
	Path    string // the name or path dlopen was given
	ABI     ABI
	Version string // MPI_Get_library_version's first line
}

// candidates are the libraries tried, in order: the override, else the
// one that matches the launcher first.
func candidates(l Launch) []string {
	if p := os.Getenv(LibEnv); p != "" {
		return []string{p}
	}
	ompi, mpich := []string{"libmpi.so.40"}, []string{"libmpi.so.12", "libmpich.so.12"}
	if l.Launcher == "MPICH (Hydra)" || l.Launcher == SrunPMI2 {
		return append(mpich, ompi...)
	}
	return append(ompi, mpich...)
}

var (
	loadMu  sync.Mutex
	loaded  *Library
	loadErr error
)

// load dlopens the first candidate that resolves (once per process: an
// MPI library cannot be swapped once loaded).
func load(l Launch) (*Library, error) {
	loadMu.Lock()
	defer loadMu.Unlock()
	if loaded != nil || loadErr != nil {
		return loaded, loadErr
	}
	if buildErr != nil {
		loadErr = buildErr
		return nil, loadErr
	}
	var tried []string
	for _, name := range candidates(l) {
		abi, err := cLoad(name)
		if err != nil {
			tried = append(tried, err.Error())
			continue
		}
		loaded = &Library{Path: name, ABI: abi, Version: firstLine(cLibraryVersion())}
		return loaded, nil
	}
	loadErr = fmt.Errorf("%w: %s (set %s to the library's path)", ErrNoMPI, strings.Join(tried, "; "), LibEnv)
	return nil, loadErr
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	return strings.Join(strings.Fields(strings.TrimRight(s, ",")), " ")
}

// Probe finds the MPI library this process would use, without
// initialising it (for reports such as `aegpu devices`).
func Probe() (*Library, error) {
	l, _ := Detect()
	return load(l)
}

// Comm is MPI_COMM_WORLD of an initialised MPI.
type Comm struct {
	Lib    *Library
	Launch Launch
	rank   int
	size   int
	calls  chan func()
	mu     sync.Mutex // one collective at a time (FUNNELED is serial)
	closed bool
	// The watchdog (SetTimeout): the longest a collective may wait, and
	// what to say before exiting when one waits longer.
	limit   time.Duration
	stalled func(call string, waited time.Duration)
}

var (
	initOnce sync.Once
	world    *Comm
	initErr  error
)

// Init loads the MPI library and initialises it (once per process; later
// calls return the same result). launch is what Detect found.
func Init(launch Launch) (*Comm, error) {
	initOnce.Do(func() { world, initErr = initWorld(launch) })
	return world, initErr
}

func initWorld(launch Launch) (*Comm, error) {
	if launch.Launcher == SrunNoPMI && launch.Size != 1 {
		// MPICH would start as a job of one rank (every task alone) and
		// Open MPI abort: neither finds the others without a PMI.
		return nil, fmt.Errorf("%w: srun started this process as task %d of %d without a PMI for MPI to find the other tasks: "+
			"start it with srun --mpi=pmix (Open MPI) or --mpi=pmi2 (MPICH), whichever your Slurm and MPI library support "+
			"(srun --mpi=list), or set MpiDefault in slurm.conf", ErrNoMPI, launch.Rank, launch.Size)
	}
	lib, err := load(launch)
	if err != nil {
		return nil, err
	}
	c := &Comm{Lib: lib, Launch: launch, calls: make(chan func())}
	started := make(chan error, 1)
	go c.serve(started)
	if err := <-started; err != nil {
		return nil, err
	}
	if launch.Size > 0 && c.size != launch.Size {
		return nil, fmt.Errorf("%w: %s launched %d ranks, but %s (%s) sees %d: the launcher and the library differ (set %s to the library of the mpirun used)",
			ErrNoMPI, launch.Launcher, launch.Size, lib.Path, lib.Version, c.size, LibEnv)
	}
	return c, nil
}

// serve is the MPI thread: MPI_Init_thread, then every call, on one
// locked OS thread.
func (c *Comm) serve(started chan<- error) {
	runtime.LockOSThread()
	if err := cInit(); err != nil {
		started <- err
		return
	}
	var err error
	if c.rank, err = cRank(); err == nil {
		c.size, err = cSize()
	}
	started <- err
	for f := range c.calls {
		f()
	}
}

// do runs f, the MPI call named by call, on the MPI thread, under the
// watchdog when one is set.
func (c *Comm) do(call string, f func() error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("mpi: the communicator was finalized")
	}
	done := make(chan error, 1)
	c.calls <- func() { done <- f() }
	if c.limit <= 0 {
		return <-done
	}
	t := time.NewTimer(c.limit)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		if c.stalled != nil {
			c.stalled(call, c.limit)
		}
		os.Exit(1)
		return nil
	}
}

// SetTimeout arms a watchdog over the collectives: one that waits longer
// than limit (0: no limit) calls stalled with its name, then exits the
// process with status 1.
//
// A collective waits for every rank. A rank that dies ends the job (Open
// MPI's mpirun and MPICH's Hydra kill the other ranks when one exits
// abnormally), but one that stalls without dying (stopped, swapping, its
// node unreachable) leaves the others waiting in MPI_Allreduce forever.
// MPI_Abort cannot end them: under MPI_THREAD_FUNNELED only the MPI
// thread calls MPI, and it is the thread that waits. Exiting with a
// status ends the job through the launcher instead, as a failed rank
// does. Which rank stalled the waiting ranks cannot tell: the call is
// what they know.
func (c *Comm) SetTimeout(limit time.Duration, stalled func(call string, waited time.Duration)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.limit, c.stalled = limit, stalled
}

func (c *Comm) Rank() int { return c.rank }
func (c *Comm) Size() int { return c.size }

// maxCount is the most elements one call passes (MPI counts are C ints).
const maxCount = 1 << 30

// AllreduceSum replaces buf with its elementwise sum over all ranks
// (MPI_Allreduce, MPI_IN_PLACE, MPI_FLOAT, MPI_SUM).
func (c *Comm) AllreduceSum(buf []float32) error {
	return c.do(fmt.Sprintf("MPI_Allreduce of %d floats", len(buf)), func() error {
		for len(buf) > 0 {
			n := min(len(buf), maxCount)
			if err := cAllreduceF32(buf[:n]); err != nil {
				return err
			}
			buf = buf[n:]
		}
		return nil
	})
}

// AllreduceSum64 is AllreduceSum on float64 values.
func (c *Comm) AllreduceSum64(buf []float64) error {
	return c.do(fmt.Sprintf("MPI_Allreduce of %d doubles", len(buf)), func() error {
		for len(buf) > 0 {
			n := min(len(buf), maxCount)
			if err := cAllreduceF64(buf[:n]); err != nil {
				return err
			}
			buf = buf[n:]
		}
		return nil
	})
}

// Bcast copies root's buf into every rank's buf (the same length on all).
func (c *Comm) Bcast(buf []byte, root int) error {
	return c.do(fmt.Sprintf("MPI_Bcast of %d bytes from rank %d", len(buf), root), func() error {
		for len(buf) > 0 {
			n := min(len(buf), maxCount)
			if err := cBcast(buf[:n], root); err != nil {
				return err
			}
			buf = buf[n:]
		}
		return nil
	})
}

// Barrier waits for every rank.
func (c *Comm) Barrier() error { return c.do("MPI_Barrier", cBarrier) }

// BarrierIdle is Barrier for a rank with nothing to do until the others
// arrive: it starts an MPI_Ibarrier and checks it (MPI_Test) every poll,
// sleeping in between, where MPI_Barrier would spin on a core that the
// working ranks may need (on a machine with fewer cores than ranks).
func (c *Comm) BarrierIdle(poll time.Duration) error {
	return c.do("MPI_Ibarrier", func() error {
		if err := cIbarrier(); err != nil {
			return err
		}
		for {
			done, err := cTest()
			if err != nil || done {
				return err
			}
			time.Sleep(poll)
		}
	})
}

// Abort ends every rank of the job with code (MPI_Abort); it does not
// return where the library honours it.
func (c *Comm) Abort(code int) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		os.Exit(code)
	}
	done := make(chan struct{})
	c.calls <- func() { cAbort(code); close(done) }
	<-done
	c.mu.Unlock()
	os.Exit(code)
}

// Finalize ends MPI (MPI_Finalize). Later calls do nothing.
func (c *Comm) Finalize() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	done := make(chan error)
	c.calls <- func() { done <- cFinalize() }
	err := <-done
	c.closed = true
	close(c.calls)
	return err
}
