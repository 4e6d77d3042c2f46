package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/internal/pca"
)

func encodeCommand() *cli.Command {
	return &cli.Command{
		Name:  "encode",
		Usage: "write the latent code of every row (dimensionality reduction), streaming inputs of any size",
		Description: `Applies the model's scaler and encoder to every row of --data and writes the
latent codes, one row per input row, to --out (.npy float32 or .csv).

The input streams: --data may be repeated and may be a glob (files are read
in order as one dataset; .npy, .csv, IDX, also gzipped), and memory stays
bounded by --chunk rows whatever the input's size. Reading, encoding and
writing overlap. The output is written to a temporary file and renamed when
complete, so a killed or failed run leaves nothing under --out.

--shard i/n encodes only the i-th of n equal parts of the rows (0-based) and
writes them to --out: the n outputs concatenated in order are the whole
dataset's codes.

--shard auto takes i/n from the environment: a Slurm array task
(SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT), a Kubernetes Indexed Job
(JOB_COMPLETION_INDEX of --shard-count, or AEGPU_SHARD_COUNT, as Kubernetes
does not export the count), and the rank under mpirun or srun; an array
task that srun starts as several ranks splits its shard between them. Each
process writes part i of n of --out, named codes.part-00003-of-00016.npy
for --out codes.npy (ids beside it as for --out), so no two processes
write the same file. Under mpirun or srun with several ranks, --shard
defaults to auto (--shard 0/1 makes every rank encode all rows).

Joining the parts: --gather (under mpirun/srun) has rank 0 join the ranks'
parts, in order, into --out once all are written, and remove them; after
an array job, 'aegpu gather --out codes.npy' does the same. --with-index
numbers rows in the whole dataset, so parts join back to it. Parts are
also read as one dataset by --data 'codes.part-*.npy'.

Examples:
  aegpu encode --model aegpu-model --data x.npy --out codes.npy
  aegpu encode --model m --data 'parts/*.npy' --shard 3/16 --out codes-3.npy
  aegpu encode --model m --data x.parquet --shard auto --with-index --out codes.parquet   # in a Slurm array
  mpirun -n 8 aegpu encode --model m --data x.npy --gather --out codes.npy`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Required: true, Usage: "model `DIR` written by aegpu train"},
			&cli.StringSliceFlag{Name: "data", Usage: "input `FILE`s or globs (.npy, .csv, IDX, .parquet, .arrow; repeatable); default: the data the model was trained on"},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Required: true, Usage: "output `FILE` (.npy, .csv, .parquet or .arrow)"},
			shardFlag,
			shardCountFlag,
			gatherFlag,
			&cli.IntFlag{Name: "chunk", Value: 16384, Usage: "rows read, encoded and written at a time (memory ≈ 6 chunks)"},
			&cli.IntFlag{Name: "batch", Value: 1024, Usage: "rows per device batch"},
			&cli.StringFlag{Name: "nan", Value: "error", Usage: "rows with NaN/Inf: error, skip, zero"},
			columnsFlag,
			idColumnFlag,
			withIndexFlag,
			&cli.StringFlag{Name: "list-column", Usage: "Parquet/Arrow --out: write the codes as one fixed-size list column of this `NAME` instead of columns z0, z1, …"},
			comparePCAFlag,
			deviceFlag,
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing but errors"},
		},
		Action: runEncode,
	}
}

// tableSource streams an in-memory table (the built-in digits).
type tableSource struct {
	t   *dataset.Table
	pos int
}

func (s *tableSource) Cols() int   { return s.t.Cols }
func (s *tableSource) Rows() int64 { return int64(s.t.Rows) }
func (s *tableSource) Read(dst []float32) (int, error) {
	n := min(len(dst)/s.t.Cols, s.t.Rows-s.pos)
	if n == 0 {
		return 0, io.EOF
	}
	copy(dst, s.t.Data[s.pos*s.t.Cols:(s.pos+n)*s.t.Cols])
	s.pos += n
	return n, nil
}

