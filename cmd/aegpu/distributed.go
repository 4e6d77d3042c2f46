package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/aegpu/aegpu/internal/mpi"
)

var distributedFlag = &cli.StringFlag{
	Name:    "distributed",
	Value:   "auto",
	EnvVars: []string{"AEGPU_DISTRIBUTED"},
	Usage: "auto: when mpirun or srun started this process, train data-parallel over MPI on the CPU " +
		"(--batch is the global batch, each rank computes its share); off: every process trains alone",
}

var mpiTimeoutFlag = &cli.DurationFlag{
	Name:    "mpi-timeout",
	Value:   10 * time.Minute,
	EnvVars: []string{"AEGPU_MPI_TIMEOUT"},
	Usage: "under mpirun: the longest one all-reduce may wait for the other ranks while training; past it the rank " +
		"names the call and exits, and the launcher ends the job (a rank that stalls without dying); 0 waits forever",
}

// watchCollectives arms the watchdog over comm's collectives (limit 0:
// none): a rank that waits longer says so and exits, which makes the
// launcher end the job (internal/mpi's SetTimeout).
func watchCollectives(comm *mpi.Comm, limit time.Duration) {
	comm.SetTimeout(limit, func(call string, waited time.Duration) {
		fmt.Fprintf(os.Stderr, "%s: rank %d of %d: %s has waited %s for the other ranks: one of them stalled or died; ending the job (--mpi-timeout sets the limit)\n",
			selfName(), comm.Rank(), comm.Size(), call, waited)
	})
}

// startDistributed initialises MPI when mode is auto and a launcher
// started this process as one of several ranks; nil means one process.
func startDistributed(mode string) (*mpi.Comm, error) {
	switch mode {
	case "off":
		return nil, nil
	case "auto", "":
	default:
		return nil, fmt.Errorf("--distributed %q: want auto or off", mode)
	}
	l, ok := mpi.Detect()
	if !ok || !l.Parallel() {
		return nil, nil
	}
	c, err := mpi.Init(l)
	if err != nil {
		return nil, fmt.Errorf("%s started this process as rank %d, but MPI did not start: %w (--distributed off trains every process alone)", l.Launcher, l.Rank, err)
	}
	if c.Size() <= 1 {
		return nil, c.Finalize()
	}
	return c, nil
}

// abortJob ends the whole job after a rank's error, so that the other
// ranks do not wait for it in a collective: the error is printed here, as
// MPI_Abort does not return.
func abortJob(comm *mpi.Comm, err error) {
	var ee *exitError
	if errors.As(err, &ee) && ee.code == 130 { // all ranks stopped at one step together
		return
	}
	fmt.Fprintf(os.Stderr, "%s: rank %d of %d: %v\n", selfName(), comm.Rank(), comm.Size(), err)
	comm.Abort(1)
}

// mpiReport is the devices command's MPI line(s).
func mpiReport() {
	l, launched := mpi.Detect()
	lib, err := mpi.Probe()
	if err != nil {
		fmt.Printf("%-5s not available: %v\n", "mpi", err)
		return
	}
	desc := fmt.Sprintf("%s (%s, %s)", lib.Version, lib.Path, lib.ABI)
	if !launched || !l.Parallel() {
		fmt.Printf("%-5s %s; not started by mpirun/srun: one process\n", "mpi", desc)
		return
	}
	c, err := mpi.Init(l)
	if err != nil {
		fmt.Printf("%-5s %s; started by %s but MPI did not start: %v\n", "mpi", desc, l.Launcher, err)
		return
	}
	defer c.Finalize()
	local := ""
	if l.LocalRank >= 0 {
		local = fmt.Sprintf(", local rank %d", l.LocalRank)
	}
	fmt.Printf("%-5s %s; rank %d of %d%s (started by %s)\n", "mpi", desc, c.Rank(), c.Size(), local, l.Launcher)
}
