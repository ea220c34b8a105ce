//! Element-wise ops on the host: unary maps, broadcasting binary ops and comparisons, and
//! `where_cond`. Broadcasting never materialises the expanded operand: the front end hands
//! over stride-0 layouts, and the strided loop reads the same element again (a bias `[C]`
//! added to `[N, C]` reads `C` floats, not `N * C`). Each op is one pass into a fresh
//! contiguous output, in parallel for large tensors, monomorphised for f32 and f64.
use super::CpuStorage;
use crate::layout::contiguous_strides;
use crate::strided::fill_rows;
use crate::{Float, Layout, Result};
use kernels::{BinaryOp, UnaryOp};

/// Applies `op` to every element `l` selects.
pub(crate) fn unary(s: &CpuStorage, l: &Layout, op: UnaryOp) -> Result<CpuStorage> {
    const NAME: &str = "unary";
    with_float!(NAME, s.dtype(), T => {
        let x = s.slice::<T>(NAME)?;
        let c = T::from_f32;
        Ok(match op {
            UnaryOp::Exp => map(x, l, T::exp),
            UnaryOp::Log => map(x, l, T::ln),
            UnaryOp::Sigmoid => map(x, l, Float::sigmoid),
            UnaryOp::Tanh => map(x, l, T::tanh),
            UnaryOp::Relu => map(x, l, |x| if x > T::ZERO || x.is_nan() { x } else { T::ZERO }),
            UnaryOp::Sqrt => map(x, l, T::sqrt),
            UnaryOp::Neg => map(x, l, |x| -x),
            UnaryOp::Abs => map(x, l, T::abs),
            UnaryOp::Sqr => map(x, l, |x| x * x),
            UnaryOp::Recip => map(x, l, |x| T::ONE / x),
            UnaryOp::Powf(e) => map(x, l, |x| x.powf(c(e))),
            UnaryOp::Affine(m, a) => map(x, l, |x| x * c(m) + c(a)),
            UnaryOp::AddScalar(v) => map(x, l, |x| x + c(v)),
            UnaryOp::MulScalar(v) => map(x, l, |x| x * c(v)),
            UnaryOp::Clamp(lo, hi) => map(x, l, |x| x.clamp(c(lo), c(hi))),
        })
    })
}

/// `f` of every element `l` selects from `data`, into a contiguous buffer.
fn map<T: Float>(data: &[T], l: &Layout, f: impl Fn(T) -> T + Sync) -> CpuStorage {
    let shape = l.shape();
    let mut out = T::output_buffer(l.elem_count());
    let out_strides = contiguous_strides(shape);
    fill_rows(
        &mut out,
        shape,
        [(&out_strides, 0), (l.strides(), l.offset())],
        |row, [_, o], [_, s]| {
            if s == 1 {
                let n = row.len();
                for (y, &x) in row.iter_mut().zip(&data[o..o + n]) {
                    *y = f(x);
                }
            } else {
                for (i, y) in row.iter_mut().enumerate() {
                    *y = f(data[o + i * s]);
                }
            }
        },
    );
    T::into_storage(out)
}

