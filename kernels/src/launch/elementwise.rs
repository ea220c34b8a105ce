//! Launchers of `elementwise.cu`: strided copies, broadcast binary ops, comparisons, `where`,
//! unary maps and dtype conversions.
use super::{cfg_elems, check_view, fits, StridedLayout};
use crate::sources::ELEMENTWISE;
use crate::{Error, Gpu, Result};
use cudarc::driver::{CudaSlice, CudaView, DevicePtr, DeviceRepr, PushKernelArg, ValidAsZeroBits};

/// The element-wise binary ops, each a kernel `NAME_f32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Maximum,
    Minimum,
    ReluBackward,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl BinaryOp {
    fn kernel(self) -> &'static str {
        match self {
            BinaryOp::Add => "add_f32",
            BinaryOp::Sub => "sub_f32",
            BinaryOp::Mul => "mul_f32",
            BinaryOp::Div => "div_f32",
            BinaryOp::Pow => "pow_f32",
            BinaryOp::Maximum => "maximum_f32",
            BinaryOp::Minimum => "minimum_f32",
            BinaryOp::ReluBackward => "relu_backward_f32",
            BinaryOp::Eq => "eq_f32",
            BinaryOp::Ne => "ne_f32",
            BinaryOp::Lt => "lt_f32",
            BinaryOp::Le => "le_f32",
            BinaryOp::Gt => "gt_f32",
            BinaryOp::Ge => "ge_f32",
        }
    }
}

/// The element-wise unary ops; those with scalars carry them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UnaryOp {
    Exp,
    Log,
    Sigmoid,
    Tanh,
    Relu,
    Sqrt,
    Neg,
    Abs,
    Sqr,
    Recip,
    Powf(f32),
    /// `x * mul + add`.
    Affine(f32, f32),
    AddScalar(f32),
    MulScalar(f32),
    Clamp(f32, f32),
}

impl UnaryOp {
    /// The kernel's name and its two scalar arguments.
    fn kernel(self) -> (&'static str, f32, f32) {
        match self {
            UnaryOp::Exp => ("exp_f32", 0.0, 0.0),
            UnaryOp::Log => ("log_f32", 0.0, 0.0),
            UnaryOp::Sigmoid => ("sigmoid_f32", 0.0, 0.0),
            UnaryOp::Tanh => ("tanh_f32", 0.0, 0.0),
            UnaryOp::Relu => ("relu_f32", 0.0, 0.0),
            UnaryOp::Sqrt => ("sqrt_f32", 0.0, 0.0),
            UnaryOp::Neg => ("neg_f32", 0.0, 0.0),
            UnaryOp::Abs => ("abs_f32", 0.0, 0.0),
            UnaryOp::Sqr => ("sqr_f32", 0.0, 0.0),
            UnaryOp::Recip => ("recip_f32", 0.0, 0.0),
            UnaryOp::Powf(e) => ("powf_f32", e, 0.0),
            UnaryOp::Affine(m, a) => ("affine_f32", m, a),
            UnaryOp::AddScalar(v) => ("add_scalar_f32", v, 0.0),
            UnaryOp::MulScalar(v) => ("mul_scalar_f32", v, 0.0),
            UnaryOp::Clamp(lo, hi) => ("clamp_f32", lo, hi),
        }
    }
}

/// An element type the copy kernels move: f32 or i64.
pub trait CopyElem: DeviceRepr + ValidAsZeroBits {
    const COPY_KERNEL: &'static str;
    const CAT_KERNEL: &'static str;
}
impl CopyElem for f32 {
    const COPY_KERNEL: &'static str = "copy_strided_f32";
    const CAT_KERNEL: &'static str = "cat_f32";
}
impl CopyElem for i64 {
    const COPY_KERNEL: &'static str = "copy_strided_i64";
    const CAT_KERNEL: &'static str = "cat_i64";
}

/// Inputs a `cat` launch copies (`CAT_GROUP` in `elementwise.cu`).
pub const CAT_GROUP: usize = 16;

/// `CatGroup` of `elementwise.cu`, field for field.
#[repr(C)]
#[derive(Clone, Copy)]
struct CatGroup {
    count: u32,
    inner: u64,
    total: u64,
    start: [u64; CAT_GROUP + 1],
    at: [u64; CAT_GROUP],
    len: [u64; CAT_GROUP],
    x: [u64; CAT_GROUP],
    src: [StridedLayout; CAT_GROUP],
}

