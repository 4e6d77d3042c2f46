package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/internal/mpi"
)

// The flags that split encode's and score's rows between processes.
var (
	shardFlag = &cli.StringFlag{Name: "shard", Usage: "process only shard `i/n` (0-based) of the rows, written to --out; or auto: " +
		"i/n from a Slurm array task, a Kubernetes Indexed Job and/or the rank under mpirun/srun, written to --out's part file " +
		"(auto is the default under mpirun/srun with several ranks; 0/1 makes every rank process all rows)"}
	shardCountFlag = &cli.IntFlag{Name: "shard-count", EnvVars: []string{shardCountEnv}, Usage: "--shard auto in a Kubernetes Indexed Job: " +
		"the number of shards `n` (the Job's completions), which Kubernetes does not put in the environment"}
	gatherFlag = &cli.BoolFlag{Name: "gather", Usage: "with --shard auto under mpirun/srun: once every rank has written its part, " +
		"rank 0 joins the parts in row order into --out (ids included) and removes them"}
)

// shardCountEnv gives --shard-count from the environment: a Kubernetes
// Indexed Job's pod template sets it to the Job's completions.
const shardCountEnv = "AEGPU_SHARD_COUNT"

// shardPlan is which rows a process of encode or score takes and where it
// writes them. Two levels compose: a job index (a Slurm array task, a
// Kubernetes Indexed Job's pod, or a --shard i/n given as it is) and a rank
// among the ranks a launcher started; this process's shard is
// Job·Ranks + Rank of Jobs·Ranks, so the ranks of one array task split
// that task's shard in order.
type shardPlan struct {
	Job, Jobs   int    // 0 of 1 when there is no job index
	JobFrom     string // where Job came from, for messages; "" when none
	Rank, Ranks int    // 0 of 1 when no launcher started several ranks; Ranks 0: unknown (PMIx), MPI says
	RankFrom    string // the launcher, for messages
	// Auto: the shard was worked out here (--shard auto, or no --shard
	// under a launcher), and the output goes to --out's part file.
	// Otherwise --out is written as given.
	Auto bool
}

// Shard is this process's shard i of n (0 of 1: every row).
func (p shardPlan) Shard() (i, n int) { return p.Job*p.Ranks + p.Rank, p.Jobs * p.Ranks }

// partPath names part i of n of out: codes.npy's part 1 of 4 is
// codes.part-00001-of-00004.npy. The numbers have at least five digits,
// so that the parts sort in order by name (a glob of them reads back as
// the whole, in order).
func partPath(out string, i, n int) string {
	w := max(5, len(strconv.Itoa(n)))
	ext := filepath.Ext(out)
	return fmt.Sprintf("%s.part-%0*d-of-%0*d%s", strings.TrimSuffix(out, ext), w, i, w, n, ext)
}

// output is the file this process writes for the output out: out itself
// for one process or a --shard given as i/n, else its part i of n.
func (p shardPlan) output(out string) string {
	if !p.Auto {
		return out
	}
	i, n := p.Shard()
	return partPath(out, i, n)
}

// gathered is the file --gather joins the ranks' parts of out into: out,
// or the job index's part of it (its ranks' shards together).
func (p shardPlan) gathered(out string) string {
	if p.JobFrom == "" {
		return out
	}
	return partPath(out, p.Job, p.Jobs)
}

// rankParts are the files of out that the ranks write, in rank order.
func (p shardPlan) rankParts(out string) []string {
	parts := make([]string, p.Ranks)
	for r := range parts {
		q := p
		q.Rank = r
		parts[r] = q.output(out)
	}
	return parts
}

// describe says which shard this is and why, for the notice.
func (p shardPlan) describe() string {
	i, n := p.Shard()
	var from []string
	if p.JobFrom != "" {
		from = append(from, p.JobFrom)
	}
	if p.RankFrom != "" {
		from = append(from, fmt.Sprintf("rank %d of %d (%s)", p.Rank, p.Ranks, p.RankFrom))
	}
	return fmt.Sprintf("shard %d/%d: %s", i, n, strings.Join(from, " × "))
}

