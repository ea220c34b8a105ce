//! Layers, losses, metrics, optimisers and the one-cycle schedule of lesson 6, on the tape of
//! the `autograd` crate. Models (the Rossmann `TabularModel`, ResNet-34 with the fastai head)
//! and the `Learner` arrive with their issues.
//!
//! A layer is a [`Module`]: `forward(&self, x, mode)` on its input type. It is built at a
//! [`Path`] (`p.pp("layers").pp(0)`), which names its parameters and buffers as PyTorch does
//! in the model's [`Vars`], so that [`state_dict::save`] and [`state_dict::load`] round-trip
//! weights with PyTorch through safetensors.
pub mod atomic;
pub mod error;
pub mod export;
pub mod hooks;
pub mod init;
pub mod interpret;
pub mod layers;
pub mod learner;
pub mod loss;
pub mod metrics;
pub mod models;
pub mod module;
pub mod optim;
pub mod plot;
pub mod projection;
pub mod pth;
pub mod run_dir;
pub mod schedule;
pub mod state_dict;
pub mod tabular;
pub mod user_file;
pub mod vars;
pub mod vision;

pub use autograd;
pub use error::{Error, Result};
pub use module::{Buffer, Layer, Mode, Module, Param};
pub use tensor;
pub use vars::{Entry, Path, Vars};
