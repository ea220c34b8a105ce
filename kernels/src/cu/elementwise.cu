// Element-wise kernels over strided views: copies (what `contiguous()` and `to_dtype` need),
// binary ops with broadcasting (an operand broadcast along a dimension has stride 0 there,
// exactly as on the CPU, so nothing is materialised), comparisons, `where`, and unary maps.

// y viewed through `dst` = x viewed through `src`, element i of the row-major order of both:
// `contiguous()` (dst dense) and `cat` (dst a slab of the output) alike.
#define COPY(NAME, T) \
extern "C" __global__ void NAME(unsigned long long n, StridedLayout src, StridedLayout dst, \
                                const T *x, T *y) { \
    GRID_STRIDE(i, n) y[strided_offset(dst, i)] = x[strided_offset(src, i)]; \
}
COPY(copy_strided_f32, float)
COPY(copy_strided_i64, long long)

// cat: up to CAT_GROUP inputs a launch (a concatenation of 23 inputs takes two), each
// [outer, len[j], inner] read through its own layout, into its block [at[j], at[j] + len[j])
// along the concatenated dimension of the dense [outer, total, inner] output.
#define CAT_GROUP 16
struct CatGroup {
    unsigned int count;
    unsigned long long inner, total;
    unsigned long long start[CAT_GROUP + 1];
    unsigned long long at[CAT_GROUP], len[CAT_GROUP];
    unsigned long long x[CAT_GROUP];  // the inputs' buffers (device addresses)
    StridedLayout src[CAT_GROUP];
};
#define CAT(NAME, T) \
extern "C" __global__ void NAME(CatGroup g, T *y) { \
    GRID_STRIDE(e, g.start[g.count]) { \
        unsigned int j = group_member(g.start, g.count, e); \
        unsigned long long t = e - g.start[j], block = g.len[j] * g.inner; \
        unsigned long long o = t / block, r = t % block; \
        y[(o * g.total + g.at[j]) * g.inner + r] = ((const T *)g.x[j])[strided_offset(g.src[j], t)]; \
    } \
}
CAT(cat_f32, float)
CAT(cat_i64, long long)

extern "C" __global__ void fill_f32(unsigned long long n, float value, float *y) {
    GRID_STRIDE(i, n) y[i] = value;
}

extern "C" __global__ void i64_to_f32(unsigned long long n, const long long *x, float *y) {
    GRID_STRIDE(i, n) y[i] = (float)x[i];
}

// f32 -> i64 truncates toward zero, as PyTorch's `.long()` and Rust's `as`; NaN gives 0 and
// out-of-range values saturate, as Rust's `as` does (C's cast would be undefined there).
extern "C" __global__ void f32_to_i64(unsigned long long n, const float *x, long long *y) {
    GRID_STRIDE(i, n) {
        float v = x[i];
        y[i] = v != v ? 0 : v >= 9.2233720368547758e18f ? 0x7fffffffffffffffLL
             : v <= -9.2233720368547758e18f ? (long long)0x8000000000000000ULL : (long long)v;
    }
}

// The dense case of the maps below, four elements a thread: with every buffer 16 bytes
// aligned, one float4 load per operand and one float4 store, as the dropout kernel does. A
// thread's next load waits on its last through the loop, so about one load is in flight a
// thread; at 4 bytes that carries a third to a half of an H100's DRAM bandwidth, at 16 all
// of it (relu, its gradient and a residual sum are such maps over whole activations).
// The launchers size the grid for n / 4 threads; unaligned buffers take the
// scalar loop, which the grid-stride covers all the same. f is the same per element either
// way, so the result is too.
__device__ __forceinline__ bool aligned16(const float *a, const float *b, const float *c) {
    return ((((unsigned long long)a | (unsigned long long)b | (unsigned long long)c) & 15) == 0);
}

