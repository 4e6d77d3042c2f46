//go:build !cgo

package mpi

import "fmt"

// Without cgo there is no dlopen: MPI cannot be loaded, and every entry
// point reports buildErr.
var buildErr = fmt.Errorf("%w: this binary was built without cgo, which loading MPI needs", ErrNoMPI)

func cLoad(string) (ABI, error)     { return 0, buildErr }
func cLibraryVersion() string       { return "" }
func cInit() error                  { return buildErr }
func cRank() (int, error)           { return 0, buildErr }
func cSize() (int, error)           { return 0, buildErr }
func cAllreduceF32([]float32) error { return buildErr }
func cAllreduceF64([]float64) error { return buildErr }
func cBcast([]byte, int) error      { return buildErr }
func cBarrier() error               { return buildErr }
func cIbarrier() error              { return buildErr }
func cTest() (bool, error)          { return false, buildErr }
func cAbort(int)                    {}
func cFinalize() error              { return buildErr }
