//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aegpu/aegpu/internal/mpi"
)

// jobDeadline bounds every job of the signal tests: not a speed limit,
// the job must end rather than hang.
const jobDeadline = time.Minute

// mpiJob is a training job under a launcher, started by the test.
type mpiJob struct {
	t    *testing.T
	cmd  *exec.Cmd
	out  *syncBuffer
	bin  string
	l    mpi.Launcher
	done chan struct{}
	err  error // the launcher's exit, once done is closed
}

// startJob starts n ranks of bin with args under l.
func startJob(t *testing.T, l mpi.Launcher, n int, env []string, bin string, args ...string) *mpiJob {
	t.Helper()
	argv := l.Command(n, append([]string{bin}, args...)...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = filepath.Dir(bin)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	j := &mpiJob{t: t, cmd: cmd, out: &syncBuffer{}, bin: bin, l: l, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = j.out, j.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { j.err = cmd.Wait(); close(j.done) }()
	t.Cleanup(func() {
		j.cmd.Process.Kill()
		<-j.done
		for _, pid := range rankPIDs(bin) { // ranks a killed launcher left behind
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return j
}

// wait waits for the launcher to exit, failing the test past jobDeadline
// since start.
func (j *mpiJob) wait(start time.Time) (code int, took time.Duration) {
	j.t.Helper()
	select {
	case <-j.done:
	case <-time.After(time.Until(start.Add(jobDeadline))):
		j.t.Fatalf("%s: the job did not end within %s:\n%s", j.l.Name, jobDeadline, j.out)
	}
	took = time.Since(start)
	var ee *exec.ExitError
	if errors.As(j.err, &ee) {
		return ee.ExitCode(), took
	}
	if j.err != nil {
		j.t.Fatalf("%s: %v", j.l.Name, j.err)
	}
	return 0, took
}

// rankPIDs finds the running processes of bin by their rank, from the
// launcher's environment variables (Open MPI's OMPI_COMM_WORLD_RANK,
// Hydra's PMI_RANK, srun's SLURM_PROCID; in a step they agree).
func rankPIDs(bin string) map[int]int {
	out := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err != nil || exe != bin {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			k, v, _ := strings.Cut(string(kv), "=")
			if k == "OMPI_COMM_WORLD_RANK" || k == "PMI_RANK" || k == "PMIX_RANK" || k == "SLURM_PROCID" {
				if r, err := strconv.Atoi(v); err == nil {
					out[r] = pid
				}
			}
		}
	}
	return out
}

// alive reports whether pid is a process that has not exited.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command's closing parenthesis; Z is a zombie.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// midTraining waits until the job's first checkpoint (epoch 1) is in dir
// and both ranks are found, and returns their pids.
func (j *mpiJob) midTraining(dir string, start time.Time) map[int]int {
	j.t.Helper()
	for {
		var st struct{ Epoch int }
		if b, err := os.ReadFile(filepath.Join(dir, "state.json")); err == nil && json.Unmarshal(b, &st) == nil && st.Epoch >= 1 {
			if pids := rankPIDs(j.bin); len(pids) == 2 {
				return pids
			}
		}
		select {
		case <-j.done:
			j.t.Fatalf("%s: the job ended before the test could signal it:\n%s", j.l.Name, j.out)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Since(start) > jobDeadline {
			j.t.Fatalf("%s: no checkpoint within %s:\n%s", j.l.Name, jobDeadline, j.out)
		}
	}
}

// resumeMatches resumes the job in out on 2 ranks under l (args: train's
// flags besides --resume) and checks the final weights against want (an
// uninterrupted job's) within 1e-5 relative (expected: 0, the same sums).
func resumeMatches(t *testing.T, l mpi.Launcher, bin, out string, want map[string][]float32, args ...string) {
	t.Helper()
	start := time.Now()
	r := startJob(t, l, 2, nil, bin, append([]string{"train", "--resume", out}, args...)...)
	if code, _ := r.wait(start); code != 0 {
		t.Fatalf("%s: --resume on 2 ranks: exit status %d:\n%s", l.Name, code, r.out)
	}
	d := maxRelDiff(t, weights(t, out), want)
	t.Logf("%s: resumed on 2 ranks: max relative weight difference from the uninterrupted job %.3g", l.Name, d)
	if d > 1e-5 {
		t.Errorf("%s: the resumed run's weights differ from the uninterrupted job's by %.3g relative", l.Name, d)
	}
}

// savedState reads a model directory's state.json.
func savedState(t *testing.T, dir string) (st struct{ Epoch, Batch, Step int }) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// verified runs aegpu verify on dir: every file of its checkpoint whole.
func verified(t *testing.T, bin, dir string) {
	t.Helper()
	if out, err := exec.Command(bin, "verify", "--model", dir, "--quiet").CombinedOutput(); err != nil {
		t.Errorf("aegpu verify %s: %v\n%s", dir, err, out)
	}
}

var interruptedRE = regexp.MustCompile(`training interrupted at epoch (\d+), step (\d+)`)

// signalRank1 starts a 2-rank job of args (writing the model directory
// out) under l, sends sig to rank 1's process alone once the first
// checkpoint is in out, and waits for the job: its exit status, its
// output, and the ranks' pids.
func signalRank1(t *testing.T, l mpi.Launcher, env []string, bin, out string, args []string, sig syscall.Signal) (code int, log string, pids map[int]int) {
	t.Helper()
	start := time.Now()
	j := startJob(t, l, 2, env, bin, args...)
	pids = j.midTraining(out, start)
	if err := syscall.Kill(pids[1], sig); err != nil {
		t.Fatal(err)
	}
	code, took := j.wait(start)
	t.Logf("%s: %s to rank 1: exit status %d after %.1fs", l.Name, sig, code, took.Seconds())
	return code, j.out.String(), pids
}

// checkStopped checks a job that SIGTERM to one rank stopped: exit status
// 130, one interruption message (rank 0's), the step it names saved, and
// the model directory verifies.
func checkStopped(t *testing.T, name, bin, out string, code int, log string) {
	t.Helper()
	if code != 130 {
		t.Errorf("%s: exit status %d, want 130:\n%s", name, code, log)
	}
	m := interruptedRE.FindAllStringSubmatch(log, -1)
	if len(m) != 1 {
		t.Fatalf("%s: %d interruption messages, want rank 0's alone:\n%s", name, len(m), log)
	}
	st := savedState(t, out)
	if fmt.Sprint(st.Step) != m[0][2] || fmt.Sprint(st.Epoch+1) != m[0][1] {
		t.Errorf("%s: saved epoch %d batch %d step %d; the message says epoch %s step %s", name, st.Epoch, st.Batch, st.Step, m[0][1], m[0][2])
	}
	verified(t, bin, out)
}

// checkKilled checks a job whose rank 1 was killed: an error exit, rank 0
// gone too, and the model directory verifies.
func checkKilled(t *testing.T, name, bin, out string, code int, log string, pids map[int]int) {
	t.Helper()
	if code == 0 {
		t.Errorf("%s: exit status 0 after a rank was killed:\n%s", name, log)
	}
	if alive(pids[0]) {
		t.Errorf("%s: rank 0 (pid %d) is still running", name, pids[0])
	}
	verified(t, bin, out)
}

var hydraBannerRE = regexp.MustCompile(`BAD TERMINATION OF ONE OF YOUR APPLICATION PROCESSES\s*=\s*(?:RANK \d+ )?PID (\d+) `)

// hydraNamesARank checks the report of MPICH's launcher on a job whose
// rank 1 was killed: its "BAD TERMINATION" banner names the pid of one of
// the job's ranks. Which one is Hydra's choice: mostly rank 1's, but it
// may name rank 0's, which its proxy killed (seen once in CI, and every
// time here for a shell script under mpiexec.mpich); rank 0, killed with
// SIGKILL, cannot say more. The README says so.
func hydraNamesARank(t *testing.T, log string, pids map[int]int) {
	t.Helper()
	m := hydraBannerRE.FindStringSubmatch(log)
	if m == nil {
		t.Errorf("MPICH: no BAD TERMINATION banner with a pid:\n%s", log)
		return
	}
	for r, pid := range pids {
		if m[1] == fmt.Sprint(pid) {
			t.Logf("MPICH: the launcher's banner names rank %d (pid %d)", r, pid)
			return
		}
	}
	t.Errorf("MPICH: the banner's pid %s is none of the ranks' %v:\n%s", m[1], pids, log)
}

// TestDistributedSignals runs 2-rank training jobs under Open MPI's and
// MPICH's launchers and signals one rank's process mid-training:
//
//   - SIGTERM to rank 1 only: every rank stops after the same step, rank 0
//     saves and says so once, the launcher exits with status 130, and
//     --resume on 2 ranks finishes a run equal to an uninterrupted job's
//     within 1e-5 relative.
//   - SIGKILL to rank 1: the launcher ends the job (Open MPI's names rank
//     1; MPICH's names the pid of a rank, see hydraNamesARank), and the
//     model directory verifies.
//   - SIGSTOP to rank 1 (a rank that stalls without dying): rank 0's
//     watchdog (--mpi-timeout 3s) names the stalled all-reduce and exits,
//     the launcher ends the job, and the model directory verifies.
//   - SIGINT to the launcher (Ctrl-C in its terminal; Open MPI puts the
//     ranks in process groups of their own): the job ends and the
//     directory verifies; under MPICH, whose launcher forwards SIGINT,
//     rank 0 saves the step the ranks stopped at.
func TestDistributedSignals(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs mpirun")
	}
	ls := mpiLaunchers(t)
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	// About a second per epoch on 2 ranks here: the signals land inside
	// epoch 2 of 4.
	data := writeWaveNPY(t, dir)
	args := func(out string, extra ...string) []string {
		return append([]string{"train", "--data", data, "--layers", "64,256,256,8", "--epochs", "4", "--batch", "16",
			"--out", out, "--device", "cpu"}, extra...)
	}
	// The reference is an uninterrupted 2-rank job: this model's training
	// amplifies rounding (one process and 2 ranks part by 1e-3 in the
	// loss by epoch 3), while a job of 2 ranks sums a+b under either
	// library, so its results are reproducible bit for bit.
	ref := filepath.Join(dir, "ref")
	start := time.Now()
	if code, _ := startJob(t, ls[0], 2, nil, bin, args(ref)...).wait(start); code != 0 {
		t.Fatalf("uninterrupted job: exit status %d", code)
	}
	want := weights(t, ref)

	for _, l := range ls {
		name := strings.ReplaceAll(l.Name, " ", "")
		t.Run(name+"/SIGTERM-rank1", func(t *testing.T) {
			out := filepath.Join(dir, name+"-term")
			code, log, pids := signalRank1(t, l, nil, bin, out, args(out), syscall.SIGTERM)
			for r, pid := range pids {
				if alive(pid) {
					t.Errorf("%s: rank %d (pid %d) is still running", l.Name, r, pid)
				}
			}
			checkStopped(t, l.Name, bin, out, code, log)
			resumeMatches(t, l, bin, out, want, "--data", data, "--device", "cpu")
		})

		t.Run(name+"/SIGKILL-rank1", func(t *testing.T) {
			out := filepath.Join(dir, name+"-kill")
			code, log, pids := signalRank1(t, l, nil, bin, out, args(out), syscall.SIGKILL)
			if l.Name == "MPICH" {
				hydraNamesARank(t, log, pids)
			} else if !strings.Contains(log, "rank 1") && !strings.Contains(log, fmt.Sprint(pids[1])) {
				t.Errorf("%s: the output names neither rank 1 nor its pid %d:\n%s", l.Name, pids[1], log)
			}
			checkKilled(t, l.Name, bin, out, code, log, pids)
		})

		t.Run(name+"/SIGSTOP-rank1", func(t *testing.T) {
			out := filepath.Join(dir, name+"-stop")
			start := time.Now()
			j := startJob(t, l, 2, nil, bin, args(out, "--mpi-timeout", "3s")...)
			pids := j.midTraining(out, start)
			if err := syscall.Kill(pids[1], syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { syscall.Kill(pids[1], syscall.SIGKILL) })
			code, took := j.wait(start)
			log := j.out.String()
			t.Logf("%s: exit status %d after %.1fs", l.Name, code, took.Seconds())
			if code == 0 {
				t.Errorf("%s: exit status 0 with a stalled rank:\n%s", l.Name, log)
			}
			if want := "rank 0 of 2: MPI_Allreduce of"; !strings.Contains(log, want) || !strings.Contains(log, "has waited 3s") {
				t.Errorf("%s: no watchdog message (%q … has waited 3s):\n%s", l.Name, want, log)
			}
			verified(t, bin, out)
		})

		t.Run(name+"/SIGINT-launcher", func(t *testing.T) {
			out := filepath.Join(dir, name+"-int")
			start := time.Now()
			j := startJob(t, l, 2, nil, bin, args(out)...)
			j.midTraining(out, start)
			if err := j.cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			code, took := j.wait(start)
			st := savedState(t, out)
			t.Logf("%s: exit status %d after %.1fs; the checkpoint is at epoch %d, batch %d (batch > 0: saved on the interruption)",
				l.Name, code, took.Seconds(), st.Epoch, st.Batch)
			// Hydra forwards SIGINT to every rank at once: they stop at one
			// step and rank 0 saves. Its own exit status then is the ranks'
			// 130, or now and then 0 (seen twice here on a loaded machine):
			// Hydra's, which the ranks cannot change. Open MPI's
			// mpirun sends SIGCONT, then SIGTERM a second later and SIGKILL a
			// second after that (odls_base_sigkill_timeout): the ranks stop,
			// and rank 0's save completes or is cut off whole, leaving the
			// epoch's checkpoint.
			if l.Name == "MPICH" {
				if m := interruptedRE.FindAllStringSubmatch(j.out.String(), -1); (code != 130 && code != 0) || len(m) != 1 || m[0][2] != fmt.Sprint(st.Step) {
					t.Errorf("%s: exit status %d, want 130 (or Hydra's 0) and rank 0's message of the saved step %d:\n%s", l.Name, code, st.Step, j.out)
				}
			} else if code == 0 {
				t.Errorf("%s: exit status 0 after Ctrl-C:\n%s", l.Name, j.out)
			}
			verified(t, bin, out)
		})
	}
}
