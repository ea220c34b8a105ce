//! Layers, losses, metrics, optimisers and the one-cycle schedule of lesson 6, on the tape of
//! the `autograd` crate. Models (the Rossmann `TabularModel`, ResNet-34 with the fastai head)
//! and the `Learner` arrive with their issues.
//!
//! A layer is a [`Module`]: `forward(&self, x: &Var, mode)` and the PyTorch names of its
//! parameters and buffers ([`Module::visit`]), so that [`state_dict::save`] and
//! [`state_dict::load`] round-trip weights with PyTorch through safetensors.
pub mod atomic;
pub mod error;
pub mod hooks;
pub mod init;
pub mod layers;
pub mod learner;
pub mod loss;
pub mod metrics;
pub mod models;
pub mod module;
pub mod optim;
pub mod plot;
pub mod pth;
pub mod run_dir;
pub mod schedule;
pub mod state_dict;
pub mod tabular;
pub mod user_file;
pub mod vision;

pub use autograd;
pub use error::{Error, Result};
pub use module::{Buffer, Entry, Mode, Module, Param, SummaryRow};
pub use tensor;
