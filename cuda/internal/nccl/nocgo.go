//go:build !cgo

package nccl

// Without cgo NCCL cannot be reached: Load reports buildErr, and the lib*
// primitives (never called past the Load gate) fail harmlessly.

var buildErr error = notLoaded("this binary was built without cgo, which NCCL needs")

func libLoad(string) (int, string)                                       { return 1, "built without cgo" }
func libVersion() (int, int)                                             { return 0, codeInvalidUsage }
func libUniqueID() (UniqueID, int)                                       { return UniqueID{}, codeInvalidUsage }
func libInitRank(int, UniqueID, int) (uintptr, int)                      { return 0, codeInvalidUsage }
func libAllReduce(uint64, uint64, int64, int, int, uintptr, uintptr) int { return codeInvalidUsage }
func libAsyncError(uintptr) (int, int)                                   { return 0, codeInvalidUsage }
func libAbort(uintptr) int                                               { return codeInvalidUsage }
func libDestroy(uintptr) int                                             { return codeInvalidUsage }
func libErrorString(int) string                                          { return "" }
