//! The data of lesson 6's two models, apart from the engine (`nn`) that trains any model:
//! each module here is about one data set or one layout on disk.
//!
//! - [`rossmann`]: Kaggle's Rossmann files cleaned into the model's table as the lesson's
//!   notebook does, and the generator of the embedded default data.
//! - [`image_folder`]: a folder of images labelled from their file names (the Oxford-IIIT
//!   Pet layout), split for training.
//! - [`shapes`]: the pets example's embedded default, drawn images in that layout.
//!
//! Errors are `nn`'s [`nn::Error`], which names the file, line, column and value.
pub mod image_folder;
pub mod rossmann;
pub mod shapes;
