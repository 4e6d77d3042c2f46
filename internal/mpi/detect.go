package mpi

import (
	"os"
	"strconv"
)

// Launch is what a launcher told this process through its environment.
type Launch struct {
	Launcher  string // "Open MPI", "MPICH (Hydra)", "PMIx", "Slurm"; "" when none
	Rank      int
	Size      int // 0 when the launcher does not say
	LocalRank int // -1 when the launcher does not say
}

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
	switch {
	case has("OMPI_COMM_WORLD_RANK"):
		return Launch{"Open MPI", num("OMPI_COMM_WORLD_RANK", 0), num("OMPI_COMM_WORLD_SIZE", 0), num("OMPI_COMM_WORLD_LOCAL_RANK", -1)}, true
	case has("PMI_RANK"):
		return Launch{"MPICH (Hydra)", num("PMI_RANK", 0), num("PMI_SIZE", 0), num("MPI_LOCALRANKID", -1)}, true
	case has("PMIX_RANK"):
		return Launch{"PMIx", num("PMIX_RANK", 0), 0, num("PMIX_LOCAL_RANK", -1)}, true
	case has("SLURM_PROCID") && has("SLURM_STEP_ID"):
		// srun sets SLURM_STEP_ID; a batch script's own shell has
		// SLURM_PROCID 0 and is no rank of a parallel step.
		return Launch{"Slurm", num("SLURM_PROCID", 0), num("SLURM_NTASKS", 0), num("SLURM_LOCALID", -1)}, true
	}
	return Launch{Rank: 0, Size: 1, LocalRank: -1}, false
}
