//! Backward rules, one family per file; each file adds the ops of its family to [`crate::Var`].
mod elementwise;
mod index;
mod linalg;
mod norm;
mod pool;
mod reduce;
mod shape;
