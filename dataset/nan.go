package dataset

import (
	"fmt"
	"math"
	"strings"
)

// NaNPolicy says what Load and a Reader do with NaN and ±Inf values.
type NaNPolicy int

const (
	// NaNError (the zero value) makes Load fail, naming the first
	// non-finite value's position.
	NaNError NaNPolicy = iota
	// NaNSkip drops every row that holds a NaN or ±Inf.
	NaNSkip
	// NaNZero replaces NaN and ±Inf with 0.
	NaNZero
)

// String returns the name ParseNaNPolicy accepts for p.
func (p NaNPolicy) String() string {
	switch p {
	case NaNError:
		return "error"
	case NaNSkip:
		return "skip"
	case NaNZero:
		return "zero"
	}
	return fmt.Sprintf("NaNPolicy(%d)", int(p))
}

// ParseNaNPolicy parses "error", "skip" or "zero" (case-insensitive).
func ParseNaNPolicy(s string) (NaNPolicy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "error":
		return NaNError, nil
	case "skip":
		return NaNSkip, nil
	case "zero":
		return NaNZero, nil
	}
	return 0, fmt.Errorf("unknown NaN policy %q (want error, skip or zero)", s)
}

// isFinite reports whether v is neither NaN nor ±Inf.
func isFinite(v float32) bool { return math.Float32bits(v)&0x7f800000 != 0x7f800000 }

// nanPlace says where a block of rows was read from, for the error of
// NaNError.
type nanPlace struct {
	path   string
	row0   int64    // the file's row (0-based) of the block's first row
	lines  []int    // CSV: each row's line in the file; nil otherwise
	header []string // CSV: the column names; Parquet, Arrow: the features'
	ids    []string // each row's id, or nil; NaNSkip moves them with the rows
	// idField is the 1-based field of a CSV file's id column, 0 without
	// one: the fields after it are one further right than their columns.
	idField int
	// group, for Parquet and Arrow files, returns the row group (record
	// batch) of a file row, for errors; nil otherwise.
	group func(row int64) int
}

// enforceNaN is the one implementation of the NaN policies, used by Load on
// a whole table and by Reader on each chunk. It enforces p in place on the
// rows×cols values at the front of data and returns how many rows are left
// at the front: all of them, except under NaNSkip, which moves the rows it
// keeps (and their entries in at.lines) forward over the rows it drops.
// Under NaNError the first non-finite value is reported as a
// *NonFiniteError, placed by at.
func enforceNaN(p NaNPolicy, data []float32, rows, cols int, at nanPlace) (int, error) {
	data = data[:rows*cols]
	switch p {
	case NaNError:
		for i, v := range data {
			if !isFinite(v) {
				r, line := i/cols, 0
				if at.lines != nil {
					line = at.lines[r]
				}
				e := nanErrorAt(at.path, at.row0+int64(r), i%cols, v, line, at.header)
				if e.Field = i%cols + 1; at.idField > 0 && e.Field >= at.idField {
					e.Field++
				}
				if at.group != nil {
					e.Group, e.HasGroup = at.group(e.Row), true
				}
				return 0, e
			}
		}
	case NaNZero:
		for i, v := range data {
			if !isFinite(v) {
				data[i] = 0
			}
		}
	case NaNSkip:
		return skipNonFinite(data, rows, cols, at.lines, at.ids), nil
	}
	return rows, nil
}

// skipNonFinite moves the rows of data without NaN or ±Inf (and their
// lines and ids, when not nil) to the front and returns how many there
// are.
func skipNonFinite(data []float32, rows, cols int, lines []int, ids []string) int {
	kept := 0
next:
	for r := 0; r < rows; r++ {
		row := data[r*cols : (r+1)*cols]
		for _, v := range row {
			if !isFinite(v) {
				continue next
			}
		}
		if kept != r {
			copy(data[kept*cols:], row)
			if lines != nil {
				lines[kept] = lines[r]
			}
			if ids != nil {
				ids[kept] = ids[r]
			}
		}
		kept++
	}
	return kept
}

// applyNaNPolicy enforces p on t in place, for Load: NaNSkip shrinks t to
// the rows it keeps and fails when it keeps none.
func applyNaNPolicy(t *Table, path string, p NaNPolicy) error {
	kept, err := enforceNaN(p, t.Data, t.Rows, t.Cols, nanPlace{path: path, lines: t.lines, header: t.Header, ids: t.IDs, idField: t.idField})
	if err != nil || p != NaNSkip {
		return err
	}
	if kept == 0 {
		return fmt.Errorf("read %s: no rows left: every one of the %d rows holds a NaN or Inf", path, t.Rows)
	}
	if kept != t.Rows {
		t.Rows = kept
		t.Data = t.Data[:kept*t.Cols]
		if t.lines != nil {
			t.lines = t.lines[:kept]
		}
		if t.IDs != nil {
			t.IDs = t.IDs[:kept]
		}
		if len(t.Shape) > 0 {
			t.Shape[0] = kept
		}
	}
	return nil
}

// nanErrorAt reports the non-finite value v at row, col (0-based) of the
// file at path; line, when not 0, is the row's line in a CSV file, whose
// header (or nil) names the column.
func nanErrorAt(path string, row int64, col int, v float32, line int, header []string) *NonFiniteError {
	e := &NonFiniteError{Path: path, Row: row, Col: col, Value: v, Line: line}
	if col < len(header) {
		e.Column = header[col]
	}
	return e
}

// NonFiniteError is the error of reading a NaN or ±Inf under the NaNError
// policy: where it is, and (Error) the NaN option (LoadOptions.NaN,
// ReaderOptions.NaN) that reads the file anyway.
type NonFiniteError struct {
	Path  string
	Row   int64   // 0-based data row
	Col   int     // 0-based column
	Value float32 // NaN, +Inf or -Inf
	// Line is the row's line in a CSV file (0 for other formats), Column
	// the column's name from a CSV header or a Parquet or Arrow schema (""
	// when none).
	Line   int
	Column string
	// Field is the value's 1-based field in its CSV line (beyond Col+1
	// when an id column comes before it); 0 for other formats.
	Field int
	// Group is the row group (Parquet) or record batch (Arrow) holding the
	// row, when HasGroup is set (those formats only).
	Group    int
	HasGroup bool
}

// Detail is the error without the advice: the file, the place and the value.
func (e *NonFiniteError) Detail() string {
	what := "NaN"
	if !math.IsNaN(float64(e.Value)) {
		what = fmt.Sprintf("%v", e.Value)
	}
	where := fmt.Sprintf("row %d, column %d (0-based)", e.Row, e.Col)
	switch {
	case e.Line > 0:
		where += fmt.Sprintf(", line %d field %d", e.Line, max(e.Field, e.Col+1))
		if e.Column != "" {
			where += fmt.Sprintf(" %q", e.Column)
		}
	case e.Column != "":
		where += fmt.Sprintf(" %q", e.Column)
	}
	if e.HasGroup {
		where += fmt.Sprintf(" (row group %d)", e.Group)
	}
	if math.IsNaN(float64(e.Value)) && e.HasGroup {
		what = "NaN or null"
	}
	return fmt.Sprintf("read %s: %s: value is %s", e.Path, where, what)
}

func (e *NonFiniteError) Error() string {
	return e.Detail() + "; set the NaN option to NaNSkip to drop rows with NaN/Inf or to NaNZero to replace them with 0"
}
