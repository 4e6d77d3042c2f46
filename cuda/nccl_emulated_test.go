package cuda_test

// The NCCL path of the CUDA backend without a GPU: the emulated
// libcuda.so.1 (internal/emugpu) and the fake libnccl.so.2
// (internal/nccl/testdata/fakenccl), whose communicator is shared memory
// between processes, are built into one directory, and two children of
// this test binary run as the two ranks of a job. The id goes from rank 0
// to rank 1 through a file (aegpu's CLI sends it over MPI). The fake
// library logs every call, so the test checks the real call sequence:
// init from rank 0's id, in-place float32 all-reduces queued directly and
// from inside a stream capture (replayed from the graph), the error
// polling, and destroy — and that a stalled or dead peer becomes an
// asynchronous error instead of a hang.

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aegpu/aegpu/cuda"
)

const (
	envNCCLRank = "AEGPU_NCCL_TEST_RANK" // the child's rank (of 2)
	envNCCLDir  = "AEGPU_NCCL_TEST_DIR"  // where rank 0 leaves the id, and the ranks their marks
	envNCCLFail = "AEGPU_NCCL_TEST_FAIL" // what rank 1 does at the last sum: "stall" or "exit"
)

// buildFakeNCCL compiles the fake libnccl.so.2 into dir; it skips without
// a C compiler.
func buildFakeNCCL(t *testing.T, dir string) {
	t.Helper()
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "gcc"
	}
	if _, err := exec.LookPath(cc); err != nil {
		t.Skipf("no C compiler (%s) to build the fake libnccl", cc)
	}
	src := filepath.Join("internal", "nccl", "testdata", "fakenccl", "fakenccl.c")
	cmd := exec.Command(cc, "-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o", filepath.Join(dir, "libnccl.so.2"), src, "-ldl", "-lpthread")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the fake libnccl: %v\n%s", err, b)
	}
}

// TestEmulatedNCCL runs the two-rank job twice: once where rank 1 stalls
// at the last all-reduce (rank 0 must see ncclSystemError from the timed
// barrier) and once where it exits (ncclRemoteError).
func TestEmulatedNCCL(t *testing.T) {
	if os.Getenv(envEmulated) != "" || os.Getenv(envNCCLRank) != "" {
		t.Skip("child run")
	}
	if !cgoEnabled() {
		t.Skip("the emulated GPU needs cgo")
	}
	lib := buildEmulatedDriver(t)
	buildFakeNCCL(t, lib)
	for _, fail := range []string{"stall", "exit"} {
		t.Run(fail, func(t *testing.T) {
			dir := t.TempDir()
			log := filepath.Join(dir, "nccl.log")
			stats := filepath.Join(dir, "stats")
			var cmds [2]*exec.Cmd
			var outs [2]strings.Builder
			for r := range cmds {
				c := exec.Command(os.Args[0], "-test.run=^TestEmulatedNCCLRank$", "-test.v", "-test.count=1", "-test.timeout=3m")
				c.Env = append(os.Environ(), "LD_LIBRARY_PATH="+lib, envEmulated+"=1", envNCCLRank+"="+strconv.Itoa(r),
					envNCCLDir+"="+dir, envNCCLFail+"="+fail, "FAKENCCL_LOG="+log, "FAKENCCL_TIMEOUT_MS=60000",
					"EMUGPU_STATS="+stats+strconv.Itoa(r))
				c.Stdout, c.Stderr = &outs[r], &outs[r]
				if err := c.Start(); err != nil {
					t.Fatal(err)
				}
				cmds[r] = c
			}
			errs := [2]error{cmds[0].Wait(), cmds[1].Wait()}
			if errs[0] != nil || !strings.Contains(outs[0].String(), "--- PASS: TestEmulatedNCCLRank") {
				t.Errorf("rank 0 (%v):\n%s", errs[0], outs[0].String())
			}
			if fail == "exit" {
				if ee, ok := errs[1].(*exec.ExitError); !ok || ee.ExitCode() != 3 {
					t.Errorf("rank 1 should have exited with status 3 (%v):\n%s", errs[1], outs[1].String())
				}
			} else if errs[1] != nil || !strings.Contains(outs[1].String(), "--- PASS: TestEmulatedNCCLRank") {
				t.Errorf("rank 1 (%v):\n%s", errs[1], outs[1].String())
			}
			checkNCCLLog(t, log, fail)
		})
	}
}

