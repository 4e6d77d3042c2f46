package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/internal/mpi"
)

// partFormat is what the parts of an output hold besides their values,
// when the command that wrote them says so (nil to gatherParts: read it
// from the parts themselves).
type partFormat struct {
	CSVHeader  bool     // .csv: every part starts with the same header line
	Header     []string // Parquet/Arrow: the value columns' names
	IDName     string   // Parquet/Arrow: the id column ("" none); .npy's ids files are found by name
	ListColumn string   // Parquet/Arrow: the values are this one list column
}

// gatherParts joins parts, in order, into dst: the rows of the first, then
// of the second, … as one file of the same format (ids included: a
// leading column, or for .npy the .ids.csv files beside them). dst is
// written under a temporary name and renamed when complete, so it is
// either whole or left as it was. The parts are not removed.
//
// .csv parts are joined byte for byte (one header line). .npy parts are
// read as the float32 bits they hold and written again, so the result
// is the file one process would have written; so are Parquet and Arrow
// parts, through dataset's Reader and Writer (a NaN or null value there
// is an error: the Reader reads none).
func gatherParts(dst string, parts []string, known *partFormat) error {
	if len(parts) == 0 {
		return fmt.Errorf("gather %s: no parts", dst)
	}
	for _, p := range parts {
		if !strings.EqualFold(filepath.Ext(p), filepath.Ext(dst)) {
			return fmt.Errorf("gather %s: part %s has another extension", dst, p)
		}
	}
	switch strings.ToLower(filepath.Ext(dst)) {
	case ".csv":
		return gatherCSV(dst, parts, known)
	case ".npy":
		return gatherNPY(dst, parts)
	default:
		return gatherColumnar(dst, parts, known)
	}
}

// gatherCSV copies the parts' bytes one after another, keeping the first
// part's header line only.
func gatherCSV(dst string, parts []string, known *partFormat) error {
	header := false
	if known != nil {
		header = known.CSVHeader
	} else {
		var err error
		if header, err = csvPartsHaveHeader(parts); err != nil {
			return err
		}
	}
	f, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".gather-*")
	if err != nil {
		return outputDirError("out", dst, err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	var first []byte
	for i, p := range parts {
		in, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("gather %s: %w", dst, err)
		}
		br := bufio.NewReaderSize(in, 1<<20)
		if header {
			line, err := br.ReadBytes('\n')
			if err != nil && err != io.EOF {
				in.Close()
				return fmt.Errorf("gather %s: read %s: %w", dst, p, err)
			}
			switch {
			case i == 0:
				first = line
				bw.Write(line)
			case !bytes.Equal(line, first):
				in.Close()
				return fmt.Errorf("gather %s: %s's header line %q differs from %s's %q", dst, p, strings.TrimSpace(string(line)), parts[0], strings.TrimSpace(string(first)))
			}
		}
		_, err = io.Copy(bw, br)
		in.Close()
		if err != nil {
			return fmt.Errorf("gather %s: copy %s: %w", dst, p, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("gather %s: %w", dst, err)
	}
	if err := commitTemp(f, dst); err != nil {
		return err
	}
	ok = true
	return nil
}

// csvPartsHaveHeader says whether .csv parts start with a header line: the
// first line of the first part that has one holds a field that is no
// number.
func csvPartsHaveHeader(parts []string) (bool, error) {
	for _, p := range parts {
		f, err := os.Open(p)
		if err != nil {
			return false, err
		}
		rec, err := csv.NewReader(bufio.NewReader(f)).Read()
		f.Close()
		if err == io.EOF {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("read %s: %w", p, err)
		}
		for _, s := range rec {
			if _, err := strconv.ParseFloat(strings.TrimSpace(s), 32); err != nil {
				return true, nil
			}
		}
		return false, nil
	}
	return false, nil
}

// commitTemp syncs and closes the temporary file f and renames it to dst.
func commitTemp(f *os.File, dst string) error {
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", dst, err)
	}
	return nil
}

// npyShape matches the header of a 2-D float32 .npy file in C order, as
// dataset's Writer writes.
var npyShape = regexp.MustCompile(`^\{'descr': '<f4', 'fortran_order': False, 'shape': \((\d+), (\d+)\), \}\s*$`)

// npyPart is a .npy part opened at its first value.
type npyPart struct {
	f          *os.File
	br         *bufio.Reader
	rows, cols int64
}

// openNPYPart opens a .npy file that dataset's Writer wrote (format 1.0,
// float32, two dimensions, C order) at its first value.
func openNPYPart(path string) (*npyPart, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(f, 1<<20)
	pre := make([]byte, 10)
	if _, err := io.ReadFull(br, pre); err != nil || string(pre[:6]) != "\x93NUMPY" || pre[6] != 1 {
		f.Close()
		return nil, fmt.Errorf("%s: not a .npy file of format 1.0", path)
	}
	hdr := make([]byte, binary.LittleEndian.Uint16(pre[8:]))
	if _, err := io.ReadFull(br, hdr); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: the header is cut short", path)
	}
	m := npyShape.FindSubmatch(hdr)
	if m == nil {
		f.Close()
		return nil, fmt.Errorf("%s: not a 2-D float32 array in C order (%s)", path, strings.TrimSpace(string(hdr)))
	}
	rows, _ := strconv.ParseInt(string(m[1]), 10, 64)
	cols, _ := strconv.ParseInt(string(m[2]), 10, 64)
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if want := int64(10+len(hdr)) + rows*cols*4; st.Size() != want {
		f.Close()
		return nil, fmt.Errorf("%s: %d bytes, but a %d×%d array takes %d", path, st.Size(), rows, cols, want)
	}
	return &npyPart{f: f, br: br, rows: rows, cols: cols}, nil
}

