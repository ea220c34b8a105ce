//! State dicts: a module's parameters and buffers by their PyTorch names, saved and loaded
//! as `.safetensors`, so weights round-trip with PyTorch (`torch.save` is not needed:
//! `safetensors.torch.load_file` reads these files, `save_file` writes what we load).
//!
//! Saving writes a temporary file next to the target and renames it over the target, so an
//! interrupted save never leaves a half-written checkpoint. Loading refuses a file that is
//! not safetensors (or is truncated), and a state dict with a missing, unexpected or wrongly
//! shaped tensor, naming it. A checkpoint is bounded by its file: only a regular file no
//! larger than [`MAX_CHECKPOINT_BYTES`] is read, and the names and shapes it declares are
//! compared with the model's before any tensor is built.
use crate::pth::PthCheckpoint;
use crate::user_file::FileError;
use crate::vars::Vars;
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Read;
use std::path::Path;
use tensor::{DType, Tensor};

/// The largest checkpoint file read, 4 GiB: about fifty times the largest model the
/// lesson's examples load (torchvision's resnet34, about 85 MB), checked from the file's
/// metadata before reading, so a huge or endless file is refused rather than read.
pub const MAX_CHECKPOINT_BYTES: u64 = 4 << 30;

/// The format a checkpoint was read as, named in its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointFormat {
    /// `.safetensors`, the format [`save`] writes.
    Safetensors,
    /// `.pth` or `.pt`: PyTorch's `torch.save` zip of a pickle and raw storages.
    Pth,
}

impl std::fmt::Display for CheckpointFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CheckpointFormat::Safetensors => "safetensors checkpoint",
            CheckpointFormat::Pth => "PyTorch .pth checkpoint (torch.save zip)",
        })
    }
}

/// An error of a state dict operation, with the file and the tensor it concerns.
#[derive(Debug)]
pub enum StateDictError {
    Io {
        path: String,
        source: std::io::Error,
    },
    /// A directory, a device (`/dev/zero`), a pipe: not a file to read a checkpoint from.
    NotAFile {
        path: String,
    },
    /// A file larger than [`MAX_CHECKPOINT_BYTES`].
    TooLarge {
        path: String,
        bytes: u64,
    },
    /// A file that is not a valid checkpoint of `format`.
    Format {
        path: String,
        format: CheckpointFormat,
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
            StateDictError::Io { path, .. } => f.write_str(path),
            StateDictError::NotAFile { path } => {
                write!(f, "{path}: not a regular file, so not a checkpoint")
            }
            StateDictError::TooLarge { path, bytes } => write!(
                f,
                "{path}: {bytes} bytes, more than the {MAX_CHECKPOINT_BYTES} a checkpoint may have"
            ),
            StateDictError::Format { path, format, msg } => {
                write!(f, "{path}: not a valid {format}: {msg}")
            }
            StateDictError::Mismatch { path, msg } => write!(f, "{path}: {msg}"),
            StateDictError::Tensor(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for StateDictError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StateDictError::Io { source, .. } => Some(source),
            StateDictError::Tensor(e) => e.source(),
            _ => None,
        }
    }
}

impl From<tensor::Error> for StateDictError {
    fn from(e: tensor::Error) -> Self {
        StateDictError::Tensor(e)
    }
}

