// Just enough of CUDA for storage_node/erasure/backends/gf_kernel.cu to compile as C++ and run on the CPU.
// launch.cpp sets blockIdx/threadIdx and calls the kernel once per thread of the grid, serially.
#pragma once

struct uint4 {
    unsigned int x, y, z, w;
};

struct dim3 {
    unsigned int x, y, z;
};

static dim3 threadIdx, blockIdx, blockDim, gridDim;

#define __global__
#define __device__
#define __forceinline__ inline
