//! A convolution as the matrix it is (the lesson's "a convolution is just a matrix multiply",
//! after Matthew Kleinsmith's picture of a 3x3 image and a 2x2 kernel): for a fixed input
//! size, `conv2d(x, w)` is `M x` with `M` of shape `[C_out * H_out * W_out, C * H * W]`,
//! flattening both images row-major. Row `(o, y, x)` of `M` holds the kernel `w[o]` laid over
//! the input window of output pixel `(y, x)` and zeros elsewhere: a sparse matrix whose
//! non-zero entries are the same few weights again and again ("weight tying"). Built for
//! showing and testing; the fast path never builds it.
use super::conv::{expect_rank, Geometry};
use crate::{Conv2dParams, DType, Result, Tensor};

impl Tensor {
    /// The weight-tied matrix of the convolution with kernel `self` (`[C_out, C, kh, kw]`,
    /// f32) over `[C, H, W]` images of `input_hw = [H, W]` with stride and padding `p`:
    /// `[C_out * H_out * W_out, C * H * W]`, so that `conv2d(x)` flattened equals `M` times `x`
    /// flattened. The padding contributes nothing (zeros), so it has no columns.
    pub fn conv2d_matrix(&self, input_hw: [usize; 2], p: Conv2dParams) -> Result<Tensor> {
        const OP: &str = "conv2d_matrix";
        expect_rank(OP, "weight", self, 4)?;
        let s = self.shape();
        let (co, c, kh, kw) = (s[0], s[1], s[2], s[3]);
        let g = Geometry::new(OP, c, input_hw[0], input_hw[1], kh, kw, p)?;
        let wv = self
            .to_dtype(DType::F32)?
            .contiguous_data::<f32>(OP)?
            .into_owned();
        let (cols, px) = (c * g.h * g.w, g.pixels());
        let mut m = vec![0f32; co * px * cols];
        // Row (o, pixel q) holds, at each tap (ch, i, j) that lands inside the image, the
        // weight w[o, ch, i, j] in the column of the input pixel it multiplies.
        for (r, row) in m.chunks_exact_mut(cols).enumerate() {
            let (o, q) = (r / px, r % px);
            for (t, &weight) in wv[o * g.k()..(o + 1) * g.k()].iter().enumerate() {
                let (ch, i, j) = (t / (kh * kw), t / kw % kh, t % kw);
                if let (Some(y), Some(x)) = (g.source(0, q / g.wo, i), g.source(1, q % g.wo, j)) {
                    row[(ch * g.h + y) * g.w + x] = weight;
                }
            }
        }
        Tensor::from_vec(m, &[co * px, cols])
    }
}
