// Batch norm on [N, C, S] (S = H*W for images, 1 for [N, C] rows), one block per channel.
//
// Forward (training): the channel's sum and sum of squares in one pass (each thread's own
// sums, then the block's: a two-level reduction, in double so that E[x^2] - E[x]^2 loses
// nothing an f32 input can show), then y = (x - mean) * rsqrt(var + eps) * gamma + beta in a
// second pass, and, in the same launch, PyTorch's running-statistics update
// (running = (1 - momentum) running + momentum batch, with the unbiased variance).
//
// Backward: with xhat = (x - mean) / sigma, dbeta = sum dy and dgamma = sum dy xhat (one
// pass), then dx = gamma / sigma (dy - dbeta / m - xhat dgamma / m) (a second pass); the
// saved mean and variance are the forward's, nothing else is kept.

// The per-channel kernels run 1024 threads a block (launch/batch_norm.rs): the bound keeps
// the compiler within 64 registers a thread, or such a launch would be refused.
#define CHANNEL_BLOCK __launch_bounds__(1024)

// The elements of channel ch of [N, C, S] that one thread visits: positions j = threadIdx.x,
// threadIdx.x + blockDim.x, ... below N*S of the channel's own order (j = image * S + q), as
// offsets into the tensor. A GPU has no integer divider (a 64-bit division costs it dozens of
// instructions, more than the element's memory traffic), so the walk divides once, at the
// start: a step of blockDim.x positions is `whole` planes and `dq` more, and the offset moves
// by `jump`, or by one plane of all C channels more when q passes the end of its plane. It
// also counts the image, for an operand whose images lie `skew` elements further apart than
// a dense tensor's (a block of columns of a wider gradient, read in place).
struct ChannelWalk {
    unsigned long long at, j, m, jump, wrap, image;
    unsigned int q, s, dq, whole;
    __device__ ChannelWalk(unsigned int n, unsigned int c, unsigned int ch, unsigned int s_)
        : at(0), j(threadIdx.x), m((unsigned long long)n * s_), jump(0), wrap(0), image(0), q(0),
          s(s_), dq(0), whole(0) {
        if (s == 0) return;  // no elements
        image = j / s;
        q = (unsigned int)(j - image * s);
        at = (image * c + ch) * s + q;
        whole = blockDim.x / s;
        dq = blockDim.x - whole * s;
        jump = (unsigned long long)whole * c * s + dq;
        wrap = ((unsigned long long)c - 1) * s;
    }
    __device__ bool more() const { return j < m; }
    // The offset of the element in an operand whose images are `skew` further apart.
    __device__ unsigned long long skewed(unsigned long long skew) const { return at + image * skew; }
    __device__ void next() {
        j += blockDim.x;
        at += jump;
        image += whole;
        q += dq;
        if (q >= s) {
            q -= s;
            at += wrap;
            image += 1;
        }
    }
};

// A channel's elements four at a time: when every plane starts 16 bytes aligned (S a
// multiple of 4 and the buffers aligned; a view at an odd offset is not), a thread loads a
// float4, one 16-byte access, instead of a float. A thread's loads along a walk wait on each
// other through its registers, so about one is in flight a thread: 4 bytes each is some
// 8 KiB in flight per SM at 2048 threads, which by Little's law (about 600 ns from DRAM)
// carries only a third to a half of an H100's bandwidth; 16 bytes each is enough for all of
// it. The walks then count in float4s, S / 4 a plane, and the arithmetic runs on the four
// lanes in order. Planes whose size is a multiple of 4 (112^2 down to 14^2) pack; 7^2 and
// a 1d batch norm's S = 1 do not.
__device__ __forceinline__ bool packs(unsigned int s, const float *a, const float *b,
                                      const float *c) {
    unsigned long long bits = (unsigned long long)a | (unsigned long long)b | (unsigned long long)c;
    return s % 4 == 0 && (bits & 15) == 0;
}