/// The named tensors of a model's `vars`, in their order.
pub fn state_dict(vars: &Vars) -> Vec<(String, Tensor)> {
    let entries = vars.entries().into_iter();
    entries.map(|(name, e)| (name, e.value())).collect()
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

/// Saves the state dict of a model's `vars` to `path` atomically (temporary file, then
/// rename).
pub fn save(vars: &Vars, path: impl AsRef<Path>) -> Result<(), StateDictError> {
    save_with(vars, None, path.as_ref())
}

/// [`save`] with `metadata` in the file's `__metadata__` (an exported learner's recipe).
pub(crate) fn save_with(
    vars: &Vars,
    metadata: Option<HashMap<String, String>>,
    path: &Path,
) -> Result<(), StateDictError> {
    let shown = path.display().to_string();
    let format_error = |e: safetensors::SafeTensorError| StateDictError::Format {
        path: shown.clone(),
        format: CheckpointFormat::Safetensors,
        msg: e.to_string(),
    };
    let tensors = state_dict(vars);
    let data: Vec<(String, Vec<u8>, DType, Vec<usize>)> = tensors
        .iter()
        .map(|(n, t)| Ok((n.clone(), bytes_of(t)?, t.dtype(), t.shape().to_vec())))
        .collect::<tensor::Result<_>>()?;
    let views: BTreeMap<String, TensorView<'_>> = data
        .iter()
        .map(|(n, b, d, s)| {
            let view = TensorView::new(st_dtype(*d), s.clone(), b).map_err(format_error)?;
            Ok((n.clone(), view))
        })
        .collect::<Result<_, StateDictError>>()?;
    let bytes = safetensors::serialize(&views, &metadata).map_err(format_error)?;
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

/// Opens the checkpoint at `path`, a regular file of at most [`MAX_CHECKPOINT_BYTES`]
/// ([`crate::user_file::open`]). Returns it with its length.
pub(crate) fn open_checkpoint(path: &Path) -> Result<(File, u64), StateDictError> {
    let path_shown = || path.display().to_string();
    crate::user_file::open(path, MAX_CHECKPOINT_BYTES).map_err(|e| match e {
        FileError::Io(source) => StateDictError::Io {
            path: path_shown(),
            source,
        },
        FileError::NotARegularFile => StateDictError::NotAFile { path: path_shown() },
        FileError::TooLarge { bytes, .. } => StateDictError::TooLarge {
            path: path_shown(),
            bytes,
        },
    })
}

/// Loads the state dict at `path` into a model's `vars`. Every name must match, with the
/// same shape, which is checked before any tensor is built; floating-point tensors are
/// converted to the model's dtype. Nothing is changed unless the whole file is valid.
pub fn load(vars: &Vars, path: impl AsRef<Path>) -> Result<(), StateDictError> {
    let path = path.as_ref();
    let shown = path.display().to_string();
    let is_pth = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e == "pth" || e == "pt");
    let (file, len) = open_checkpoint(path)?;
    if !is_pth {
        let bytes = read_bounded(file, len, &shown)?;
        return load_safetensors(vars, &parse_safetensors(&bytes, &shown)?, &shown);
    }
    let mut ck = PthCheckpoint::from_file(file, len, &shown)?;
    check_names_and_shapes(vars, ck.shapes(), &shown)?;
    let names: Vec<String> = ck.shapes().map(|(n, _)| n.to_string()).collect();
    let tensors = names
        .into_iter()
        .map(|n| Ok((n.clone(), ck.tensor(&n)?)))
        .collect::<Result<_, StateDictError>>()?;
    assign(vars, tensors)
}

/// The `len` bytes of the checkpoint `file` ([`open_checkpoint`]), read from `shown`.
pub(crate) fn read_bounded(file: File, len: u64, shown: &str) -> Result<Vec<u8>, StateDictError> {
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(len)
        .read_to_end(&mut bytes)
        .map_err(|source| StateDictError::Io {
            path: shown.to_string(),
            source,
        })?;
    Ok(bytes)
}

/// The safetensors file `bytes`, read from `shown`, its header checked.
pub(crate) fn parse_safetensors<'a>(
    bytes: &'a [u8],
    shown: &str,
) -> Result<SafeTensors<'a>, StateDictError> {
    SafeTensors::deserialize(bytes).map_err(|e| StateDictError::Format {
        path: shown.to_string(),
        format: CheckpointFormat::Safetensors,
        msg: e.to_string(),
    })
}

/// Loads the tensors of `st`, read from `shown`, into `vars`, with [`load`]'s checks.
pub(crate) fn load_safetensors(
    vars: &Vars,
    st: &SafeTensors<'_>,
    shown: &str,
) -> Result<(), StateDictError> {
    let views = st.tensors();
    check_names_and_shapes(
        vars,
        views.iter().map(|(n, v)| (n.as_str(), v.shape())),
        shown,
    )?;
    let tensors = views
        .into_iter()
        .map(|(name, view)| {
            let t = tensor_of(&view).ok_or_else(|| StateDictError::Format {
                path: shown.to_string(),
                format: CheckpointFormat::Safetensors,
                msg: format!("`{name}` has unsupported dtype {:?}", view.dtype()),
            })??;
            Ok((name, t))
        })
        .collect::<Result<_, StateDictError>>()?;
    assign(vars, tensors)
}

/// Checks that the checkpoint `shown`, whose tensors have the names and shapes `declared`,
/// holds every tensor of `vars` with its shape, and nothing else.
fn check_names_and_shapes<'a>(
    vars: &Vars,
    declared: impl IntoIterator<Item = (&'a str, &'a [usize])>,
    shown: &str,
) -> Result<(), StateDictError> {
    let mismatch = |msg: String| StateDictError::Mismatch {
        path: shown.to_string(),
        msg,
    };
    let declared: BTreeMap<&str, &[usize]> = declared.into_iter().collect();
    let mine = state_dict(vars);
    let names: std::collections::BTreeSet<&str> = mine.iter().map(|(n, _)| n.as_str()).collect();
    for (name, current) in &mine {
        let shape = declared
            .get(name.as_str())
            .ok_or_else(|| mismatch(format!("the checkpoint has no tensor `{name}`")))?;
        if *shape != current.shape() {
            return Err(mismatch(format!(
                "`{name}` has shape {shape:?} in the checkpoint but {:?} in the model",
                current.shape()
            )));
        }
    }
    let extra: Vec<&&str> = declared.keys().filter(|n| !names.contains(**n)).collect();
    if let Some(first) = extra.first() {
        return Err(mismatch(format!(
            "the checkpoint has {} tensor(s) the model does not, e.g. `{first}`",
            extra.len()
        )));
    }
    Ok(())
}

/// Sets the parameters and buffers of `vars` from `loaded`, whose names and shapes
/// `check_names_and_shapes` accepted; the dtype is converted when it differs (an f16
/// checkpoint into an f32 model) and the tensor moved to the model's device. Every tensor
/// is converted before any is set.
fn assign(vars: &Vars, mut loaded: BTreeMap<String, Tensor>) -> Result<(), StateDictError> {
    let mut converted = Vec::new();
    for (name, e) in vars.entries() {
        if let Some(t) = loaded.remove(&name) {
            let current = e.value();
            let t = if t.dtype() != current.dtype() || t.device() != current.device() {
                t.to_dtype(current.dtype())?.to_device(current.device())?
            } else {
                t
            };
            converted.push((e, t));
        }
    }
    for (e, t) in converted {
        e.set(t);
    }
    Ok(())
}
