// Index selection along one dimension (an embedding lookup is index_select(0, idx) of the
// weight) and its adjoint, index_add (the embedding's weight gradient).
//
// Tensors are viewed as [outer, size, inner] around the indexed dimension. The n_idx indices
// lie `idx_stride` elements apart (a column of a batch of categorical codes is read where it
// is, without a copy). An index outside [0, size) is never read or written: the kernel
// records the smallest position p holding one as ~p (ULLONG_MAX - p, so that the smallest
// position is the largest value) with an atomic maximum in `bad`, which the launcher zeroes on
// the device (no copy from the host) and reads back, turning it into an error naming the
// index, as the CPU path does.

// Element t of [outer, n_idx, inner] as its (o, k, i), by multiply-highs (common.cuh).
struct Around {
    unsigned long long o, k, i;
};

__device__ __forceinline__ Around around(unsigned long long t, Divisor n_idx, Divisor inner) {
    unsigned long long row = divide(t, inner), o = divide(row, n_idx);
    return {o, row - o * n_idx.d, t - row * inner.d};
}

extern "C" __global__ void index_select_f32(unsigned int outer, unsigned int size, Divisor inner,
                                            Divisor n_idx, const float *x, const long long *idx,
                                            unsigned long long idx_stride, float *y,
                                            unsigned long long *bad) {
    GRID_STRIDE(t, (unsigned long long)outer * n_idx.d * inner.d) {
        Around a = around(t, n_idx, inner);
        unsigned long long o = a.o, k = a.k, i = a.i;
        long long row = idx[k * idx_stride];
        if (row < 0 || row >= (long long)size) {
            atomicMax(bad, ~k);
            y[t] = 0.0f;
        } else {
            y[t] = x[(o * size + row) * inner.d + i];
        }
    }
}

// dst[o, idx[k], i] += src[o, k, i] with atomics: any order, so the last bits of a row that
// many positions share may differ from run to run. `src` is read through its layout `ls` (the
// gradient of one embedding is a column block of the concatenation's gradient).
extern "C" __global__ void index_add_atomic_f32(unsigned int outer, unsigned int size, Divisor inner,
                                                Divisor n_idx, const long long *idx,
                                                unsigned long long idx_stride, StridedLayout ls,
                                                const float *src, float *dst, unsigned long long *bad) {
    GRID_STRIDE(t, (unsigned long long)outer * n_idx.d * inner.d) {
        Around a = around(t, n_idx, inner);
        unsigned long long o = a.o, k = a.k, i = a.i;
        long long row = idx[k * idx_stride];
        if (row < 0 || row >= (long long)size) {
            atomicMax(bad, ~k);
        } else {
            atomicAdd(dst + (o * size + row) * inner.d + i, src[strided_offset(ls, t)]);
        }
    }
}

// The deterministic variant (outer = 1): the positions sorted by index (`order`, stable, so
// each segment lists its positions in increasing order) and cut into segments of equal index
// (`seg_start`, n_seg + 1 entries). One block per segment, one thread per column, adding the
// segment's rows in order: the same sum, in the same order, as the CPU's loop.
extern "C" __global__ void index_add_sorted_f32(unsigned int inner, unsigned int n_seg,
                                                const long long *idx, unsigned long long idx_stride,
                                                const unsigned int *order,
                                                const unsigned int *seg_start, StridedLayout ls,
                                                const float *src, float *dst) {
    for (unsigned int seg = blockIdx.x; seg < n_seg; seg += gridDim.x) {
        long long row = idx[order[seg_start[seg]] * idx_stride];
        for (unsigned int i = threadIdx.x; i < inner; i += blockDim.x) {
            float acc = dst[(unsigned long long)row * inner + i];
            for (unsigned int p = seg_start[seg]; p < seg_start[seg + 1]; ++p)
                acc += src[strided_offset(ls, (unsigned long long)order[p] * inner + i)];
            dst[(unsigned long long)row * inner + i] = acc;
        }
    }
}

// torch.gather and torch.scatter_add along `dim`, for an index of any shape no larger than
// the data outside `dim`. Element t of the index (row-major over its shape `li`) reads, or
// adds to, the data element with the same coordinates but index[t] along `dim`. `lx` is the
// data's layout seen over the index's shape (the data's strides and offset), so its offset
// for t is the element at coordinate coord(t, dim) along `dim`, moved to index[t].

// Coordinate along dimension d of element i in the row-major order of l's shape.
__device__ __forceinline__ long long coord_of(const StridedLayout &l, unsigned long long i, int d) {
    for (int k = (int)l.rank - 1; k > d; --k) i = divide(i, l.shape[k]);
    return (long long)(i - divide(i, l.shape[d]) * l.shape[d].d);
}

__device__ __forceinline__ long long moved(const StridedLayout &lx, unsigned long long t, int dim, long long k) {
    return strided_offset(lx, t) + (k - coord_of(lx, t, dim)) * lx.strides[dim];
}

extern "C" __global__ void gather_f32(unsigned long long n, StridedLayout lx, StridedLayout li, int dim,
                                      unsigned int size, const float *x, const long long *idx,
                                      float *y, unsigned long long *bad) {
    GRID_STRIDE(t, n) {
        long long k = idx[strided_offset(li, t)];
        if (k < 0 || k >= (long long)size) {
            atomicMax(bad, ~t);
            y[t] = 0.0f;
        } else {
            y[t] = x[moved(lx, t, dim, k)];
        }
    }
}

