//! The weight-tied matrix of a convolution (see `ops/conv_matrix.rs`), built on the host: a
//! demo of "a convolution is just a matrix multiply", which no GPU path needs.
use super::{layout_data, CpuStorage, View};
use crate::conv_geometry::Geometry;
use crate::Result;

/// The matrix `[co * H_out * W_out, C * H * W]` of the convolution with the f32 kernel
/// `weight` `[co, C, kh, kw]` over images of `g`.
pub(crate) fn conv2d_matrix((weight, lw): View, g: &Geometry) -> Result<CpuStorage> {
    const OP: &str = "conv2d_matrix";
    let co = lw.shape()[0];
    let wv = layout_data(weight.slice::<f32>(OP)?, lw);
    let (cols, px) = (g.c * g.h * g.w, g.pixels());
    let mut m = vec![0f32; co * px * cols];
    // Row (o, pixel q) holds, at each tap (ch, i, j) that lands inside the image, the
    // weight w[o, ch, i, j] in the column of the input pixel it multiplies.
    for (r, row) in m.chunks_exact_mut(cols).enumerate() {
        let (o, q) = (r / px, r % px);
        for (t, &weight) in wv[o * g.k()..(o + 1) * g.k()].iter().enumerate() {
            let (ch, i, j) = (t / (g.kh * g.kw), t / g.kw % g.kh, t % g.kw);
            if let (Some(y), Some(x)) = (g.source(0, q / g.wo, i), g.source(1, q % g.wo, j)) {
                row[(ch * g.h + y) * g.w + x] = weight;
            }
        }
    }
    Ok(CpuStorage::F32(m))
}
