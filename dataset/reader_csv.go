package dataset

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// csvRows reads a CSV file one record at a time with the rules of ReadCSV:
// the first non-blank record is a header when any of its fields is not a
// number; blank lines and '#' comments are skipped; every row must have as
// many fields as the first.
type csvRows struct {
	cr     *csv.Reader
	cols   int      // 0 when the file holds no record at all
	header []string // nil when the first record is data
	// pending holds the first record when it is data: start has read it,
	// next returns it first.
	pending     []string
	pendingLine int
}

// newCSVRows starts reading CSV from r: it reads the first record to learn
// the number of columns and whether there is a header.
func newCSVRows(r io.Reader) (*csvRows, error) {
	c := &csvRows{cr: csv.NewReader(bufio.NewReaderSize(newCSVLimiter(r), 64<<10))}
	c.cr.ReuseRecord = true
	c.cr.FieldsPerRecord = -1 // checked here, for a clearer message
	c.cr.TrimLeadingSpace = true
	c.cr.Comment = '#'
	rec, line, err := c.record()
	if err == io.EOF {
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	rec[0] = strings.TrimPrefix(rec[0], "\ufeff") // byte order mark
	c.cols = len(rec)
	if allNumeric(rec) {
		c.pending = append([]string(nil), rec...)
		c.pendingLine = line
		return c, nil
	}
	c.header = make([]string, len(rec))
	for i, f := range rec {
		c.header[i] = strings.TrimSpace(f)
	}
	return c, nil
}

// record returns the next non-blank record and its line, or io.EOF. The
// slice is reused by the next call.
func (c *csvRows) record() ([]string, int, error) {
	for {
		rec, err := c.cr.Read()
		if err == io.EOF {
			return nil, 0, io.EOF
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, 0, fmt.Errorf("line %d, column %d: %w", pe.Line, pe.Column, pe.Err)
			}
			return nil, 0, err
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // a line of only spaces
		}
		line, _ := c.cr.FieldPos(0)
		return rec, line, nil
	}
}

// next returns the next data row, checked for width but not parsed, and its
// line; io.EOF at the end.
func (c *csvRows) next() ([]string, int, error) {
	if c.pending != nil {
		rec, line := c.pending, c.pendingLine
		c.pending = nil
		return rec, line, nil
	}
	rec, line, err := c.record()
	if err != nil {
		return nil, 0, err
	}
	if len(rec) != c.cols {
		return nil, 0, csvWidthError(line, c.cols, len(rec), c.header != nil)
	}
	return rec, line, nil
}

// parse converts a record from next into dst (len(dst) == c.cols).
func (c *csvRows) parse(rec []string, line int, dst []float32) error {
	for i, f := range rec {
		v, err := parseCSVField(f, line, i, c.header)
		if err != nil {
			return err
		}
		dst[i] = v
	}
	return nil
}
