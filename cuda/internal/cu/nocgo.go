//go:build !cgo

package cu

import "unsafe"

// Without cgo there is no way to reach the driver: Init, and every call
// before or after it, returns buildErr (wrapping ErrNotLoaded). The drv*
// primitives below exist so that api.go compiles unchanged; the ready()
// gate keeps them from being called, and they fail harmlessly if they are.

var buildErr error = &briefError{"this binary was built without cgo, which CUDA needs", notLoaded("built without cgo")}

const libName = "libcuda.so.1"

const stubCode = codeNotInitialized

func drvLoad() error                    { return buildErr }
func drvErrorName(int) (string, bool)   { return "", false }
func drvSetAutoContext(uintptr)         {}
func drvInit() int                      { return stubCode }
func drvDriverVersion() (int, int)      { return 0, stubCode }
func drvDeviceCount() (int, int)        { return 0, stubCode }
func drvDeviceGet(int) (int, int)       { return 0, stubCode }
func drvDeviceName(int) (string, int)   { return "", stubCode }
func drvDeviceAttr(int, int) (int, int) { return 0, stubCode }
func drvDeviceTotalMem(int) (int64, int) {
	return 0, stubCode
}
func drvPrimaryRetain(int) (uintptr, int)                             { return 0, stubCode }
func drvPrimaryRelease(int) int                                       { return stubCode }
func drvCtxSetCurrent(uintptr) int                                    { return stubCode }
func drvCtxSynchronize() int                                          { return stubCode }
func drvMemGetInfo() (int64, int64, int)                              { return 0, 0, stubCode }
func drvMemAlloc(int64) (DevicePtr, int)                              { return 0, stubCode }
func drvMemFree(DevicePtr) int                                        { return stubCode }
func drvMemsetD32Async(DevicePtr, uint32, int64, Stream) int          { return stubCode }
func drvMemcpyHtoD(DevicePtr, unsafe.Pointer, int64) int              { return stubCode }
func drvMemcpyDtoH(unsafe.Pointer, DevicePtr, int64) int              { return stubCode }
func drvMemcpyHtoDAsync(DevicePtr, unsafe.Pointer, int64, Stream) int { return stubCode }
func drvMemcpyDtoHAsync(unsafe.Pointer, DevicePtr, int64, Stream) int { return stubCode }
func drvMemcpyDtoDAsync(DevicePtr, DevicePtr, int64, Stream) int      { return stubCode }
func drvMemHostAlloc(int64, uint32) (unsafe.Pointer, int)             { return nil, stubCode }
func drvMemFreeHost(unsafe.Pointer) int                               { return stubCode }
func drvStreamCreate(uint32) (Stream, int)                            { return 0, stubCode }
func drvStreamQuery(Stream) int                                       { return stubCode }
func drvEventQuery(Event) int                                         { return stubCode }
func drvStreamSynchronize(Stream) int                                 { return stubCode }
func drvStreamDestroy(Stream) int                                     { return stubCode }
func drvStreamWaitEvent(Stream, Event) int                            { return stubCode }
func drvEventCreate(uint32) (Event, int)                              { return 0, stubCode }
func drvEventRecord(Event, Stream) int                                { return stubCode }
func drvEventSynchronize(Event) int                                   { return stubCode }
func drvEventDestroy(Event) int                                       { return stubCode }
func drvEventElapsed(Event, Event) (float32, int)                     { return 0, stubCode }
func drvModuleLoadData([]byte) (Module, int)                          { return 0, stubCode }
func drvModuleGetFunction(Module, string) (Function, int)             { return 0, stubCode }
func drvModuleUnload(Module) int                                      { return stubCode }
func drvFuncSetAttribute(Function, int, int) int                      { return stubCode }
func drvLaunch(Function, [3]uint32, [3]uint32, uint32, Stream, uintptr) int {
	return stubCode
}
func drvBeginCapture(Stream, int) int            { return stubCode }
func drvEndCapture(Stream) (Graph, int)          { return 0, stubCode }
func drvGraphInstantiate(Graph) (GraphExec, int) { return 0, stubCode }
func drvGraphLaunch(GraphExec, Stream) int       { return stubCode }
func drvGraphDestroy(Graph) int                  { return stubCode }
func drvGraphExecDestroy(GraphExec) int          { return stubCode }

// Args storage comes from Go memory here (it is never handed to a driver).
// []uint64 keeps it 8-byte aligned and pointer-free.
func cMalloc(n int) unsafe.Pointer {
	b := make([]uint64, (n+7)/8)
	return unsafe.Pointer(&b[0])
}

func cFree(unsafe.Pointer) {}