// resolveShard works out the shard plan from --shard (spec), --shard-count
// (count; 0 when not given) and the environment (env; os.Getenv outside
// tests). spec "" is "auto" under a launcher of several ranks and no
// sharding otherwise; "i/n" is taken as it is.
//
// auto looks, in this order, for a job index, SLURM_ARRAY_TASK_ID (with
// SLURM_ARRAY_TASK_COUNT, and _MIN and _STEP when the array does not
// start at 0 or skips), then JOB_COMPLETION_INDEX (with n from count),
// and for a rank, the launcher's variables (mpi.DetectEnv). It is an
// error when none is found.
func resolveShard(spec string, count int, env func(string) string) (shardPlan, error) {
	none := shardPlan{Jobs: 1, Ranks: 1}
	launch, launched := mpi.DetectEnv(env)
	launched = launched && launch.Parallel()
	switch spec = strings.TrimSpace(spec); spec {
	case "":
		if !launched {
			if count > 0 {
				return none, fmt.Errorf("--shard-count (or %s) goes with --shard auto", shardCountEnv)
			}
			return none, nil
		}
	case "auto":
	default:
		if count > 0 {
			return none, fmt.Errorf("--shard-count (or %s) goes with --shard auto, not --shard %s", shardCountEnv, spec)
		}
		i, n, err := dataset.ParseShard(spec)
		if err != nil {
			return none, fmt.Errorf("--shard: %w (or auto)", err)
		}
		return shardPlan{Job: i, Jobs: n, JobFrom: "--shard " + spec, Ranks: 1}, nil
	}
	p := shardPlan{Jobs: 1, Ranks: 1, Auto: true}
	num := func(k string) (int, bool, error) {
		v := strings.TrimSpace(env(k))
		if v == "" {
			return 0, false, nil
		}
		x, err := strconv.Atoi(v)
		if err != nil || x < 0 {
			return 0, true, fmt.Errorf("--shard auto: %s=%q is not a number ≥ 0", k, env(k))
		}
		return x, true, nil
	}
	if id, ok, err := num("SLURM_ARRAY_TASK_ID"); err != nil {
		return none, err
	} else if ok {
		n, hasN, err := num("SLURM_ARRAY_TASK_COUNT")
		if err != nil {
			return none, err
		}
		if !hasN || n < 1 {
			return none, fmt.Errorf("--shard auto: SLURM_ARRAY_TASK_ID=%d but no SLURM_ARRAY_TASK_COUNT (Slurm before 17.11?): give --shard %d/N", id, id)
		}
		lo, _, err := num("SLURM_ARRAY_TASK_MIN")
		if err != nil {
			return none, err
		}
		step, hasStep, err := num("SLURM_ARRAY_TASK_STEP")
		if err != nil {
			return none, err
		}
		if !hasStep || step < 1 {
			step = 1
		}
		if id < lo || (id-lo)%step != 0 || (id-lo)/step >= n {
			return none, fmt.Errorf("--shard auto: Slurm array task %d (SLURM_ARRAY_TASK_MIN=%d, _STEP=%d) is not one of %d evenly spaced tasks: "+
				"--shard auto needs an array such as --array=0-%d (a %% limit is fine), or give --shard i/n", id, lo, step, n, n-1)
		}
		if count > 0 && count != n {
			return none, fmt.Errorf("--shard auto: --shard-count (or %s) is %d, but the Slurm array has %d tasks (SLURM_ARRAY_TASK_COUNT)", shardCountEnv, count, n)
		}
		p.Job, p.Jobs = (id-lo)/step, n
		p.JobFrom = fmt.Sprintf("Slurm array task %d of %d (SLURM_ARRAY_TASK_ID=%d)", p.Job, n, id)
	} else if idx, ok, err := num("JOB_COMPLETION_INDEX"); err != nil {
		return none, err
	} else if ok {
		if count < 1 {
			return none, fmt.Errorf("--shard auto: JOB_COMPLETION_INDEX=%d (a Kubernetes Indexed Job) gives the index but not the number of shards: "+
				"pass --shard-count N or set %s=N in the pod template, N being the Job's completions", idx, shardCountEnv)
		}
		if idx >= count {
			return none, fmt.Errorf("--shard auto: JOB_COMPLETION_INDEX=%d is not below --shard-count (or %s) %d: set it to the Job's completions", idx, shardCountEnv, count)
		}
		p.Job, p.Jobs = idx, count
		p.JobFrom = fmt.Sprintf("Indexed Job index %d of %d (JOB_COMPLETION_INDEX)", idx, count)
	} else if count > 0 {
		return none, fmt.Errorf("--shard-count (or %s) is given, but there is no JOB_COMPLETION_INDEX to go with it", shardCountEnv)
	}
	if launched {
		if launch.Size == 0 && env("SLURM_STEP_ID") != "" { // srun --mpi=pmix: PMIx says the rank, Slurm the size
			if n, ok, _ := num("SLURM_NTASKS"); ok && n > 0 {
				launch.Size = n
			}
		}
		p.Rank, p.Ranks, p.RankFrom = launch.Rank, launch.Size, launch.Launcher
		if p.Ranks > 0 && p.Rank >= p.Ranks {
			return none, fmt.Errorf("--shard auto: %s says rank %d of %d", launch.Launcher, p.Rank, p.Ranks)
		}
	}
	if p.JobFrom == "" && p.RankFrom == "" {
		return none, fmt.Errorf("--shard auto found no shard in the environment: none of SLURM_ARRAY_TASK_ID (a Slurm array), " +
			"JOB_COMPLETION_INDEX (a Kubernetes Indexed Job), or a rank of mpirun or srun (OMPI_COMM_WORLD_RANK, PMI_RANK, PMIX_RANK, " +
			"SLURM_PROCID in a step) is set; give --shard i/n")
	}
	return p, nil
}

