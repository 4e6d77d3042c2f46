//go:build linux

package main

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
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
			code, log, _ := signalRank1(t, l, env, bin, out, args(out), syscall.SIGTERM)
			if !strings.Contains(log, "NCCL") {
				t.Errorf("the job did not sum over NCCL:\n%s", log)
			}
			checkStopped(t, l.Name, bin, out, code, log)
		})
		t.Run(name+"/SIGKILL-rank1", func(t *testing.T) {
			out := filepath.Join(dir, name+"-kill")
			code, log, pids := signalRank1(t, l, env, bin, out, args(out), syscall.SIGKILL)
			checkKilled(t, l.Name, bin, out, code, log, pids)
		})
	}
}
