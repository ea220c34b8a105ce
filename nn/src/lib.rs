//! Layers, models (TabularModel, ResNet-34 with the fastai head), losses, optimisers and the
//! Learner. They arrive with their own issues; this crate fixes their place in the workspace.
pub use autograd;
pub use tensor;
