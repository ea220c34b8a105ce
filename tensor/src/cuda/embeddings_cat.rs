//! fastai's tabular input on the GPU: the tables' rows picked by the codes, side by side, in
//! one launch per group of tables, and their gradients, by atomics or, under
//! `set_deterministic`, in the CPU's order. A code out of its table is reported, which costs
//! a copy back to the host and a wait.
use super::index::value_at;
use super::{alloc, kernel_error, zeros, CudaStorage};
use crate::{Error, Layout, Result};
use kernels::Codes;

/// The `[n, t]` codes as the grouped lookup reads them, in place through their strides.
fn codes_of<'a>(op: &'static str, (s, l): (&'a CudaStorage, &Layout)) -> Result<Codes<'a>> {
    let buf = s.i64_buffer(op)?;
    let [n, t] = [l.shape()[0], l.shape()[1]];
    let (row, col) = (l.strides()[0], l.strides()[1]);
    let span = if n * t == 0 {
        0
    } else {
        (n - 1) * row + (t - 1) * col + 1
    };
    if l.offset() + span > buf.len() {
        return Err(Error::Internal {
            op,
            what: "the codes' view lies outside its storage",
        });
    }
    Ok(Codes {
        data: buf.slice(l.offset()..l.offset() + span),
        n,
        count: t,
        row,
        col,
    })
}

/// A kernel's report of a code out of its table as the CPU path words it (the code read
/// back from the GPU, only on this error path).
fn bad_code<'a>(
    op: &'static str,
    (codes, lc): (&'a CudaStorage, &'a Layout),
    sizes: &'a [[usize; 2]],
) -> impl Fn(kernels::Error) -> Error + 'a {
    move |e| match e {
        kernels::Error::IndexOutOfRange { position } => {
            let (row, table) = (
                position as usize / sizes.len(),
                position as usize % sizes.len(),
            );
            match value_at(codes, lc, position) {
                Ok(code) => Error::CodeOutOfRange {
                    op,
                    code,
                    row,
                    table,
                    rows: sizes[table][0],
                },
                Err(e) => e,
            }
        }
        other => kernel_error(op)(other),
    }
}

/// `[n, Σ width_j]`: row `b` is row `codes[b, j]` of each table `j` (`[rows_j, width_j]`,
/// `sizes[j]`) in turn, in one launch per group of tables.
pub(crate) fn embeddings_cat(
    tables: &[(&CudaStorage, &Layout)],
    codes: (&CudaStorage, &Layout),
    sizes: &[[usize; 2]],
) -> Result<CudaStorage> {
    const OP: &str = "embeddings_cat";
    let gpu = codes.0.gpu();
    let width: usize = sizes.iter().map(|s| s[1]).sum();
    let n = codes.1.shape()[0];
    let data = tables
        .iter()
        .map(|&(t, l)| t.f32_rows(OP, l))
        .collect::<Result<Vec<_>>>()?;
    let views: Vec<_> = data.iter().map(|d| d.view()).collect();
    let with_sizes: Vec<_> = views.iter().zip(sizes).map(|(v, &s)| (v, s)).collect();
    let mut y = alloc(OP, gpu, n * width)?;
    gpu.embeddings_cat(&with_sizes, &codes_of(OP, codes)?, &mut y)
        .map_err(bad_code(OP, codes, sizes))?;
    Ok(CudaStorage::f32(gpu, y))
}

/// The tables' gradients from `dy` (`l` in it), one after another in one buffer, cleared by
/// one memset: one atomic launch per group of tables or, under `set_deterministic`, one
/// sorted launch per group (the CPU's order of additions).
pub(crate) fn embeddings_cat_backward(
    dy: &CudaStorage,
    l: &Layout,
    codes: (&CudaStorage, &Layout),
    sizes: &[[usize; 2]],
) -> Result<CudaStorage> {
    const OP: &str = "embeddings_cat_backward";
    let gpu = dy.gpu();
    // dy in place when its rows are dense (a block of columns of a wider gradient is), else
    // a dense copy. (In the tabular model dy comes dense, from emb_drop's backward.)
    let (dys, row) = dy.spaced_rows(OP, l)?;
    let total: usize = sizes.iter().map(|[rows, w]| rows * w).sum();
    let mut grads = zeros(OP, gpu, total)?;
    let (dy_rows, codes_in) = ((&dys.view(), row), codes_of(OP, codes)?);
    if kernels::deterministic() {
        gpu.embeddings_cat_backward_sorted((&mut grads, sizes), &codes_in, dy_rows)
    } else {
        gpu.embeddings_cat_backward((&mut grads, sizes), &codes_in, dy_rows)
    }
    .map_err(bad_code(OP, codes, sizes))?;
    Ok(CudaStorage::f32(gpu, grads))
}