// idsReader reads the ids files of .npy parts one after another.
type idsReader struct {
	name string // the header: the id column's name
	r    *csv.Reader
	f    *os.File
}

func openIDs(path string) (*idsReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r := csv.NewReader(bufio.NewReaderSize(f, 256<<10))
	r.FieldsPerRecord = 1
	r.ReuseRecord = true
	hdr, err := r.Read()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return &idsReader{name: hdr[0], r: r, f: f}, nil
}

// gatherNPY joins .npy parts, and their ids files when they have them.
func gatherNPY(dst string, parts []string) error {
	withIDs := -1 // unknown; then 0 or 1 for every part
	for _, p := range parts {
		_, err := os.Stat(dataset.IDsPath(p))
		has := 0
		if err == nil {
			has = 1
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if withIDs >= 0 && has != withIDs {
			return fmt.Errorf("gather %s: some parts have an ids file (%s) and some have none", dst, filepath.Base(dataset.IDsPath(p)))
		}
		withIDs = has
	}
	var w *dataset.Writer
	var cols int64
	defer func() {
		if w != nil {
			w.Abort()
		}
	}()
	var vals []float32
	var ids []string
	for _, p := range parts {
		np, err := openNPYPart(p)
		if err != nil {
			return fmt.Errorf("gather %s: %w", dst, err)
		}
		var idr *idsReader
		if withIDs == 1 {
			if idr, err = openIDs(dataset.IDsPath(p)); err != nil {
				np.f.Close()
				return fmt.Errorf("gather %s: %w", dst, err)
			}
		}
		err = func() error {
			defer np.f.Close()
			if idr != nil {
				defer idr.f.Close()
			}
			if w == nil {
				opt := dataset.WriterOptions{}
				if idr != nil {
					opt.IDName = idr.name
				}
				if w, err = dataset.NewWriterWith(dst, int(np.cols), opt); err != nil {
					return err
				}
				cols = np.cols
			} else if np.cols != cols {
				return fmt.Errorf("%s has %d columns, %s %d", p, np.cols, parts[0], cols)
			}
			chunk := max(1, (1<<20)/int(max(np.cols, 1)))
			buf := make([]byte, chunk*int(np.cols)*4)
			for left := np.rows; left > 0; {
				k := min(int64(chunk), left)
				b := buf[:k*np.cols*4]
				if _, err := io.ReadFull(np.br, b); err != nil {
					return fmt.Errorf("read %s: %w", p, err)
				}
				vals = vals[:0]
				for i := 0; i < len(b); i += 4 {
					vals = append(vals, math.Float32frombits(binary.LittleEndian.Uint32(b[i:])))
				}
				if idr != nil {
					ids = ids[:0]
					for range k {
						rec, err := idr.r.Read()
						if err != nil {
							return fmt.Errorf("read %s: fewer ids than the %d rows of %s (%v)", dataset.IDsPath(p), np.rows, p, err)
						}
						ids = append(ids, rec[0])
					}
					err = w.WriteIDs(vals, ids)
				} else {
					err = w.Write(vals)
				}
				if err != nil {
					return err
				}
				left -= k
			}
			if idr != nil {
				if _, err := idr.r.Read(); err != io.EOF {
					return fmt.Errorf("%s has more ids than the %d rows of %s", dataset.IDsPath(p), np.rows, p)
				}
			}
			return nil
		}()
		if err != nil {
			return fmt.Errorf("gather %s: %w", dst, err)
		}
	}
	err := w.Close()
	w = nil
	return err
}

// gatherColumnar joins Parquet or Arrow parts through dataset's Reader
// (all of them as one dataset, in order) and Writer.
func gatherColumnar(dst string, parts []string, known *partFormat) error {
	var pf partFormat
	if known != nil {
		pf = *known
	} else {
		var err error
		if pf, err = columnarPartFormat(parts[0]); err != nil {
			return fmt.Errorf("gather %s: %w", dst, err)
		}
	}
	rd, err := dataset.OpenReader(parts, dataset.ReaderOptions{IDColumn: pf.IDName})
	if err != nil {
		return fmt.Errorf("gather %s: %w", dst, err)
	}
	defer rd.Close()
	header := pf.Header
	if header == nil && pf.ListColumn == "" {
		header = rd.Header()
	}
	w, err := dataset.NewWriterWith(dst, rd.Cols(), dataset.WriterOptions{Header: header, IDName: pf.IDName, ListColumn: pf.ListColumn})
	if err != nil {
		return err
	}
	defer w.Abort()
	chunk := max(1, (1<<20)/rd.Cols())
	buf := make([]float32, chunk*rd.Cols())
	var ids []string
	if pf.IDName != "" {
		ids = make([]string, chunk)
	}
	for {
		n, err := rd.ReadIDs(buf, ids)
		if n > 0 {
			var werr error
			if ids != nil {
				werr = w.WriteIDs(buf[:n*rd.Cols()], ids[:n])
			} else {
				werr = w.Write(buf[:n*rd.Cols()])
			}
			if werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("gather %s: %w", dst, err)
		}
	}
	return w.Close()
}

// listName matches the feature names a list column gives: emb[0], emb[1], …
var listName = regexp.MustCompile(`^(.*)\[(\d+)\]$`)

// columnarPartFormat reads from a Parquet or Arrow part written by aegpu
// its id column (the one text column: aegpu writes ids as text) and
// whether its values are one list column.
func columnarPartFormat(part string) (partFormat, error) {
	rd, err := dataset.OpenReader([]string{part}, dataset.ReaderOptions{})
	if err != nil {
		return partFormat{}, err
	}
	hdr, skipped := rd.Header(), rd.Skipped()
	rd.Close()
	var pf partFormat
	switch len(skipped) {
	case 0:
	case 1:
		pf.IDName = skipped[0]
	default:
		return pf, fmt.Errorf("%s has %d columns that are no numbers (%s); aegpu writes one, the ids", part, len(skipped), strings.Join(skipped, ", "))
	}
	if len(hdr) > 0 {
		if m := listName.FindStringSubmatch(hdr[0]); m != nil {
			list := true
			for i, h := range hdr {
				if h != m[1]+"["+strconv.Itoa(i)+"]" {
					list = false
					break
				}
			}
			if list {
				pf.ListColumn = m[1]
			}
		}
	}
	return pf, nil
}

// removePart removes a part and its .npy ids file.
func removePart(p string) {
	os.Remove(p)
	if strings.EqualFold(filepath.Ext(p), ".npy") {
		os.Remove(dataset.IDsPath(p))
	}
}

// partName matches the parts' names partPath gives.
var partName = regexp.MustCompile(`\.part-(\d+)-of-(\d+)$`)

// findParts lists the part files of out (partPath's names) in order: all
// n parts of one count n, or an error that names what is missing.
func findParts(out string) ([]string, error) {
	ext := filepath.Ext(out)
	stem := strings.TrimSuffix(out, ext)
	matches, err := filepath.Glob(escapeGlob(stem) + ".part-*-of-*" + escapeGlob(ext))
	if err != nil {
		return nil, err
	}
	byCount := map[int]map[int]string{}
	for _, m := range matches {
		sm := partName.FindStringSubmatch(strings.TrimSuffix(m, ext))
		if sm == nil || strings.TrimSuffix(strings.TrimSuffix(m, ext), sm[0]) != stem {
			continue
		}
		i, _ := strconv.Atoi(sm[1])
		n, _ := strconv.Atoi(sm[2])
		if n < 1 || i >= n || partPath(out, i, n) != m {
			continue
		}
		if byCount[n] == nil {
			byCount[n] = map[int]string{}
		}
		byCount[n][i] = m
	}
	switch len(byCount) {
	case 0:
		return nil, fmt.Errorf("no parts of %s: no file named %s.part-IIIII-of-NNNNN%s", out, stem, ext)
	case 1:
	default:
		var counts []string
		for n := range byCount {
			counts = append(counts, strconv.Itoa(n))
		}
		sort.Strings(counts)
		return nil, fmt.Errorf("the parts of %s are of different splits (of %s): remove the parts of the runs that are not wanted", out, strings.Join(counts, ", of "))
	}
	for n, got := range byCount {
		var missing []string
		parts := make([]string, n)
		for i := range n {
			if p, ok := got[i]; ok {
				parts[i] = p
			} else if len(missing) < 10 {
				missing = append(missing, strconv.Itoa(i))
			} else if len(missing) == 10 {
				missing = append(missing, "…")
			}
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("%s: %d of %d parts are there; missing: part %s (have their tasks finished?)", out, len(got), n, strings.Join(missing, ", "))
		}
		return parts, nil
	}
	return nil, nil // not reached
}

// escapeGlob quotes the pattern characters of a literal path.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func gatherCommand() *cli.Command {
	return &cli.Command{
		Name:  "gather",
		Usage: "join the part files of a sharded encode or score into one output",
		Description: `aegpu encode and score with --shard auto (a Slurm array, a Kubernetes Indexed
Job, the ranks of mpirun or srun) write part i of n of --out to a file named
after it: codes.npy's part 3 of 16 is codes.part-00003-of-00016.npy.
Once all of them are written, gather joins them in order into --out: the
file one process would have written (ids included: a leading column, or
for .npy the .ids.csv file beside it), then removes the parts.

It checks that all n parts are there before it writes anything; --out is
written under a temporary name and renamed when complete. Parts need not
be joined to be read: aegpu reads --data 'codes.part-*.npy' as one
dataset, in order.

Example (a Slurm array of 16 tasks, then one job after it):
  sbatch --array=0-15 encode.sbatch      # aegpu encode --shard auto --out codes.npy
  sbatch --dependency=afterok:JOBID --wrap 'aegpu gather --out codes.npy'`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Required: true, Usage: "the output `FILE` the parts are of (.npy, .csv, .parquet or .arrow)"},
			&cli.BoolFlag{Name: "keep-parts", Usage: "leave the parts where they are"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing but errors"},
		},
		Action: runGather,
	}
}

