//! A convolution as the matrix it is (the lesson's "a convolution is just a matrix multiply",
//! after Matthew Kleinsmith's picture of a 3x3 image and a 2x2 kernel): for a fixed input
//! size, `conv2d(x, w)` is `M x` with `M` of shape `[C_out * H_out * W_out, C * H * W]`,
//! flattening both images row-major. Row `(o, y, x)` of `M` holds the kernel `w[o]` laid over
//! the input window of output pixel `(y, x)` and zeros elsewhere: a sparse matrix whose
//! non-zero entries are the same few weights again and again ("weight tying"). Built for
//! showing and testing; the fast path never builds it.
use super::conv::expect_rank;
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
        let [h, w] = input_hw;
        let (ho, wo) = (p.out_size(OP, 0, h, kh)?, p.out_size(OP, 1, w, kw)?);
        let wv = self
            .to_dtype(DType::F32)?
            .contiguous_data::<f32>(OP)?
            .into_owned();
        let cols = c * h * w;
        let mut m = vec![0f32; co * ho * wo * cols];
        for o in 0..co {
            for oy in 0..ho {
                for ox in 0..wo {
                    let row = &mut m[((o * ho + oy) * wo + ox) * cols..][..cols];
                    for ch in 0..c {
                        for i in 0..kh {
                            for j in 0..kw {
                                let iy = (oy * p.stride[0] + i).checked_sub(p.padding[0]);
                                let ix = (ox * p.stride[1] + j).checked_sub(p.padding[1]);
                                if let (Some(iy), Some(ix)) = (iy, ix) {
                                    if iy < h && ix < w {
                                        row[(ch * h + iy) * w + ix] =
                                            wv[((o * c + ch) * kh + i) * kw + j];
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        Tensor::from_vec(m, &[co * ho * wo, cols])
    }
}
