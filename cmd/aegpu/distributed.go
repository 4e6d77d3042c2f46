package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/aegpu/aegpu/cuda"
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/internal/mpi"
)

var distributedFlag = &cli.StringFlag{
	Name:    "distributed",
	Value:   "auto",
	EnvVars: []string{"AEGPU_DISTRIBUTED"},
	Usage: "auto: when mpirun or srun started this process, train data-parallel (--batch is the global batch, each rank " +
		"computes its share), summing the gradients over MPI on the CPU, or with NCCL on the GPU of each rank's local rank; " +
		"off: every process trains alone",
}

var mpiTimeoutFlag = &cli.DurationFlag{
	Name:    "mpi-timeout",
	Value:   10 * time.Minute,
	EnvVars: []string{"AEGPU_MPI_TIMEOUT"},
	Usage: "under mpirun: the longest one all-reduce may wait for the other ranks while training (on GPUs also a wait " +
		"for the GPU's queued NCCL sums); past it the rank names the call and exits, and the launcher ends the job " +
		"(a rank that stalls without dying); 0 waits forever",
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

// rankDevice is the --device of one rank of a job (comm; nil: one
// process): "auto" and "cuda" become the GPU of the rank's local rank
// (its index among the ranks on its machine, from the launcher's
// environment: OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID,
// PMIX_LOCAL_RANK, SLURM_LOCALID; the rank itself when none says), since
// NCCL needs a GPU per rank. "auto" without a usable GPU stays the CPU;
// "cpu" and "cuda:N" are taken as given.
func rankDevice(spec string, comm *mpi.Comm) (string, error) {
	s := strings.TrimSpace(strings.ToLower(spec))
	if comm == nil || (s != "" && s != "auto" && s != "cuda") {
		return spec, nil
	}
	var gpus int
	var why error
	for _, st := range engine.Probe() {
		if st.Driver == "cuda" {
			gpus, why = len(st.Devices), st.Err
		}
	}
	if gpus == 0 {
		if s == "cuda" {
			return "", fmt.Errorf("--device cuda: rank %d has no GPU: %v", comm.Rank(), why)
		}
		return spec, nil // auto: the CPU, as for one process
	}
	local := comm.Rank()
	if l, ok := mpi.Detect(); ok && l.LocalRank >= 0 {
		local = l.LocalRank
	}
	if local >= gpus {
		return "", fmt.Errorf("rank %d is local rank %d on a machine with %d GPU(s): NCCL needs a GPU per rank, so start at most %d rank(s) per machine, or train over MPI on the CPU with --device cpu",
			comm.Rank(), local, gpus, gpus)
	}
	return fmt.Sprintf("cuda:%d", local), nil
}

// joinGPUs readies a job's GPU all-reduce: when the ranks opened GPUs
// (all of them must), every rank loads NCCL, rank 0 makes the
// communicator's unique id, MPI_Bcast sends it to the others, and each
// rank's backend joins (ncclCommInitRank). On the CPU it does nothing.
// how describes the choice for the run's report. limit bounds a wait for
// the GPU's queued sums (--mpi-timeout, as for MPI's collectives).
func joinGPUs(comm *mpi.Comm, b engine.Backend, limit time.Duration) (how string, err error) {
	gb, onGPU := b.(*cuda.Backend)
	gpu := []float32{0}
	if onGPU {
		gpu[0] = 1
	}
	if err := comm.AllreduceSum(gpu); err != nil {
		return "", err
	}
	switch n := int(gpu[0]); {
	case n == 0:
		return "; gradients summed over MPI on the CPU", nil
	case n != comm.Size():
		return "", fmt.Errorf("%d of %d ranks opened a GPU (this one: %s): the ranks must all train on GPUs or all on the CPU (--device cpu)", n, comm.Size(), b.Info())
	}
	version, lerr := cuda.NCCLVersion()
	failed := []float32{0}
	if lerr != nil {
		failed[0] = 1
	}
	if err := comm.AllreduceSum(failed); err != nil {
		return "", err
	}
	if lerr != nil {
		return "", fmt.Errorf("the ranks train on GPUs, which sum their gradients with NCCL, but %v: install NCCL (libnccl.so.2), or train over MPI on the CPU with --device cpu", lerr)
	}
	if failed[0] > 0 {
		return "", fmt.Errorf("%d other rank(s) could not load NCCL (libnccl.so.2): install it on every machine, or train over MPI on the CPU with --device cpu", int(failed[0]))
	}
	buf := make([]byte, 1+len(cuda.NCCLID{}))
	if comm.Rank() == 0 {
		if id, err := cuda.NewNCCLID(); err != nil {
			fmt.Fprintf(os.Stderr, "%s: rank 0: %v\n", selfName(), err)
		} else {
			buf[0] = 1
			copy(buf[1:], id[:])
		}
	}
	if err := comm.Bcast(buf, 0); err != nil {
		return "", fmt.Errorf("send the NCCL id: %w", err)
	}
	if buf[0] != 1 {
		return "", errors.New("rank 0 could not make the NCCL communicator's id")
	}
	var id cuda.NCCLID
	copy(id[:], buf[1:])
	if err := gb.JoinNCCL(id, comm.Size(), comm.Rank()); err != nil {
		return "", err
	}
	gb.SetCollectiveTimeout(limit)
	return fmt.Sprintf("; gradients summed by NCCL %s on the GPUs, in the recorded step", version), nil
}

// ncclReport is the devices command's NCCL line.
func ncclReport() {
	v, err := cuda.NCCLVersion()
	if err != nil {
		fmt.Printf("%-5s not available: %v (only needed to train on several GPUs)\n", "nccl", err)
		return
	}
	fmt.Printf("%-5s %s (libnccl.so.2): the GPUs' gradient all-reduce under mpirun/srun\n", "nccl", v)
}