// shardOf resolves the shard plan of a command's flags. comm is not nil
// when the ranks will gather (--gather on one of several ranks): MPI is
// started, and the command ends with gatherRanks. A launch that does not
// say how many ranks it has (PMIx alone) asks MPI.
func shardOf(c *cli.Context) (p shardPlan, comm *mpi.Comm, err error) {
	if p, err = resolveShard(c.String("shard"), c.Int("shard-count"), os.Getenv); err != nil {
		return p, nil, err
	}
	gather := c.Bool("gather")
	if gather && !p.Auto {
		if p.JobFrom != "" {
			return p, nil, fmt.Errorf("--gather joins the parts of --shard auto's ranks; --shard %d/%d writes --out itself", p.Job, p.Jobs)
		}
		return p, nil, fmt.Errorf("--gather joins the parts of the ranks of mpirun or srun, and no launcher started this process as one of several ranks")
	}
	if p.Ranks == 1 || p.Ranks > 1 && !gather {
		return p, nil, nil
	}
	l, _ := mpi.Detect()
	if comm, err = mpi.Init(l); err != nil {
		what := "--gather needs it"
		if p.Ranks == 0 {
			what = "it is asked for the number of ranks, which " + l.Launcher + " does not say"
		}
		return p, nil, fmt.Errorf("%s started this process as rank %d, but MPI did not start (%s): %w", l.Launcher, l.Rank, what, err)
	}
	if p.Ranks == 0 {
		p.Rank, p.Ranks = comm.Rank(), comm.Size()
	}
	if !gather || p.Ranks == 1 {
		return p, nil, comm.Finalize()
	}
	return p, comm, nil
}

// announceShard prints (unless quiet) the shard this process takes, the
// rows it covers and where they go.
func announceShard(quiet bool, p shardPlan, lo, hi int64, out string) {
	if quiet {
		return
	}
	if _, n := p.Shard(); n <= 1 {
		return
	}
	rows := fmt.Sprintf("rows %d–%d", lo, hi-1)
	if hi <= lo {
		rows = "no rows"
	}
	fmt.Fprintf(os.Stderr, "%s; %s → %s\n", p.describe(), rows, out)
}

// tableShard returns shard i of n of an in-memory table (the rows
// [⌊i·R/n⌋, ⌊(i+1)·R/n⌋), as dataset's Reader takes them) and its first
// row; n ≤ 1 is the whole table.
func tableShard(t *dataset.Table, i, n int) (*dataset.Table, int64) {
	if n <= 1 {
		return t, 0
	}
	rows := int64(t.Rows)
	lo, hi := int64(i)*rows/int64(n), int64(i+1)*rows/int64(n)
	return &dataset.Table{Rows: int(hi - lo), Cols: t.Cols, Shape: []int{int(hi - lo), t.Cols}, Header: t.Header,
		Data: t.Data[lo*int64(t.Cols) : hi*int64(t.Cols)]}, lo
}

// loadShard reads the rows of shard sh of the command's data (--data, or
// the data the model was trained on) into memory, as loadData reads all of
// them; lo is the number of its first row in the whole.
func loadShard(c *cli.Context, sh shardPlan, quiet bool) (t *dataset.Table, lo int64, err error) {
	i, n := sh.Shard()
	if n <= 1 {
		t, _, err := loadData(c, quiet, c.String("model"))
		return t, 0, err
	}
	if err := checkIDFlags(c); err != nil {
		return nil, 0, err
	}
	pol, err := dataset.ParseNaNPolicy(c.String("nan"))
	if err != nil {
		return nil, 0, fmt.Errorf("--nan: %w", err)
	}
	choice, err := chooseData(c, c.String("model"))
	if err != nil {
		return nil, 0, err
	}
	if choice.Builtin() {
		all, _, err := dataset.Builtin()
		if err != nil {
			return nil, 0, err
		}
		choice.announce(quiet, all.Rows, all.Cols)
		t, lo := tableShard(all, i, n)
		return t, lo, nil
	}
	rd, err := dataset.OpenReader(choice.Paths, dataset.ReaderOptions{NaN: pol, Columns: columnsOf(c), IDColumn: c.String("id-column"), Shard: i, ShardCount: n})
	if err != nil {
		return nil, 0, err
	}
	defer rd.Close()
	noteSkipped(quiet, choice.Name(), rd.Skipped())
	cols := rd.Cols()
	lo, _ = rd.ShardRange()
	t = &dataset.Table{Cols: cols, Header: rd.Header(), Skipped: rd.Skipped(), Data: make([]float32, 0, rd.Rows()*int64(cols))}
	chunk := max(1, (1<<20)/cols)
	buf := make([]float32, chunk*cols)
	var ids []string
	if rd.HasIDs() {
		ids = make([]string, chunk)
	}
	for {
		k, err := rd.ReadIDs(buf, ids)
		t.Data = append(t.Data, buf[:k*cols]...)
		if ids != nil {
			t.IDs = append(t.IDs, ids[:k]...)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, err
		}
	}
	t.Rows = len(t.Data) / cols
	t.Shape = []int{t.Rows, cols}
	choice.announce(quiet, t.Rows, cols)
	return t, lo, nil
}
