//! Copies and dtype conversions of host storage.
use super::{layout_data, CpuStorage, Element};
use crate::{DType, Layout};
use half::{bf16, f16};
use std::borrow::Cow;

/// A row-major copy of the elements `l` selects, in the same dtype.
pub(crate) fn contiguous(s: &CpuStorage, l: &Layout) -> CpuStorage {
    fn copied<T: Element>(v: &[T], l: &Layout) -> CpuStorage {
        T::into_storage(layout_data(v, l).into_owned())
    }
    match s {
        CpuStorage::F32(v) => copied(v, l),
        CpuStorage::F64(v) => copied(v, l),
        CpuStorage::F16(v) => copied(v, l),
        CpuStorage::BF16(v) => copied(v, l),
        CpuStorage::I64(v) => copied(v, l),
    }
}

/// The elements `l` selects converted to `dtype` (f16 and bf16 round to nearest even; floats
/// to i64 truncate toward zero, as PyTorch's `.long()`). A conversion from or to f64 goes
/// through f64, which holds every f32, f16 and bf16 value (and i64 up to 2^53) exactly:
/// f32 -> f64 -> f32 gives back the same bits. Others go through f32.
pub(crate) fn to_dtype(s: &CpuStorage, l: &Layout, dtype: DType) -> CpuStorage {
    if dtype == DType::F64 || s.dtype() == DType::F64 {
        let f64s: Cow<'_, [f64]> = match s {
            CpuStorage::F64(v) => layout_data(v, l),
            CpuStorage::F32(v) => map(v, l, f64::from),
            CpuStorage::F16(v) => map(v, l, f16::to_f64),
            CpuStorage::BF16(v) => map(v, l, bf16::to_f64),
            CpuStorage::I64(v) => map(v, l, |i| i as f64),
        };
        return match dtype {
            DType::F64 => CpuStorage::F64(f64s.into_owned()),
            DType::F32 => CpuStorage::F32(f64s.iter().map(|&x| x as f32).collect()),
            // Through f32, as PyTorch (its Half and BFloat16 are built from a float): a value
            // just above a midpoint can round to the midpoint first, then to even.
            DType::F16 => CpuStorage::F16(f64s.iter().map(|&x| f16::from_f32(x as f32)).collect()),
            DType::BF16 => {
                CpuStorage::BF16(f64s.iter().map(|&x| bf16::from_f32(x as f32)).collect())
            }
            DType::I64 => CpuStorage::I64(f64s.iter().map(|&x| x as i64).collect()),
        };
    }
    let f32s: Cow<'_, [f32]> = match s {
        CpuStorage::F32(v) => layout_data(v, l),
        CpuStorage::F16(v) => map(v, l, f16::to_f32),
        CpuStorage::BF16(v) => map(v, l, bf16::to_f32),
        CpuStorage::I64(v) => map(v, l, |i| i as f32),
        CpuStorage::F64(v) => map(v, l, |x| x as f32),
    };
    match dtype {
        DType::F32 => CpuStorage::F32(f32s.into_owned()),
        DType::F16 => CpuStorage::F16(f32s.iter().map(|&x| f16::from_f32(x)).collect()),
        DType::BF16 => CpuStorage::BF16(f32s.iter().map(|&x| bf16::from_f32(x)).collect()),
        DType::I64 => CpuStorage::I64(f32s.iter().map(|&x| x as i64).collect()),
        DType::F64 => CpuStorage::F64(f32s.iter().map(|&x| f64::from(x)).collect()),
    }
}

/// `f` of each element `l` selects, in row-major order.
fn map<A: Element, B>(v: &[A], l: &Layout, f: impl Fn(A) -> B) -> Cow<'static, [B]>
where
    [B]: ToOwned<Owned = Vec<B>>,
{
    Cow::Owned(layout_data(v, l).iter().map(|&x| f(x)).collect())
}
