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
    let is_pth = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e == "pth" || e == "pt");
    let tensors = if is_pth {
        crate::pth::read_pth(path).map_err(|msg| StateDictError::Format {
            path: shown.clone(),
            msg,
        })?
    } else {
        read_safetensors(path)?
    };
    assign(m, tensors, &shown)
}

/// Every tensor of a safetensors file, by name.
fn read_safetensors(path: &Path) -> Result<BTreeMap<String, Tensor>, StateDictError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| StateDictError::Io {
        path: shown.clone(),
        source,
    })?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| StateDictError::Format {
        path: shown.clone(),
        msg: e.to_string(),
    })?;
    st.tensors()
        .into_iter()
        .map(|(name, view)| {
            let t = tensor_of(&view).ok_or_else(|| StateDictError::Mismatch {
                path: shown.clone(),
                msg: format!("`{name}` has unsupported dtype {:?}", view.dtype()),
            })??;
            Ok((name, t))
        })
        .collect()
}

/// Sets `m`'s parameters and buffers from `loaded` (read from `shown`), after checking that
/// it has every one of them, with its shape, and nothing else; the dtype is converted when
/// it differs (an f16 checkpoint into an f32 model).
fn assign<M: Module + ?Sized>(
    m: &M,
    mut loaded: BTreeMap<String, Tensor>,
    shown: &str,
) -> Result<(), StateDictError> {
    let mismatch = |msg: String| StateDictError::Mismatch {
        path: shown.to_string(),
        msg,
    };
    for (name, current) in &state_dict(m) {
        let t = loaded
            .get(name)
            .ok_or_else(|| mismatch(format!("the checkpoint has no tensor `{name}`")))?;
        if t.shape() != current.shape() {
            return Err(mismatch(format!(
                "`{name}` has shape {:?} in the checkpoint but {:?} in the model",
                t.shape(),
                current.shape()
            )));
        }
        if t.dtype() != current.dtype() || t.device() != current.device() {
            // Loaded into the model's dtype and onto its device (a GPU model stays there).
            let converted = t.to_dtype(current.dtype())?.to_device(current.device())?;
            loaded.insert(name.clone(), converted);
        }
    }
    let mine: Vec<String> = state_dict(m).into_iter().map(|(n, _)| n).collect();
    let extra: Vec<&String> = loaded.keys().filter(|n| !mine.contains(n)).collect();
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
