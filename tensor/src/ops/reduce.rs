//! Reductions along any set of axes, with or without `keepdim`, and softmax along one axis.
//! The backends (`cpu/reduce.rs`, `cuda/reduce.rs`) accumulate in f64 and compute the
//! variance in two passes; here the axes are checked and the result's shape is built.
use crate::layout::check_dim;
use crate::params::Divide;
use crate::{Error, Result, Storage, Tensor};
use kernels::Extremum;

impl Tensor {
    /// Reduces over `dims` with `f` of the storage, after checking the dims (each in range,
    /// none twice, and, when `non_empty`, none of size 0).
    fn reduce(
        &self,
        op: &'static str,
        dims: &[usize],
        keepdim: bool,
        non_empty: bool,
        f: impl FnOnce(&Storage, &[usize]) -> Result<Storage>,
    ) -> Result<Tensor> {
        self.check_float(op)?;
        let mut reduced = vec![false; self.rank()];
        for &d in dims {
            check_dim(op, d, self.shape())?;
            if std::mem::replace(&mut reduced[d], true) {
                return Err(Error::argument(
                    op,
                    "a dimension listed twice",
                    d as f64,
                    "each dimension at most once",
                ));
            }
        }
        if non_empty && dims.iter().any(|&d| self.shape()[d] == 0) {
            return Err(Error::shapes(
                op,
                &[self.shape()],
                "no size 0 in a dimension reduced over",
            ));
        }
        let shape: Vec<usize> = (0..self.rank())
            .filter_map(|d| match (reduced[d], keepdim) {
                (false, _) => Some(self.shape()[d]),
                (true, true) => Some(1),
                (true, false) => None,
            })
            .collect();
        Ok(Tensor::from_storage(f(self.storage(), dims)?, &shape))
    }

    /// Sum over `dims` (no dims: a copy).
    pub fn sum(&self, dims: &[usize], keepdim: bool) -> Result<Tensor> {
        let l = self.layout();
        self.reduce("sum", dims, keepdim, false, |s, dims| {
            s.sum("sum", l, dims, Divide::No)
        })
    }

    /// Mean over `dims`.
    pub fn mean(&self, dims: &[usize], keepdim: bool) -> Result<Tensor> {
        let l = self.layout();
        self.reduce("mean", dims, keepdim, true, |s, dims| {
            s.sum("mean", l, dims, Divide::ByCount)
        })
    }

    /// Variance over `dims`: biased (divide by n, what batch norm normalises with) or
    /// unbiased (divide by n - 1, what batch norm keeps in its running variance). Two passes
    /// (mean, then squared deviations) so that large means do not cancel the digits away.
    pub fn var(&self, dims: &[usize], keepdim: bool, unbiased: bool) -> Result<Tensor> {
        let l = self.layout();
        self.reduce("var", dims, keepdim, true, |s, dims| {
            s.var(l, dims, unbiased)
        })
    }

    /// Sum of all elements, as a 0-d tensor.
    pub fn sum_all(&self) -> Result<Tensor> {
        let dims: Vec<usize> = (0..self.rank()).collect();
        self.sum(&dims, false)
    }

    /// Mean of all elements, as a 0-d tensor.
    pub fn mean_all(&self) -> Result<Tensor> {
        let dims: Vec<usize> = (0..self.rank()).collect();
        self.mean(&dims, false)
    }

    /// Maximum over `dims` (NaN if any element is NaN).
    pub fn max(&self, dims: &[usize], keepdim: bool) -> Result<Tensor> {
        let l = self.layout();
        self.reduce("max", dims, keepdim, true, |s, dims| {
            s.extremum("max", l, dims, Extremum::Max)
        })
    }

    /// Minimum over `dims` (NaN if any element is NaN).
    pub fn min(&self, dims: &[usize], keepdim: bool) -> Result<Tensor> {
        let l = self.layout();
        self.reduce("min", dims, keepdim, true, |s, dims| {
            s.extremum("min", l, dims, Extremum::Min)
        })
    }

    /// Index (i64) of the first maximum along `dim`.
    pub fn argmax(&self, dim: usize, keepdim: bool) -> Result<Tensor> {
        let l = self.layout();
        self.reduce("argmax", &[dim], keepdim, true, |s, _| {
            s.arg_extremum("argmax", l, dim, Extremum::Max)
        })
    }

    /// Index (i64) of the first minimum along `dim`.
    pub fn argmin(&self, dim: usize, keepdim: bool) -> Result<Tensor> {
        let l = self.layout();
        self.reduce("argmin", &[dim], keepdim, true, |s, _| {
            s.arg_extremum("argmin", l, dim, Extremum::Min)
        })
    }

    /// `(x - max) - log(sum(exp(x - max)))` along `dim`, computed the stable way. Cross-entropy
    /// is `-log_softmax(x)[target]`, which is why log-softmax is a primitive here and not
    /// `log(softmax(x))` (that underflows to log(0) for confident predictions).
    pub fn log_softmax(&self, dim: usize) -> Result<Tensor> {
        self.softmax_along("log_softmax", dim, true)
    }

    /// `exp(x - max) / sum(exp(x - max))` along `dim`: the row's maximum is subtracted before
    /// exponentiating, so that e^x never overflows.
    pub fn softmax(&self, dim: usize) -> Result<Tensor> {
        self.softmax_along("softmax", dim, false)
    }

    fn softmax_along(&self, op: &'static str, dim: usize, log: bool) -> Result<Tensor> {
        self.check_float(op)?;
        check_dim(op, dim, self.shape())?;
        let storage = self.storage().softmax(op, self.layout(), dim, log)?;
        Ok(Tensor::from_storage(storage, self.shape()))
    }
}
