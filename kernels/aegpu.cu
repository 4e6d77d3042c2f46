// aegpu's CUDA kernels: the one translation unit that nvcc compiles into
// aegpu.fatbin (kernels/build.sh) and that the CPU emulator (kernels/emu)
// compiles with g++. The kernels, their parameters and semantics are listed
// in ABI.md; launch geometry in geometry.cuh (mirrored in kernels.go).
#include "common.cuh"
#include "gemm.cu"
#include "gemm_tf32.cu"
#include "gemm_bf16.cu"
#include "reduce.cu"
#include "elementwise.cu"
#include "penalty.cu"
#include "layernorm.cu"
