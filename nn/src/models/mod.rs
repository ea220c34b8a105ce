//! Models of lesson 6: ResNet-34 in torchvision's layout (so ImageNet weights load by name)
//! and the fastai CNN learner's model, `Sequential[body, head]`.
mod cnn;
mod resnet;

pub use cnn::{cnn_model, create_head, Ps, CNN_GROUPS};
pub use resnet::{resnet34, BasicBlock, ResNet};