// checkNCCLLog checks the fake library's record of the calls.
func checkNCCLLog(t *testing.T, path, fail string) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("the fake libnccl wrote no log: %v", err)
	}
	defer f.Close()
	var lines []string
	count := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		lines = append(lines, l)
		fs := strings.Fields(l)
		key := fs[0]
		for _, kv := range fs[1:] {
			if strings.HasPrefix(kv, "rank=") || strings.HasPrefix(kv, "captured=") || strings.HasPrefix(kv, "result=") {
				key += " " + kv
			}
		}
		count[key]++
	}
	t.Logf("fake libnccl log: %d lines", len(lines))
	var id string
	for _, l := range lines {
		if strings.HasPrefix(l, "uniqueid ") {
			id = strings.TrimPrefix(strings.Fields(l)[2], "id=")
		}
	}
	if count["uniqueid"] != 1 || id == "" {
		t.Errorf("ncclGetUniqueId ran %d times, want once (rank 0)", count["uniqueid"])
	}
	for r := 0; r < 2; r++ {
		if !containsLine(lines, fmt.Sprintf("init rank=%d nranks=2 id=%s", r, id)) {
			t.Errorf("rank %d did not init from rank 0's id %s:\n%s", r, id, strings.Join(lines, "\n"))
		}
	}
	// Rank 0: one direct sum, one captured sum replayed 3 times, one
	// more direct sum that fails.
	want := map[string]int{
		"allreduce rank=0 captured=0": 2, "allreduce rank=0 captured=1": 1,
		"allreduce rank=1 captured=0": 1, "allreduce rank=1 captured=1": 1,
		"allreduce-run rank=0": 5, "allreduce-run rank=1": 4,
	}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("%q: %d times, want %d", k, count[k], n)
		}
	}
	// Healthy polls: the waits on the lazy stream (wait.go) poll the
	// communicator between cuStreamQuery calls, and CollectiveError once.
	if n := count["asyncerror rank=0 result=0"]; n < 2 {
		t.Errorf("rank 0 polled the communicator %d times while healthy, want at least 2 (the waits poll it)", n)
	}
	code := map[string]int{"stall": 2, "exit": 6}[fail] // ncclSystemError, ncclRemoteError
	if count[fmt.Sprintf("asyncerror rank=0 result=%d", code)] != 1 || count["abort rank=0"] != 1 {
		t.Errorf("rank 0 did not poll result %d and abort:\n%s", code, strings.Join(lines, "\n"))
	}
	if fail == "stall" && count["destroy rank=1"] != 1 {
		t.Errorf("rank 1 did not destroy its communicator")
	}
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

