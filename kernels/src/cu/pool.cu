// 2-D pooling over [planes, H, W] (planes = N * C). A pooling's geometry is computed on the
// host and uploaded as one array of ints, `geo`: the [start, end) window of each output row
// (2 oh ints) and of each output column (2 ow), the same for fixed windows (stride, padding:
// the padding is never a candidate) and for adaptive ones (floor(o H / oh) .. ceil((o + 1) H
// / oh)), so one kernel serves both; then, for the backward passes, the [first, end) output
// rows whose windows hold each input row (2 H) and likewise for columns (2 W). Every window
// is non-empty and the windows' starts and ends never decrease (checked on the host), which
// makes those covering outputs a contiguous range. The sizes come as Divisors, so a
// position's plane, row and column cost two multiply-highs, not divisions.

// The sizes of a pooling (`PlaneSizes` in the launchers, field for field).
struct PlaneSizes {
    unsigned int planes;
    Divisor h, w, oh, ow;
};

// The parts of `geo`.
struct PoolGeometry {
    const int *rows, *cols, *row_cover, *col_cover;
};

__device__ __forceinline__ PoolGeometry pool_geometry(const PlaneSizes &s, const int *geo) {
    const int *cols = geo + 2 * s.oh.d, *row_cover = cols + 2 * s.ow.d;
    return {geo, cols, row_cover, row_cover + 2 * s.h.d};
}

// Element t of [planes, h, w] as its plane, row and column.
struct PlanePos {
    unsigned long long plane;
    unsigned int y, x;
};

__device__ __forceinline__ PlanePos plane_pos(unsigned long long t, Divisor h, Divisor w) {
    unsigned long long row = divide(t, w), plane = divide(row, h);
    return {plane, (unsigned int)(row - plane * h.d), (unsigned int)(t - row * w.d)};
}

// Maximum of each window and its position y * W + x in the plane: scanned in row-major
// order, a greater value or any NaN takes over, so ties keep the first pixel and a NaN
// window reports its last NaN (PyTorch's rule, and the CPU path's).
extern "C" __global__ void max_pool_f32(PlaneSizes s, const int *geo, const float *x, float *y,
                                        long long *idx) {
    PoolGeometry g = pool_geometry(s, geo);
    GRID_STRIDE(t, (unsigned long long)s.planes * s.oh.d * s.ow.d) {
        PlanePos o = plane_pos(t, s.oh, s.ow);
        const int *rw = g.rows + 2 * o.y, *cw = g.cols + 2 * o.x;
        const float *p = x + o.plane * s.h.d * s.w.d;
        float best = -F32_INF;
        long long at = (long long)rw[0] * s.w.d + cw[0];
        for (int r = rw[0]; r < rw[1]; ++r)
            for (int c = cw[0]; c < cw[1]; ++c) {
                float v = p[r * s.w.d + c];
                if (v > best || v != v) { best = v; at = (long long)r * s.w.d + c; }
            }
        y[t] = best;
        if (idx) idx[t] = at;
    }
}

// Whether the plane position `at` lies in the window of rows rw[0]..rw[1], columns cw[0]..cw[1].
__device__ __forceinline__ bool in_window(long long at, Divisor w, const int *rw, const int *cw) {
    if (at < 0) return false;
    unsigned long long r = divide((unsigned long long)at, w), c = (unsigned long long)at - r * w.d;
    return r >= (unsigned)rw[0] && r < (unsigned)rw[1] &&
           c >= (unsigned)cw[0] && c < (unsigned)cw[1];
}

// The gradient of max pooling, gathered: each input pixel sums the gradients of the outputs
// whose windows hold it and chose it, in row-major output order. That is the order in which
// the CPU path adds them, so the two agree bit for bit, and with no atomics every run gives
// the same sums (with overlapping windows, such as 3x3 with stride 2, a scatter with
// atomics adds in whatever order the threads run). Each output's index is also checked, once, by the thread of its
// window's first pixel: an index outside its window would otherwise be lost without a word,
// so it is reported as in embedding.cu (`bad` holds ~first output).
extern "C" __global__ void max_pool_backward_f32(PlaneSizes s, const int *geo, const float *dy,
                                                 const long long *idx, float *dx,
                                                 unsigned long long *bad) {
    PoolGeometry g = pool_geometry(s, geo);
    GRID_STRIDE(t, (unsigned long long)s.planes * s.h.d * s.w.d) {
        PlanePos i = plane_pos(t, s.h, s.w);
        long long here = (long long)i.y * s.w.d + i.x;
        unsigned long long out = i.plane * s.oh.d * s.ow.d;
        float acc = 0.0f;
        for (int oy = g.row_cover[2 * i.y]; oy < g.row_cover[2 * i.y + 1]; ++oy)
            for (int ox = g.col_cover[2 * i.x]; ox < g.col_cover[2 * i.x + 1]; ++ox) {
                unsigned long long o = out + (unsigned long long)oy * s.ow.d + ox;
                const int *rw = g.rows + 2 * oy, *cw = g.cols + 2 * ox;
                long long at = idx[o];
                if (at == here) acc += dy[o];
                if (i.y == (unsigned)rw[0] && i.x == (unsigned)cw[0] && !in_window(at, s.w, rw, cw))
                    atomicMax(bad, ~o);
            }
        dx[t] = acc;
    }
}

