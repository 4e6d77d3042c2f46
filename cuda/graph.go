package cuda

import (
	"errors"
	"fmt"

	"github.com/aegpu/aegpu/cuda/internal/cu"
	"github.com/aegpu/aegpu/engine"
)

// Record captures the ops fn issues on the backend's stream into a CUDA
// graph and instantiates it (engine.Recorder).
func (b *Backend) Record(fn func() error) (engine.Replay, error) {
	if err := b.enter("Record"); err != nil {
		return nil, err
	}
	if b.capturing {
		return nil, errors.New("engine.Record: already recording")
	}
	if err := b.stream.BeginCapture(); err != nil {
		return nil, err
	}
	b.capturing = true
	ferr := fn()
	b.capturing = false
	g, err := b.stream.EndCapture()
	if ferr != nil || err != nil {
		if g != 0 {
			g.Destroy()
		}
		return nil, fmt.Errorf("engine.Record: %w", errors.Join(ferr, err))
	}
	defer g.Destroy()
	x, err := g.Instantiate()
	if err != nil {
		return nil, err
	}
	return &graphReplay{b: b, exec: x}, nil
}

// noCapture fails host-synchronous or allocating calls made while recording.
func (b *Backend) noCapture(op string) error {
	if b.capturing {
		return fmt.Errorf("engine.%s: not allowed while recording a replay", op)
	}
	return nil
}

type graphReplay struct {
	b    *Backend
	exec cu.GraphExec
}

func (r *graphReplay) Run() error {
	if r.exec == 0 {
		return errors.New("engine.Replay: used after Free")
	}
	if err := r.b.enter("Replay"); err != nil {
		return err
	}
	return r.exec.Launch(r.b.stream)
}

func (r *graphReplay) Free() error {
	if r.exec == 0 {
		return nil
	}
	err := r.exec.Destroy()
	r.exec = 0
	return err
}

var _ engine.Recorder = (*Backend)(nil)
var _ engine.AsyncUploader = (*Backend)(nil)
