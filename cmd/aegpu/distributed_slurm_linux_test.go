//go:build linux

package main

// Data-parallel training, encoding and bench started by Slurm's srun, on a
// private one-node cluster the test starts (internal/slurmtest): srun
// --mpi=pmi2 with MPICH's library and srun --mpi=pmix with Open MPI's, the
// pairs Debian builds.

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aegpu/aegpu/internal/mpi"
	"github.com/aegpu/aegpu/internal/slurmtest"
)

// requireSlurmEnv makes the srun tests fail instead of skipping where no
// private cluster can start (CI sets it after installing Slurm).
const requireSlurmEnv = "AEGPU_REQUIRE_SLURM"

// srunLaunchers starts a private Slurm cluster for the test and returns
// srun with each PMI whose MPI library is here: pmi2 for MPICH, pmix for
// Open MPI.
func srunLaunchers(t *testing.T) (ls []mpi.Launcher, c *slurmtest.Cluster) {
	t.Helper()
	c, err := slurmtest.Start(t.TempDir())
	if errors.Is(err, slurmtest.ErrUnavailable) && os.Getenv(requireSlurmEnv) == "" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	have := map[string]bool{}
	for _, l := range mpi.Launchers() {
		have[l.Name] = true
	}
	types := c.MPITypes()
	for _, p := range []struct{ pmi, mpi, lib string }{{"pmi2", "MPICH", "libmpich.so.12"}, {"pmix", "Open MPI", "libmpi.so.40"}} {
		if slices.Contains(types, p.pmi) && have[p.mpi] {
			ls = append(ls, c.Launcher(p.pmi, p.lib))
		} else if os.Getenv(requireSlurmEnv) != "" {
			t.Errorf("srun --mpi=%s with %s: srun offers %v; %s found: %v (apt-get install slurm-wlm libpmix-dev openmpi-bin mpich)", p.pmi, p.mpi, types, p.mpi, have[p.mpi])
		}
	}
	if len(ls) == 0 {
		t.Skipf("srun offers %v, and no MPI library that goes with them is here", types)
	}
	return ls, c
}