/// `op` of each pair of elements; `la` and `lb` are already expanded to the output's shape.
/// A comparison gives a mask of 0 and 1 in the operands' dtype.
pub(crate) fn binary(
    a: &CpuStorage,
    la: &Layout,
    b: &CpuStorage,
    lb: &Layout,
    op: BinaryOp,
) -> Result<CpuStorage> {
    const NAME: &str = "binary";
    with_float!(NAME, a.dtype(), T => {
        let (x, y) = (a.slice::<T>(NAME)?, b.slice::<T>(NAME)?);
        let mask = |c: bool| if c { T::ONE } else { T::ZERO };
        let nan_or = |a: T, b: T, f: fn(T, T) -> T| if a.is_nan() || b.is_nan() { T::NAN } else { f(a, b) };
        Ok(match op {
            BinaryOp::Add => zip(x, la, y, lb, |a, b| a + b),
            BinaryOp::Sub => zip(x, la, y, lb, |a, b| a - b),
            BinaryOp::Mul => zip(x, la, y, lb, |a, b| a * b),
            BinaryOp::Div => zip(x, la, y, lb, |a, b| a / b),
            BinaryOp::Pow => zip(x, la, y, lb, T::powf),
            BinaryOp::Maximum => zip(x, la, y, lb, |a, b| nan_or(a, b, T::max)),
            BinaryOp::Minimum => zip(x, la, y, lb, |a, b| nan_or(a, b, T::min)),
            BinaryOp::ReluBackward => zip(x, la, y, lb, |g, y| if y > T::ZERO { g } else { T::ZERO }),
            BinaryOp::Eq => zip(x, la, y, lb, |a, b| mask(a == b)),
            BinaryOp::Ne => zip(x, la, y, lb, |a, b| mask(a != b)),
            BinaryOp::Lt => zip(x, la, y, lb, |a, b| mask(a < b)),
            BinaryOp::Le => zip(x, la, y, lb, |a, b| mask(a <= b)),
            BinaryOp::Gt => zip(x, la, y, lb, |a, b| mask(a > b)),
            BinaryOp::Ge => zip(x, la, y, lb, |a, b| mask(a >= b)),
        })
    })
}

/// `f` of each pair of elements the two layouts (of one shape) select.
fn zip<T: Float>(
    da: &[T],
    la: &Layout,
    db: &[T],
    lb: &Layout,
    f: impl Fn(T, T) -> T + Sync,
) -> CpuStorage {
    let shape = la.shape();
    let mut out = T::output_buffer(la.elem_count());
    let out_strides = contiguous_strides(shape);
    fill_rows(
        &mut out,
        shape,
        [
            (&out_strides, 0),
            (la.strides(), la.offset()),
            (lb.strides(), lb.offset()),
        ],
        |row, [_, oa, ob], [_, sa, sb]| {
            let n = row.len();
            match (sa, sb) {
                (1, 1) => {
                    let (xa, xb) = (&da[oa..oa + n], &db[ob..ob + n]);
                    for ((o, &x), &y) in row.iter_mut().zip(xa).zip(xb) {
                        *o = f(x, y);
                    }
                }
                (1, 0) => {
                    let y = db[ob];
                    for (o, &x) in row.iter_mut().zip(&da[oa..oa + n]) {
                        *o = f(x, y);
                    }
                }
                (0, 1) => {
                    let x = da[oa];
                    for (o, &y) in row.iter_mut().zip(&db[ob..ob + n]) {
                        *o = f(x, y);
                    }
                }
                _ => {
                    for (i, o) in row.iter_mut().enumerate() {
                        *o = f(da[oa + i * sa], db[ob + i * sb]);
                    }
                }
            }
        },
    );
    T::into_storage(out)
}

/// `on_true` where `mask` is non-zero, else `on_false`; the three layouts have one shape.
pub(crate) fn where_cond(
    (mask, lc): (&CpuStorage, &Layout),
    (on_true, lt): (&CpuStorage, &Layout),
    (on_false, lf): (&CpuStorage, &Layout),
) -> Result<CpuStorage> {
    const NAME: &str = "where_cond";
    with_float!(NAME, mask.dtype(), T => Ok(select::<T>(
        (mask.slice(NAME)?, lc),
        (on_true.slice(NAME)?, lt),
        (on_false.slice(NAME)?, lf),
    )))
}

fn select<T: Float>(
    (dc, lc): (&[T], &Layout),
    (dt, lt): (&[T], &Layout),
    (df, lf): (&[T], &Layout),
) -> CpuStorage {
    let shape = lc.shape();
    let mut out = T::output_buffer(lc.elem_count());
    let out_strides = contiguous_strides(shape);
    fill_rows(
        &mut out,
        shape,
        [
            (&out_strides, 0),
            (lc.strides(), lc.offset()),
            (lt.strides(), lt.offset()),
            (lf.strides(), lf.offset()),
        ],
        |row, [_, oc, ot, of], [_, sc, st, sf]| {
            for (i, y) in row.iter_mut().enumerate() {
                *y = if dc[oc + i * sc] != T::ZERO {
                    dt[ot + i * st]
                } else {
                    df[of + i * sf]
                };
            }
        },
    );
    T::into_storage(out)
}
