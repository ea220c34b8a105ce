//! Principal component analysis with the tensor crate's own ops, to look at activations in
//! two dimensions (the lesson's platform.ai projects a model's activations of a folder of
//! images this way). For `n` rows of `d` values: centre the columns, form the covariance
//! `C = Xc^T Xc / (n - 1)` (`d x d`), and find its leading eigenvectors by power iteration
//! (`v <- C v / |C v|`), removing each one found from `C` (`C <- C - lambda v v^T`) before
//! the next. The rows' coordinates are `Xc V`. Computed in f64.
use crate::{Error, Result};
use tensor::random::Philox;
use tensor::{DType, Tensor};

/// Power iterations per component: the error of an eigenvector shrinks by the ratio of the
/// next eigenvalue to its own each step.
const ITERATIONS: usize = 300;

/// A projection onto the leading principal components.
#[derive(Debug, Clone)]
pub struct Pca {
    /// `[n, k]`: each row's coordinates along the components (f32).
    pub coords: Tensor,
    /// `[k, d]`: the components, unit vectors, each with its largest entry positive (f64).
    pub components: Tensor,
    /// The variance along each component (its eigenvalue), largest first.
    pub variance: Vec<f64>,
    /// The total variance of the rows (the covariance's trace).
    pub total_variance: f64,
}

/// The `k` leading principal components of the rows of `x` (`[n, d]`, `n >= 2`, `k <= d`).
pub fn pca(x: &Tensor, k: usize) -> Result<Pca> {
    let (n, d) = match *x.shape() {
        [n, d] if n >= 2 && (1..=d).contains(&k) => (n, d),
        _ => {
            return Err(Error::Invalid(format!(
                "PCA needs rows [n, d] with n >= 2 and 1 <= k <= d components, got {:?} and \
                 k = {k}",
                x.shape()
            )))
        }
    };
    let x = x.to_dtype(DType::F64)?;
    let xc = x.sub(&x.mean(&[0], true)?)?;
    let mut cov = xc.t()?.matmul(&xc)?.div(&scalar((n - 1) as f64)?)?;
    // The covariance's trace: the sum of the squared deviations over n - 1.
    let total_variance = xc.sqr()?.sum_all()?.to_vec::<f64>()?[0] / (n - 1) as f64;
    let start = Philox::new(0, 7)
        .uniform(&[d, 1], -1.0, 1.0)?
        .to_dtype(DType::F64)?;
    let mut components = Vec::with_capacity(k);
    let mut variance = Vec::with_capacity(k);
    for _ in 0..k {
        let mut v = unit(&start)?;
        for _ in 0..ITERATIONS {
            let cv = cov.matmul(&v)?;
            if norm(&cv)? == 0.0 {
                break;
            }
            v = unit(&cv)?;
        }
        // The sign with the largest entry positive, so that the picture does not flip.
        let values = v.to_vec::<f64>()?;
        let largest = values
            .iter()
            .copied()
            .fold(0.0, |m: f64, x| if x.abs() > m.abs() { x } else { m });
        if largest < 0.0 {
            v = v.neg()?;
        }
        let lambda = v.t()?.matmul(&cov.matmul(&v)?)?.to_vec::<f64>()?[0];
        cov = cov.sub(&v.matmul(&v.t()?)?.mul(&scalar(lambda)?)?)?;
        components.push(v);
        variance.push(lambda);
    }
    let refs: Vec<&Tensor> = components.iter().collect();
    let v = Tensor::cat(&refs, 1)?;
    Ok(Pca {
        coords: xc.matmul(&v)?.to_dtype(DType::F32)?,
        components: v.t()?.contiguous()?,
        variance,
        total_variance,
    })
}

/// The Euclidean length of a column vector.
fn norm(v: &Tensor) -> tensor::Result<f64> {
    Ok(v.sqr()?.sum_all()?.to_vec::<f64>()?[0].sqrt())
}

/// `v / |v|`.
fn unit(v: &Tensor) -> tensor::Result<Tensor> {
    v.div(&scalar(norm(v)?)?)
}

/// A 0-d f64 tensor (f32 scalars would round the f64 arithmetic).
fn scalar(v: f64) -> tensor::Result<Tensor> {
    Tensor::from_vec(vec![v], &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows `a_i u1 + b_i u2 + c` in 4-D, with orthonormal `u1`, `u2`, a constant offset
    /// `c`, and `a`, `b` of zero mean and exactly zero covariance with variances 9 n/(n-1)
    /// and n/(n-1): the components are u1 and u2 (up to sign) with those variances, and the
    /// coordinates are `a` and `b`.
    #[test]
    fn finds_the_two_directions_of_a_plane() {
        let s = 0.5f64;
        let u1 = [s, s, s, s];
        let u2 = [s, -s, s, -s];
        let c = [10.0, -3.0, 2.0, 7.0];
        let n = 8;
        let a: Vec<f64> = (0..n)
            .map(|i| if i % 2 == 0 { 3.0 } else { -3.0 })
            .collect();
        let b: Vec<f64> = (0..n)
            .map(|i| if i / 2 % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let (a_ref, b_ref) = (&a, &b);
        let rows: Vec<f32> = (0..n)
            .flat_map(|i| (0..4).map(move |j| (a_ref[i] * u1[j] + b_ref[i] * u2[j] + c[j]) as f32))
            .collect();
        let x = Tensor::from_vec(rows, &[n, 4]).unwrap();
        let p = pca(&x, 2).unwrap();
        let scale = n as f64 / (n - 1) as f64;
        assert!(
            (p.variance[0] - 9.0 * scale).abs() < 1e-9,
            "{:?}",
            p.variance
        );
        assert!((p.variance[1] - scale).abs() < 1e-9, "{:?}", p.variance);
        assert!((p.total_variance - 10.0 * scale).abs() < 1e-9);
        let comps = p.components.to_vec::<f64>().unwrap();
        for (row, u) in comps.chunks(4).zip([u1, u2]) {
            let dot: f64 = row.iter().zip(u).map(|(r, u)| r * u).sum();
            assert!((dot.abs() - 1.0).abs() < 1e-9, "{row:?} against {u:?}");
        }
        // The coordinates are a and b, signed as the components are.
        let coords = p.coords.to_vec::<f32>().unwrap();
        let sign =
            |row: &[f64], u: [f64; 4]| row.iter().zip(u).map(|(r, u)| r * u).sum::<f64>().signum();
        let (s1, s2) = (sign(&comps[..4], u1), sign(&comps[4..], u2));
        for i in 0..n {
            assert!((coords[2 * i] as f64 - s1 * a[i]).abs() < 1e-5, "row {i}");
            assert!(
                (coords[2 * i + 1] as f64 - s2 * b[i]).abs() < 1e-5,
                "row {i}"
            );
        }
    }

    #[test]
    fn refuses_what_it_cannot_project() {
        let x = Tensor::zeros(&[1, 3]);
        assert!(pca(&x, 2).is_err());
        let x = Tensor::zeros(&[4, 3]);
        assert!(pca(&x, 4).is_err() && pca(&x, 0).is_err());
        // All rows equal: no variance in any direction, coordinates 0, no NaN.
        let p = pca(&Tensor::ones(&[4, 3]), 2).unwrap();
        assert!(p.coords.to_vec::<f32>().unwrap().iter().all(|v| *v == 0.0));
    }
}
