//! A convolution as the matrix it is (the lesson's "a convolution is just a matrix multiply",
//! after Matthew Kleinsmith's picture of a 3x3 image and a 2x2 kernel): for a fixed input
//! size, `conv2d(x, w)` is `M x` with `M` of shape `[C_out * H_out * W_out, C * H * W]`,
//! flattening both images row-major. Row `(o, y, x)` of `M` holds the kernel `w[o]` laid over
//! the input window of output pixel `(y, x)` and zeros elsewhere: a sparse matrix whose
//! non-zero entries are the same few weights again and again ("weight tying"). Built for
//! showing and testing; the fast path never builds it.
use super::conv::expect_rank;
use crate::conv_geometry::{Conv2dParams, Geometry};
use crate::{DType, Result, Tensor};

impl Tensor {
    /// The weight-tied matrix of the convolution with kernel `self` (`[C_out, C, kh, kw]`,
    /// f32) over `[C, H, W]` images of `input_hw = [H, W]` with stride and padding `p`:
    /// `[C_out * H_out * W_out, C * H * W]`, so that `conv2d(x)` flattened equals `M` times `x`
    /// flattened. The padding contributes nothing (zeros), so it has no columns. Built on the
    /// host (`cpu/conv_matrix.rs`); a kernel on a GPU is refused.
    pub fn conv2d_matrix(&self, input_hw: [usize; 2], p: Conv2dParams) -> Result<Tensor> {
        const OP: &str = "conv2d_matrix";
        expect_rank(OP, "a weight [C_out, C, kH, kW]", self, 4)?;
        let s = self.shape();
        let (co, c, kh, kw) = (s[0], s[1], s[2], s[3]);
        let g = Geometry::new(OP, c, input_hw[0], input_hw[1], kh, kw, p)?;
        let w = self.to_dtype(DType::F32)?;
        let storage = w.storage().conv2d_matrix(w.layout(), &g)?;
        Ok(Tensor::from_storage(
            storage,
            &[co * g.pixels(), c * g.h * g.w],
        ))
    }
}