func runGather(c *cli.Context) error {
	out := c.String("out")
	if err := checkOutput("out", out, dataExts...); err != nil {
		return err
	}
	parts, err := findParts(out)
	if err != nil {
		return err
	}
	if err := gatherParts(out, parts, nil); err != nil {
		return err
	}
	if !c.Bool("keep-parts") {
		for _, p := range parts {
			removePart(p)
		}
	}
	if !c.Bool("quiet") {
		what := "removed them"
		if c.Bool("keep-parts") {
			what = "kept them"
		}
		fmt.Fprintf(os.Stderr, "wrote %s: %d parts joined in order (%s … %s); %s\n", out, len(parts), filepath.Base(parts[0]), filepath.Base(parts[len(parts)-1]), what)
	}
	return nil
}

// gatherRanks ends a sharded command run with --gather on one of several
// ranks, whose work ended with err (nil: its parts of outs are written).
// Every rank says whether it succeeded (one all-reduce); when all did,
// rank 0 joins each output's parts into its gathered file and removes
// them, else every rank removes its own parts and the command fails on
// all of them. MPI is finalized.
func gatherRanks(comm *mpi.Comm, p shardPlan, outs []string, known []*partFormat, quiet bool, err error) error {
	defer comm.Finalize()
	failed := []float64{0}
	if err != nil {
		failed[0] = 1
		// Said before the all-reduce: once the others learn of the
		// failure they exit non-zero, and the launcher may kill this rank
		// before it could print.
		fmt.Fprintf(os.Stderr, "%s: rank %d of %d: %v\n", selfName(), comm.Rank(), comm.Size(), err)
		err = &exitError{code: 1, err: err, reported: true}
	}
	if rerr := comm.AllreduceSum64(failed); rerr != nil {
		comm.Abort(1) // the ranks cannot agree: end them all
	}
	if failed[0] > 0 {
		for _, o := range outs {
			removePart(p.output(o))
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("%d of %d ranks failed (their errors are above): this rank's part was removed and nothing was gathered", int(failed[0]), p.Ranks)
	}
	if p.Rank != 0 {
		return nil
	}
	for i, o := range outs {
		dst, parts := p.gathered(o), p.rankParts(o)
		if len(parts) == 1 && parts[0] == dst {
			continue
		}
		if err := gatherParts(dst, parts, known[i]); err != nil {
			return fmt.Errorf("%w (the ranks' parts %s … %s are kept: aegpu gather --out %s joins them)", err, parts[0], parts[len(parts)-1], dst)
		}
		for _, part := range parts {
			if part != dst {
				removePart(part)
			}
		}
		if !quiet {
			fmt.Fprintf(os.Stderr, "gathered %s: the parts of %d ranks, in order\n", dst, len(parts))
		}
	}
	return nil
}
