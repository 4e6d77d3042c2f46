package slurmtest

import (
	"errors"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

// RequireEnv makes the tests fail instead of skipping where no cluster can
// start (CI sets it after installing Slurm).
const RequireEnv = "AEGPU_REQUIRE_SLURM"

// TestCluster starts a cluster, runs a step of 3 tasks on its node (more
// than this machine may have CPUs: the launcher overcommits) and checks
// each task's rank, then stops it.
func TestCluster(t *testing.T) {
	c, err := Start(t.TempDir())
	if errors.Is(err, ErrUnavailable) && os.Getenv(RequireEnv) == "" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Logf("srun --mpi=list: %v", c.MPITypes())
	argv := c.Launcher("none", "").Command(3, "sh", "-c", `echo "$SLURM_PROCID/$SLURM_NTASKS $SLURMD_NODENAME"`)
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s\n%s", strings.Join(argv, " "), err, out, c.Logs())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	sort.Strings(lines)
	if got := strings.Join(lines, ","); got != "0/3 "+NodeName+",1/3 "+NodeName+",2/3 "+NodeName {
		t.Errorf("the step's tasks said %q", got)
	}
}
