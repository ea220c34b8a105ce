// Fused optimiser steps: one pass over a parameter, its gradient and its state, the same
// arithmetic as nn/src/optim.rs (fastai's decoupled weight decay, then the update).

// AdamW: p <- p (1 - lr wd); m <- b1 m + (1 - b1) g; v <- b2 v + (1 - b2) g^2;
// p <- p - step_size m / (sqrt(v) + eps), step_size = lr sqrt(1 - b2^t) / (1 - b1^t).
extern "C" __global__ void adamw_f32(unsigned long long n, float *p, const float *g, float *m,
                                     float *v, float decay, float b1, float b2, float step_size,
                                     float eps) {
    GRID_STRIDE(i, n) {
        float gi = g[i];
        float mi = b1 * m[i] + (1.0f - b1) * gi;
        float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] * decay - step_size * mi / (sqrtf(vi) + eps);
    }
}

// SGD with momentum: buf <- first ? g : momentum buf + g; p <- p decay - lr buf.
extern "C" __global__ void sgd_f32(unsigned long long n, float *p, const float *g, float *buf,
                                   float decay, float lr, float momentum, int first) {
    GRID_STRIDE(i, n) {
        float b = first ? g[i] : momentum * buf[i] + g[i];
        buf[i] = b;
        p[i] = p[i] * decay - lr * b;
    }
}
