package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
)

// TestResolveShard covers --shard auto's sources, their order and the
// errors, through a fake environment.
func TestResolveShard(t *testing.T) {
	ompi := map[string]string{"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_LOCAL_RANK": "1"}
	with := func(maps ...map[string]string) map[string]string {
		out := map[string]string{}
		for _, m := range maps {
			for k, v := range m {
				out[k] = v
			}
		}
		return out
	}
	array := func(id, count string) map[string]string {
		return map[string]string{"SLURM_ARRAY_TASK_ID": id, "SLURM_ARRAY_TASK_COUNT": count, "SLURM_ARRAY_JOB_ID": "77"}
	}
	cases := []struct {
		name  string
		spec  string
		count int
		env   map[string]string
		i, n  int
		auto  bool
		out   string // the output of --out codes.npy
		err   string // a part of the error; "" none
	}{
		{name: "one process", i: 0, n: 1, out: "codes.npy"},
		{name: "one process ignores an array", env: array("3", "8"), i: 0, n: 1, out: "codes.npy"},
		{name: "mpirun defaults to auto", env: ompi, i: 1, n: 4, auto: true, out: "codes.part-00001-of-00004.npy"},
		{name: "mpich", env: map[string]string{"PMI_RANK": "2", "PMI_SIZE": "3"}, i: 2, n: 3, auto: true, out: "codes.part-00002-of-00003.npy"},
		{name: "srun step", env: map[string]string{"SLURM_PROCID": "0", "SLURM_NTASKS": "2", "SLURM_STEP_ID": "0"}, i: 0, n: 2, auto: true, out: "codes.part-00000-of-00002.npy"},
		{name: "one rank is no launch", env: map[string]string{"PMI_RANK": "0", "PMI_SIZE": "1"}, i: 0, n: 1, out: "codes.npy"},
		{name: "given as it is", spec: "2/8", i: 2, n: 8, out: "codes.npy"},
		{name: "given under mpirun stays as given", spec: "2/8", env: ompi, i: 2, n: 8, out: "codes.npy"},
		{name: "0/1 under mpirun: every rank all rows", spec: "0/1", env: ompi, i: 0, n: 1, out: "codes.npy"},
		{name: "slurm array", spec: "auto", env: array("3", "8"), i: 3, n: 8, auto: true, out: "codes.part-00003-of-00008.npy"},
		{name: "slurm array from 1", spec: "auto", env: with(array("4", "8"), map[string]string{"SLURM_ARRAY_TASK_MIN": "1"}), i: 3, n: 8, auto: true, out: "codes.part-00003-of-00008.npy"},
		{name: "slurm array with a step", spec: "auto", env: with(array("6", "4"), map[string]string{"SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_STEP": "2"}), i: 3, n: 4, auto: true, out: "codes.part-00003-of-00004.npy"},
		{name: "slurm array of uneven ids", spec: "auto", env: with(array("9", "3"), map[string]string{"SLURM_ARRAY_TASK_MIN": "1"}), err: "--array=0-2"},
		{name: "slurm array without a count", spec: "auto", env: map[string]string{"SLURM_ARRAY_TASK_ID": "2"}, err: "SLURM_ARRAY_TASK_COUNT"},
		{name: "slurm array id not a number", spec: "auto", env: array("x", "3"), err: `SLURM_ARRAY_TASK_ID="x"`},
		{name: "slurm array and a count that differs", spec: "auto", count: 5, env: array("1", "4"), err: "4 tasks"},
		{name: "slurm array and a count that agrees", spec: "auto", count: 4, env: array("1", "4"), i: 1, n: 4, auto: true, out: "codes.part-00001-of-00004.npy"},
		{name: "array task run by srun on 3 ranks", spec: "auto",
			env: with(array("1", "4"), map[string]string{"SLURM_PROCID": "2", "SLURM_NTASKS": "3", "SLURM_STEP_ID": "0"}),
			i:   5, n: 12, auto: true, out: "codes.part-00005-of-00012.npy"},
		{name: "indexed job", spec: "auto", count: 5, env: map[string]string{"JOB_COMPLETION_INDEX": "2"}, i: 2, n: 5, auto: true, out: "codes.part-00002-of-00005.npy"},
		{name: "indexed job without a count", spec: "auto", env: map[string]string{"JOB_COMPLETION_INDEX": "2"}, err: shardCountEnv},
		{name: "indexed job index past the count", spec: "auto", count: 5, env: map[string]string{"JOB_COMPLETION_INDEX": "5"}, err: "not below"},
		{name: "slurm before kubernetes", spec: "auto", count: 8, env: with(array("3", "8"), map[string]string{"JOB_COMPLETION_INDEX": "6"}), i: 3, n: 8, auto: true, out: "codes.part-00003-of-00008.npy"},
		{name: "auto finds nothing", spec: "auto", err: "SLURM_ARRAY_TASK_ID (a Slurm array), JOB_COMPLETION_INDEX (a Kubernetes Indexed Job), or a rank of mpirun or srun (OMPI_COMM_WORLD_RANK"},
		{name: "a count without auto", count: 3, err: "goes with --shard auto"},
		{name: "a count with i/n", spec: "1/3", count: 3, err: "goes with --shard auto"},
		{name: "a count and no index", spec: "auto", count: 3, env: ompi, err: "no JOB_COMPLETION_INDEX"},
		{name: "bad spec", spec: "4/4", err: "want i/n"},
		{name: "bad spec 2", spec: "x", err: "(or auto)"},
		{name: "pmix gives no size", env: map[string]string{"PMIX_RANK": "1"}, i: -1},
		{name: "srun with pmix: slurm gives the size", env: map[string]string{"PMIX_RANK": "1", "SLURM_PROCID": "1", "SLURM_NTASKS": "2", "SLURM_STEP_ID": "0"},
			i: 1, n: 2, auto: true, out: "codes.part-00001-of-00002.npy"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := resolveShard(c.spec, c.count, func(k string) string { return c.env[k] })
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.i < 0 { // the size comes from MPI
				if !p.Auto || p.Ranks != 0 || p.Rank != 1 {
					t.Fatalf("plan %+v, want rank 1 of an unknown number", p)
				}
				return
			}
			if i, n := p.Shard(); i != c.i || n != c.n || p.Auto != c.auto {
				t.Errorf("shard %d/%d auto %v, want %d/%d auto %v (%+v)", i, n, p.Auto, c.i, c.n, c.auto, p)
			}
			if got := p.output("codes.npy"); got != c.out {
				t.Errorf("output %s, want %s", got, c.out)
			}
		})
	}
}

