package autoencoder

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/aegpu/aegpu/engine"
)

// RowSource yields whole rows in chunks, as dataset.Reader does: Read
// fills up to len(dst)/cols rows and returns io.EOF (with 0 rows) at the
// end.
type RowSource interface {
	Read(dst []float32) (rows int, err error)
	Cols() int
}

// RowSink takes whole rows, as dataset.Writer does.
type RowSink interface {
	Write(rows []float32) error
}

// IDSource is a RowSource whose rows come with ids (a row's key in the
// source table, or its row number): ReadIDs is Read that also fills
// ids[i] for each row read; HasIDs says whether this source has them.
type IDSource interface {
	RowSource
	ReadIDs(dst []float32, ids []string) (rows int, err error)
	HasIDs() bool
}

// IDSink is a RowSink that writes each row's id beside it.
type IDSink interface {
	RowSink
	WriteIDs(rows []float32, ids []string) error
}

// StreamStats summarises a streamed pass.
type StreamStats struct {
	Rows int64
	// MSE is the mean reconstruction error (scaled space) over the rows
	// when the pass computed it, else NaN.
	MSE float64
}

// StreamBudget bounds the bytes of the buffers EncodeStream holds (three
// chunks of input rows and three of codes): a larger chunk is cut to fit.
var StreamBudget int64 = 1 << 30

// streamDepth is how many buffers EncodeStream keeps each way.
const streamDepth = 3

// firstReadRows is the first read's size when the rows are not known.
const firstReadRows = 4096

// EncodeChunk returns the chunk EncodeStream uses when asked for chunk rows
// of cols values encoded to latent values, from a source of rows rows (-1:
// unknown): no more than the rows there are, and no more than fit in
// StreamBudget. budgetCut reports whether the budget cut it.
func EncodeChunk(chunk, cols, latent int, rows int64) (n int, budgetCut bool) {
	n = max(chunk, 1)
	if rows >= 0 && int64(n) > rows {
		n = int(max(rows, 1))
	}
	perRow := int64(streamDepth) * int64(max(cols, 1)+max(latent, 0)) * 4
	if fit := max(StreamBudget/perRow, 1); int64(n) > fit {
		return int(fit), true
	}
	return n, false
}

// rowCounter is a RowSource that knows how many rows it holds (-1:
// unknown), as dataset.Reader does.
type rowCounter interface{ Rows() int64 }