// openSource opens --data (or the built-in digits) as a row stream: the
// rows of shard sh, which start at row lo of the whole.
func openSource(c *cli.Context, sh shardPlan) (src autoencoder.RowSource, rows, lo int64, closeFn func() error, err error) {
	pol, err := dataset.ParseNaNPolicy(c.String("nan"))
	if err != nil {
		return nil, 0, 0, nil, err
	}
	if err := checkIDFlags(c); err != nil {
		return nil, 0, 0, nil, err
	}
	opt := dataset.ReaderOptions{NaN: pol, Columns: columnsOf(c), IDColumn: c.String("id-column")}
	if i, n := sh.Shard(); n > 1 {
		opt.Shard, opt.ShardCount = i, n
	}
	choice, err := chooseData(c, c.String("model"))
	if err != nil {
		return nil, 0, 0, nil, err
	}
	if choice.Builtin() {
		t, _, err := dataset.Builtin()
		if err != nil {
			return nil, 0, 0, nil, err
		}
		choice.announce(c.Bool("quiet"), t.Rows, t.Cols)
		t, lo := tableShard(t, opt.Shard, opt.ShardCount) // lo: the shard's first row
		var src autoencoder.RowSource = &tableSource{t: t}
		if c.Bool("with-index") {
			src = &indexSource{RowSource: src, next: lo, rows: int64(t.Rows)}
		}
		return src, int64(t.Rows), lo, func() error { return nil }, nil
	}
	st, err := dataset.OpenReader(choice.Paths, opt)
	if err != nil {
		return nil, 0, 0, nil, err
	}
	choice.announce(c.Bool("quiet"), int(st.Rows()), st.Cols())
	noteSkipped(c.Bool("quiet"), choice.Name(), st.Skipped())
	start, _ := st.ShardRange()
	if c.Bool("with-index") {
		return &indexSource{RowSource: st, next: start, rows: st.Rows()}, st.Rows(), start, st.Close, nil
	}
	return st, st.Rows(), start, st.Close, nil
}

func runEncode(c *cli.Context) error {
	if err := checkOutput("out", c.String("out"), dataExts...); err != nil {
		return err
	}
	sh, comm, err := shardOf(c)
	if err != nil {
		return err
	}
	err = encodeShard(c, sh)
	if comm == nil {
		return err
	}
	// Under --gather: the ranks' parts, joined in order by rank 0.
	pf := &partFormat{CSVHeader: true, ListColumn: c.String("list-column")}
	switch {
	case c.String("id-column") != "":
		pf.IDName = c.String("id-column")
	case c.Bool("with-index"):
		pf.IDName = "row"
	}
	return gatherRanks(comm, sh, []string{c.String("out")}, []*partFormat{pf}, c.Bool("quiet"), err)
}

// encodeShard encodes the rows of shard sh into its output (--out, or
// its part).
func encodeShard(c *cli.Context, sh shardPlan) error {
	quiet := c.Bool("quiet")
	out := sh.output(c.String("out"))
	if c.Int("chunk") < 1 || c.Int("batch") < 1 {
		return fmt.Errorf("--chunk and --batch must be ≥ 1")
	}
	if c.Bool("compare-pca") {
		d, err := chooseData(c, c.String("model"))
		if err != nil {
			return err
		}
		for _, p := range d.Paths {
			if dataset.IsPipe(p) {
				return fmt.Errorf("--compare-pca reads --data three times, and %s is a pipe, which can be read once: save it to a file, or leave --compare-pca out", p)
			}
		}
	}
	src, rows, lo, closeSrc, err := openSource(c, sh)
	if err != nil {
		return err
	}
	defer closeSrc()
	announceShard(quiet, sh, lo, lo+rows, out)
	m, cfg, done, err := openModel(c, "")
	if err != nil {
		return err
	}
	defer done()
	if src.Cols() != m.Arch.Input() {
		return fmt.Errorf("the data has %d columns but the model expects %d (layers %v)", src.Cols(), m.Arch.Input(), m.Arch.Layers)
	}
	k := m.Arch.LatentDim()
	// Buffers for the rows there are, within the budget; a device batch
	// no larger than a chunk.
	chunk, cut := autoencoder.EncodeChunk(c.Int("chunk"), src.Cols(), k, rows)
	if cut && !quiet {
		fmt.Fprintf(os.Stderr, "--chunk %d: chunks of %d rows of %d values would take more than the %d MiB the encoding buffers may have; reading at most %d rows at a time\n",
			c.Int("chunk"), c.Int("chunk"), src.Cols(), autoencoder.StreamBudget>>20, chunk)
	}
	p, err := autoencoder.NewPredictor(m, cfg, min(c.Int("batch"), chunk))
	if err != nil {
		return err
	}
	defer p.Free()
	header := make([]string, k)
	for i := range header {
		header[i] = fmt.Sprintf("z%d", i)
	}
	wopt := dataset.WriterOptions{Header: header, ListColumn: c.String("list-column")}
	switch {
	case c.String("id-column") != "":
		wopt.IDName = c.String("id-column")
	case c.Bool("with-index"):
		wopt.IDName = "row"
	}
	w, err := dataset.NewWriterWith(out, k, wopt)
	if err != nil {
		return err
	}
	defer w.Abort() // no-op after a successful Close
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start, last := time.Now(), time.Now()
	// On a terminal one line rewritten twice a second; in a log a line
	// every 10 s, without carriage returns.
	tty, every := isTerminal(os.Stderr), 10*time.Second
	if tty {
		every = time.Second / 2
	}
	cr, eol := "", "\n"
	if tty {
		cr, eol = "\r", "   "
	}
	progress := func(done int64) {
		if quiet || time.Since(last) < every {
			return
		}
		last = time.Now()
		rate := float64(done) / time.Since(start).Seconds()
		if rows > 0 {
			fmt.Fprintf(os.Stderr, "%sencoded %d of %d rows (%.0f%%), %s rows/s%s", cr, done, rows, 100*float64(done)/float64(rows), humanRate(rate), eol)
		} else {
			fmt.Fprintf(os.Stderr, "%sencoded %d rows, %s rows/s%s", cr, done, humanRate(rate), eol)
		}
	}
	st, err := p.EncodeStream(ctx, src, w, chunk, progress)
	if err != nil {
		return fmt.Errorf("encode: %w (nothing was written to %s)", err, out)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("encode: %w (nothing was written to %s)", err, out)
	}
	if !quiet {
		secs := time.Since(start).Seconds()
		fmt.Fprintf(os.Stderr, "%swrote %s: %d rows × %d latent dimensions in %.1fs (%s rows/s)\n", cr, out, st.Rows, k, secs, humanRate(float64(st.Rows)/secs))
		if c.Bool("compare-pca") {
			return streamPCAComparison(c, p, sh)
		}
	}
	return nil
}

