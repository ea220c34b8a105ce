// Inverted dropout in one kernel: each thread draws one Philox block (four words) and
// writes four outputs, y = x * (kept ? scale : 0), kept = (word >> 8) < threshold. No mask is
// stored: it is a pure function of (seed, offset, i), the same function as the CPU path's
// (tensor/src/ops/dropout.rs), so the backward is this kernel on the gradient, and the GPU
// drops exactly the elements the CPU drops. x is read through its layout: element i of its
// row-major order takes word i, wherever it lies, so a block of columns of a wider tensor
// (a narrowed view of a concatenation's gradient) is read in place; a dense x goes four at
// a time.
extern "C" __global__ void dropout_f32(unsigned long long n, StridedLayout lx, const float *x_data,
                                       float *y, unsigned int seed_lo, unsigned int seed_hi,
                                       unsigned int offset_lo, unsigned int offset_hi,
                                       unsigned int threshold, float scale) {
    uint2 key = make_uint2(seed_lo, seed_hi);
    const float *x = x_data + lx.offset;  // the dense case's start
    GRID_STRIDE(b, (n + 3) / 4) {
        uint4 w = philox4x32_10(make_uint4((unsigned int)b, (unsigned int)(b >> 32), offset_lo, offset_hi), key);
        unsigned long long i = 4 * b;
        if (lx.contiguous && i + 3 < n && ((unsigned long long)(x + i) & 15) == 0 && ((unsigned long long)(y + i) & 15) == 0) {
            float4 v = *(const float4 *)(x + i);
            v.x *= (w.x >> 8) < threshold ? scale : 0.0f;
            v.y *= (w.y >> 8) < threshold ? scale : 0.0f;
            v.z *= (w.z >> 8) < threshold ? scale : 0.0f;
            v.w *= (w.w >> 8) < threshold ? scale : 0.0f;
            *(float4 *)(y + i) = v;
        } else {
            unsigned int words[4] = {w.x, w.y, w.z, w.w};
            for (int j = 0; j < 4 && i + j < n; ++j)
                y[i + j] = x_data[strided_offset(lx, i + j)] * ((words[j] >> 8) < threshold ? scale : 0.0f);
        }
    }
}
