// Reductions of a contiguous tensor viewed as [outer, r, inner] over its middle axis, the
// shape every `sum(dims)` / `max(dim)` takes once the reduced dimensions are made adjacent.
// Sums accumulate in double, as the CPU path does, so the two agree to f32 rounding.

// inner == 1 (a row of a matrix, or the whole tensor): one block per output, the block's
// threads stride along the row and meet in `block_sum`.
extern "C" __global__ void sum_rows_f32(unsigned int r, const float *x, float *y, float scale) {
    const float *row = x + (unsigned long long)blockIdx.x * r;
    double acc = 0.0;
    for (unsigned int j = threadIdx.x; j < r; j += blockDim.x) acc += row[j];
    acc = block_sum(acc);
    if (threadIdx.x == 0) y[blockIdx.x] = (float)(acc * scale);
}

// inner > 1: a block per (o, tile of 32 neighbouring columns i), its threads in lanes of 32:
// lane l sums rows l, l + lanes, ... of its column (a lane's threads read neighbouring
// addresses), then each column's partial sums are added in lane order, so the result is the
// same every run. A thread per output walking all r rows left a bias gradient (one row of
// outputs, r = the batch: say 1000 columns over 512 rows) with a few blocks of threads each
// waiting on 512 loads in turn; lanes cut that wait by their number
// and spread the work over as many times more threads.
#define COL_TILE 32
extern "C" __global__ void sum_cols_f32(unsigned int outer, unsigned int r, unsigned int inner,
                                        const float *x, float *y, float scale) {
    __shared__ double partial[1024 / COL_TILE][COL_TILE];
    unsigned int tiles = (inner + COL_TILE - 1) / COL_TILE, lanes = blockDim.x / COL_TILE;
    unsigned int o = blockIdx.x / tiles, c = threadIdx.x % COL_TILE, lane = threadIdx.x / COL_TILE;
    unsigned int i = (blockIdx.x - o * tiles) * COL_TILE + c;
    double acc = 0.0;
    if (i < inner) {
        const float *p = x + (unsigned long long)o * r * inner + i;
        for (unsigned int j = lane; j < r; j += lanes) acc += p[(unsigned long long)j * inner];
    }
    partial[lane][c] = acc;
    __syncthreads();
    if (lane == 0 && i < inner) {
        double sum = 0.0;
        for (unsigned int l = 0; l < lanes; ++l) sum += partial[l][c];
        y[(unsigned long long)o * inner + i] = (float)(sum * scale);
    }
}

// Maximum / minimum and their first index along the middle axis; a NaN wins and propagates,
// as in PyTorch (the first NaN's index, since no later value beats a NaN).
#define EXTREMUM(NAME, BETTER) \
extern "C" __global__ void NAME(unsigned int outer, unsigned int r, unsigned int inner, \
                                const float *x, float *values, long long *indices) { \
    GRID_STRIDE(t, (unsigned long long)outer * inner) { \
        unsigned long long o = t / inner, i = t % inner; \
        const float *p = x + o * r * inner + i; \
        float best = p[0]; \
        long long at = 0; \
        for (unsigned int j = 1; j < r && best == best; ++j) { \
            float v = p[(unsigned long long)j * inner]; \
            if (v != v || (BETTER)) { best = v; at = j; } \
        } \
        if (values) values[t] = best; \
        if (indices) indices[t] = at; \
    } \
}
EXTREMUM(max_mid_f32, v > best)
EXTREMUM(min_mid_f32, v < best)

// Log-softmax and softmax along the last axis of a contiguous [rows, cols] tensor: one block
// per row; the row's maximum is subtracted first so that exp never overflows.
__device__ __forceinline__ float block_max(float v) {
    __shared__ float warp_max[32];
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    __syncthreads();
    if (lane == 0) warp_max[warp] = v;
    __syncthreads();
    v = lane < (int)(blockDim.x / 32) ? warp_max[lane] : -F32_INF;
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

extern "C" __global__ void softmax_rows_f32(unsigned int cols, const float *x, float *y, int take_log) {
    const float *row = x + (unsigned long long)blockIdx.x * cols;
    float *out = y + (unsigned long long)blockIdx.x * cols;
    float m = -F32_INF;
    for (unsigned int j = threadIdx.x; j < cols; j += blockDim.x) m = fmaxf(m, row[j]);
    m = block_max(m);
    double s = 0.0;
    for (unsigned int j = threadIdx.x; j < cols; j += blockDim.x) s += expf(row[j] - m);
    s = block_sum(s);
    if (take_log) {
        float lse = (float)log((double)s);
        for (unsigned int j = threadIdx.x; j < cols; j += blockDim.x) out[j] = row[j] - m - lse;
    } else {
        float inv = (float)(1.0 / s);
        for (unsigned int j = threadIdx.x; j < cols; j += blockDim.x) out[j] = expf(row[j] - m) * inv;
    }
}
