//! Reverse-mode automatic differentiation over [`tensor::Tensor`]: a [`Tape`] records, for
//! each op on tracked [`Var`]s, its inputs and a backward rule; [`Var::backward`] replays the
//! tape in reverse and returns [`Gradients`] by [`VarId`].
//!
//! ```
//! use autograd::{Tape, VarId};
//! use tensor::Tensor;
//! let tape = Tape::new();
//! let w_id = VarId::new();
//! let w = tape.leaf(Tensor::from_slice(&[1.0f32, 2.0], &[2])?, w_id);
//! let x = tape.input(Tensor::from_slice(&[3.0f32, 4.0], &[2])?);
//! let loss = w.mul(&x)?.sum_all()?;          // 1*3 + 2*4
//! let grads = loss.backward()?;
//! assert_eq!(grads.get(w_id).unwrap().to_vec::<f32>()?, vec![3.0, 4.0]);
//! # Ok::<(), autograd::Error>(())
//! ```
mod backward;
mod dot;
mod error;
mod gradcheck;
mod graph;
mod rules;
mod svg;
mod tape;
mod var;

pub use backward::Gradients;
pub use error::{Error, Result};
pub use gradcheck::{gradcheck, gradcheck_with, GradcheckOptions};
pub use graph::{bytes_text, Graph, Leaf, LeafKind, OpInput, OpNode, SavedTensor};
pub use tape::{Tape, VarId};
pub use var::Var;
