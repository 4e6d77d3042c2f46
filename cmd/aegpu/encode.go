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

--shard i/n encodes only the i-th of n equal parts of the rows (0-based), so
array jobs (Slurm, Kubernetes) can split a dataset across machines: the n
outputs concatenated in order are the whole dataset's codes.

Examples:
  aegpu encode --model aegpu-model --data x.npy --out codes.npy
  aegpu encode --model m --data 'parts/*.npy' --shard $SLURM_ARRAY_TASK_ID/16 --out codes-$SLURM_ARRAY_TASK_ID.npy`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Required: true, Usage: "model `DIR` written by aegpu train"},
			&cli.StringSliceFlag{Name: "data", Usage: "input `FILE`s or globs (.npy, .csv, IDX, .parquet, .arrow; repeatable); default: the data the model was trained on"},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Required: true, Usage: "output `FILE` (.npy, .csv, .parquet or .arrow)"},
			&cli.StringFlag{Name: "shard", Usage: "encode only shard `i/n` (0-based) of the rows"},
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

// openSource opens --data (or the built-in digits) as a row stream.
func openSource(c *cli.Context) (src autoencoder.RowSource, rows int64, closeFn func() error, err error) {
	pol, err := dataset.ParseNaNPolicy(c.String("nan"))
	if err != nil {
		return nil, 0, nil, err
	}
	if err := checkIDFlags(c); err != nil {
		return nil, 0, nil, err
	}
	opt := dataset.ReaderOptions{NaN: pol, Columns: columnsOf(c), IDColumn: c.String("id-column")}
	if s := c.String("shard"); s != "" {
		if opt.Shard, opt.ShardCount, err = dataset.ParseShard(s); err != nil {
			return nil, 0, nil, fmt.Errorf("--shard: %w", err)
		}
	}
	choice, err := chooseData(c, c.String("model"))
	if err != nil {
		return nil, 0, nil, err
	}
	if choice.Builtin() {
		t, _, err := dataset.Builtin()
		if err != nil {
			return nil, 0, nil, err
		}
		choice.announce(c.Bool("quiet"), t.Rows, t.Cols)
		var lo int64 // the shard's first row
		if opt.ShardCount > 1 {
			var hi int64
			lo, hi = int64(opt.Shard)*int64(t.Rows)/int64(opt.ShardCount), int64(opt.Shard+1)*int64(t.Rows)/int64(opt.ShardCount)
			t = &dataset.Table{Rows: int(hi - lo), Cols: t.Cols, Data: t.Data[lo*int64(t.Cols) : hi*int64(t.Cols)]}
		}
		var src autoencoder.RowSource = &tableSource{t: t}
		if c.Bool("with-index") {
			src = &indexSource{RowSource: src, next: lo, rows: int64(t.Rows)}
		}
		return src, int64(t.Rows), func() error { return nil }, nil
	}
	st, err := dataset.OpenReader(choice.Paths, opt)
	if err != nil {
		return nil, 0, nil, err
	}
	choice.announce(c.Bool("quiet"), int(st.Rows()), st.Cols())
	noteSkipped(c.Bool("quiet"), choice.Name(), st.Skipped())
	if c.Bool("with-index") {
		start, _ := st.ShardRange()
		return &indexSource{RowSource: st, next: start, rows: st.Rows()}, st.Rows(), st.Close, nil
	}
	return st, st.Rows(), st.Close, nil
}

func runEncode(c *cli.Context) error {
	quiet := c.Bool("quiet")
	out := c.String("out")
	if err := checkOutput("out", out, dataExts...); err != nil {
		return err
	}
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
	src, rows, closeSrc, err := openSource(c)
	if err != nil {
		return err
	}
	defer closeSrc()
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
			return streamPCAComparison(c, p)
		}
	}
	return nil
}

// streamPCAComparison compares the model with PCA at its latent size on
// the encoded rows, in two more streamed passes (fit PCA and measure the
// autoencoder; then measure PCA), so memory stays bounded.
func streamPCAComparison(c *cli.Context, p *autoencoder.Predictor) error {
	start := time.Now()
	cols, k := p.Model.Arch.Input(), p.Model.Arch.LatentDim()
	acc := pca.NewAccumulator(cols)
	var aeSum float64
	var n int64
	err := eachChunk(c, cols, func(rows []float32) error {
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
	err = eachChunk(c, cols, func(rows []float32) error {
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
func eachChunk(c *cli.Context, cols int, fn func(rows []float32) error) error {
	src, _, closeSrc, err := openSource(c)
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
