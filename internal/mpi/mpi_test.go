package mpi

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// RequireEnv makes the tests that need mpirun fail instead of skipping
// where it is missing (CI sets it after installing Open MPI and MPICH).
const RequireEnv = "AEGPU_REQUIRE_MPI"

func TestDetect(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want Launch
		ok   bool
	}{
		{map[string]string{}, Launch{Size: 1, LocalRank: -1}, false},
		{map[string]string{"OMPI_COMM_WORLD_RANK": "2", "OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_LOCAL_RANK": "0"}, Launch{"Open MPI", 2, 4, 0}, true},
		{map[string]string{"PMI_RANK": "1", "PMI_SIZE": "3"}, Launch{"MPICH (Hydra)", 1, 3, -1}, true},
		{map[string]string{"PMIX_RANK": "0"}, Launch{"PMIx", 0, 0, -1}, true},
		{map[string]string{"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "SLURM_STEP_ID": "0"}, Launch{SrunNoPMI, 5, 8, 1}, true},
		// srun --mpi=pmi2 and --mpi=pmix (the variables a Slurm 22.05 step has).
		{map[string]string{"PMI_RANK": "5", "PMI_SIZE": "8", "PMI_FD": "11", "SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "SLURM_STEP_ID": "0"},
			Launch{SrunPMI2, 5, 8, 1}, true},
		{map[string]string{"PMIX_RANK": "5", "SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "SLURM_STEP_ID": "0"}, Launch{SrunPMIx, 5, 8, 1}, true},
		// mpirun inside an allocation: its ranks also see the step of the
		// daemon srun started (one per node); the MPI's own variables win.
		{map[string]string{"PMI_RANK": "5", "PMI_SIZE": "8", "MPI_LOCALRANKID": "3", "SLURM_PROCID": "1", "SLURM_NTASKS": "2", "SLURM_LOCALID": "0", "SLURM_STEP_ID": "0"},
			Launch{"MPICH (Hydra)", 5, 8, 3}, true},
		{map[string]string{"OMPI_COMM_WORLD_RANK": "5", "OMPI_COMM_WORLD_SIZE": "8", "OMPI_COMM_WORLD_LOCAL_RANK": "3", "PMIX_RANK": "5", "SLURM_PROCID": "1", "SLURM_NTASKS": "2", "SLURM_STEP_ID": "0"},
			Launch{"Open MPI", 5, 8, 3}, true},
		{map[string]string{"SLURM_PROCID": "0", "SLURM_NTASKS": "8"}, Launch{Size: 1, LocalRank: -1}, false}, // a batch script, not a step
	} {
		got, ok := DetectEnv(func(k string) string { return c.env[k] })
		if got != c.want || ok != c.ok {
			t.Errorf("%v: got %+v %v, want %+v %v", c.env, got, ok, c.want, c.ok)
		}
	}
}

// TestMain runs as one rank of the tests' MPI jobs when childEnv is set.
const childEnv = "AEGPU_MPI_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(child())
	}
	os.Exit(m.Run())
}

// child checks the collectives on its rank and prints one line.
func child() int {
	l, ok := Detect()
	if !ok {
		fmt.Println("no launcher detected")
		return 1
	}
	c, err := Init(l)
	if err != nil {
		fmt.Println("init:", err)
		return 1
	}
	r, n := c.Rank(), c.Size()
	if os.Getenv(stallEnv) != "" {
		return stall(c)
	}
	buf := make([]float32, 1000)
	for i := range buf {
		buf[i] = float32(r + i)
	}
	if err := c.AllreduceSum(buf); err != nil {
		fmt.Println(err)
		return 1
	}
	for i, v := range buf {
		if want := float32(n*i + n*(n-1)/2); v != want {
			fmt.Printf("rank %d: allreduce[%d] = %v, want %v\n", r, i, v, want)
			return 1
		}
	}
	d := []float64{float64(r) + 0.5}
	if err := c.AllreduceSum64(d); err != nil || d[0] != float64(n*(n-1)/2)+0.5*float64(n) {
		fmt.Printf("rank %d: allreduce64 %v %v\n", r, d, err)
		return 1
	}
	b := []byte("........")
	if r == n-1 {
		copy(b, "fromlast")
	}
	if err := c.Bcast(b, n-1); err != nil || string(b) != "fromlast" {
		fmt.Printf("rank %d: bcast %q %v\n", r, b, err)
		return 1
	}
	if err := c.Barrier(); err != nil {
		fmt.Println(err)
		return 1
	}
	if msg := checkBarrierIdle(c); msg != "" {
		fmt.Printf("rank %d: %s\n", r, msg)
		return 1
	}
	fmt.Printf("rank %d/%d ok %s (%s) [%s]\n", r, n, c.Lib.Path, c.Lib.ABI, c.Lib.Version)
	if err := c.Finalize(); err != nil {
		fmt.Println(err)
		return 1
	}
	return 0
}

// stallEnv makes the child ranks test the watchdog: the last rank never
// reaches the all-reduce, the others wait for it under a 2 s limit.
const stallEnv = "AEGPU_MPI_TEST_STALL"

func stall(c *Comm) int {
	if c.Rank() == c.Size()-1 {
		fmt.Printf("rank %d stalls\n", c.Rank())
		select {} // until the launcher ends the job
	}
	c.SetTimeout(2*time.Second, func(call string, waited time.Duration) {
		fmt.Printf("rank %d: %s waited %s\n", c.Rank(), call, waited)
	})
	err := c.AllreduceSum(make([]float32, 1000))
	fmt.Printf("rank %d: the all-reduce came back (%v) instead of the watchdog ending the rank\n", c.Rank(), err)
	return 0
}

// idleWait is how long rank 0 keeps the others in BarrierIdle.
const idleWait = 400 * time.Millisecond

// checkBarrierIdle has rank 0 arrive idleWait late at a BarrierIdle: the
// other ranks must not leave it before rank 0 arrived (rank 0's arrival
// time, sent after), and must have slept there rather than spun (their
// CPU time over the wait, where the rusage is known, under half of it).
func checkBarrierIdle(c *Comm) string {
	var arrived int64
	start, cpu0 := time.Now(), cpuTime()
	if c.Rank() == 0 {
		time.Sleep(idleWait)
		arrived = time.Now().UnixNano()
	}
	if err := c.BarrierIdle(time.Millisecond); err != nil {
		return err.Error()
	}
	left, cpu := time.Now(), cpuTime()-cpu0
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, uint64(arrived))
	if err := c.Bcast(b, 0); err != nil {
		return err.Error()
	}
	arrived = int64(binary.LittleEndian.Uint64(b))
	if c.Rank() == 0 {
		return ""
	}
	if left.UnixNano() < arrived {
		return fmt.Sprintf("BarrierIdle returned %v before rank 0 arrived", time.Duration(arrived-left.UnixNano()))
	}
	if wait := left.Sub(start); cpu0 >= 0 && cpu > wait/2 {
		return fmt.Sprintf("BarrierIdle spun: %v of CPU time in a wait of %v", cpu, wait)
	}
	return ""
}

// needLaunchers returns the launchers found, skipping (or failing, under
// RequireEnv) when one of Open MPI and MPICH is missing.
func needLaunchers(t *testing.T) []Launcher {
	if buildErr != nil {
		t.Skip("built without cgo: MPI cannot be loaded")
	}
	ls := Launchers()
	names := map[string]bool{}
	for _, l := range ls {
		names[l.Name] = true
	}
	for _, want := range []string{"Open MPI", "MPICH"} {
		if !names[want] {
			if os.Getenv(RequireEnv) != "" {
				t.Errorf("%s's mpirun not found, and %s is set", want, RequireEnv)
			} else {
				t.Logf("skipping %s: no mpirun of it on PATH (apt-get install openmpi-bin mpich)", want)
			}
		}
	}
	if len(ls) == 0 {
		t.Skip("no mpirun on PATH (apt-get install openmpi-bin mpich)")
	}
	return ls
}

func TestCollectives(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range needLaunchers(t) {
		for _, n := range []int{2, 3} {
			t.Run(fmt.Sprintf("%s/%d", l.Name, n), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				argv := l.Command(n, exe, "-test.run=^$")
				cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
				cmd.Env = append(os.Environ(), childEnv+"=1")
				if n == 3 { // the override; 2 ranks find the library that matches the launcher
					cmd.Env = append(cmd.Env, LibEnv+"="+l.Lib)
				}
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
				}
				if got := strings.Count(string(out), " ok "); got != n {
					t.Fatalf("%d ranks said ok, want %d:\n%s", got, n, out)
				}
				t.Logf("%s", strings.SplitN(string(out), "\n", 2)[0])
			})
		}
	}
}

