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

// Column entry (row = (c, ki, kj), pixel p) of image n: the input pixel it reads, or 0 in
// the padding.
__device__ __forceinline__ float im2col_value(const ConvGeometry &g, const float *x,
                                              unsigned long long n, unsigned long long row,
                                              unsigned long long p) {
    unsigned int kj = row % g.kw, ki = (row / g.kw) % g.kh, c = row / (g.kw * g.kh);
    int iy = (int)((p / g.ow) * g.sh + ki) - (int)g.ph;
    int ix = (int)((p % g.ow) * g.sw + kj) - (int)g.pw;
    bool inside = iy >= 0 && iy < (int)g.h && ix >= 0 && ix < (int)g.w;
    return inside ? x[((n * g.c + c) * g.h + iy) * g.w + ix] : 0.0f;
}

// One column matrix per image: cols[n, row, p].
extern "C" __global__ void im2col_f32(unsigned int images, ConvGeometry g, const float *x, float *cols) {
    unsigned long long pixels = (unsigned long long)g.oh * g.ow;
    unsigned long long rows = (unsigned long long)g.c * g.kh * g.kw;
    GRID_STRIDE(t, images * rows * pixels) {
        unsigned long long p = t % pixels, row = (t / pixels) % rows, n = t / (pixels * rows);
        cols[t] = im2col_value(g, x, n, row, p);
    }
}

// The images' column matrices side by side, one matrix cols[row, n, p] of C*kh*kw rows and
// images*pixels columns: the weight gradient is then one product over the whole batch,
// dW = dY[co, n*p] cols^T, instead of one small product per image.
extern "C" __global__ void im2col_wide_f32(unsigned int images, ConvGeometry g, const float *x, float *cols) {
    unsigned long long pixels = (unsigned long long)g.oh * g.ow;
    GRID_STRIDE(t, images * (unsigned long long)g.c * g.kh * g.kw * pixels) {
        unsigned long long p = t % pixels, n = (t / pixels) % images, row = t / (pixels * images);
        cols[t] = im2col_value(g, x, n, row, p);
    }
}

extern "C" __global__ void col2im_f32(unsigned int images, ConvGeometry g, const float *cols, float *x) {
    unsigned long long pixels = (unsigned long long)g.oh * g.ow;
    unsigned long long rows = (unsigned long long)g.c * g.kh * g.kw;
    GRID_STRIDE(t, (unsigned long long)images * g.c * g.h * g.w) {
        unsigned int ix = t % g.w, iy = (t / g.w) % g.h;
        unsigned long long c = (t / ((unsigned long long)g.w * g.h)) % g.c;
        unsigned long long n = t / ((unsigned long long)g.w * g.h * g.c);
        const float *col = cols + n * rows * pixels;
        float acc = 0.0f;
        for (unsigned int ki = 0; ki < g.kh; ++ki) {
            int sy = (int)iy + (int)g.ph - (int)ki;   // oy * sh
            if (sy < 0 || sy % g.sh != 0 || sy / g.sh >= g.oh) continue;
            unsigned int oy = sy / g.sh;
            for (unsigned int kj = 0; kj < g.kw; ++kj) {
                int sx = (int)ix + (int)g.pw - (int)kj;
                if (sx < 0 || sx % g.sw != 0 || sx / g.sw >= g.ow) continue;
                unsigned int ox = sx / g.sw;
                unsigned long long row = (c * g.kh + ki) * g.kw + kj;
                acc += col[row * pixels + (unsigned long long)oy * g.ow + ox];
            }
        }
        x[t] = acc;
    }
}

// Adds a bias per output channel to [N, C, pixels] in place.
extern "C" __global__ void add_channel_bias_f32(unsigned long long n, unsigned int c,
                                                unsigned int pixels, const float *bias, float *y) {
    GRID_STRIDE(i, n) y[i] += bias[(i / pixels) % c];
}