template <typename F>
__device__ void dense_map2(unsigned long long n, const float *a, const float *b, float *out, F f) {
    if (aligned16(a, b, out)) {
        GRID_STRIDE(v, n / 4) {
            float4 x = ((const float4 *)a)[v], y = ((const float4 *)b)[v];
            ((float4 *)out)[v] = float4{f(x.x, y.x), f(x.y, y.y), f(x.z, y.z), f(x.w, y.w)};
        }
        GRID_STRIDE(t, n % 4) {
            unsigned long long i = n / 4 * 4 + t;
            out[i] = f(a[i], b[i]);
        }
    } else {
        GRID_STRIDE(i, n) out[i] = f(a[i], b[i]);
    }
}

// out = f(a, b): on dense operands four at a time, else each through its layout.
#define BINARY(NAME, EXPR) \
extern "C" __global__ void NAME(unsigned long long n, StridedLayout la, StridedLayout lb, \
                                const float *a_data, const float *b_data, float *out) { \
    auto f = [](float a, float b) { return (EXPR); }; \
    if (la.contiguous && lb.contiguous) { \
        dense_map2(n, a_data + la.offset, b_data + lb.offset, out, f); \
    } else { \
        GRID_STRIDE(i, n) out[i] = f(a_data[strided_offset(la, i)], b_data[strided_offset(lb, i)]); \
    } \
}
BINARY(add_f32, a + b)
BINARY(sub_f32, a - b)
BINARY(mul_f32, a * b)
BINARY(div_f32, a / b)
BINARY(pow_f32, powf(a, b))
BINARY(maximum_f32, (a != a || b != b) ? F32_NAN : fmaxf(a, b))
BINARY(minimum_f32, (a != a || b != b) ? F32_NAN : fminf(a, b))
BINARY(relu_backward_f32, b > 0.0f ? a : 0.0f)
BINARY(eq_f32, a == b ? 1.0f : 0.0f)
BINARY(ne_f32, a != b ? 1.0f : 0.0f)
BINARY(lt_f32, a < b ? 1.0f : 0.0f)
BINARY(le_f32, a <= b ? 1.0f : 0.0f)
BINARY(gt_f32, a > b ? 1.0f : 0.0f)
BINARY(ge_f32, a >= b ? 1.0f : 0.0f)

// where(cond, on_true, on_false), every operand already broadcast to the output's shape.
extern "C" __global__ void where_f32(unsigned long long n, StridedLayout lc, StridedLayout lt,
                                     StridedLayout lf, const float *c, const float *t,
                                     const float *f, float *out) {
    GRID_STRIDE(i, n) {
        out[i] = c[strided_offset(lc, i)] != 0.0f ? t[strided_offset(lt, i)] : f[strided_offset(lf, i)];
    }
}

// Unary maps on contiguous data; `p` and `q` are the op's scalars where it has any. The
// second operand of `dense_map2` is x again (its load is the same address, read once).
#define UNARY(NAME, EXPR) \
extern "C" __global__ void NAME(unsigned long long n, const float *x_data, float *y, float p, float q) { \
    dense_map2(n, x_data, x_data, y, [=](float x, float) { return (EXPR); }); \
}
UNARY(exp_f32, expf(x))
UNARY(log_f32, logf(x))
// e^x / (1 + e^x) for x < 0, so that a large negative x gives a tiny number, not 0/0.
UNARY(sigmoid_f32, x >= 0.0f ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x)))
UNARY(tanh_f32, tanhf(x))
UNARY(relu_f32, (x > 0.0f || x != x) ? x : 0.0f)
UNARY(sqrt_f32, sqrtf(x))
UNARY(neg_f32, -x)
UNARY(abs_f32, fabsf(x))
UNARY(sqr_f32, x * x)
UNARY(recip_f32, 1.0f / x)
UNARY(powf_f32, powf(x, p))
UNARY(affine_f32, x * p + q)
UNARY(add_scalar_f32, x + p)
UNARY(mul_scalar_f32, x * p)
UNARY(clamp_f32, x != x ? x : fminf(fmaxf(x, p), q))
