//! fastai v1's `TabularModel` (docs/lesson6.md, Tabular model), the Rossmann model of lesson 6:
//! one embedding per categorical column (in `cat_names` order), dropout on the concatenated
//! embeddings, batch norm on the continuous columns, then `[Linear, ReLU, BatchNorm1d,
//! Dropout]` blocks and a final Linear, squeezed into `y_range` by a sigmoid. The state dict
//! uses fastai's names: `embeds.0.weight`, `bn_cont.running_mean`, `layers.0.weight`, ...
use crate::layers::{BatchNorm, Dropout, Embedding, Linear, ReLU, Sequential, SigmoidRange};
use crate::module::{Mode, Module};
use crate::vars::Path;
use autograd::{Error, Result, Var};
use serde::{Deserialize, Serialize};
use std::fmt;

/// fastai's rule of thumb for an embedding's width from the variable's cardinality `n`
/// (levels including `#na#`): `min(600, round(1.6 n^0.56))`, rounding half to even as
/// Python's `round` (fastai 1.0.30 and later).
pub fn emb_sz_rule(n: usize) -> usize {
    (1.6 * (n as f64).powf(0.56)).round_ties_even().min(600.0) as usize
}

/// How to build a `TabularModel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TabularConfig {
    /// (cardinality, embedding width) of each categorical column, in order.
    pub embeddings: Vec<(usize, usize)>,
    pub n_cont: usize,
    pub out: usize,
    /// Hidden layer widths (lesson 6: [1000, 500]).
    pub layers: Vec<usize>,
    /// Dropout after each hidden layer (lesson 6: [0.001, 0.01]).
    pub ps: Vec<f32>,
    /// Dropout on the embeddings (lesson 6: 0.04).
    pub emb_drop: f32,
    /// The output's range (lesson 6: [0, ln(max sales * 1.2)]).
    pub y_range: Option<(f32, f32)>,
}

impl TabularConfig {
    /// Lesson 6's configuration (`tabular_learner(data, layers=[1000,500], ps=[0.001,0.01],
    /// emb_drop=0.04, y_range=y_range)`) for categorical columns with `embeddings`
    /// (cardinality, width) — [`crate::tabular::Procs::emb_szs`] gives them by
    /// [`emb_sz_rule`] with overrides — `n_cont` continuous columns and one output in
    /// `y_range`.
    pub fn lesson6(embeddings: Vec<(usize, usize)>, n_cont: usize, y_range: (f32, f32)) -> Self {
        TabularConfig {
            embeddings,
            n_cont,
            out: 1,
            layers: vec![1000, 500],
            ps: vec![0.001, 0.01],
            emb_drop: 0.04,
            y_range: Some(y_range),
        }
    }
}

pub struct TabularModel {
    pub embeds: Vec<Embedding>,
    pub emb_drop: Dropout,
    pub bn_cont: BatchNorm,
    pub layers: Sequential,
    y_range: Option<SigmoidRange>,
}

impl TabularModel {
    /// The model at `p`, its parameters built in the order of fastai's state dict:
    /// `embeds.*`, `bn_cont.*`, `layers.*`.
    pub fn new(p: Path, cfg: &TabularConfig, seed: u64) -> crate::Result<Self> {
        let embeds = (cfg.embeddings.iter().enumerate())
            .map(|(i, &(n, d))| Embedding::new(p.pp("embeds").pp(i), n, d))
            .collect::<crate::Result<Vec<_>>>()?;
        let bn_cont = BatchNorm::new_1d(p.pp("bn_cont"), cfg.n_cont)?;
        let n_emb: usize = cfg.embeddings.iter().map(|&(_, d)| d).sum();
        // sizes = [n_emb + n_cont, layers..., out]; block i is [BN (not for the first),
        // Dropout (when p > 0), Linear, ReLU (not for the last)] — fastai's `bn_drop_lin`,
        // which puts BN and dropout *before* each linear layer after the first, i.e. after
        // the previous ReLU. Each layer is named by its index in `layers`.
        let mut sizes = vec![n_emb + cfg.n_cont];
        sizes.extend(&cfg.layers);
        sizes.push(cfg.out);
        let at = |layers: &Sequential| p.pp("layers").pp(layers.layers.len());
        let mut layers = Sequential::new();
        for i in 0..sizes.len() - 1 {
            if i > 0 {
                let bn = BatchNorm::new_1d(at(&layers), sizes[i])?;
                layers = layers.push(bn);
                let drop = cfg.ps.get(i - 1).copied().unwrap_or(0.0);
                if drop > 0.0 {
                    layers = layers.push(Dropout::new(drop, seed.wrapping_add(1 + i as u64)));
                }
            }
            let linear = Linear::new(at(&layers), sizes[i], sizes[i + 1], true)?;
            layers = layers.push(linear);
            if i + 2 < sizes.len() {
                layers = layers.push(ReLU);
            }
        }
        Ok(TabularModel {
            embeds,
            emb_drop: Dropout::new(cfg.emb_drop, seed),
            bn_cont,
            layers,
            y_range: cfg.y_range.map(|(lo, hi)| SigmoidRange { lo, hi }),
        })
    }
}

/// The model's input is a pair: categorical codes `x_cat` (i64 `[N, n_cat]`) and continuous
/// values `x_cont` (f32 `[N, n_cont]`); a model without one kind takes `[N, 0]` for it.
impl Module<(Var, Var)> for TabularModel {
    type Output = Var;
    fn forward(&self, (x_cat, x_cont): (Var, Var), mode: Mode) -> Result<Var> {
        let n_cat = self.embeds.len();
        if x_cat.rank() != 2 || x_cat.shape()[1] != n_cat {
            return Err(Error::Tensor(tensor::Error::Shape {
                op: "TabularModel",
                shapes: vec![x_cat.shape().to_vec(), vec![n_cat]],
                expected: "categorical input [N, n_cat], n_cat the model's (the second)",
            }));
        }
        // Every embedding looked up by its column of codes, side by side, in one op (one
        // launch on a GPU, where 23 lookups and a cat took 24).
        let mut x = if self.embeds.is_empty() {
            None
        } else {
            let tables: Vec<Var> = self
                .embeds
                .iter()
                .map(|e| e.weight.var_for(&x_cat))
                .collect();
            let refs: Vec<&Var> = tables.iter().collect();
            let embedded = Var::embeddings_cat(&refs, x_cat.tensor())?;
            Some(self.emb_drop.forward(embedded, mode)?)
        };
        if self.bn_cont.weight.value().elem_count() > 0 {
            let cont = self.bn_cont.forward(x_cont, mode)?;
            x = Some(match x {
                Some(e) => Var::cat(&[&e, &cont], 1)?,
                None => cont,
            });
        }
        let x = x.ok_or_else(|| {
            Error::Tensor(tensor::Error::Shape {
                op: "TabularModel",
                shapes: vec![x_cat.shape().to_vec()],
                expected: "a model with categorical or continuous columns",
            })
        })?;
        let y = self.layers.forward(x, mode)?;
        match &self.y_range {
            Some(r) => r.forward(y, mode),
            None => Ok(y),
        }
    }
}

impl fmt::Display for TabularModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TabularModel({} embeddings)", self.embeds.len())
    }
}