// TestWatchdogEndsStalledJob: a rank that stalls before an all-reduce
// (without dying, which the launchers notice themselves) leaves the others
// waiting; their watchdog names the call and exits, and the launcher then
// ends the whole job, under Open MPI and MPICH.
func TestWatchdogEndsStalledJob(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range needLaunchers(t) {
		t.Run(l.Name, func(t *testing.T) {
			// The deadline bounds the test, it is not a speed limit: the
			// job must end rather than hang.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			argv := l.Command(3, exe, "-test.run=^$")
			cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
			cmd.Env = append(os.Environ(), childEnv+"=1", stallEnv+"=1")
			start := time.Now()
			out, err := cmd.CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("the job did not end within a minute:\n%s", out)
			}
			if err == nil {
				t.Fatalf("the job exited with status 0:\n%s", out)
			}
			// Both waiting ranks' watchdogs fire at about the same time,
			// but the first rank to exit makes the launcher kill the
			// others, often before they print: at least one of them must
			// name the call, and the stalled rank must not.
			named := 0
			for r := range 2 {
				if strings.Contains(string(out), fmt.Sprintf("rank %d: MPI_Allreduce of 1000 floats waited 2s", r)) {
					named++
				}
			}
			if named == 0 {
				t.Errorf("no waiting rank named the stalled MPI_Allreduce:\n%s", out)
			}
			if strings.Contains(string(out), "rank 2: MPI_Allreduce") {
				t.Errorf("the stalled rank reported a wait it never entered:\n%s", out)
			}
			if strings.Contains(string(out), "came back") {
				t.Errorf("an all-reduce came back:\n%s", out)
			}
			t.Logf("%s ended the job %.1fs after it started: %v", l.Name, time.Since(start).Seconds(), err)
		})
	}
}

func TestProbeWithoutLauncher(t *testing.T) {
	lib, err := Probe()
	if err != nil {
		t.Skipf("no MPI library: %v", err)
	}
	t.Logf("%s (%s): %s", lib.Path, lib.ABI, lib.Version)
	if lib.Version == "" {
		t.Error("empty library version")
	}
}
