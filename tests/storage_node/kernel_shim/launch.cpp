// Runs the CUDA kernel's grid on the CPU: one call of the kernel function per (block, thread).
#include "cuda_shim.h"
#include "gf_kernel.cu"

extern "C" void launch_gf_apply_matrix(unsigned int grid_x, unsigned int grid_y, unsigned int block_x,
                                       const unsigned long long* sources, const unsigned long long* targets,
                                       const unsigned char* matrix, int k, int rows, long long columns)
{
    gridDim = {grid_x, grid_y, 1};
    blockDim = {block_x, 1, 1};
    for (unsigned int y = 0; y < grid_y; ++y) {
        for (unsigned int x = 0; x < grid_x; ++x) {
            for (unsigned int t = 0; t < block_x; ++t) {
                blockIdx = {x, y, 0};
                threadIdx = {t, 0, 0};
                gf_apply_matrix(sources, targets, matrix, k, rows, columns);
            }
        }
    }
}