// f(a, b) for each pair of channel ch's elements of x (its images `skew` further apart than
// dense) and z (dense; may be null: then b is 0).
template <typename F>
__device__ void channel_each(unsigned int n, unsigned int c, unsigned int ch, unsigned int s,
                             bool packed, const float *x, unsigned long long skew,
                             const float *z, F f) {
    if (packed) {
        const float4 *x4 = (const float4 *)x, *z4 = (const float4 *)z;
        for (ChannelWalk e(n, c, ch, s / 4); e.more(); e.next()) {
            float4 a = x4[e.skewed(skew / 4)], b = z ? z4[e.at] : float4{0.0f, 0.0f, 0.0f, 0.0f};
            f(a.x, b.x), f(a.y, b.y), f(a.z, b.z), f(a.w, b.w);
        }
    } else {
        for (ChannelWalk e(n, c, ch, s); e.more(); e.next()) f(x[e.skewed(skew)], z ? z[e.at] : 0.0f);
    }
}

// y = f(a) for each of channel ch's elements a of x.
template <typename F>
__device__ void channel_map(unsigned int n, unsigned int c, unsigned int ch, unsigned int s,
                            bool packed, const float *x, float *y, F f) {
    if (packed) {
        const float4 *x4 = (const float4 *)x;
        float4 *y4 = (float4 *)y;
        for (ChannelWalk e(n, c, ch, s / 4); e.more(); e.next()) {
            float4 a = x4[e.at];
            y4[e.at] = float4{f(a.x), f(a.y), f(a.z), f(a.w)};
        }
    } else {
        for (ChannelWalk e(n, c, ch, s); e.more(); e.next()) y[e.at] = f(x[e.at]);
    }
}

// y = f(a, b) for each pair of channel ch's elements of x and z (its images `skew` further
// apart than dense).
template <typename F>
__device__ void channel_map2(unsigned int n, unsigned int c, unsigned int ch, unsigned int s,
                             bool packed, const float *x, const float *z, unsigned long long skew,
                             float *y, F f) {
    if (packed) {
        const float4 *x4 = (const float4 *)x, *z4 = (const float4 *)z;
        float4 *y4 = (float4 *)y;
        for (ChannelWalk e(n, c, ch, s / 4); e.more(); e.next()) {
            float4 a = x4[e.at], b = z4[e.skewed(skew / 4)];
            y4[e.at] = float4{f(a.x, b.x), f(a.y, b.y), f(a.z, b.z), f(a.w, b.w)};
        }
    } else {
        for (ChannelWalk e(n, c, ch, s); e.more(); e.next()) y[e.at] = f(x[e.at], z[e.skewed(skew)]);
    }
}

extern "C" __global__ void CHANNEL_BLOCK batch_norm_forward_f32(
        unsigned int n, unsigned int c, unsigned int s, const float *x, const float *gamma,
        const float *beta, float eps, float *y, float *mean_out, float *var_out,
        float *running_mean, float *running_var, float momentum) {
    unsigned int ch = blockIdx.x;
    unsigned long long m = (unsigned long long)n * s;
    bool packed = packs(s, x, y, nullptr);
    double sum = 0.0, sq = 0.0;
    channel_each(n, c, ch, s, packed, x, 0, nullptr, [&](double v, double) {
        sum += v;
        sq += v * v;
    });
    sum = block_sum(sum);
    sq = block_sum(sq);
    double mean = sum / m;
    double var = fmax(sq / m - mean * mean, 0.0);
    float k = (float)((double)gamma[ch] / sqrt(var + eps));
    float shift = (float)((double)beta[ch] - mean * k);
    channel_map(n, c, ch, s, packed, x, y, [&](float v) { return v * k + shift; });
    if (threadIdx.x == 0) {
        mean_out[ch] = (float)mean;
        var_out[ch] = (float)var;
        if (running_mean) {
            double unbiased = m > 1 ? var * m / (m - 1) : var;
            running_mean[ch] = (float)((1.0 - momentum) * running_mean[ch] + momentum * mean);
            running_var[ch] = (float)((1.0 - momentum) * running_var[ch] + momentum * unbiased);
        }
    }
}

