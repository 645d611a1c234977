/* GF(2^8) matrix application for Cairn's CuPy backend: targets = rows x sources, byte-wise.
 *
 * Same byte format as ISA-L: field polynomial 0x11d, shard bytes multiplied independently.
 *
 * Work split: blockIdx.y picks the segment of the batch; blockIdx.x * blockDim.x + threadIdx.x picks a
 * column, i.e. 16 bytes (one uint4) at the same offset of every shard of that segment. A thread loads
 * its column of each of the k source shards exactly once and keeps ROW_TILE accumulators (4 x 32-bit
 * words each) in registers; with more than ROW_TILE rows it sweeps the sources again per tile.
 * Neighbouring threads read neighbouring 16-byte columns, so every load and store is coalesced.
 *
 * Multiplication by a coefficient c walks c's 8 bits: the source word w is added (XOR) into an
 * accumulator under a mask when bit b of c is set, then multiplied by 2 ("xtime", four packed bytes at
 * once). The coefficient loads are the same for the whole warp (served from cache), so the masks never
 * diverge. No shared memory and no __syncthreads: the kernel is also compiled as plain C++ for the CPU
 * tests, with a shim that supplies dim3, uint4, threadIdx, blockIdx and blockDim.
 *
 * Arguments:
 *   sources  batch x k   device addresses of the source shards (16-byte aligned)
 *   targets  batch x rows device addresses of the target shards (16-byte aligned)
 *   matrix   rows x k    coefficients, row-major
 *   columns              shard length / 16, the same for every segment of the batch
 */

#define ROW_TILE 4

__device__ __forceinline__ unsigned int xtime4(unsigned int w)
{
    return ((w & 0x7f7f7f7fu) << 1) ^ (((w >> 7) & 0x01010101u) * 0x1du);
}

extern "C" __global__ void gf_apply_matrix(const unsigned long long* __restrict__ sources,
                                           const unsigned long long* __restrict__ targets,
                                           const unsigned char* __restrict__ matrix,
                                           int k, int rows, long long columns)
{
    const long long column = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (column >= columns) {
        return;
    }
    const unsigned long long* segment_sources = sources + (long long)blockIdx.y * k;
    const unsigned long long* segment_targets = targets + (long long)blockIdx.y * rows;

    for (int first_row = 0; first_row < rows; first_row += ROW_TILE) {
        unsigned int accumulator[ROW_TILE][4] = {};
        for (int j = 0; j < k; ++j) {
            const uint4 loaded = reinterpret_cast<const uint4*>(segment_sources[j])[column];
            unsigned int word[4] = {loaded.x, loaded.y, loaded.z, loaded.w};
            unsigned int coefficient[ROW_TILE];
#pragma unroll
            for (int t = 0; t < ROW_TILE; ++t) {
                coefficient[t] = first_row + t < rows ? matrix[(first_row + t) * k + j] : 0u;
            }
#pragma unroll
            for (int bit = 0; bit < 8; ++bit) {
#pragma unroll
                for (int t = 0; t < ROW_TILE; ++t) {
                    const unsigned int mask = 0u - ((coefficient[t] >> bit) & 1u);
#pragma unroll
                    for (int q = 0; q < 4; ++q) {
                        accumulator[t][q] ^= word[q] & mask;
                    }
                }
#pragma unroll
                for (int q = 0; q < 4; ++q) {
                    word[q] = xtime4(word[q]);
                }
            }
        }
        for (int t = 0; t < ROW_TILE && first_row + t < rows; ++t) {
            uint4 result;
            result.x = accumulator[t][0];
            result.y = accumulator[t][1];
            result.z = accumulator[t][2];
            result.w = accumulator[t][3];
            reinterpret_cast<uint4*>(segment_targets[first_row + t])[column] = result;
        }
    }
}
