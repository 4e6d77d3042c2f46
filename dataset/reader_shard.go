package dataset

import (
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// shardBound returns ⌊i·total/n⌋ without overflow.
func shardBound(i, n int, total int64) int64 {
	hi, lo := bits.Mul64(uint64(i), uint64(total))
	q, _ := bits.Div64(hi, lo, uint64(n)) // i ≤ n, so hi < n
	return int64(q)
}

// ParseShard parses a shard spec "i/n" (0-based i, 0 ≤ i < n), e.g. "2/8"
// for the third of eight shards.
func ParseShard(spec string) (i, n int, err error) {
	bad := fmt.Errorf("invalid shard %q: want i/n with 0 ≤ i < n, e.g. 0/4", spec)
	a, b, ok := strings.Cut(spec, "/")
	if !ok {
		return 0, 0, bad
	}
	i, err1 := strconv.Atoi(strings.TrimSpace(a))
	n, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, bad
	}
	return i, n, nil
}

// expandPaths expands glob patterns; names without pattern characters are
// kept as they are, so that a missing file is reported when opened.
func expandPaths(paths []string) ([]string, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("open stream: no input files")
	}
	var out []string
	for _, p := range paths {
		if !strings.ContainsAny(p, `*?[\`) {
			out = append(out, p)
			continue
		}
		m, err := filepath.Glob(p)
		if err != nil {
			return nil, fmt.Errorf("read %s: bad pattern: %w", p, err)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("read %s: the pattern matches no files", p)
		}
		sort.Strings(m)
		out = append(out, m...)
	}
	return out, nil
}

// planSpans works out the global rows [rd.lo, rd.hi) that rd covers, the
// spans of its files to read for them and where each span starts. When
// sharded it first counts the rows of every CSV file.
func (rd *Reader) planSpans(sharded bool) error {
	if sharded {
		for _, sf := range rd.files {
			if sf.rows < 0 {
				var err error
				if sf.rows, err = countCSVRows(sf); err != nil {
					return err
				}
			}
		}
	}
	total, err := totalRows(rd.files)
	if err != nil {
		return err
	}
	rd.lo, rd.hi = 0, total
	if sharded && total >= 0 {
		rd.lo = shardBound(rd.opt.Shard, rd.opt.ShardCount, total)
		rd.hi = shardBound(rd.opt.Shard+1, rd.opt.ShardCount, total)
		rd.lo, rd.hi = snapToBlock(rd.files, rd.lo), snapToBlock(rd.files, rd.hi)
	}
	var at int64 // global row at which file i starts (when known)
	for i, sf := range rd.files {
		switch {
		case total < 0: // unsharded, some CSV not counted
			if sf.rows != 0 {
				rd.plan = append(rd.plan, span{i, 0, sf.rows})
			}
		default:
			from, to := max(rd.lo-at, 0), min(rd.hi-at, sf.rows)
			if from < to {
				rd.plan = append(rd.plan, span{i, from, to})
			}
			at += sf.rows
		}
	}
	if total >= 0 {
		rd.starts = make([]int64, len(rd.plan))
		var n int64
		for i, sp := range rd.plan {
			rd.starts[i] = n
			n += sp.to - sp.from
		}
	}
	return nil
}

// totalRows returns the number of rows of all files, or -1 when that of
// one of them is not known (a CSV file that has not been counted).
func totalRows(files []*inputFile) (int64, error) {
	total := int64(0)
	for _, sf := range files {
		if sf.rows < 0 {
			return -1, nil
		}
		if total > math.MaxInt64-sf.rows {
			return 0, fmt.Errorf("read %s: too many rows in all", sf.path)
		}
		total += sf.rows
	}
	return total, nil
}

// countCSVRows reads a whole CSV file to count its data rows.
func countCSVRows(sf *inputFile) (int64, error) {
	if sf.pipe {
		return 0, fmt.Errorf("read %s: a shard of CSV input needs the rows counted first, in a read of their own, and a pipe can be read only once: save it to a file, or shard .npy input", sf.path)
	}
	f, err := os.Open(sf.path)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", sf.path, unwrapPathError(err))
	}
	defer f.Close()
	r, zr, err := sf.open(f, false)
	if err != nil {
		return 0, err
	}
	if zr != nil {
		defer zr.Close()
	}
	c, err := newCSVRows(r, sf.idColumn)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", sf.path, err)
	}
	var n int64
	for {
		_, _, err := c.next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", sf.path, err)
		}
		n++
	}
}