// EncodeStream encodes every row of src into dst, chunk rows at a time,
// with reading, computing and writing overlapped (a reader and a writer
// goroutine around the device work, three buffers each way), so memory is
// bounded by the chunk size whatever the input's. The chunk is cut to the
// rows src holds, when it says (a Rows() int64 method), and to
// StreamBudget (EncodeChunk); when the rows are not known, reads start at
// a few thousand rows and double while they come back full, so a small
// input never gets buffers for a large chunk. progress, when set, is
// called with the rows done after each chunk. Cancelling ctx stops after
// the chunk in flight with ctx's error.
func (p *Predictor) EncodeStream(ctx context.Context, src RowSource, dst RowSink, chunk int, progress func(rows int64)) (StreamStats, error) {
	cols, lat := src.Cols(), p.Model.Arch.LatentDim()
	if err := p.checkCols(cols); err != nil {
		return StreamStats{}, err
	}
	rows := int64(-1)
	if rc, ok := src.(rowCounter); ok {
		rows = rc.Rows()
	}
	chunk, _ = EncodeChunk(chunk, cols, lat, rows)
	size := chunk // rows per read, growing to chunk when rows are unknown
	if rows < 0 {
		size = min(chunk, firstReadRows)
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pp := newEncodePipe(cols, lat, chunk, size)
	if is, ok := src.(IDSource); ok && is.HasIDs() {
		if pp.ids, ok = dst.(IDSink); !ok {
			return StreamStats{}, fmt.Errorf("encode: the rows come with ids but the output cannot hold them")
		}
		pp.idSrc = is
	}
	readErr, writeErr := make(chan error, 1), make(chan error, 1)
	go func() { readErr <- pp.read(ctx, src) }()
	go func() { writeErr <- pp.write(dst, cancel) }()
	st, encErr := pp.encode(p, progress, cancel)
	rerr, werr := <-readErr, <-writeErr
	for _, err := range []error{rerr, encErr, werr} {
		if err != nil {
			return st, err
		}
	}
	return st, parent.Err()
}

// encodePipe is EncodeStream's pipeline: a reader fills input buffers, the
// device encodes them into output buffers, a writer drains those; each
// way has streamDepth buffers, allocated when first used.
type encodePipe struct {
	cols, lat    int
	chunk, size  int // rows per read: size grows to chunk while reads come back full
	freeIn, full chan pipeMsg
	freeOut      chan []float32
	done         chan pipeMsg
	idSrc        IDSource // ids travel with their rows, when set
	ids          IDSink
}

type pipeMsg struct {
	buf  []float32
	rows int
	ids  []string // the rows' ids (idSrc set)
}

func newEncodePipe(cols, lat, chunk, size int) *encodePipe {
	pp := &encodePipe{cols: cols, lat: lat, chunk: chunk, size: size,
		freeIn: make(chan pipeMsg, streamDepth), full: make(chan pipeMsg, streamDepth),
		freeOut: make(chan []float32, streamDepth), done: make(chan pipeMsg, streamDepth)}
	for range streamDepth {
		pp.freeIn <- pipeMsg{}
		pp.freeOut <- nil
	}
	return pp
}

// read reads src into free input buffers until its end, an error or ctx's
// cancellation, then closes full.
func (pp *encodePipe) read(ctx context.Context, src RowSource) error {
	defer close(pp.full)
	cols := pp.cols
	for {
		var m pipeMsg
		select {
		case m = <-pp.freeIn:
		case <-ctx.Done():
			return nil
		}
		buf := m.buf
		if cap(buf) < pp.size*cols {
			buf = make([]float32, pp.size*cols)
		}
		var n int
		var err error
		if pp.idSrc != nil {
			if cap(m.ids) < pp.size {
				m.ids = make([]string, pp.size)
			}
			n, err = pp.idSrc.ReadIDs(buf[:pp.size*cols], m.ids[:pp.size])
		} else {
			n, err = src.Read(buf[:pp.size*cols])
		}
		if n > 0 {
			pp.full <- pipeMsg{buf, n, m.ids}
		}
		if n == pp.size && pp.size < pp.chunk { // full: the input goes on
			pp.size = min(2*pp.size, pp.chunk)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return err
		}
	}
}

// write writes the encoded buffers to dst in order; after an error it
// cancels the pipe and only recycles the rest.
func (pp *encodePipe) write(dst RowSink, cancel func()) error {
	var err error
	for m := range pp.done {
		if err == nil {
			if pp.ids != nil {
				err = pp.ids.WriteIDs(m.buf[:m.rows*pp.lat], m.ids[:m.rows])
			} else {
				err = dst.Write(m.buf[:m.rows*pp.lat])
			}
			if err != nil {
				cancel()
			}
		}
		pp.freeOut <- m.buf
	}
	return err
}

// encode encodes every full input buffer into an output buffer for the
// writer; after an error it cancels the pipe and only recycles the rest.
func (pp *encodePipe) encode(p *Predictor, progress func(rows int64), cancel func()) (StreamStats, error) {
	var st StreamStats
	var encErr error
	cols, lat := pp.cols, pp.lat
	for m := range pp.full {
		if encErr == nil {
			out := <-pp.freeOut
			if cap(out) < m.rows*lat {
				out = make([]float32, cap(m.buf)/cols*lat)
			}
			if encErr = p.EncodeInto(out[:m.rows*lat], m.buf[:m.rows*cols], cols); encErr != nil {
				cancel()
				pp.freeOut <- out
			} else {
				var ids []string // the writer's own copy: the reader reuses m.ids
				if m.ids != nil {
					ids = append(ids, m.ids[:m.rows]...)
				}
				pp.done <- pipeMsg{out, m.rows, ids}
				st.Rows += int64(m.rows)
				if progress != nil {
					progress(st.Rows)
				}
			}
		}
		pp.freeIn <- pipeMsg{buf: m.buf, ids: m.ids}
	}
	close(pp.done)
	return st, encErr
}

// EncodeInto writes the latent codes of data (rows × cols, unscaled) into
// out (rows × latent) without allocating. On a backend with a copy stream
// (engine.AsyncUploader: the GPU) the next batch is scaled on the host and
// copied to the device while the current one is encoded.
func (p *Predictor) EncodeInto(out, data []float32, cols int) error {
	if err := p.checkCols(cols); err != nil {
		return err
	}
	rows, lat := len(data)/cols, p.Model.Arch.LatentDim()
	if len(out) != rows*lat {
		return fmt.Errorf("encode: output holds %d values, %d rows × %d latent need %d", len(out), rows, lat, rows*lat)
	}
	au, async := p.Model.Backend.(engine.AsyncUploader)
	if async && p.xAlt.Empty() && rows > p.ws.batch {
		m, err := p.Model.Backend.Alloc(p.ws.batch, cols)
		if err != nil {
			return err
		}
		p.xAlt = m
	}
	async = async && !p.xAlt.Empty()
	var prevMark engine.Marker // after the encode that last read xAlt
	swapped := false
	defer func() { // the workspace keeps its own input buffer between calls
		if swapped {
			p.ws.x, p.xAlt = p.xAlt, p.ws.x
		}
	}()
	for lo := 0; lo < rows; lo += p.ws.batch {
		n := min(p.ws.batch, rows-lo)
		if lo == 0 || !async {
			if err := p.load(data, cols, lo, n); err != nil {
				return err
			}
		}
		v := p.ws.rows(n)
		code, err := p.Model.encode(v, v.x)
		if err != nil {
			return err
		}
		if next := lo + n; async && next < rows {
			mark, err := au.Mark()
			if err != nil {
				return err
			}
			m := min(p.ws.batch, rows-next)
			h := p.host[:m*cols]
			copy(h, data[next*cols:(next+m)*cols])
			if err := p.Config.Scaler.Apply(h, cols); err != nil {
				return err
			}
			if err := au.UploadAfter(rowsOf(p.xAlt, m), h, prevMark); err != nil {
				return err
			}
			prevMark = mark
		}
		if err := p.Model.Backend.Download(out[lo*lat:(lo+n)*lat], code); err != nil {
			return err
		}
		if async && lo+n < rows {
			p.ws.x, p.xAlt = p.xAlt, p.ws.x
			swapped = !swapped
		}
	}
	return nil
}
