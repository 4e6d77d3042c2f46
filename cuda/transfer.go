package cuda

import (
	"fmt"

	"github.com/aegpu/aegpu/cuda/internal/cu"
	"github.com/aegpu/aegpu/engine"
)

// Host↔device copies through pinned staging buffers: Upload, UploadAfter
// on the copy stream (engine.AsyncUploader) with Mark, and Download.

// Upload copies host values into dst through a pinned staging buffer, so
// the copy is asynchronous: the call returns once src has been copied into
// the staging slot, and the device copy is ordered before later ops.
func (b *Backend) Upload(dst engine.Matrix, src []float32) error {
	if err := engine.CheckTransfer("Upload", dst, len(src)); err != nil {
		return err
	}
	if err := b.noCapture("Upload"); err != nil {
		return err
	}
	if err := b.enter("Upload", dst); err != nil {
		return err
	}
	if len(src) == 0 {
		return nil
	}
	return b.stagedCopy(dst, src, b.stream)
}

// stagedCopy copies src into the next pinned staging slot (waiting, if
// that slot's previous copy is still pending) and queues its copy to dst on
// stream s; the slot's event marks the copy's completion.
func (b *Backend) stagedCopy(dst engine.Matrix, src []float32, s cu.Stream) error {
	i := b.stageNext
	b.stageNext = (i + 1) % len(b.stage)
	if b.stageUsed[i] {
		if err := b.waitEvent(b.stageDone[i]); err != nil {
			return err
		}
	}
	bytes := int64(4 * len(src))
	if b.stage[i] == nil || int64(len(b.stage[i].Float32s())) < int64(len(src)) {
		if b.stage[i] != nil {
			b.stage[i].Free()
			b.stage[i] = nil
		}
		h, err := cu.HostAlloc(max(bytes, 1<<20))
		if err != nil {
			return fmt.Errorf("engine.Upload: pinned staging buffer of %d bytes: %w", bytes, err)
		}
		b.stage[i] = h
	}
	copy(b.stage[i].Float32s(), src)
	if err := cu.MemcpyHtoDAsync(b.ptr(dst), b.stage[i].Ptr(), bytes, s); err != nil {
		return err
	}
	b.stageUsed[i] = true
	return b.stageDone[i].Record(s)
}

// Mark records an event after all work queued so far (engine.AsyncUploader).
func (b *Backend) Mark() (engine.Marker, error) {
	if err := b.noCapture("Mark"); err != nil {
		return nil, err
	}
	if err := b.enter("Mark"); err != nil {
		return nil, err
	}
	e := b.marks[b.markNext]
	b.markNext = (b.markNext + 1) % len(b.marks)
	if err := e.Record(b.stream); err != nil {
		return nil, err
	}
	return e, nil
}

// UploadAfter copies src into dst on the copy stream once the work before
// after is done, overlapping with compute queued since, and makes later
// compute wait for the copy (engine.AsyncUploader). A marker reused by four
// later Marks waits for later work: slower, never wrong.
func (b *Backend) UploadAfter(dst engine.Matrix, src []float32, after engine.Marker) error {
	if err := engine.CheckTransfer("UploadAfter", dst, len(src)); err != nil {
		return err
	}
	if err := b.noCapture("UploadAfter"); err != nil {
		return err
	}
	if err := b.enter("UploadAfter", dst); err != nil {
		return err
	}
	if len(src) == 0 {
		return nil
	}
	if after == nil {
		m, err := b.Mark()
		if err != nil {
			return err
		}
		after = m
	}
	e, ok := after.(cu.Event)
	if !ok {
		return fmt.Errorf("engine.UploadAfter: marker %T is not from this backend", after)
	}
	if err := b.copyStream.WaitEvent(e); err != nil {
		return err
	}
	slot := b.stageNext
	if err := b.stagedCopy(dst, src, b.copyStream); err != nil {
		return err
	}
	return b.stream.WaitEvent(b.stageDone[slot])
}

// Download waits for the work producing src and copies it to the host.
func (b *Backend) Download(dst []float32, src engine.Matrix) error {
	if err := engine.CheckTransfer("Download", src, len(dst)); err != nil {
		return err
	}
	if err := b.noCapture("Download"); err != nil {
		return err
	}
	if err := b.enter("Download", src); err != nil {
		return err
	}
	if len(dst) == 0 {
		return nil
	}
	bytes := int64(4 * len(dst))
	if b.down == nil || len(b.down.Float32s()) < len(dst) {
		if b.down != nil {
			b.down.Free()
			b.down = nil
		}
		h, err := cu.HostAlloc(max(bytes, 1<<16))
		if err != nil {
			return fmt.Errorf("engine.Download: pinned staging buffer of %d bytes: %w", bytes, err)
		}
		b.down = h
	}
	if err := cu.MemcpyDtoHAsync(b.down.Ptr(), b.ptr(src), bytes, b.stream); err != nil {
		return err
	}
	if err := b.waitStream(b.stream); err != nil {
		return err
	}
	copy(dst, b.down.Float32s()[:len(dst)])
	return nil
}
