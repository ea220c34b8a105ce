//! Models of lesson 6: ResNet-34 in torchvision's layout (so ImageNet weights load by name)
//! and the fastai CNN learner's model, `Sequential[body, head]`; and a small CNN that trains
//! in seconds (the batch-norm experiment, the activation explorer).
mod cnn;
mod resnet;
mod small_cnn;

pub use cnn::{cnn_model, create_head, Ps, CNN_GROUPS};
pub use resnet::{resnet34, BasicBlock, ResNet};
pub use small_cnn::{features, small_cnn};