// Mean of each window: divided by `area` when it is positive (fixed windows count their
// padding, PyTorch's count_include_pad), by the window's own pixel count otherwise (adaptive).
__device__ __forceinline__ float window_divisor(float area, const int *rw, const int *cw) {
    return area > 0.0f ? area : (float)((rw[1] - rw[0]) * (cw[1] - cw[0]));
}

extern "C" __global__ void avg_pool_f32(PlaneSizes s, const int *geo, float area, const float *x,
                                        float *y) {
    PoolGeometry g = pool_geometry(s, geo);
    GRID_STRIDE(t, (unsigned long long)s.planes * s.oh.d * s.ow.d) {
        PlanePos o = plane_pos(t, s.oh, s.ow);
        const int *rw = g.rows + 2 * o.y, *cw = g.cols + 2 * o.x;
        const float *p = x + o.plane * s.h.d * s.w.d;
        double acc = 0.0;
        for (int r = rw[0]; r < rw[1]; ++r)
            for (int c = cw[0]; c < cw[1]; ++c) acc += p[r * s.w.d + c];
        y[t] = (float)(acc / window_divisor(area, rw, cw));
    }
}

// Its gradient, gathered as max pooling's: each input pixel sums its windows' gradients, each
// divided by its window's divisor, in row-major output order (the CPU path's order: the same
// bits, every run).
extern "C" __global__ void avg_pool_backward_f32(PlaneSizes s, const int *geo, float area,
                                                 const float *dy, float *dx) {
    PoolGeometry g = pool_geometry(s, geo);
    GRID_STRIDE(t, (unsigned long long)s.planes * s.h.d * s.w.d) {
        PlanePos i = plane_pos(t, s.h, s.w);
        unsigned long long out = i.plane * s.oh.d * s.ow.d;
        float acc = 0.0f;
        for (int oy = g.row_cover[2 * i.y]; oy < g.row_cover[2 * i.y + 1]; ++oy)
            for (int ox = g.col_cover[2 * i.x]; ox < g.col_cover[2 * i.x + 1]; ++ox)
                acc += dy[out + (unsigned long long)oy * s.ow.d + ox] /
                       window_divisor(area, g.rows + 2 * oy, g.cols + 2 * ox);
        dx[t] = acc;
    }
}

// Padding of [planes, H, W] to [planes, oh, ow] through separable maps, `geo` = oh ints then
// ow ints: output row oy copies input row geo[oy] (or is zero where it is -1), likewise for
// columns; zeros, reflection and replication are only different maps (computed on the host,
// as the CPU path does). The input position output element t copies, or -1 where it is zero.
__device__ __forceinline__ long long pad_source(unsigned long long t, const PlaneSizes &s,
                                                const int *geo) {
    PlanePos o = plane_pos(t, s.oh, s.ow);
    int r = geo[o.y], c = geo[s.oh.d + o.x];
    return (r < 0 || c < 0) ? -1 : (long long)((o.plane * s.h.d + r) * s.w.d + c);
}

extern "C" __global__ void pad_f32(PlaneSizes s, const int *geo, const float *x, float *y) {
    GRID_STRIDE(t, (unsigned long long)s.planes * s.oh.d * s.ow.d) {
        long long at = pad_source(t, s, geo);
        y[t] = at < 0 ? 0.0f : x[at];
    }
}

// The adjoint: each output gradient added onto the input pixel it copied (reflected and
// replicated edges receive several, hence the atomics).
extern "C" __global__ void pad_backward_f32(PlaneSizes s, const int *geo, const float *dy,
                                            float *dx) {
    GRID_STRIDE(t, (unsigned long long)s.planes * s.oh.d * s.ow.d) {
        long long at = pad_source(t, s, geo);
        if (at >= 0) atomicAdd(dx + at, dy[t]);
    }
}
