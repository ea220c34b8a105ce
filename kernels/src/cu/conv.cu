// Convolution as im2col + GEMM (the GEMM is cuBLAS's), and col2im for the input gradient.
//
// cols[n, (c, ki, kj), (oy, ox)] = x[n, c, oy*sh - ph + ki, ox*sw - pw + kj], 0 outside the
// image: each output pixel's receptive field becomes a column, so that a convolution is one
// matrix product W[C_out, C*kh*kw] x cols[n]. col2im is im2col's adjoint, written in gather
// form: each thread owns one input pixel and adds up the column entries that read it, so no
// two threads write the same address and no atomics are needed (the sum's order is fixed).

struct ConvGeometry {
    unsigned int c, h, w;       // input channels, height, width
    unsigned int kh, kw;        // kernel
    unsigned int sh, sw;        // stride
    unsigned int ph, pw;        // zero padding
    unsigned int oh, ow;        // output height, width
};

// Index arithmetic: a GPU has no integer divider, and a 64-bit division or remainder costs
// it dozens of instructions, more than an element's memory traffic. So each thread owns one
// (image, channel, pixel) and handles all kh*kw taps of it, splitting its number once, in
// 32 bits (the launcher checks the count fits); the taps' offsets are then additions.

// Writes the kh*kw column entries of output pixel (oy, ox) read from one input plane: the
// entry of tap (ki, kj) goes `tap_stride` elements after the previous tap's, 0 in the padding.
__device__ __forceinline__ void im2col_taps(const ConvGeometry &g, const float *plane,
                                            unsigned int oy, unsigned int ox, float *out,
                                            unsigned long long tap_stride) {
    int y0 = (int)(oy * g.sh) - (int)g.ph, x0 = (int)(ox * g.sw) - (int)g.pw;
    for (unsigned int ki = 0; ki < g.kh; ++ki) {
        int iy = y0 + (int)ki;
        bool row_inside = iy >= 0 && iy < (int)g.h;
        for (unsigned int kj = 0; kj < g.kw; ++kj) {
            int ix = x0 + (int)kj;
            bool inside = row_inside && ix >= 0 && ix < (int)g.w;
            *out = inside ? plane[(unsigned long long)iy * g.w + ix] : 0.0f;
            out += tap_stride;
        }
    }
}

// One column matrix per image: cols[n, row, p]. Thread t = (n * C + c) * pixels + p writes
// rows (c, 0, 0) .. (c, kh-1, kw-1) of pixel p; neighbouring threads write neighbouring
// pixels, so every store of a warp is one run.
extern "C" __global__ void im2col_f32(unsigned int images, ConvGeometry g, const float *x, float *cols) {
    unsigned int pixels = g.oh * g.ow, taps = g.kh * g.kw;
    GRID_STRIDE(i, (unsigned long long)images * g.c * pixels) {
        unsigned int t = (unsigned int)i, nc = t / pixels, p = t - nc * pixels;
        unsigned int oy = p / g.ow, ox = p - oy * g.ow;
        const float *plane = x + (unsigned long long)nc * g.h * g.w;
        // Row (c, 0, 0) of image n is row n * C * taps + c * taps = nc * taps of all.
        im2col_taps(g, plane, oy, ox, cols + (unsigned long long)nc * taps * pixels + p, pixels);
    }
}

// The images' column matrices side by side, one matrix cols[row, n, p] of C*kh*kw rows and
// images*pixels columns: the weight gradient is then one product over the whole batch,
// dW = dY[co, n*p] cols^T, instead of one small product per image. Threads as in im2col_f32.
extern "C" __global__ void im2col_wide_f32(unsigned int images, ConvGeometry g, const float *x, float *cols) {
    unsigned int pixels = g.oh * g.ow, taps = g.kh * g.kw;
    unsigned long long row_len = (unsigned long long)images * pixels;
    GRID_STRIDE(i, (unsigned long long)images * g.c * pixels) {
        unsigned int t = (unsigned int)i, nc = t / pixels, p = t - nc * pixels;
        unsigned int n = nc / g.c, c = nc - n * g.c;
        unsigned int oy = p / g.ow, ox = p - oy * g.ow;
        const float *plane = x + (unsigned long long)nc * g.h * g.w;
        float *out = cols + (unsigned long long)c * taps * row_len + (unsigned long long)n * pixels + p;
        im2col_taps(g, plane, oy, ox, out, row_len);
    }
}

// The output positions o (0 <= o < out) whose window starts at o * stride - pad and covers
// input position i, as the inclusive range [lo, hi]; empty when lo > hi.
__device__ __forceinline__ void covering(unsigned int i, unsigned int pad, unsigned int k,
                                         unsigned int stride, unsigned int out, int &lo, int &hi) {
    int from = (int)(i + pad) - (int)k + 1;  // o * stride >= from
    lo = from <= 0 ? 0 : (from + (int)stride - 1) / (int)stride;
    hi = (int)((i + pad) / stride);
    if (hi > (int)out - 1) hi = (int)out - 1;
}

// Thread t = ((n * C + c) * H + iy) * W + ix sums the column entries that read input pixel
// (iy, ix) of channel c: the output pixels whose windows cover it, found by two divisions per
// axis instead of a test per tap. Taps are added in increasing (ki, kj), as im2col lists them.
extern "C" __global__ void col2im_f32(unsigned int images, ConvGeometry g, const float *cols, float *x) {
    unsigned int pixels = g.oh * g.ow, taps = g.kh * g.kw;
    GRID_STRIDE(i, (unsigned long long)images * g.c * g.h * g.w) {
        unsigned int t = (unsigned int)i, r = t / g.w, ix = t - r * g.w;
        unsigned int nc = r / g.h, iy = r - nc * g.h;
        const float *col = cols + (unsigned long long)nc * taps * pixels;
        int oy_lo, oy_hi, ox_lo, ox_hi;
        covering(iy, g.ph, g.kh, g.sh, g.oh, oy_lo, oy_hi);
        covering(ix, g.pw, g.kw, g.sw, g.ow, ox_lo, ox_hi);
        float acc = 0.0f;
        // Decreasing output position is increasing tap: ki = iy + ph - oy * sh.
        for (int oy = oy_hi; oy >= oy_lo; --oy) {
            unsigned int ki = iy + g.ph - oy * g.sh;
            for (int ox = ox_hi; ox >= ox_lo; --ox) {
                unsigned int kj = ix + g.pw - ox * g.sw;
                acc += col[(unsigned long long)(ki * g.kw + kj) * pixels + oy * g.ow + ox];
            }
        }
        x[t] = acc;
    }
}

// Adds a bias per output channel to [N, C, pixels] in place.
extern "C" __global__ void add_channel_bias_f32(unsigned long long n, Divisor c, Divisor pixels,
                                                const float *bias, float *y) {
    GRID_STRIDE(i, n) {
        unsigned long long plane = divide(i, pixels);
        y[i] += bias[plane - divide(plane, c) * c.d];
    }
}