// streamPCAComparison compares the model with PCA at its latent size on
// the encoded rows, in two more streamed passes (fit PCA and measure the
// autoencoder; then measure PCA), so memory stays bounded.
func streamPCAComparison(c *cli.Context, p *autoencoder.Predictor, sh shardPlan) error {
	start := time.Now()
	cols, k := p.Model.Arch.Input(), p.Model.Arch.LatentDim()
	acc := pca.NewAccumulator(cols)
	var aeSum float64
	var n int64
	err := eachChunk(c, sh, cols, func(rows []float32) error {
		e, _, err := p.Errors(rows, cols, engine.MSE, false)
		if err != nil {
			return err
		}
		for _, v := range e {
			aeSum += float64(v)
		}
		n += int64(len(e))
		if err := p.Config.Scaler.Apply(rows, cols); err != nil {
			return err
		}
		return acc.Add(rows)
	})
	if err != nil {
		return err
	}
	pm, err := acc.Fit(min(k, cols))
	if err != nil {
		return fmt.Errorf("--compare-pca: %w", err)
	}
	var pcaSum float64
	err = eachChunk(c, sh, cols, func(rows []float32) error {
		if err := p.Config.Scaler.Apply(rows, cols); err != nil {
			return err
		}
		pcaSum += pm.ReconstructionMSE(rows) * float64(len(rows)/cols)
		return nil
	})
	if err != nil {
		return err
	}
	explained := 0.0
	for _, v := range pm.ExplainedVariance() {
		explained += v
	}
	ae, pc := aeSum/float64(n), pcaSum/float64(n)
	fmt.Fprintf(os.Stderr, "reconstruction MSE on the %d encoded rows at %d dimensions: autoencoder %.6g, PCA %.6g (fitted on the same rows; %.1f%% of the variance; %.1fs) — the autoencoder's error is %.2f× PCA's\n",
		n, k, ae, pc, 100*explained, time.Since(start).Seconds(), ae/pc)
	return nil
}

// eachChunk streams --data again, calling fn with chunks of whole rows.
func eachChunk(c *cli.Context, sh shardPlan, cols int, fn func(rows []float32) error) error {
	src, _, _, closeSrc, err := openSource(c, sh)
	if err != nil {
		return err
	}
	defer closeSrc()
	chunk, _ := autoencoder.EncodeChunk(c.Int("chunk"), cols, 0, -1)
	buf := make([]float32, chunk*cols)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if err := fn(buf[:n*cols]); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
