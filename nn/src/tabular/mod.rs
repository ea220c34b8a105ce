//! Tabular data, as lesson 6's Rossmann model uses it: fastai's `TabularModel` and its
//! embedding-size rule. (Preprocessing and the Rossmann loader arrive with their issue.)
mod model;

pub use model::{emb_sz_rule, TabularConfig, TabularModel};
