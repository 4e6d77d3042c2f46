package dataset

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"unicode/utf8"
)

// Limits on CSV text that bound the memory one line can take: a line of
// numbers is parsed whole, so without them a file with no line end (a
// binary file named .csv, /dev/zero) would be read into memory until the
// process is killed. Variables so that tests can lower them.
var (
	// maxCSVLine is the longest CSV line read, in bytes: 64 MiB, room for
	// more than 2 million values of 25 characters.
	maxCSVLine int64 = 64 << 20
	// maxCSVFields is the most fields one CSV line may have: the most
	// columns a CSV file may have.
	maxCSVFields = 1 << 21
)

// LineTooLongError reports a CSV line that exceeds the limits on its length
// or its number of fields. Offset is the byte offset of the line's start
// in the (decompressed) content.
type LineTooLongError struct {
	Line   int
	Offset int64
	Limit  int64 // bytes, or fields when Fields is set
	Fields bool
}

func (e *LineTooLongError) Error() string {
	if e.Fields {
		return fmt.Sprintf("line %d (from byte %d) has more than %d fields, the most columns a CSV file may have", e.Line, e.Offset, e.Limit)
	}
	return fmt.Sprintf("line %d (from byte %d) runs past byte %d without a line end: longer than the %d MiB a CSV line may have; is this a CSV text file?",
		e.Line, e.Offset, e.Offset+e.Limit, e.Limit>>20)
}

// csvLimiter passes CSV text through, failing once a line exceeds
// maxCSVLine bytes or maxCSVFields comma-separated fields. It counts every
// comma, quoted ones too, which only makes the field limit stricter for
// text fields (a header).
type csvLimiter struct {
	r         io.Reader
	off       int64 // bytes passed so far
	line      int   // current line, 1-based
	lineStart int64 // offset of the current line
	fields    int   // fields seen so far on the current line
	err       error // sticky
}

func newCSVLimiter(r io.Reader) *csvLimiter { return &csvLimiter{r: r, line: 1, fields: 1} }

func (l *csvLimiter) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.r.Read(p)
	b := p[:n]
	for len(b) > 0 {
		seg := b
		i := bytes.IndexByte(b, '\n')
		if i >= 0 {
			seg = b[:i]
		}
		l.fields += bytes.Count(seg, []byte{','})
		end := l.off + int64(len(seg)) // offset just past seg
		switch {
		case end-l.lineStart > maxCSVLine:
			l.err = &LineTooLongError{Line: l.line, Offset: l.lineStart, Limit: maxCSVLine}
		case l.fields > maxCSVFields:
			l.err = &LineTooLongError{Line: l.line, Offset: l.lineStart, Limit: int64(maxCSVFields), Fields: true}
		}
		if l.err != nil {
			// Only the bytes before this piece of the line: the reader
			// above must not see the line end past the limit.
			return n - len(b), l.err
		}
		if i < 0 {
			l.off = end
			break
		}
		l.off = end + 1
		l.line++
		l.lineStart, l.fields = l.off, 1
		b = b[i+1:]
	}
	return n, err
}

// looksLikeCSV reports whether p, the first bytes of an input with no name
// to go by (a pipe), reads as text: UTF-8 without control characters other
// than tab, CR and LF. A sequence cut at the end of p is allowed.
func looksLikeCSV(p []byte) bool {
	if len(p) == 0 {
		return false
	}
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRune(p[i:])
		if r == utf8.RuneError && size <= 1 {
			if len(p)-i < utf8.UTFMax && !utf8.FullRune(p[i:]) {
				return true // cut by the end of the sample
			}
			return false
		}
		if r < 0x20 && r != '\t' && r != '\r' && r != '\n' || r == 0x7f {
			return false
		}
		i += size
	}
	return true
}

// StdinName is the path that stands for standard input.
const StdinName = "-"

// openInput opens path for reading; "-" is standard input, which done
// leaves open.
func openInput(path string) (f *os.File, done func() error, err error) {
	if path == StdinName {
		return os.Stdin, func() error { return nil }, nil
	}
	f, err = os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	return f, f.Close, nil
}

// IsPipe reports whether path is read as a one-pass stream: "-" (standard
// input), a FIFO, a character device such as /dev/stdin, or anything else
// that is neither a regular file nor a directory. Such input can be read
// once, from its start, and its size is not known in advance; every reader
// of this package accepts it, but Reader.ReadRows (random access) and
// sharding CSV (which counts rows first) do not.
func IsPipe(path string) bool {
	if path == StdinName {
		return true
	}
	st, err := os.Stat(path)
	return err == nil && !st.Mode().IsRegular() && !st.IsDir()
}

// isPipeFile is IsPipe for an open file.
func isPipeFile(f *os.File, path string) bool {
	if path == StdinName {
		return true
	}
	st, err := f.Stat()
	return err == nil && !st.Mode().IsRegular() && !st.IsDir()
}