// dy's images lie dy_image elements apart (c * s when dense; more for a block of columns of
// a wider gradient, which is read in place).
extern "C" __global__ void CHANNEL_BLOCK batch_norm_backward_f32(
        unsigned int n, unsigned int c, unsigned int s, const float *dy,
        unsigned long long dy_image, const float *x, const float *gamma, const float *mean_in,
        const float *var_in, float eps, float *dx, float *dgamma, float *dbeta) {
    unsigned int ch = blockIdx.x;
    unsigned long long m = (unsigned long long)n * s;
    unsigned long long skew = dy_image - (unsigned long long)c * s;
    bool packed = packs(s, dy, x, dx) && skew % 4 == 0;
    double mean = mean_in[ch], sigma = sqrt((double)var_in[ch] + eps);
    double sdy = 0.0, sdyx = 0.0;
    channel_each(n, c, ch, s, packed, dy, skew, x, [&](double g, double v) {
        sdy += g;
        sdyx += g * v;
    });
    sdy = block_sum(sdy);
    sdyx = block_sum(sdyx);
    double dg = (sdyx - mean * sdy) / sigma;
    // dx = a dy + bx x + c0, the CPU path's three per-channel coefficients.
    double k = gamma[ch] / sigma;
    float a = (float)k;
    float bx = (float)(-k * dg / (m * sigma));
    float c0 = (float)(k * (mean * dg / sigma - sdy) / m);
    channel_map2(n, c, ch, s, packed, x, dy, skew, dx,
                 [&](float v, float g) { return (bx * v + c0) + a * g; });
    if (threadIdx.x == 0) {
        dgamma[ch] = (float)dg;
        dbeta[ch] = (float)sdy;
    }
}

// y = x * scale[ch] + shift[ch]: batch norm at inference (running statistics folded in).
extern "C" __global__ void channel_affine_f32(unsigned long long total, Divisor c, Divisor s,
                                              const float *x, const float *scale,
                                              const float *shift, float *y) {
    GRID_STRIDE(i, total) {
        unsigned long long plane = divide(i, s);
        unsigned int ch = (unsigned int)(plane - divide(plane, c) * c.d);
        y[i] = x[i] * scale[ch] + shift[ch];
    }
}

// Batch norm at inference, its constants per channel: scale = w / sqrt(var + eps) and
// shift = b - mean * scale, the CPU's operations in its order (with --fmad=false the product
// is rounded before the subtraction), so the same bits, in one launch where five
// element-wise ops over [C] took five.
extern "C" __global__ void batch_norm_fold_f32(unsigned int c, float eps, const float *w,
                                               const float *b, const float *mean,
                                               const float *var, float *scale, float *shift) {
    GRID_STRIDE(ch, c) {
        float a = w[ch] / sqrtf(var[ch] + eps);
        scale[ch] = a;
        shift[ch] = b[ch] - mean[ch] * a;
    }
}

// Per-channel sum of dy and of dy * x (x may be null): channel_affine's backward.
extern "C" __global__ void CHANNEL_BLOCK channel_sums_f32(unsigned int n, unsigned int c, unsigned int s,
                                            const float *dy, const float *x, float *sum_dy,
                                            float *sum_dyx) {
    unsigned int ch = blockIdx.x;
    double a = 0.0, b = 0.0;
    channel_each(n, c, ch, s, packs(s, dy, x, nullptr), dy, 0, x, [&](double g, double v) {
        a += g;
        b += g * v;
    });
    a = block_sum(a);
    b = block_sum(b);
    if (threadIdx.x == 0) {
        sum_dy[ch] = (float)a;
        if (x) sum_dyx[ch] = (float)b;
    }
}
