// Shared by every kernel source: prepended to each .cu file before NVRTC compiles it
// (NVRTC has no file system, so an #include would need the header handed over by name;
// prepending keeps each source readable on its own).

// n / d for n < 2^32, with the multiplier m and shift s the host computed for d. A GPU has
// no integer divider: a 64-bit division is a routine of dozens of instructions, and an
// element's coordinates take one or two a dimension. With m = floor(2^32 (2^s - d) / d) + 1,
// s = ceil(log2 d), the quotient is (umulhi(n, m) + n) >> s for every n < 2^32 (Granlund &
// Montgomery, "Division by invariant integers using multiplication", PLDI 1994, section 4;
// PyTorch's IntDivider is the same).
__device__ __forceinline__ unsigned int magic_quotient(unsigned int n, unsigned int m, unsigned int s) {
    return (unsigned int)(((unsigned long long)__umulhi(n, m) + n) >> s);
}

// A size known to the host, with its multiplier and shift (`Divisor` in the launchers).
struct Divisor {
    unsigned int d, magic, shift;
};

// n / v.d: a multiply-high below 2^32, the division routine above.
__device__ __forceinline__ unsigned long long divide(unsigned long long n, Divisor v) {
    return n <= 0xffffffffull ? magic_quotient((unsigned int)n, v.magic, v.shift) : n / v.d;
}

// A strided view of up to MAX_DIMS dimensions, the layout of a lesson6 tensor: element i of
// the row-major order lives at offset + sum(index_d * strides[d]). `contiguous` != 0 says the
// view is row-major and dense, so the offset of element i is offset + i. Each size is a
// Divisor, so that an element's coordinates cost multiply-highs.
#define MAX_DIMS 8
struct StridedLayout {
    unsigned int rank;
    unsigned int contiguous;
    Divisor shape[MAX_DIMS];
    long long strides[MAX_DIMS];
    long long offset;
};

__device__ __forceinline__ long long strided_offset(const StridedLayout &l, unsigned long long i) {
    if (l.contiguous) return l.offset + (long long)i;
    long long off = l.offset;
    for (int d = (int)l.rank - 1; d >= 0; --d) {
        unsigned long long q = divide(i, l.shape[d]);
        off += (long long)(i - q * l.shape[d].d) * l.strides[d];
        i = q;
    }
    return off;
}

// One thread per element over the whole grid, however many blocks were launched.
#define GRID_STRIDE(i, n) \
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; \
         i < (unsigned long long)(n); i += (unsigned long long)gridDim.x * blockDim.x)

// The member j of a group launch (several tensors, one launch) that element e belongs to:
// members' elements are numbered one after another, member j's from start[j] to
// start[j + 1] (count + 1 entries), so j is the last with start[j] <= e.
__device__ __forceinline__ unsigned int group_member(const unsigned long long *start, unsigned int count,
                                                     unsigned long long e) {
    unsigned int j = 0, hi = count - 1;
    while (j < hi) {
        unsigned int mid = (j + hi + 1) / 2;
        if (start[mid] <= e) j = mid; else hi = mid - 1;
    }
    return j;
}

#define F32_INF __int_as_float(0x7f800000)
#define F32_NAN __int_as_float(0x7fffffff)

// Philox 4x32-10 (Salmon et al., SC 2011): the same rounds, constants and counter layout as
// tensor/src/random.rs, so that the GPU draws the very numbers the CPU draws. Counter =
// (block lo, block hi, offset lo, offset hi), key = (seed lo, seed hi); element i takes word
// i % 4 of block i / 4.
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

__device__ __forceinline__ uint4 philox4x32_10(uint4 c, uint2 k) {
#pragma unroll
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {
            k.x += PHILOX_W0;
            k.y += PHILOX_W1;
        }
        unsigned int hi0 = __umulhi(PHILOX_M0, c.x), lo0 = PHILOX_M0 * c.x;
        unsigned int hi1 = __umulhi(PHILOX_M1, c.z), lo1 = PHILOX_M1 * c.z;
        c = make_uint4(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    }
    return c;
}

// Sums a double across a block (blockDim.x a multiple of 32, at most 1024): warp shuffles,
// then one value per warp through shared memory. Every thread gets the total.
__device__ __forceinline__ double block_sum(double v) {
    __shared__ double warp_sums[32];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    __syncthreads();
    if (lane == 0) warp_sums[warp] = v;
    __syncthreads();
    int warps = blockDim.x / 32;
    v = lane < warps ? warp_sums[lane] : 0.0;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
