package dataset

import (
	"fmt"
	"math"
)

// maxLabel bounds label values: integers up to 2^24 are exact in float32.
const maxLabel = 1 << 24

// LoadLabels reads class labels from path: an IDX label file (such as
// MNIST's train-labels-idx1-ubyte.gz), a .npy vector of integers or
// integral floats (shape (N,) or (N, 1)), or a CSV file with a single column
// and an optional header. Labels must be integers in [0, 2^24].
func LoadLabels(path string) ([]int, error) {
	t, err := Load(path, LoadOptions{})
	if err != nil {
		return nil, err
	}
	if t.Cols != 1 {
		return nil, fmt.Errorf("read %s: labels must be a single column, found %d columns (shape %v)", path, t.Cols, t.Shape)
	}
	labels := make([]int, t.Rows)
	for i, v := range t.Data {
		if v < 0 || v > maxLabel || float32(math.Trunc(float64(v))) != v {
			return nil, fmt.Errorf("read %s: row %d: label %v is not an integer in [0, %d]", path, i, v, maxLabel)
		}
		labels[i] = int(v)
	}
	return labels, nil
}