// TestShardPlanParts checks the names of the parts and of what --gather
// joins them into, with and without a job index.
func TestShardPlanParts(t *testing.T) {
	if got := partPath("dir/codes.npy", 1, 4); got != "dir/codes.part-00001-of-00004.npy" {
		t.Errorf("partPath: %s", got)
	}
	if got := partPath("x.v2.parquet", 7, 123456); got != "x.v2.part-000007-of-123456.parquet" {
		t.Errorf("partPath of many: %s", got)
	}
	ranks := shardPlan{Jobs: 1, Rank: 1, Ranks: 3, RankFrom: "Open MPI", Auto: true}
	if got := ranks.gathered("z.csv"); got != "z.csv" {
		t.Errorf("ranks gather into %s", got)
	}
	if got := strings.Join(ranks.rankParts("z.csv"), " "); got != "z.part-00000-of-00003.csv z.part-00001-of-00003.csv z.part-00002-of-00003.csv" {
		t.Errorf("rank parts: %s", got)
	}
	// Array task 2 of 4 on 3 ranks: the ranks write shards 6–8 of 12, joined
	// into part 2 of 4, which 'aegpu gather' later joins with the others.
	both := shardPlan{Job: 2, Jobs: 4, JobFrom: "Slurm array task 2 of 4", Rank: 0, Ranks: 3, RankFrom: "Slurm", Auto: true}
	if got := both.gathered("z.csv"); got != "z.part-00002-of-00004.csv" {
		t.Errorf("array ranks gather into %s", got)
	}
	if got := strings.Join(both.rankParts("z.csv"), " "); got != "z.part-00006-of-00012.csv z.part-00007-of-00012.csv z.part-00008-of-00012.csv" {
		t.Errorf("array rank parts: %s", got)
	}
	// The rows of shards 6–8 of 12 are those of shard 2 of 4, whatever the
	// number of rows.
	for _, rows := range []int{0, 1, 11, 12, 13, 1001} {
		tab := &dataset.Table{Rows: rows, Cols: 1, Data: make([]float32, rows)}
		_, lo := tableShard(tab, 6, 12)
		last, hi := tableShard(tab, 8, 12)
		whole, wlo := tableShard(tab, 2, 4)
		if lo != wlo || hi+int64(last.Rows) != wlo+int64(whole.Rows) {
			t.Errorf("%d rows: shards 6–8 of 12 are rows %d–%d, shard 2 of 4 %d–%d", rows, lo, hi+int64(last.Rows), wlo, wlo+int64(whole.Rows))
		}
	}
}

