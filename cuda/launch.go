package cuda

import (
	"github.com/aegpu/aegpu/cuda/internal/cu"
	"github.com/aegpu/aegpu/kernels"
)

// Launch geometry. The kernels are correct for any size; these only decide
// how the work is spread (see kernels/ABI.md).

func dim1(n int) [3]uint32 { return [3]uint32{uint32(n), 1, 1} }

// elemGrid is the grid of a grid-stride elementwise kernel over n elements.
func elemGrid(n int) [3]uint32 { return dim1(kernels.ElemGrid(int64(n), 1)) }

func (b *Backend) launch(f cu.Function, grid, block [3]uint32) error {
	return cu.Launch(f, grid, block, 0, b.stream, b.args)
}
