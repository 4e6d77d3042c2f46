package mpi

import (
	"os/exec"
	"strconv"
	"strings"
)

// Launcher is an mpirun found on this machine, for tests and reports.
type Launcher struct {
	Name string // "Open MPI", "MPICH"
	Path string
	Lib  string // the library its ranks load (AEGPU_MPI_LIB)
	// Env is set for the launcher itself (through env(1)), and Flags go
	// before its -n: a private Slurm's SLURM_CONF and srun's --mpi.
	Env   []string
	Flags []string
}

// Command is the command line that starts n ranks of argv on this
// machine: as root where that needs a flag, and with more ranks than
// cores.
func (l Launcher) Command(n int, argv ...string) []string {
	var cmd []string
	if len(l.Env) > 0 {
		cmd = append(append(cmd, "env"), l.Env...)
	}
	cmd = append(cmd, l.Path)
	if l.Name == "Open MPI" {
		cmd = append(cmd, "--allow-run-as-root", "--oversubscribe", "--bind-to", "none")
	}
	cmd = append(append(cmd, l.Flags...), "-n", strconv.Itoa(n))
	return append(cmd, argv...)
}

// Launchers finds Open MPI's and MPICH's mpirun, telling them apart by
// their --version (Debian installs both under suffixed names and points
// mpirun at one of them).
func Launchers() []Launcher {
	var out []Launcher
	seen := map[string]bool{}
	for _, name := range []string{"mpirun.openmpi", "mpiexec.hydra", "mpirun.mpich", "mpirun", "mpiexec"} {
		p, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		v, err := exec.Command(p, "--version").CombinedOutput()
		if err != nil && len(v) == 0 {
			continue
		}
		s := string(v)
		var l Launcher
		switch {
		case strings.Contains(s, "Open MPI") || strings.Contains(s, "OpenRTE"):
			l = Launcher{Name: "Open MPI", Path: p, Lib: "libmpi.so.40"}
		case strings.Contains(s, "HYDRA") || strings.Contains(s, "MPICH"):
			l = Launcher{Name: "MPICH", Path: p, Lib: "libmpich.so.12"}
		default:
			continue
		}
		if !seen[l.Name] {
			seen[l.Name] = true
			out = append(out, l)
		}
	}
	return out
}