// aegpuBinary builds the binary into the test's directory, for the tests
// that start it as separate processes.
func aegpuBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "aegpu")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// shardFixture is a model and data for the sharded runs: 301 rows of 10
// values (not a multiple of 2 or 3 ranks).
func shardFixture(t *testing.T) (dir, model, data string) {
	t.Helper()
	dir = t.TempDir()
	model = trainTiny(t, dir, 10)
	x := make([]float32, 301*10)
	engine.FillUniform(x, 5, 2, 0, 0, 1)
	data = filepath.Join(dir, "x.npy")
	if err := dataset.WriteNPY(data, 301, 10, x); err != nil {
		t.Fatal(err)
	}
	return dir, model, data
}

// runBin runs the binary (argv: a launcher's command line before it, or
// none) in dir with extra environment variables, and returns its output.
func runBin(t *testing.T, dir string, env []string, argv ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// sameFiles fails unless the files are equal byte for byte.
func sameFiles(t *testing.T, got, want string) {
	t.Helper()
	g, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g, w) {
		t.Errorf("%s (%d bytes) differs from %s (%d bytes), the one-process output", got, len(g), want, len(w))
	}
}

// noParts fails if part files of out are left.
func noParts(t *testing.T, out string) {
	t.Helper()
	ext := filepath.Ext(out)
	if left, _ := filepath.Glob(strings.TrimSuffix(out, ext) + ".part-*"); len(left) > 0 {
		t.Errorf("parts left behind: %v", left)
	}
}

