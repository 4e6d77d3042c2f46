// Kernels used only by gpu_test.go. Rebuild the PTX (any nvcc >= 11) with
//   nvcc -ptx -arch=compute_70 -o testkernels.ptx testkernels.cu
// PTX is JIT-compiled by the driver for whatever GPU runs the tests.
// testdata/fakecuda/fakecuda.c implements the same kernels on the host.

// y[i] = a*x[i] + y[i] for i < n (grid-stride).
extern "C" __global__ void aegpu_test_saxpy(float *y, const float *x, float a, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        y[i] = a * x[i] + y[i];
    }
}

// Writes its scalar arguments back, each at an 8-byte offset of out, so the
// test sees how cuLaunchKernel read every argument (at its own size).
extern "C" __global__ void aegpu_test_args(unsigned long long *out, int a, long long b, float c,
                                           unsigned long long d, int e, double f) {
    if (blockIdx.x == 0 && threadIdx.x == 0) {
        out[0] = (unsigned long long)(long long)a;
        out[1] = (unsigned long long)b;
        out[2] = (unsigned long long)__float_as_uint(c);
        out[3] = d;
        out[4] = (unsigned long long)(long long)e;
        out[5] = (unsigned long long)__double_as_longlong(f);
    }
}

// Uses dynamic shared memory: out[i] = i for i < n, staged through shared.
extern "C" __global__ void aegpu_test_shared(int *out, int n) {
    extern __shared__ int sh[];
    for (int i = threadIdx.x; i < n; i += blockDim.x) sh[i] = i;
    __syncthreads();
    for (int i = threadIdx.x; i < n; i += blockDim.x) out[i] = sh[i];
}
