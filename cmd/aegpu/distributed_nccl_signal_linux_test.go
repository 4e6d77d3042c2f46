//go:build linux

package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDistributedGPUSignals signals one rank of a 2-rank job on the
// emulated GPU (the fake NCCL summing the gradients in the recorded step;
// see TestDistributedGPUMatchesOneProcess):
//
//   - SIGTERM to rank 1 only: the stop flag, which on GPUs goes over MPI
//     on its own each step, stops every rank after the same step; rank 0
//     saves and says so once, the launcher exits with status 130, and the
//     model directory verifies.
//   - SIGKILL to rank 1: the job ends with an error and the model
//     directory verifies (rank 0 may be waiting in the fake NCCL's
//     all-reduce, which sees the peer gone, when the launcher ends it).
func TestDistributedGPUSignals(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary, the emulated GPU, and runs mpirun")
	}
	ls := mpiLaunchers(t)
	lib := buildEmulatedLibs(t, true)
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	data := filepath.Join(dir, "toy.csv")
	writeToyCSV(t, data, 100)
	env := []string{"LD_LIBRARY_PATH=" + lib, "EMUGPU_EAGER=1", "EMUGPU_DEVICES=2", "EMUGPU_SMS=2", "FAKENCCL_TIMEOUT_MS=20000"}
	// A few seconds per epoch on the emulated GPU: the signals land inside
	// epoch 2 of 40.
	args := func(out string) []string {
		return []string{"train", "--data", data, "--layers", "6,5,2", "--epochs", "40", "--batch", "16", "--out", out, "--device", "cuda"}
	}
	for _, l := range ls {
		name := strings.ReplaceAll(l.Name, " ", "")
		t.Run(name+"/SIGTERM-rank1", func(t *testing.T) {
			out := filepath.Join(dir, name+"-term")
			start := time.Now()
			j := startJob(t, l, 2, env, bin, args(out)...)
			pids := j.midTraining(out, start)
			if err := syscall.Kill(pids[1], syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			code, took := j.wait(start)
			log := j.out.String()
			t.Logf("%s: exit status %d after %.1fs", l.Name, code, took.Seconds())
			if code != 130 {
				t.Errorf("%s: exit status %d, want 130:\n%s", l.Name, code, log)
			}
			m := interruptedRE.FindAllStringSubmatch(log, -1)
			if len(m) != 1 {
				t.Fatalf("%s: %d interruption messages, want rank 0's alone:\n%s", l.Name, len(m), log)
			}
			st := savedState(t, out)
			if fmt.Sprint(st.Step) != m[0][2] || fmt.Sprint(st.Epoch+1) != m[0][1] {
				t.Errorf("%s: saved epoch %d batch %d step %d; the message says epoch %s step %s", l.Name, st.Epoch, st.Batch, st.Step, m[0][1], m[0][2])
			}
			if !strings.Contains(log, "NCCL") {
				t.Errorf("the job did not sum over NCCL:\n%s", log)
			}
			verified(t, bin, out)
		})
		t.Run(name+"/SIGKILL-rank1", func(t *testing.T) {
			out := filepath.Join(dir, name+"-kill")
			start := time.Now()
			j := startJob(t, l, 2, env, bin, args(out)...)
			pids := j.midTraining(out, start)
			if err := syscall.Kill(pids[1], syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			code, took := j.wait(start)
			t.Logf("%s: exit status %d after %.1fs", l.Name, code, took.Seconds())
			if code == 0 {
				t.Errorf("%s: exit status 0 after a rank was killed:\n%s", l.Name, j.out)
			}
			if alive(pids[0]) {
				t.Errorf("%s: rank 0 (pid %d) is still running", l.Name, pids[0])
			}
			verified(t, bin, out)
		})
	}
}