// TestShardedEncodeArrayJob runs encode --shard auto as the separate,
// concurrent processes of a Slurm array (SLURM_ARRAY_TASK_ID/COUNT) and of
// a Kubernetes Indexed Job (JOB_COMPLETION_INDEX, AEGPU_SHARD_COUNT), joins
// the parts with aegpu gather, and compares with one process's output
// byte for byte, row numbers included, in every output format.
func TestShardedEncodeArrayJob(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := aegpuBinary(t)
	dir, model, data := shardFixture(t)
	encode := []string{bin, "encode", "--model", model, "--data", data, "--with-index", "--device", "cpu", "--quiet"}
	for _, ext := range []string{".npy", ".csv", ".parquet", ".arrow"} {
		want := filepath.Join(dir, "one"+ext)
		if out, err := runBin(t, dir, nil, append(encode, "--out", want)...); err != nil {
			t.Fatalf("one process: %v\n%s", err, out)
		}
		for _, job := range []struct {
			name string
			n    int
			env  func(i int) []string
		}{
			{"slurm-array", 3, func(i int) []string {
				// --array=1-3: the ids start at 1.
				return []string{"SLURM_ARRAY_TASK_ID=" + strconv.Itoa(i+1), "SLURM_ARRAY_TASK_COUNT=3", "SLURM_ARRAY_TASK_MIN=1", "SLURM_ARRAY_TASK_MAX=3"}
			}},
			{"indexed-job", 2, func(i int) []string {
				return []string{"JOB_COMPLETION_INDEX=" + strconv.Itoa(i), shardCountEnv + "=2"}
			}},
		} {
			t.Run(job.name+ext, func(t *testing.T) {
				out := filepath.Join(dir, job.name+ext)
				errs := make([]error, job.n)
				outs := make([]string, job.n)
				var wg sync.WaitGroup
				for i := range job.n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						outs[i], errs[i] = runBin(t, dir, job.env(i), append(encode, "--shard", "auto", "--out", out)...)
					}()
				}
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						t.Fatalf("task %d: %v\n%s", i, err, outs[i])
					}
				}
				if _, err := os.Stat(out); err == nil {
					t.Fatalf("a task wrote %s itself, not its part", out)
				}
				if o, err := runBin(t, dir, nil, bin, "gather", "--out", out, "--quiet"); err != nil {
					t.Fatalf("gather: %v\n%s", err, o)
				}
				sameFiles(t, out, want)
				if ext == ".npy" {
					sameFiles(t, dataset.IDsPath(out), dataset.IDsPath(want))
				}
				noParts(t, out)
			})
		}
	}

	// More tasks than rows: some parts are empty, and join all the same.
	small := filepath.Join(dir, "small.npy")
	if err := dataset.WriteNPY(small, 2, 10, make([]float32, 20)); err != nil {
		t.Fatal(err)
	}
	for _, ext := range []string{".parquet", ".npy"} {
		want, out := filepath.Join(dir, "small-one"+ext), filepath.Join(dir, "small"+ext)
		args := []string{bin, "encode", "--model", model, "--data", small, "--with-index", "--device", "cpu", "--quiet"}
		if o, err := runBin(t, dir, nil, append(args, "--out", want)...); err != nil {
			t.Fatalf("one process: %v\n%s", err, o)
		}
		for i := range 3 {
			env := []string{"SLURM_ARRAY_TASK_ID=" + strconv.Itoa(i), "SLURM_ARRAY_TASK_COUNT=3"}
			if o, err := runBin(t, dir, env, append(args, "--shard", "auto", "--out", out)...); err != nil {
				t.Fatalf("task %d of 3 on 2 rows: %v\n%s", i, err, o)
			}
		}
		if o, err := runBin(t, dir, nil, bin, "gather", "--out", out, "--quiet"); err != nil {
			t.Fatalf("gather with an empty part: %v\n%s", err, o)
		}
		sameFiles(t, out, want)
	}

	// A task missing: gather says which and writes nothing.
	out := filepath.Join(dir, "partial.csv")
	for _, i := range []int{0, 2} {
		env := []string{"SLURM_ARRAY_TASK_ID=" + strconv.Itoa(i), "SLURM_ARRAY_TASK_COUNT=4"}
		if o, err := runBin(t, dir, env, append(encode, "--shard", "auto", "--out", out)...); err != nil {
			t.Fatalf("task %d: %v\n%s", i, err, o)
		}
	}
	o, err := runBin(t, dir, nil, bin, "gather", "--out", out)
	if err == nil || !strings.Contains(o, "2 of 4 parts are there; missing: part 1, 3") {
		t.Errorf("gather with parts missing: %v\n%s", err, o)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("gather with parts missing wrote its output")
	}
	// auto with nothing in the environment names what it looked for.
	o, err = runBin(t, dir, nil, append(encode, "--shard", "auto", "--out", filepath.Join(dir, "none.npy"))...)
	if err == nil || !strings.Contains(o, "JOB_COMPLETION_INDEX") {
		t.Errorf("--shard auto outside any job: %v\n%s", err, o)
	}
}

