// Fused optimiser steps: one pass over a parameter, its gradient and its state, the same
// arithmetic as nn/src/optim.rs (fastai's decoupled weight decay, then the update).

// AdamW: p <- p (1 - lr wd); m <- b1 m + (1 - b1) g; v <- b2 v + (1 - b2) g^2;
// p <- p - step_size m / (sqrt(v) + eps), step_size = lr sqrt(1 - b2^t) / (1 - b1^t).
//
// One launch updates a group of up to ADAM_GROUP parameters, as PyTorch's multi_tensor_apply
// does for its foreach optimisers: for a parameter of a few hundred numbers (a small
// embedding table) a launch of its own costs more than the update.
#define ADAM_GROUP 24
struct AdamGroup {
    unsigned int count;
    unsigned long long start[ADAM_GROUP + 1];
    float *p[ADAM_GROUP];
    const float *g[ADAM_GROUP];
    float *m[ADAM_GROUP];
    float *v[ADAM_GROUP];
    float decay[ADAM_GROUP], b1[ADAM_GROUP], b2[ADAM_GROUP], step_size[ADAM_GROUP], eps[ADAM_GROUP];
};

extern "C" __global__ void adamw_f32(AdamGroup t) {
    GRID_STRIDE(e, t.start[t.count]) {
        unsigned int j = group_member(t.start, t.count, e);
        unsigned long long i = e - t.start[j];
        float b1 = t.b1[j], b2 = t.b2[j], gi = t.g[j][i];
        float mi = b1 * t.m[j][i] + (1.0f - b1) * gi;
        float vi = b2 * t.v[j][i] + (1.0f - b2) * gi * gi;
        t.m[j][i] = mi;
        t.v[j][i] = vi;
        t.p[j][i] = t.p[j][i] * t.decay[j] - t.step_size[j] * mi / (sqrtf(vi) + t.eps[j]);
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
