//! State dicts: a module's parameters and buffers by their PyTorch names, saved and loaded
//! as `.safetensors`, so weights round-trip with PyTorch (`torch.save` is not needed:
//! `safetensors.torch.load_file` reads these files, `save_file` writes what we load).
//!
//! Saving writes a temporary file next to the target and renames it over the target, so an
//! interrupted save never leaves a half-written checkpoint. Loading refuses a file that is
//! not safetensors (or is truncated), and a state dict with a missing, unexpected or wrongly
//! shaped tensor, naming it.
use crate::module::{Entry, Module};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::collections::BTreeMap;
use std::path::Path;
use tensor::{DType, Tensor};

/// An error of a state dict operation, with the file and the tensor it concerns.
#[derive(Debug)]
pub enum StateDictError {
    Io {
        path: String,
        source: std::io::Error,
    },
    Format {
        path: String,
        msg: String,
    },
    Mismatch {
        path: String,
        msg: String,
    },
    Tensor(tensor::Error),
}

impl std::fmt::Display for StateDictError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateDictError::Io { path, source } => write!(f, "{path}: {source}"),
            StateDictError::Format { path, msg } => {
                write!(f, "{path}: not a valid safetensors checkpoint: {msg}")
            }
            StateDictError::Mismatch { path, msg } => write!(f, "{path}: {msg}"),
            StateDictError::Tensor(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for StateDictError {}

impl From<tensor::Error> for StateDictError {
    fn from(e: tensor::Error) -> Self {
        StateDictError::Tensor(e)
    }
}

/// The named tensors of `m`, in its order.
pub fn state_dict<M: Module + ?Sized>(m: &M) -> Vec<(String, Tensor)> {
    let mut out = Vec::new();
    m.visit("", &mut |name, e| {
        let t = match e {
            Entry::Param(p) => p.value(),
            Entry::Buffer(b) => b.value(),
        };
        out.push((name.to_string(), t));
    });
    out
}

fn st_dtype(d: DType) -> Dtype {
    match d {
        DType::F32 => Dtype::F32,
        DType::F64 => Dtype::F64,
        DType::F16 => Dtype::F16,
        DType::BF16 => Dtype::BF16,
        DType::I64 => Dtype::I64,
    }
}

fn bytes_of(t: &Tensor) -> tensor::Result<Vec<u8>> {
    Ok(match t.dtype() {
        DType::F32 => t
            .to_vec::<f32>()?
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        DType::F64 => t
            .to_vec::<f64>()?
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        DType::F16 => t
            .to_vec::<tensor::f16>()?
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        DType::BF16 => t
            .to_vec::<tensor::bf16>()?
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        DType::I64 => t
            .to_vec::<i64>()?
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
    })
}

/// Saves `m`'s state dict to `path` atomically (temporary file, then rename).
pub fn save<M: Module + ?Sized>(m: &M, path: impl AsRef<Path>) -> Result<(), StateDictError> {
    let path = path.as_ref();
    let shown = path.display().to_string();
    let tensors = state_dict(m);
    let data: Vec<(String, Vec<u8>, DType, Vec<usize>)> = tensors
        .iter()
        .map(|(n, t)| Ok((n.clone(), bytes_of(t)?, t.dtype(), t.shape().to_vec())))
        .collect::<tensor::Result<_>>()?;
    let views: BTreeMap<String, TensorView<'_>> = data
        .iter()
        .map(|(n, b, d, s)| {
            let view = TensorView::new(st_dtype(*d), s.clone(), b).map_err(|e| {
                StateDictError::Format {
                    path: shown.clone(),
                    msg: e.to_string(),
                }
            })?;
            Ok((n.clone(), view))
        })
        .collect::<Result<_, StateDictError>>()?;
    let bytes = safetensors::serialize(&views, &None).map_err(|e| StateDictError::Format {
        path: shown.clone(),
        msg: e.to_string(),
    })?;
    crate::atomic::write_atomic(path, &bytes).map_err(|source| StateDictError::Io {
        path: shown.clone(),
        source,
    })
}

fn tensor_of(view: &TensorView<'_>) -> Option<tensor::Result<Tensor>> {
    let shape = view.shape().to_vec();
    let b = view.data();
    Some(match view.dtype() {
        Dtype::F32 => Tensor::from_vec(
            b.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect::<Vec<_>>(),
            &shape,
        ),
        Dtype::F64 => Tensor::from_vec(
            b.chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect::<Vec<_>>(),
            &shape,
        ),
        Dtype::I64 => Tensor::from_vec(
            b.chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect::<Vec<_>>(),
            &shape,
        ),
        Dtype::F16 => Tensor::from_vec(
            b.chunks_exact(2)
                .map(|c| tensor::f16::from_le_bytes([c[0], c[1]]))
                .collect::<Vec<_>>(),
            &shape,
        ),
        Dtype::BF16 => Tensor::from_vec(
            b.chunks_exact(2)
                .map(|c| tensor::bf16::from_le_bytes([c[0], c[1]]))
                .collect::<Vec<_>>(),
            &shape,
        ),
        _ => return None,
    })
}

/// Loads the state dict at `path` into `m`. Every name must match, with the same shape;
/// floating-point tensors are converted to the module's dtype. Nothing is changed in `m`
/// unless the whole file is valid.
pub fn load<M: Module + ?Sized>(m: &M, path: impl AsRef<Path>) -> Result<(), StateDictError> {
    let path = path.as_ref();
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| StateDictError::Io {
        path: shown.clone(),
        source,
    })?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| StateDictError::Format {
        path: shown.clone(),
        msg: e.to_string(),
    })?;
    let mismatch = |msg: String| StateDictError::Mismatch {
        path: shown.clone(),
        msg,
    };
    let mine = state_dict(m);
    let mut loaded = BTreeMap::new();
    for (name, current) in &mine {
        let view = st
            .tensor(name)
            .map_err(|_| mismatch(format!("the checkpoint has no tensor `{name}`")))?;
        if view.shape() != current.shape() {
            return Err(mismatch(format!(
                "`{name}` has shape {:?} in the checkpoint but {:?} in the model",
                view.shape(),
                current.shape()
            )));
        }
        let t = tensor_of(&view).ok_or_else(|| {
            mismatch(format!("`{name}` has unsupported dtype {:?}", view.dtype()))
        })??;
        let t = if t.dtype() == current.dtype() {
            t
        } else {
            t.to_dtype(current.dtype())?
        };
        loaded.insert(name.clone(), t);
    }
    let extra: Vec<String> = st
        .names()
        .into_iter()
        .filter(|n| !loaded.contains_key(*n))
        .cloned()
        .collect();
    if let Some(first) = extra.first() {
        return Err(mismatch(format!(
            "the checkpoint has {} tensor(s) the model does not, e.g. `{first}`",
            extra.len()
        )));
    }
    m.visit("", &mut |name, e| {
        if let Some(t) = loaded.remove(name) {
            match e {
                Entry::Param(p) => p.set(t),
                Entry::Buffer(b) => b.set(t),
            }
        }
    });
    Ok(())
}
