//! Gradient checking: compare the tape's analytic gradients with central finite
//! differences, both in f64, on any op or composite function.
//!
//! For `y = f(x_1, ..., x_k)` and a fixed random `r` of y's shape, the scalar `L = <y, r>`
//! has `dL/dx` = backward with seed `r`, and numerically
//! `dL/dx_j ≈ (L(x + ε e_j) - L(x - ε e_j)) / 2ε`. In f64 with ε = 1e-6 the truncation error
//! is O(ε²) and the rounding error about 1e-16 / ε, so a correct rule agrees to about 1e-8
//! and the default tolerances (1e-6 absolute + 1e-5 relative) are tight. (In f32 the
//! rounding error alone would be about 1e-7 / ε: finite differences need f64.)
use crate::{Error, Result, Tape, Var, VarId};
use tensor::random::Philox;
use tensor::{DType, Tensor};

/// Step and tolerances of [`gradcheck_with`].
#[derive(Debug, Clone, Copy)]
pub struct GradcheckOptions {
    pub eps: f64,
    pub atol: f64,
    pub rtol: f64,
    /// Seed of the random projection `r`.
    pub seed: u64,
}

impl Default for GradcheckOptions {
    fn default() -> Self {
        GradcheckOptions {
            eps: 1e-6,
            atol: 1e-6,
            rtol: 1e-5,
            seed: 0,
        }
    }
}

/// Checks the gradients of `f` at `inputs` with the default options. `f` must be a pure
/// function of its vars (the same inputs give the same output); inputs are converted to
/// f64. An error names the input, the element, and both gradients.
pub fn gradcheck(f: impl Fn(&[Var]) -> Result<Var>, inputs: &[Tensor]) -> Result<()> {
    gradcheck_with(f, inputs, GradcheckOptions::default())
}

/// [`gradcheck`] with explicit step, tolerances and seed.
pub fn gradcheck_with(
    f: impl Fn(&[Var]) -> Result<Var>,
    inputs: &[Tensor],
    opts: GradcheckOptions,
) -> Result<()> {
    let xs = inputs
        .iter()
        .map(|t| t.to_dtype(DType::F64))
        .collect::<tensor::Result<Vec<_>>>()?;
    // Analytic: one backward with seed r.
    let tape = Tape::new();
    let ids: Vec<VarId> = xs.iter().map(|_| VarId::new()).collect();
    let vars: Vec<Var> = xs
        .iter()
        .zip(&ids)
        .map(|(x, &id)| tape.leaf(x.clone(), id))
        .collect();
    let y = f(&vars)?;
    let r = Philox::new(opts.seed, 0x6772_6164)
        .uniform(y.shape(), -1.0, 1.0)?
        .to_dtype(DType::F64)?;
    let grads = y.backward_with(&r)?;
    let r = r.to_vec::<f64>()?;
    // L(x) = <f(x), r>, evaluated without a tape.
    let loss = |xs: &[Tensor]| -> Result<f64> {
        let vars: Vec<Var> = xs.iter().cloned().map(Var::constant).collect();
        let y = f(&vars)?.tensor().to_vec::<f64>()?;
        Ok(y.iter().zip(&r).map(|(a, b)| a * b).sum())
    };
    for (i, x) in xs.iter().enumerate() {
        let analytic = match grads.get(ids[i]) {
            Some(g) => g.to_dtype(DType::F64)?.to_vec::<f64>()?,
            None => vec![0.0; x.elem_count()],
        };
        let base = x.to_vec::<f64>()?;
        let mut probe = xs.clone();
        for (j, &a) in analytic.iter().enumerate() {
            let mut shifted = |delta: f64| -> Result<f64> {
                let mut v = base.clone();
                v[j] += delta;
                probe[i] = Tensor::from_vec(v, x.shape())?;
                loss(&probe)
            };
            let numeric = (shifted(opts.eps)? - shifted(-opts.eps)?) / (2.0 * opts.eps);
            // Written so that a NaN on either side fails the check.
            let within = (a - numeric).abs() <= opts.atol + opts.rtol * numeric.abs();
            if !within {
                return Err(Error::Gradcheck {
                    input: i,
                    shape: x.shape().to_vec(),
                    element: j,
                    analytic: a,
                    numeric,
                });
            }
        }
    }
    Ok(())
}
