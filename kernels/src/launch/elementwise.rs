//! Launchers of `elementwise.cu`: strided copies, broadcast binary ops, comparisons, `where`,
//! unary maps and dtype conversions.
use super::{cfg_elems, fits, StridedLayout};
use crate::sources::ELEMENTWISE;
use crate::{Error, Gpu, Result};
use cudarc::driver::{CudaSlice, CudaView, DeviceRepr, PushKernelArg, ValidAsZeroBits};

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
}
impl CopyElem for f32 {
    const COPY_KERNEL: &'static str = "copy_strided_f32";
}
impl CopyElem for i64 {
    const COPY_KERNEL: &'static str = "copy_strided_i64";
}

fn check_view(what: &str, l: &StridedLayout, len: usize, n: u64) -> Result<()> {
    if l.elem_count() != n {
        return Err(Error::Invalid(format!(
            "{what}: a view of {} elements where {n} are needed",
            l.elem_count()
        )));
    }
    fits(what, len, l.span())
}

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
        unsafe { l.launch(cfg_elems(n)) }?;
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
        // SAFETY: signature matched; x and y hold n elements.
        unsafe { b.launch(cfg_elems(n)) }?;
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