// TestEmulatedNCCLRank is one rank of TestEmulatedNCCL's job.
func TestEmulatedNCCLRank(t *testing.T) {
	rs := os.Getenv(envNCCLRank)
	if rs == "" {
		t.Skip("runs inside TestEmulatedNCCL")
	}
	rank, _ := strconv.Atoi(rs)
	dir, fail := os.Getenv(envNCCLDir), os.Getenv(envNCCLFail)
	b := emulated(t)
	v, err := cuda.NCCLVersion()
	if err != nil || v != "2.23.4" {
		t.Fatalf("NCCLVersion = %q, %v; want the fake's 2.23.4", v, err)
	}
	idFile := filepath.Join(dir, "id")
	var id cuda.NCCLID
	if rank == 0 {
		if id, err = cuda.NewNCCLID(); err != nil {
			t.Fatal(err)
		}
		writeFileAtomic(t, idFile, id[:])
	} else {
		copy(id[:], waitFile(t, idFile))
	}
	if b.Ranks() != 0 {
		t.Fatalf("Ranks() = %d before JoinNCCL", b.Ranks())
	}
	if err := b.JoinNCCL(id, 2, rank); err != nil {
		t.Fatal(err)
	}
	if b.Ranks() != 2 {
		t.Fatalf("Ranks() = %d, want 2", b.Ranks())
	}
	const n = 300_000 // more than the fake's slot: the sum goes in two chunks
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rank+1) * float32(i%97)
	}
	m, err := b.Alloc(1, n)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Free(m)
	if err := b.Upload(m, x); err != nil {
		t.Fatal(err)
	}
	check := func(what string, scale float32) {
		t.Helper()
		got := make([]float32, n)
		if err := b.Download(got, m); err != nil {
			t.Fatal(err)
		}
		for i, g := range got {
			// Exact for the direct sum; the replays scale by the float32
			// 1/3 (a rounding per step), hence the relative 1e-6.
			if want := float64(scale) * 3 * float64(i%97); math.Abs(float64(g)-want) > 1e-6*want {
				t.Fatalf("%s: element %d = %g, want %g", what, i, g, want)
			}
		}
	}
	// A direct sum: ranks hold 1·x and 2·x.
	if err := b.AllReduceSum(m); err != nil {
		t.Fatal(err)
	}
	check("direct", 1)
	// A recorded step, replayed three times: scale by 1/3, then sum. Both
	// ranks hold the same values now, so each replay maps v to 2v/3.
	rec, err := b.Record(func() error {
		if err := b.Scale(m, 1.0/3); err != nil {
			return err
		}
		return b.AllReduceSum(m)
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := rec.Run(); err != nil {
			t.Fatal(err)
		}
	}
	// Six ops are queued on the lazy emulated stream: Sync polls
	// (cuStreamQuery runs one op a call and answers NOT_READY while more
	// are queued), and the values are right only if it drained them all.
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	check("replayed", 8.0/27)
	if err := rec.Free(); err != nil {
		t.Fatal(err)
	}
	if err := b.CollectiveError(); err != nil {
		t.Fatalf("CollectiveError after healthy sums: %v", err)
	}
	if rank == 1 {
		switch fail {
		case "exit":
			os.Exit(3) // a rank that dies mid-job
		case "stall": // joins no more sums, until rank 0 saw the error
			waitFile(t, filepath.Join(dir, "done"))
			if err := b.LeaveNCCL(); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	// The fake times every barrier and reads its limit at each one: the
	// healthy ones above had a minute (a rank may lag seconds behind the
	// other on a loaded machine), the sum the peer never joins 3 s. (cgo's
	// os.Setenv reaches the C environment the fake reads.)
	if err := os.Setenv("FAKENCCL_TIMEOUT_MS", "3000"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := b.AllReduceSum(m); err != nil {
		t.Fatal(err)
	}
	// The backend polls its stream (cuStreamQuery) and the communicator
	// while it waits (wait.go): Sync itself may report the failed sum.
	err = b.Sync()
	if err == nil {
		err = b.CollectiveError()
	}
	want := map[string]string{"stall": "ncclSystemError", "exit": "ncclRemoteError"}[fail]
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "rank 0 of 2") {
		t.Fatalf("CollectiveError after the peer's %s = %v, want %s naming the rank", fail, err, want)
	}
	t.Logf("after %.1fs: %v", time.Since(start).Seconds(), err)
	if b.Ranks() != 0 {
		t.Errorf("the backend is still in the job after the error")
	}
	if err := b.AllReduceSum(m); err == nil {
		t.Errorf("AllReduceSum after the job failed succeeded")
	}
	writeFileAtomic(t, filepath.Join(dir, "done"), nil)
}

func writeFileAtomic(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func waitFile(t *testing.T, path string) []byte {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil {
			return b
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not appear", path)
	return nil
}
