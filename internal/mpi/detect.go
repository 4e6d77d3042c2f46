package mpi

import (
	"os"
	"strconv"
)

// Launch is what a launcher told this process through its environment.
type Launch struct {
	Launcher  string // "Open MPI", "MPICH (Hydra)", "PMIx", or one of the Srun names; "" when none
	Rank      int
	Size      int // 0 when the launcher does not say
	LocalRank int // -1 when the launcher does not say
}

// The launchers named for Slurm's srun, by the PMI it gave the step
// (srun --mpi=…): MPI libraries start from a PMI, so only the first two
// can start MPI. Debian's MPICH speaks PMI-2 and its Open MPI PMIx.
const (
	SrunPMI2  = "Slurm (srun --mpi=pmi2)"
	SrunPMIx  = "Slurm (srun --mpi=pmix)"
	SrunNoPMI = "Slurm (srun, no PMI)"
)

// Parallel reports whether the launch is part of a job of more than one
// process (or of an unknown number, as PMIx alone says).
func (l Launch) Parallel() bool { return l.Launcher != "" && l.Size != 1 }

// Detect reads the launchers' environment variables. ok is false when no
// launcher started this process.
func Detect() (l Launch, ok bool) { return DetectEnv(os.Getenv) }

// DetectEnv is Detect reading the environment through env (tests pass a
// map's lookup).
func DetectEnv(env func(string) string) (Launch, bool) {
	num := func(k string, def int) int {
		if v, err := strconv.Atoi(env(k)); err == nil {
			return v
		}
		return def
	}
	has := func(k string) bool { return env(k) != "" }
	// srun sets SLURM_STEP_ID in a step's tasks; a batch script's own
	// shell has SLURM_PROCID 0 and is no rank of a parallel step. mpirun
	// inside an allocation starts its daemons with srun, so its ranks see
	// a step too: Open MPI's and Hydra's own variables come first
	// (Hydra's MPI_LOCALRANKID tells its PMI from srun's).
	step := has("SLURM_PROCID") && has("SLURM_STEP_ID")
	switch {
	case has("OMPI_COMM_WORLD_RANK"):
		return Launch{"Open MPI", num("OMPI_COMM_WORLD_RANK", 0), num("OMPI_COMM_WORLD_SIZE", 0), num("OMPI_COMM_WORLD_LOCAL_RANK", -1)}, true
	case has("PMI_RANK") && step && !has("MPI_LOCALRANKID"):
		return Launch{SrunPMI2, num("PMI_RANK", 0), num("PMI_SIZE", 0), num("SLURM_LOCALID", -1)}, true
	case has("PMI_RANK"):
		return Launch{"MPICH (Hydra)", num("PMI_RANK", 0), num("PMI_SIZE", 0), num("MPI_LOCALRANKID", -1)}, true
	case has("PMIX_RANK") && step:
		// PMIx says the rank, Slurm the size.
		return Launch{SrunPMIx, num("PMIX_RANK", 0), num("SLURM_NTASKS", 0), num("SLURM_LOCALID", -1)}, true
	case has("PMIX_RANK"):
		return Launch{"PMIx", num("PMIX_RANK", 0), 0, num("PMIX_LOCAL_RANK", -1)}, true
	case step:
		return Launch{SrunNoPMI, num("SLURM_PROCID", 0), num("SLURM_NTASKS", 0), num("SLURM_LOCALID", -1)}, true
	}
	return Launch{Rank: 0, Size: 1, LocalRank: -1}, false
}
