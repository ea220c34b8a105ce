//! What a [`super::Learner`] trains on: batches of input tensors and a target, for training
//! (reshuffled every epoch) and validation.
use super::LearnerError;
use autograd::Var;
use tensor::random::Philox;
use tensor::{Result, Tensor};

/// One mini-batch: the model's inputs (a tabular model takes categorical codes and
/// continuous values, an image model one tensor) and the target.
#[derive(Clone, Debug)]
pub struct Batch {
    pub inputs: Vec<Tensor>,
    pub target: Tensor,
}

impl Batch {
    /// Number of samples (the first dimension of the target).
    pub fn len(&self) -> usize {
        self.target.shape().first().copied().unwrap_or(1)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The batch on `device` (the model's), inputs and target alike.
    pub fn to_device(&self, device: tensor::Device) -> Result<Batch> {
        Ok(Batch {
            inputs: self
                .inputs
                .iter()
                .map(|t| t.to_device(device))
                .collect::<Result<_>>()?,
            target: self.target.to_device(device)?,
        })
    }
}

/// How the input tensors of a [`Batch`] become a model's input (a model is a `Module<I>`
/// for one of these): one var, or a pair (a tabular model's codes and values).
pub trait Inputs: Sized {
    /// From the batch's inputs, refusing another number of them than the model takes.
    fn from_vars(vars: Vec<Var>) -> std::result::Result<Self, LearnerError>;
}

/// `N` vars out of `vars`, or the error naming both counts.
fn exactly<const N: usize>(vars: Vec<Var>) -> std::result::Result<[Var; N], LearnerError> {
    vars.try_into()
        .map_err(|v: Vec<Var>| LearnerError::InputCount {
            model: N,
            batch: v.len(),
        })
}

impl Inputs for Var {
    fn from_vars(vars: Vec<Var>) -> std::result::Result<Self, LearnerError> {
        let [x] = exactly(vars)?;
        Ok(x)
    }
}

impl Inputs for (Var, Var) {
    fn from_vars(vars: Vec<Var>) -> std::result::Result<Self, LearnerError> {
        let [a, b] = exactly(vars)?;
        Ok((a, b))
    }
}

/// How many samples a [`DataBunch`] holds and how many make a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rows {
    pub train: usize,
    pub valid: usize,
    pub bs: usize,
}

/// Training and validation batches (fastai's `DataBunch`).
pub trait DataBunch {
    /// The training batches of `epoch`, in that epoch's order.
    fn train(&self, epoch: usize) -> Box<dyn Iterator<Item = crate::Result<Batch>> + '_>;
    /// The validation batches, in order.
    fn valid(&self) -> Box<dyn Iterator<Item = crate::Result<Batch>> + '_>;
    /// Training and validation samples, and the batch size.
    fn rows(&self) -> Rows;
    /// The name of each class, by class index, for data labelled with classes (fastai's
    /// `data.classes`); `None` for other data (a regression's targets).
    fn classes(&self) -> Option<&[String]> {
        None
    }
    /// Number of training batches per epoch (full ones: the incomplete last one is dropped).
    fn train_batches(&self) -> usize {
        let rows = self.rows();
        rows.train / rows.bs.max(1)
    }
}

/// In-memory data: every tensor's first dimension is the sample. Training batches are drawn
/// in a seeded random order per epoch and, as fastai from 1.0.3x, the last incomplete one is
/// dropped; validation keeps every sample, in order.
pub struct TensorData {
    train: (Vec<Tensor>, Tensor),
    valid: (Vec<Tensor>, Tensor),
    pub bs: usize,
    pub seed: u64,
}

impl TensorData {
    pub fn new(
        train: (Vec<Tensor>, Tensor),
        valid: (Vec<Tensor>, Tensor),
        bs: usize,
        seed: u64,
    ) -> Self {
        TensorData {
            train,
            valid,
            bs: bs.max(1),
            seed,
        }
    }

    fn rows(split: &(Vec<Tensor>, Tensor), idx: &[i64]) -> crate::Result<Batch> {
        let idx = Tensor::from_indices(idx, &[idx.len()])?;
        Ok(Batch {
            inputs: split
                .0
                .iter()
                .map(|t| t.index_select(0, &idx))
                .collect::<Result<_>>()?,
            target: split.1.index_select(0, &idx)?,
        })
    }
}

/// A permutation of `0..n` drawn from Philox (a sort of random keys: simple and seeded).
pub fn permutation(n: usize, seed: u64, stream: u64) -> Vec<i64> {
    let rng = Philox::new(seed, stream);
    let mut keyed: Vec<(u32, i64)> = (0..n).map(|i| (rng.word(i as u64), i as i64)).collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, i)| i).collect()
}

impl DataBunch for TensorData {
    fn train(&self, epoch: usize) -> Box<dyn Iterator<Item = crate::Result<Batch>> + '_> {
        let n = self.train.1.shape()[0];
        let order = permutation(n, self.seed, epoch as u64);
        let full = n / self.bs;
        Box::new(
            (0..full).map(move |b| Self::rows(&self.train, &order[b * self.bs..(b + 1) * self.bs])),
        )
    }

    fn valid(&self) -> Box<dyn Iterator<Item = crate::Result<Batch>> + '_> {
        let n = self.valid.1.shape()[0];
        let bs = self.bs;
        Box::new((0..n.div_ceil(bs)).map(move |b| {
            let idx: Vec<i64> = (b * bs..((b + 1) * bs).min(n)).map(|i| i as i64).collect();
            Self::rows(&self.valid, &idx)
        }))
    }

    fn rows(&self) -> Rows {
        Rows {
            train: self.train.1.shape()[0],
            valid: self.valid.1.shape()[0],
            bs: self.bs,
        }
    }
}