// SAFETY: `repr(C)` plain data with the field order, types and alignment of the C struct
// (device addresses as `u64`; `StridedLayout` is itself the C struct's twin).
unsafe impl DeviceRepr for CatGroup {}

impl Gpu {
    /// `y` viewed through `dst` = `x` viewed through `src`, element by element in row-major
    /// order: `contiguous()` (a dense `dst`) and `cat` (`dst` a slab of the output). `dst`
    /// must not select an element twice (no stride 0), or threads would race on it.
    pub fn copy_strided<T: CopyElem>(
        &self,
        (src, x): (&StridedLayout, &CudaView<'_, T>),
        (dst, y): (&StridedLayout, &mut CudaSlice<T>),
    ) -> Result<()> {
        let n = src.elem_count();
        check_view("copy_strided", src, x.len(), n)?;
        check_view("copy_strided", dst, y.len(), n)?;
        if dst.broadcasts() {
            return Err(Error::Invalid(
                "copy_strided: the destination repeats an element (a stride of 0)".into(),
            ));
        }
        let f = self.function(ELEMENTWISE, T::COPY_KERNEL)?;
        let mut b = self.stream().launch_builder(&f);
        b.arg(&n).arg(src).arg(dst).arg(x).arg(y);
        // SAFETY: the arguments match the kernel's signature; both views lie inside their
        // buffers and the destination names each element once (checked above).
        unsafe { b.launch(cfg_elems(n)) }?;
        Ok(())
    }

    /// torch.cat: `y`, dense `[outer, total, inner]`, holds each input in turn along its
    /// middle dimension; input j is `[outer, len_j, inner]` seen through its own layout
    /// (`len_j` follows from its size), `total` the sum of the `len_j`. [`CAT_GROUP`]
    /// inputs a launch, where one strided copy each would cost a launch per input.
    pub fn cat<T: CopyElem>(
        &self,
        inputs: &[(&StridedLayout, CudaView<'_, T>)],
        [outer, inner]: [usize; 2],
        y: &mut CudaSlice<T>,
    ) -> Result<()> {
        let row = (outer * inner) as u64;
        let mut lens = Vec::with_capacity(inputs.len());
        for (l, x) in inputs {
            let n = l.elem_count();
            if row == 0 || n % row != 0 {
                return Err(Error::Invalid(format!(
                    "cat: an input of shape {:?} is not [{outer}, _, {inner}]",
                    l.shape()
                )));
            }
            fits("cat input", x.len(), l.span())?;
            lens.push(n / row);
        }
        let total: u64 = lens.iter().sum();
        fits("cat output", y.len(), total * row)?;
        let f = self.function(ELEMENTWISE, T::CAT_KERNEL)?;
        let mut at = 0u64;
        for (group, lens) in inputs.chunks(CAT_GROUP).zip(lens.chunks(CAT_GROUP)) {
            let mut g = CatGroup {
                count: group.len() as u32,
                inner: inner as u64,
                total,
                start: [0; CAT_GROUP + 1],
                at: [0; CAT_GROUP],
                len: [0; CAT_GROUP],
                x: [0; CAT_GROUP],
                src: [StridedLayout::default(); CAT_GROUP],
            };
            for (j, ((l, x), &len)) in group.iter().zip(lens).enumerate() {
                g.start[j + 1] = g.start[j] + len * row;
                (g.at[j], g.len[j], g.src[j]) = (at, len, **l);
                // The guard only orders uses across streams (event tracking is off).
                g.x[j] = x.device_ptr(self.stream()).0;
                at += len;
            }
            let n = g.start[group.len()];
            if n == 0 {
                continue;
            }
            let mut b = self.stream().launch_builder(&f);
            b.arg(&g).arg(&mut *y);
            // SAFETY: every input's view lies inside its buffer, which is live and freed only
            // in stream order; the blocks [at, at + len) tile the output, which holds
            // outer x total x inner elements (checked), so each is written once.
            unsafe { b.launch(cfg_elems(n)) }?;
        }
        Ok(())
    }

    /// Every element of `y` set to `value`.
    pub fn fill(&self, y: &mut CudaSlice<f32>, value: f32) -> Result<()> {
        let n = y.len() as u64;
        let f = self.function(ELEMENTWISE, "fill_f32")?;
        let mut b = self.stream().launch_builder(&f);
        b.arg(&n).arg(&value).arg(y);
        // SAFETY: the kernel writes y's own n elements.
        unsafe { b.launch(cfg_elems(n)) }?;
        Ok(())
    }

    /// `out = op(a, b)` element by element, both views already broadcast to out's shape.
    pub fn binary(
        &self,
        op: BinaryOp,
        (la, a): (&StridedLayout, &CudaView<'_, f32>),
        (lb, b): (&StridedLayout, &CudaView<'_, f32>),
        out: &mut CudaSlice<f32>,
    ) -> Result<()> {
        let n = la.elem_count();
        check_view(op.kernel(), la, a.len(), n)?;
        check_view(op.kernel(), lb, b.len(), n)?;
        fits(op.kernel(), out.len(), n)?;
        let f = self.function(ELEMENTWISE, op.kernel())?;
        let mut l = self.stream().launch_builder(&f);
        l.arg(&n).arg(la).arg(lb).arg(a).arg(b).arg(out);
        // SAFETY: signature matched; both views read inside their buffers, out holds n.
        // A quarter of n threads: dense operands go four a thread (`dense_map2`).
        unsafe { l.launch(cfg_elems(n.div_ceil(4))) }?;
        Ok(())
    }

    /// `out = cond != 0 ? on_true : on_false`, all three broadcast to out's shape.
    pub fn where_cond(
        &self,
        (lc, c): (&StridedLayout, &CudaView<'_, f32>),
        (lt, t): (&StridedLayout, &CudaView<'_, f32>),
        (lf, f): (&StridedLayout, &CudaView<'_, f32>),
        out: &mut CudaSlice<f32>,
    ) -> Result<()> {
        let n = lc.elem_count();
        for (l, len) in [(lc, c.len()), (lt, t.len()), (lf, f.len())] {
            check_view("where", l, len, n)?;
        }
        fits("where", out.len(), n)?;
        let func = self.function(ELEMENTWISE, "where_f32")?;
        let mut b = self.stream().launch_builder(&func);
        b.arg(&n)
            .arg(lc)
            .arg(lt)
            .arg(lf)
            .arg(c)
            .arg(t)
            .arg(f)
            .arg(out);
        // SAFETY: signature matched; every view reads inside its buffer, out holds n.
        unsafe { b.launch(cfg_elems(n)) }?;
        Ok(())
    }

    /// `y = op(x)` on contiguous data.
    pub fn unary(&self, op: UnaryOp, x: &CudaView<'_, f32>, y: &mut CudaSlice<f32>) -> Result<()> {
        let (name, p, q) = op.kernel();
        let n = x.len() as u64;
        fits(name, y.len(), n)?;
        let f = self.function(ELEMENTWISE, name)?;
        let mut b = self.stream().launch_builder(&f);
        b.arg(&n).arg(x).arg(y).arg(&p).arg(&q);
        // SAFETY: signature matched; x and y hold n elements. Four a thread, as `binary`.
        unsafe { b.launch(cfg_elems(n.div_ceil(4))) }?;
        Ok(())
    }

    /// i64 to f32, element by element.
    pub fn i64_to_f32(&self, x: &CudaView<'_, i64>, y: &mut CudaSlice<f32>) -> Result<()> {
        let n = x.len() as u64;
        fits("i64_to_f32", y.len(), n)?;
        let f = self.function(ELEMENTWISE, "i64_to_f32")?;
        let mut b = self.stream().launch_builder(&f);
        b.arg(&n).arg(x).arg(y);
        // SAFETY: signature matched; x and y hold n elements.
        unsafe { b.launch(cfg_elems(n)) }?;
        Ok(())
    }

    /// f32 to i64, truncating toward zero (NaN to 0, saturating), as Rust's `as`.
    pub fn f32_to_i64(&self, x: &CudaView<'_, f32>, y: &mut CudaSlice<i64>) -> Result<()> {
        let n = x.len() as u64;
        fits("f32_to_i64", y.len(), n)?;
        let f = self.function(ELEMENTWISE, "f32_to_i64")?;
        let mut b = self.stream().launch_builder(&f);
        b.arg(&n).arg(x).arg(y);
        // SAFETY: signature matched; x and y hold n elements.
        unsafe { b.launch(cfg_elems(n)) }?;
        Ok(())
    }
}