// TestShardedEncodeUnderMPI runs encode and score under mpirun (Open MPI
// and MPICH, 2 and 3 ranks): with --gather the joined outputs equal one
// process's byte for byte (row numbers and .npy ids files included);
// without it every rank writes its own part, which aegpu gather joins to
// the same; a rank that fails makes every rank fail and leaves nothing.
func TestShardedEncodeUnderMPI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs mpirun")
	}
	ls := mpiLaunchers(t)
	bin := aegpuBinary(t)
	dir, model, data := shardFixture(t)
	encode := []string{"encode", "--model", model, "--data", data, "--with-index", "--device", "cpu", "--quiet"}
	score := []string{"score", "--model", model, "--data", data, "--with-index", "--threshold", "0.05", "--device", "cpu", "--quiet"}
	one := func(ext string) (codes, scores, feats string) {
		codes, scores, feats = filepath.Join(dir, "one-codes"+ext), filepath.Join(dir, "one-scores"+ext), filepath.Join(dir, "one-feats.npy")
		if _, err := os.Stat(codes); err == nil {
			return
		}
		if o, err := runBin(t, dir, nil, append(append([]string{bin}, encode...), "--out", codes)...); err != nil {
			t.Fatalf("one process: %v\n%s", err, o)
		}
		if o, err := runBin(t, dir, nil, append(append([]string{bin}, score...), "--out", scores, "--per-feature", feats)...); err != nil {
			t.Fatalf("one process: %v\n%s", err, o)
		}
		return
	}
	for _, l := range ls {
		for _, n := range []int{2, 3} {
			for _, ext := range []string{".npy", ".csv", ".parquet"} {
				name := fmt.Sprintf("%s-%d%s", strings.ReplaceAll(l.Name, " ", ""), n, ext)
				t.Run(name, func(t *testing.T) {
					wantCodes, wantScores, wantFeats := one(ext)
					codes := filepath.Join(dir, "codes-"+name)
					mpi := l.Command(n, bin)
					if o, err := runBin(t, dir, nil, append(append(mpi, encode...), "--gather", "--out", codes)...); err != nil {
						t.Fatalf("encode --gather: %v\n%s", err, o)
					}
					sameFiles(t, codes, wantCodes)
					if ext == ".npy" {
						sameFiles(t, dataset.IDsPath(codes), dataset.IDsPath(wantCodes))
					}
					noParts(t, codes)

					scores, feats := filepath.Join(dir, "scores-"+name), filepath.Join(dir, "feats-"+name+".npy")
					if o, err := runBin(t, dir, nil, append(append(mpi, score...), "--gather", "--out", scores, "--per-feature", feats)...); err != nil {
						t.Fatalf("score --gather: %v\n%s", err, o)
					}
					sameFiles(t, scores, wantScores)
					sameFiles(t, feats, wantFeats)
					sameFiles(t, dataset.IDsPath(feats), dataset.IDsPath(wantFeats))
					noParts(t, scores)

					if ext != ".csv" {
						return
					}
					// No --gather: each rank its own part; aegpu gather joins them.
					parts := filepath.Join(dir, "parts-"+name)
					if o, err := runBin(t, dir, nil, append(append(mpi, encode...), "--out", parts)...); err != nil {
						t.Fatalf("encode under mpirun: %v\n%s", err, o)
					}
					if got, _ := filepath.Glob(strings.TrimSuffix(parts, ext) + ".part-*-of-*" + ext); len(got) != n {
						t.Fatalf("%d ranks wrote %d parts: %v", n, len(got), got)
					}
					if o, err := runBin(t, dir, nil, bin, "gather", "--out", parts, "--quiet"); err != nil {
						t.Fatalf("gather: %v\n%s", err, o)
					}
					sameFiles(t, parts, wantCodes)
				})
			}
		}
	}

	// The last rank's rows hold a NaN: that rank fails, so does every
	// other (after removing its part), and nothing is written.
	l := ls[0]
	x := make([]float32, 301*10)
	engine.FillUniform(x, 5, 2, 0, 0, 1)
	x[300*10+4] = float32(math.NaN())
	bad := filepath.Join(dir, "bad.npy")
	if err := dataset.WriteNPY(bad, 301, 10, x); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "failed.npy")
	argv := append(l.Command(3, bin), "encode", "--model", model, "--data", bad, "--gather", "--out", out, "--device", "cpu", "--quiet")
	o, err := runBin(t, dir, nil, argv...)
	if err == nil || !strings.Contains(o, "ranks failed") || !strings.Contains(o, "NaN") {
		t.Errorf("a rank failing under --gather: %v\n%s", err, o)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "failed*")); len(left) > 0 {
		t.Errorf("a failed --gather left %v", left)
	}
}
