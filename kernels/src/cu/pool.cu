// 2-D pooling over [planes, H, W] (planes = N * C). The windows of each output row and
// column are given as [start, end) pairs computed on the host, the same for fixed windows
// (stride, padding: the padding is never a candidate) and for adaptive ones
// (floor(o H / oh) .. ceil((o + 1) H / oh)), so one kernel serves both. The output sizes
// come as Divisors, so an element's coordinates cost two multiply-highs, not divisions.

// Output element t of [planes, oh, ow] as its plane, row and column.
struct PlanePos {
    unsigned long long plane;
    unsigned int oy, ox;
};

__device__ __forceinline__ PlanePos plane_pos(unsigned long long t, Divisor oh, Divisor ow) {
    unsigned long long row = divide(t, ow), plane = divide(row, oh);
    return {plane, (unsigned int)(row - plane * oh.d), (unsigned int)(t - row * ow.d)};
}

// Maximum of each window and its position y * W + x in the plane: scanned in row-major
// order, a greater value or any NaN takes over, so ties keep the first pixel and a NaN
// window reports its last NaN (PyTorch's rule, and the CPU path's).
extern "C" __global__ void max_pool_f32(unsigned int planes, unsigned int h, unsigned int w,
                                        Divisor oh, Divisor ow, const int *row_win,
                                        const int *col_win, const float *x, float *y, long long *idx) {
    GRID_STRIDE(t, (unsigned long long)planes * oh.d * ow.d) {
        PlanePos o = plane_pos(t, oh, ow);
        unsigned int oy = o.oy, ox = o.ox;
        const float *p = x + o.plane * h * w;
        float best = -F32_INF;
        long long at = (long long)row_win[2 * oy] * w + col_win[2 * ox];
        for (int r = row_win[2 * oy]; r < row_win[2 * oy + 1]; ++r)
            for (int c = col_win[2 * ox]; c < col_win[2 * ox + 1]; ++c) {
                float v = p[r * w + c];
                if (v > best || v != v) { best = v; at = (long long)r * w + c; }
            }
        y[t] = best;
        if (idx) idx[t] = at;
    }
}

// Each output gradient added to the pixel its window selected. Overlapping windows (3x3,
// stride 2) can select the same pixel, hence the atomics. An index outside its plane is
// skipped and reported as in embedding.cu (`bad` holds ~first position).
extern "C" __global__ void max_pool_backward_f32(unsigned long long n_out, Divisor out_plane,
                                                 unsigned int in_plane, const float *dy,
                                                 const long long *idx, float *dx,
                                                 unsigned long long *bad) {
    GRID_STRIDE(t, n_out) {
        long long at = idx[t];
        if (at < 0 || at >= (long long)in_plane) {
            atomicMax(bad, ~t);
        } else {
            atomicAdd(dx + divide(t, out_plane) * in_plane + at, dy[t]);
        }
    }
}

// Mean of each window: divided by `area` when it is positive (fixed windows count their
// padding, PyTorch's count_include_pad), by the window's own pixel count otherwise (adaptive).
__device__ __forceinline__ float window_divisor(float area, const int *row_win, const int *col_win,
                                                unsigned int oy, unsigned int ox) {
    return area > 0.0f ? area
        : (float)((row_win[2 * oy + 1] - row_win[2 * oy]) * (col_win[2 * ox + 1] - col_win[2 * ox]));
}

extern "C" __global__ void avg_pool_f32(unsigned int planes, unsigned int h, unsigned int w,
                                        Divisor oh, Divisor ow, const int *row_win,
                                        const int *col_win, float area, const float *x, float *y) {
    GRID_STRIDE(t, (unsigned long long)planes * oh.d * ow.d) {
        PlanePos o = plane_pos(t, oh, ow);
        unsigned int oy = o.oy, ox = o.ox;
        const float *p = x + o.plane * h * w;
        double acc = 0.0;
        for (int r = row_win[2 * oy]; r < row_win[2 * oy + 1]; ++r)
            for (int c = col_win[2 * ox]; c < col_win[2 * ox + 1]; ++c) acc += p[r * w + c];
        y[t] = (float)(acc / window_divisor(area, row_win, col_win, oy, ox));
    }
}

extern "C" __global__ void avg_pool_backward_f32(unsigned int planes, unsigned int h, unsigned int w,
                                                 Divisor oh, Divisor ow, const int *row_win,
                                                 const int *col_win, float area, const float *dy, float *dx) {
    GRID_STRIDE(t, (unsigned long long)planes * oh.d * ow.d) {
        PlanePos o = plane_pos(t, oh, ow);
        unsigned int oy = o.oy, ox = o.ox;
        float *p = dx + o.plane * h * w;
        float g = dy[t] / window_divisor(area, row_win, col_win, oy, ox);
        for (int r = row_win[2 * oy]; r < row_win[2 * oy + 1]; ++r)
            for (int c = col_win[2 * ox]; c < col_win[2 * ox + 1]; ++c) atomicAdd(p + r * w + c, g);
    }
}

// Padding of [planes, H, W] to [planes, oh, ow] through separable maps: output row oy copies
// input row rows[oy] (or is zero where it is -1), likewise for columns; zeros, reflection
// and replication are only different maps (computed on the host, as the CPU path does).
// The input position output element t copies, or -1 where it is zero.
__device__ __forceinline__ long long pad_source(unsigned long long t, unsigned int h, unsigned int w,
                                                Divisor oh, Divisor ow, const int *rows,
                                                const int *cols) {
    PlanePos o = plane_pos(t, oh, ow);
    int r = rows[o.oy], c = cols[o.ox];
    return (r < 0 || c < 0) ? -1 : (long long)((o.plane * h + r) * w + c);
}

extern "C" __global__ void pad_f32(unsigned int planes, unsigned int h, unsigned int w,
                                   Divisor oh, Divisor ow, const int *rows,
                                   const int *cols, const float *x, float *y) {
    GRID_STRIDE(t, (unsigned long long)planes * oh.d * ow.d) {
        long long at = pad_source(t, h, w, oh, ow, rows, cols);
        y[t] = at < 0 ? 0.0f : x[at];
    }
}

// The adjoint: each output gradient added onto the input pixel it copied (reflected and
// replicated edges receive several, hence the atomics).
extern "C" __global__ void pad_backward_f32(unsigned int planes, unsigned int h, unsigned int w,
                                            Divisor oh, Divisor ow, const int *rows,
                                            const int *cols, const float *dy, float *dx) {
    GRID_STRIDE(t, (unsigned long long)planes * oh.d * ow.d) {
        long long at = pad_source(t, h, w, oh, ow, rows, cols);
        if (at >= 0) atomicAdd(dx + at, dy[t]);
    }
}
