//! The layers, one per file.
mod activation;
mod batchnorm;
mod conv;
mod dropout;
mod embedding;
mod linear;
mod pool;
mod sequential;

pub use activation::{Flatten, ReLU, SigmoidRange};
pub use batchnorm::BatchNorm;
pub use conv::Conv2d;
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use linear::Linear;
pub use pool::{AdaptiveAvgPool2d, AdaptiveConcatPool2d, MaxPool2d};
pub use sequential::{Sequential, SummaryRow};
