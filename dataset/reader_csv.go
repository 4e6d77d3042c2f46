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
// many fields as the first. An id column, named in the header, is kept as
// text beside each row instead of being a feature.
type csvRows struct {
	cr     *csv.Reader
	fields int      // fields per record; 0 when the file holds no record at all
	cols   int      // features per row: fields, less the id column
	idCol  int      // the id column's field, or -1
	header []string // the features' names; nil when the first record is data
	// pending holds the first record when it is data: start has read it,
	// next returns it first.
	pending     []string
	pendingLine int
}

// newCSVRows starts reading CSV from r: it reads the first record to learn
// the number of columns and whether there is a header. idColumn, when not
// "", names the header's id column.
func newCSVRows(r io.Reader, idColumn string) (*csvRows, error) {
	c := &csvRows{cr: csv.NewReader(bufio.NewReaderSize(newCSVLimiter(r), 64<<10)), idCol: -1}
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
	c.fields, c.cols = len(rec), len(rec)
	if allNumeric(rec) {
		if idColumn != "" {
			return nil, fmt.Errorf("line %d: the id column %q needs a header line naming the columns, and the first line is numbers", line, idColumn)
		}
		c.pending = append([]string(nil), rec...)
		c.pendingLine = line
		return c, nil
	}
	c.header = make([]string, 0, len(rec))
	for i, f := range rec {
		name := strings.TrimSpace(f)
		if idColumn != "" && name == idColumn && c.idCol < 0 {
			c.idCol = i
			continue
		}
		c.header = append(c.header, name)
	}
	if idColumn != "" && c.idCol < 0 {
		return nil, fmt.Errorf("line %d: no id column %q in the header %q", line, idColumn, c.header)
	}
	if c.idCol >= 0 {
		c.cols--
		if c.cols == 0 {
			return nil, fmt.Errorf("line %d: the id column %q is the only column: no features left", line, idColumn)
		}
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
	if len(rec) != c.fields {
		return nil, 0, csvWidthError(line, c.fields, len(rec), c.header != nil)
	}
	return rec, line, nil
}

// parse converts a record from next into dst (len(dst) == c.cols), the
// id column left out.
func (c *csvRows) parse(rec []string, line int, dst []float32) error {
	j := 0
	for i, f := range rec {
		if i == c.idCol {
			continue
		}
		v, err := parseCSVField(f, line, i, j, c.header)
		if err != nil {
			return err
		}
		dst[j] = v
		j++
	}
	return nil
}

// id returns a record's id (the id column's text, spaces trimmed), or ""
// without an id column.
func (c *csvRows) id(rec []string) string {
	if c.idCol < 0 {
		return ""
	}
	return strings.TrimSpace(rec[c.idCol])
}