// TestSrun runs aegpu under srun as a cluster would, with each PMI:
//
//   - train on 2 ranks: the final weights equal one process's within 1e-5
//     relative, and 2 epochs on 2 ranks resumed on 3 for the third too;
//   - SIGTERM to rank 1's process: every rank stops after the same step,
//     rank 0 saves once, srun exits with status 130, and --resume ends
//     where an uninterrupted job ends (1e-5 relative);
//   - SIGKILL to rank 1: the step ends with an error naming task 1 within
//     the job deadline, and the model directory verifies;
//   - encode --gather with --shard auto: one output, the one process's
//     byte for byte;
//   - bench: the scaling table of the toy model.
//
// And srun without a PMI (--mpi=none, Slurm's default unless slurm.conf
// says otherwise) is refused by every task with an error that names the
// flags, before anything is written.
func TestSrun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts a Slurm cluster")
	}
	ls, cluster := srunLaunchers(t)
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	data := filepath.Join(dir, "toy.csv")
	writeToyCSV(t, data, 301) // 241 training rows: a short last batch of 1 row at --batch 16
	loud := []string{"train", "--data", data, "--layers", "6,5,2", "--batch", "16", "--seed", "3", "--l2", "1e-4", "--device", "cpu",
		"--schedule", "constant", "--warmup", "0"}
	common := append(slices.Clip(loud), "--quiet")
	run := func(launch []string, args ...string) (string, error) {
		t.Helper()
		return runBin(t, dir, nil, append(append(launch, bin), args...)...)
	}
	if o, err := run(nil, append(common, "--epochs", "3", "--out", "one", "--distributed", "off")...); err != nil {
		t.Fatalf("one process: %v\n%s", err, o)
	}
	want := weights(t, filepath.Join(dir, "one"))
	_, model, xdata := shardFixture(t)
	encode := []string{"encode", "--model", model, "--data", xdata, "--with-index", "--device", "cpu", "--quiet"}
	wantCodes := filepath.Join(dir, "one-codes.npy")
	if o, err := run(nil, append(encode, "--out", wantCodes)...); err != nil {
		t.Fatalf("one process: %v\n%s", err, o)
	}

	for _, l := range ls {
		name := strings.ReplaceAll(l.Name, " ", "-")
		t.Run(name+"/train", func(t *testing.T) {
			out := name + "-2"
			o, err := run(l.Command(2), append(loud, "--epochs", "3", "--out", out)...)
			if err != nil {
				t.Fatalf("%v\n%s\n%s", err, o, cluster.Logs())
			}
			if want := "started by " + map[string]string{"Slurm pmi2": mpi.SrunPMI2, "Slurm pmix": mpi.SrunPMIx}[l.Name]; !strings.Contains(o, want) {
				t.Errorf("the run's report does not say %q:\n%s", want, o)
			}
			d := maxRelDiff(t, weights(t, filepath.Join(dir, out)), want)
			t.Logf("%s, 2 ranks: max relative weight difference from one process %.3g", l.Name, d)
			if d > 1e-5 { // tolerance: 1e-5 relative, the bound (only the order of the sums differs)
				t.Errorf("%s, 2 ranks: the weights differ from one process's by %.3g relative (> 1e-5)", l.Name, d)
			}
			out = name + "-resumed"
			if o, err := run(l.Command(2), append(common, "--epochs", "2", "--out", out)...); err != nil {
				t.Fatalf("%v\n%s", err, o)
			}
			if o, err := run(l.Command(3), append(common, "--resume", out, "--epochs", "3")...); err != nil {
				t.Fatalf("resumed on 3 ranks: %v\n%s", err, o)
			}
			d = maxRelDiff(t, weights(t, filepath.Join(dir, out)), want)
			t.Logf("%s, 2 ranks then resumed on 3: max relative weight difference %.3g", l.Name, d)
			if d > 1e-5 { // tolerance: as above
				t.Errorf("%s, resumed on 3 ranks: the weights differ by %.3g relative", l.Name, d)
			}
		})

		t.Run(name+"/encode-gather", func(t *testing.T) {
			codes := filepath.Join(dir, name+"-codes.npy")
			if o, err := run(l.Command(3), append(encode, "--gather", "--out", codes)...); err != nil {
				t.Fatalf("%v\n%s", err, o)
			}
			sameFiles(t, codes, wantCodes)
			noParts(t, codes)
		})

		t.Run(name+"/bench", func(t *testing.T) {
			o, err := run(l.Command(2), "bench", "--models", "toy", "--windows", "1")
			// The rows, not rank 0's progress line "toy b256: …".
			if rows := strings.Count(o, "\ntoy ") - strings.Count(o, "\ntoy b"); err != nil || rows != 4 || !strings.Contains(o, "strong scaling over 2 ranks") {
				t.Errorf("%v: want the toy model's 4 rows, printed once:\n%s", err, o)
			}
		})
	}

	// GPU ranks: each task opens the GPU of its SLURM_LOCALID and the
	// ranks sum with NCCL (the emulated GPU and the fake NCCL, as in
	// TestDistributedGPUMatchesOneProcess).
	t.Run(strings.ReplaceAll(ls[0].Name, " ", "-")+"/emulated-GPU", func(t *testing.T) {
		lib := buildEmulatedLibs(t, true)
		env := []string{"LD_LIBRARY_PATH=" + lib, "EMUGPU_EAGER=1", "EMUGPU_DEVICES=2", "EMUGPU_SMS=2", "FAKENCCL_TIMEOUT_MS=60000"}
		gpu := append(slices.Clip(common), "--device", "cuda", "--epochs", "2")
		if o, err := runBin(t, dir, env, append([]string{bin}, append(gpu, "--out", "gpu-one", "--distributed", "off")...)...); err != nil {
			t.Fatalf("one process: %v\n%s", err, o)
		}
		o, err := runBin(t, dir, env, append(ls[0].Command(2, bin), append(slices.Clip(loud), "--device", "cuda", "--epochs", "2", "--out", "gpu-two")...)...)
		if err != nil {
			t.Fatalf("2 GPU ranks: %v\n%s", err, o)
		}
		if !strings.Contains(o, "summed by NCCL") {
			t.Errorf("the job did not sum with NCCL:\n%s", o)
		}
		d := maxRelDiff(t, weights(t, filepath.Join(dir, "gpu-two")), weights(t, filepath.Join(dir, "gpu-one")))
		t.Logf("%s, 2 ranks on the emulated GPU: max relative weight difference from one process %.3g", ls[0].Name, d)
		if d > 1e-5 { // tolerance: 1e-5 relative, as the CPU runs'
			t.Errorf("2 GPU ranks under srun: the weights differ from one process's by %.3g relative", d)
		}
	})

	// Signals, as TestDistributedSignals does under mpirun: a model whose
	// epoch lasts about a second on 2 ranks here, signalled in epoch 2.
	wave := writeWaveNPY(t, dir)
	args := func(out string) []string {
		return []string{"train", "--data", wave, "--layers", "64,256,256,8", "--epochs", "4", "--batch", "16", "--out", out, "--device", "cpu"}
	}
	ref := filepath.Join(dir, "wave-ref")
	start := time.Now()
	if code, _ := startJob(t, ls[0], 2, nil, bin, args(ref)...).wait(start); code != 0 {
		t.Fatalf("uninterrupted job: exit status %d", code)
	}
	wantWave := weights(t, ref)
	for _, l := range ls {
		name := strings.ReplaceAll(l.Name, " ", "-")
		t.Run(name+"/SIGTERM-rank1", func(t *testing.T) {
			out := filepath.Join(dir, name+"-term")
			code, log, _ := signalRank1(t, l, nil, bin, out, args(out), syscall.SIGTERM)
			checkStopped(t, l.Name, bin, out, code, log)
			resumeMatches(t, l, bin, out, wantWave, "--data", wave, "--device", "cpu")
		})

		t.Run(name+"/SIGKILL-rank1", func(t *testing.T) {
			out := filepath.Join(dir, name+"-kill")
			code, log, pids := signalRank1(t, l, nil, bin, out, args(out), syscall.SIGKILL)
			if !strings.Contains(log, "task 1") && !strings.Contains(log, "rank 1") {
				t.Errorf("%s: the output names neither task 1 nor rank 1:\n%s", l.Name, log)
			}
			checkKilled(t, l.Name, bin, out, code, log, pids)
		})
	}

	// Without --kill-on-bad-exit, srun waits for the other tasks after one
	// died: under MPICH they may wait in the all-reduce for the dead rank,
	// and the watchdog (--mpi-timeout) ends them.
	noK := ls[0]
	noK.Flags = slices.DeleteFunc(slices.Clone(noK.Flags), func(f string) bool { return strings.HasPrefix(f, "--kill-on-bad-exit") })
	t.Run(strings.ReplaceAll(noK.Name, " ", "-")+"/SIGKILL-rank1-without-kill-on-bad-exit", func(t *testing.T) {
		if noK.Name != "Slurm pmi2" {
			t.Skipf("%s: Open MPI's ranks notice a lost peer themselves; the watchdog is MPICH's case", noK.Name)
		}
		out := filepath.Join(dir, "kill-nok")
		code, log, pids := signalRank1(t, noK, nil, bin, out, append(args(out), "--mpi-timeout", "3s"), syscall.SIGKILL)
		// The survivor waits for the dead rank in its all-reduce until the
		// watchdog ends it, unless MPICH's transport notices first (a
		// transfer from the dead process fails and MPICH aborts).
		if !strings.Contains(log, "task 1") {
			t.Errorf("srun does not name task 1:\n%s", log)
		}
		ender := "MPICH itself"
		if strings.Contains(log, "has waited 3s") {
			ender = "the watchdog"
		}
		t.Logf("ended by %s", ender)
		checkKilled(t, noK.Name, bin, out, code, log, pids)
	})

	// No PMI: every task refuses, naming the flags; nothing is written.
	none := cluster.Launcher("none", "")
	o, err := run(none.Command(2), append(common, "--epochs", "1", "--out", "nopmi")...)
	if err == nil || !strings.Contains(o, "--mpi=pmix") || !strings.Contains(o, "--mpi=pmi2") {
		t.Errorf("srun --mpi=none: %v: want an error naming --mpi=pmix and --mpi=pmi2:\n%s", err, o)
	}
	if _, err := os.Stat(filepath.Join(dir, "nopmi")); err == nil {
		t.Errorf("srun --mpi=none wrote the model directory")
	}
}