// dst (dense, `ld` its layout over the index's shape) += src (read through `ls`) at the moved
// positions, atomically: several index entries may name one element.
extern "C" __global__ void scatter_add_f32(unsigned long long n, StridedLayout ld, StridedLayout li,
                                           StridedLayout ls, int dim, unsigned int size,
                                           const long long *idx, const float *src, float *dst,
                                           unsigned long long *bad) {
    GRID_STRIDE(t, n) {
        long long k = idx[strided_offset(li, t)];
        if (k < 0 || k >= (long long)size) {
            atomicMax(bad, ~t);
        } else {
            atomicAdd(dst + moved(ld, t, dim, k), src[strided_offset(ls, t)]);
        }
    }
}

// Many embedding lookups and their concatenation in one launch: the rows of up to EMB_GROUP
// embedding tables, each picked by its own column of a [n, n_codes] table of codes, laid
// side by side into columns [col0, col0 + width of the group) of y [n, y_width]. Where 23
// lookups and their concatenation took 24 launches, this takes one, and its adjoint one.
#define EMB_GROUP 32
struct EmbeddingGroup {
    unsigned int count;
    unsigned long long start[EMB_GROUP + 1];  // each table's first column in the group's block
    unsigned long long rows[EMB_GROUP];       // each table's row count
    unsigned long long code[EMB_GROUP];       // the column of codes each table reads
    unsigned long long table[EMB_GROUP];      // each table [rows, width], dense (device address)
};

// The codes' layout and where the group's block lies in the output.
struct CodeBlock {
    unsigned long long code_row, code_col;  // strides of the codes between rows and columns
    unsigned long long n_codes;             // columns of codes, to name a bad one's position
    unsigned long long y_width, col0;       // the output's row length and the block's first column
    Divisor width;                          // the block's width (its tables' widths summed)
    unsigned int unused;                    // (so that the struct has no hidden padding)
};

// Output element t of the group's [n, width] block: its row b, its table j, the column c in
// that table, the code, and the code's row-major position in [n, n_codes] (for a report).
struct EmbeddingPos {
    unsigned long long b, j, c, position;
    long long code;
};

__device__ __forceinline__ EmbeddingPos embedding_pos(const EmbeddingGroup &g, const CodeBlock &k,
                                                      const long long *codes, unsigned long long t) {
    unsigned long long b = divide(t, k.width), col = t - b * k.width.d;
    unsigned int j = group_member(g.start, g.count, col);
    return {b, j, col - g.start[j], b * k.n_codes + g.code[j],
            codes[b * k.code_row + g.code[j] * k.code_col]};
}

extern "C" __global__ void embeddings_cat_f32(EmbeddingGroup g, CodeBlock k, unsigned long long n,
                                              const long long *codes, float *y,
                                              unsigned long long *bad) {
    GRID_STRIDE(t, n * k.width.d) {
        EmbeddingPos p = embedding_pos(g, k, codes, t);
        unsigned long long width = g.start[p.j + 1] - g.start[p.j];
        float *out = y + p.b * k.y_width + k.col0 + g.start[p.j] + p.c;
        if (p.code < 0 || (unsigned long long)p.code >= g.rows[p.j]) {
            atomicMax(bad, ~p.position);
            *out = 0.0f;
        } else {
            *out = ((const float *)g.table[p.j])[p.code * width + p.c];
        }
    }
}

// Its adjoint: dy's block added into the tables' gradients (`table` holds them, zeroed by
// the caller) by atomics, as index_add_atomic_f32 does for one table.
extern "C" __global__ void embeddings_cat_backward_f32(EmbeddingGroup g, CodeBlock k,
                                                       unsigned long long n,
                                                       const long long *codes, const float *dy,
                                                       unsigned long long *bad) {
    GRID_STRIDE(t, n * k.width.d) {
        EmbeddingPos p = embedding_pos(g, k, codes, t);
        unsigned long long width = g.start[p.j + 1] - g.start[p.j];
        if (p.code < 0 || (unsigned long long)p.code >= g.rows[p.j]) {
            atomicMax(bad, ~p.position);
        } else {
            atomicAdd((float *)g.table[p.j] + p.code * width + p.c,
                      dy[p.b * k.y_width + k.col0 + g.start[p.j] + p.c]);
        }
    }
}

// Its deterministic form: for each table of the group, the batch's rows sorted by their code
// (stable, so each segment lists its rows in increasing order) and cut into segments of equal
// code. A block per segment (one warp: most tables are narrower than 32 columns) sums the
// segment's rows of dy in that order, the CPU's index_add order from zero, and writes the sum
// into the code's row of the table's gradient (zeroed by the caller: rows no code names stay
// zero). `order` lists each table's n rows, table after table; segment s covers
// order[seg_start[s] .. seg_start[s + 1]) and belongs to table seg_table[s]. Every code was
// checked on the host, which sorted them.
extern "C" __global__ void embeddings_cat_backward_sorted_f32(EmbeddingGroup g, CodeBlock k,
                                                              unsigned int n_seg,
                                                              const unsigned int *order,
                                                              const unsigned int *seg_start,
                                                              const unsigned int *seg_table,
                                                              const long long *codes,
                                                              const float *dy) {
    for (unsigned int s = blockIdx.x; s < n_seg; s += gridDim.x) {
        unsigned int j = seg_table[s], first = seg_start[s], end = seg_start[s + 1];
        unsigned long long width = g.start[j + 1] - g.start[j];
        long long code = codes[order[first] * k.code_row + g.code[j] * k.code_col];
        float *grad = (float *)g.table[j] + code * width;
        const float *column = dy + k.col0 + g.start[j];
        for (unsigned long long c = threadIdx.x; c < width; c += blockDim.x) {
            float acc = 0.0f;
            for (unsigned int p = first; p < end; ++p) acc += column[order[p] * k.y_width + c];
            grad[c] = acc;
        }
    }
}
