//! Reading PyTorch's own checkpoints (`torch.save(model.state_dict())`, the `.pth` files
//! torchvision downloads): a zip archive holding `<name>/data.pkl`, a pickled dictionary of
//! tensors, and `<name>/data/<key>`, each tensor storage's raw little-endian bytes.
//!
//! The pickle is read by a small, strict machine that knows the opcodes a state dict uses
//! (protocol 2: globals, persistent ids, tuples, dictionaries, integers, strings, booleans)
//! and only two callables: `collections.OrderedDict` and `torch._utils._rebuild_tensor_v2`.
//! Anything else (another opcode, another callable: a pickle can name any Python function)
//! is refused with the opcode or the name and its byte position. Nothing is executed.
//!
//! Everything is bounded by the file: the machine's values live in one arena and refer to
//! each other by index, so a memo value shared a million times costs nothing and nothing is
//! recursive however deep a pickle nests; every tensor's size, stride and offset are checked
//! against its storage's length (from the archive) before anything is allocated; the archive
//! may not decompress to more than its own size; and each storage is read once, shared by
//! all its views, and only when a tensor is asked for (after the caller compared shapes).
use crate::state_dict::{CheckpointFormat, StateDictError};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use tensor::Tensor;

/// The largest pickle read, 64 MiB: a state dict's pickle holds only names and tensor
/// metadata, about a hundred bytes a tensor, so anything near this is not one.
pub const MAX_PICKLE_BYTES: u64 = 64 << 20;

/// A value's index in the pickle machine's arena.
type Id = usize;

/// A value the pickle machine built. Containers hold indices, never values, so copying one
/// (a memo get) is copying a number, and dropping the arena is flat.
#[derive(Clone)]
enum Value {
    Mark,
    None,
    /// A boolean (a tensor's `requires_grad`, not needed).
    Bool,
    Int(i64),
    Str(String),
    Tuple(Vec<Id>),
    Dict(Vec<(Id, Id)>),
    /// `module.name`, from GLOBAL.
    Global(String),
    /// A storage from a persistent id: its element type and archive key.
    Storage {
        kind: String,
        key: String,
    },
    Tensor(View),
}

/// A tensor as the pickle describes it: a view (offset, size, stride, in elements) of a
/// storage of the given kind (`torch.FloatStorage`) held in the archive under `key`.
#[derive(Clone)]
struct View {
    kind: String,
    key: String,
    offset: usize,
    size: Vec<usize>,
    stride: Vec<usize>,
}

/// A short description of a value for an error message: never the value itself, which may
/// be huge or deeply nested.
fn describe(values: &[Value], id: Id) -> String {
    match &values[id] {
        Value::Mark => "a MARK".into(),
        Value::None => "None".into(),
        Value::Bool => "a boolean".into(),
        Value::Int(n) => format!("the integer {n}"),
        Value::Str(s) => format!("the string {:?}", s.chars().take(40).collect::<String>()),
        Value::Tuple(t) => format!("a tuple of {}", count(t.len(), "item", "items")),
        Value::Dict(d) => format!("a dictionary of {}", count(d.len(), "entry", "entries")),
        Value::Global(g) => format!("the global `{g}`"),
        Value::Storage { kind, .. } => format!("a {kind}"),
        Value::Tensor(_) => "a tensor".into(),
    }
}

/// `n` and the noun `one` or `many` that fits it ("1 item", "2 items").
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The non-negative integers of the tuple `id` (a tensor's size or stride).
fn sizes(values: &[Value], id: Id, what: &str) -> Result<Vec<usize>, String> {
    let Value::Tuple(items) = &values[id] else {
        return Err(format!("a tensor's {what} is {}", describe(values, id)));
    };
    items
        .iter()
        .map(|&i| match values[i] {
            Value::Int(n) if n >= 0 => Ok(n as usize),
            _ => Err(format!("a tensor's {what} holds {}", describe(values, i))),
        })
        .collect()
}

/// The value REDUCE makes of calling `f` with `args`: only an empty OrderedDict and a
/// tensor rebuild are allowed.
fn reduce(values: &[Value], f: Id, args: Id) -> Result<Value, String> {
    let (Value::Global(g), Value::Tuple(a)) = (&values[f], &values[args]) else {
        return Err(format!("REDUCE on {}", describe(values, f)));
    };
    match g.as_str() {
        "collections.OrderedDict" => Ok(Value::Dict(Vec::new())),
        "torch._utils._rebuild_tensor_v2" if a.len() >= 4 => {
            let Value::Storage { kind, key } = &values[a[0]] else {
                return Err("a tensor without a storage".into());
            };
            let offset = match values[a[1]] {
                Value::Int(n) if n >= 0 => n as usize,
                _ => return Err(format!("a tensor's offset is {}", describe(values, a[1]))),
            };
            Ok(Value::Tensor(View {
                kind: kind.clone(),
                key: key.clone(),
                offset,
                size: sizes(values, a[2], "size")?,
                stride: sizes(values, a[3], "stride")?,
            }))
        }
        _ => Err(format!(
            "refusing to call `{g}`: a state dict needs only OrderedDict and _rebuild_tensor_v2"
        )),
    }
}

/// The storage a persistent id names: `('storage', torch.FloatStorage, key, device, numel)`.
fn persistent(values: &[Value], pid: Id) -> Option<Value> {
    let Value::Tuple(t) = &values[pid] else {
        return None;
    };
    match (t.len(), t.first().map(|&i| &values[i])) {
        (5, Some(Value::Str(s))) if s == "storage" => match (&values[t[1]], &values[t[2]]) {
            (Value::Global(kind), Value::Str(key)) => Some(Value::Storage {
                kind: kind.clone(),
                key: key.clone(),
            }),
            _ => None,
        },
        _ => None,
    }
}

/// Runs the pickle `data`: the arena of values it built and the one STOP leaves on the stack.
fn unpickle(data: &[u8]) -> Result<(Vec<Value>, Id), String> {
    let mut values: Vec<Value> = Vec::new();
    let mut stack: Vec<Id> = Vec::new();
    let mut memo: BTreeMap<u32, Id> = BTreeMap::new();
    let mut at = 0usize;
    let take = |at: &mut usize, n: usize| -> Result<&[u8], String> {
        let s = data
            .get(*at..at.saturating_add(n))
            .ok_or("the pickle ends in the middle of an opcode")?;
        *at += n;
        Ok(s)
    };
    let le = |b: &[u8]| b.iter().rev().fold(0u64, |a, &x| (a << 8) | x as u64);
    loop {
        let pos = at;
        let op = take(&mut at, 1)?[0];
        let fail = |msg: String| format!("byte {pos}: {msg}");
        let pop = |stack: &mut Vec<Id>| {
            stack
                .pop()
                .ok_or_else(|| fail("the pickle's stack is empty".into()))
        };
        let pop_mark = |stack: &mut Vec<Id>, values: &[Value]| {
            let m = stack
                .iter()
                .rposition(|&v| matches!(values[v], Value::Mark))
                .ok_or_else(|| fail("no MARK on the stack".into()))?;
            let items = stack.split_off(m + 1);
            stack.pop();
            Ok::<_, String>(items)
        };
        // The value this opcode pushes, if it makes a new one.
        let new = match op {
            0x80 => {
                take(&mut at, 1)?;
                None
            }
            b'.' => {
                let root = pop(&mut stack)?;
                return Ok((values, root));
            }
            b'(' => Some(Value::Mark),
            b')' => Some(Value::Tuple(Vec::new())),
            b'}' => Some(Value::Dict(Vec::new())),
            b'N' => Some(Value::None),
            0x88 | 0x89 => Some(Value::Bool),
            b'K' => Some(Value::Int(take(&mut at, 1)?[0] as i64)),
            b'M' => Some(Value::Int(le(take(&mut at, 2)?) as i64)),
            b'J' => Some(Value::Int(le(take(&mut at, 4)?) as u32 as i32 as i64)),
            b'X' => {
                let n = le(take(&mut at, 4)?) as usize;
                let s = std::str::from_utf8(take(&mut at, n)?)
                    .map_err(|_| fail("a string that is not UTF-8".into()))?;
                Some(Value::Str(s.to_string()))
            }
            b'c' => {
                let mut line = || -> Result<String, String> {
                    let end = data[at..]
                        .iter()
                        .position(|&b| b == b'\n')
                        .ok_or_else(|| fail("GLOBAL without a newline".into()))?;
                    let s = String::from_utf8_lossy(&data[at..at + end]).into_owned();
                    at += end + 1;
                    Ok(s)
                };
                let (module, name) = (line()?, line()?);
                Some(Value::Global(format!("{module}.{name}")))
            }
            b'q' | b'r' => {
                let k = match op {
                    b'q' => take(&mut at, 1)?[0] as u32,
                    _ => le(take(&mut at, 4)?) as u32,
                };
                let top = *stack
                    .last()
                    .ok_or_else(|| fail("BINPUT on an empty stack".into()))?;
                memo.insert(k, top);
                None
            }
            b'h' | b'j' => {
                let k = match op {
                    b'h' => take(&mut at, 1)?[0] as u32,
                    _ => le(take(&mut at, 4)?) as u32,
                };
                let id = *memo
                    .get(&k)
                    .ok_or_else(|| fail(format!("memo {k} was never stored")))?;
                stack.push(id);
                None
            }
            b't' => Some(Value::Tuple(pop_mark(&mut stack, &values)?)),
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if stack.len() < n {
                    return Err(fail(format!("a tuple of {n} from a shorter stack")));
                }
                Some(Value::Tuple(stack.split_off(stack.len() - n)))
            }
            b's' | b'u' => {
                let items = if op == b's' {
                    let v = pop(&mut stack)?;
                    vec![pop(&mut stack)?, v]
                } else {
                    pop_mark(&mut stack, &values)?
                };
                let dict = stack.last().map(|&d| &mut values[d]);
                let Some(Value::Dict(d)) = dict else {
                    return Err(fail("SETITEM(S) without a dictionary".into()));
                };
                d.extend(items.chunks_exact(2).map(|kv| (kv[0], kv[1])));
                None
            }
            b'Q' => {
                let pid = pop(&mut stack)?;
                let storage = persistent(&values, pid).ok_or_else(|| {
                    fail(format!(
                        "a persistent id that is no storage: {}",
                        describe(&values, pid)
                    ))
                })?;
                Some(storage)
            }
            b'R' => {
                let args = pop(&mut stack)?;
                let f = pop(&mut stack)?;
                Some(reduce(&values, f, args).map_err(fail)?)
            }
            b'b' => {
                // BUILD sets an object's state: the state dict's `_metadata`, not needed.
                pop(&mut stack)?;
                None
            }
            other => {
                return Err(fail(format!(
                    "unexpected pickle opcode 0x{other:02x}: not a plain state dict"
                )))
            }
        };
        if let Some(v) = new {
            stack.push(values.len());
            values.push(v);
        }
    }
}

/// The tensor views of the state dict `root`, by name.
fn views(values: &[Value], root: Id) -> Result<BTreeMap<String, View>, String> {
    let Value::Dict(items) = &values[root] else {
        return Err(format!(
            "the pickle holds {}, not a state dict",
            describe(values, root)
        ));
    };
    let mut out = BTreeMap::new();
    for &(k, v) in items {
        let (Value::Str(name), Value::Tensor(view)) = (&values[k], &values[v]) else {
            return Err(format!(
                "an entry that is not a named tensor: {} holding {}",
                describe(values, k),
                describe(values, v)
            ));
        };
        if out.insert(name.clone(), view.clone()).is_some() {
            return Err(format!("`{name}` appears twice in the state dict"));
        }
    }
    Ok(out)
}

/// A storage's element type (`torch.FloatStorage`...), which fixes its width in bytes and
/// the dtype of the tensors built from it.
#[derive(Clone, Copy)]
enum Kind {
    Float,
    Double,
    Half,
    BFloat16,
    Long,
}

impl Kind {
    fn of(name: &str) -> Option<Kind> {
        Some(match name {
            "torch.FloatStorage" => Kind::Float,
            "torch.DoubleStorage" => Kind::Double,
            "torch.HalfStorage" => Kind::Half,
            "torch.BFloat16Storage" => Kind::BFloat16,
            "torch.LongStorage" => Kind::Long,
            _ => return None,
        })
    }

    fn width(self) -> usize {
        match self {
            Kind::Half | Kind::BFloat16 => 2,
            Kind::Float => 4,
            Kind::Double | Kind::Long => 8,
        }
    }
}

impl View {
    /// The number of elements, or why the view does not fit a storage of `len` bytes of
    /// `kind`: sizes that overflow when multiplied, a furthest element (offset plus each
    /// (size - 1) * stride) past the storage's end, or a storage that is not whole elements.
    fn check(&self, kind: Kind, len: u64) -> Result<usize, String> {
        let width = kind.width() as u64;
        if self.size.len() != self.stride.len() {
            return Err(format!(
                "size {:?} and stride {:?} differ in length",
                self.size, self.stride
            ));
        }
        if !len.is_multiple_of(width) {
            return Err(format!(
                "its storage `{}` has {len} bytes, not a whole number of {width}-byte elements",
                self.key
            ));
        }
        let elements = len / width;
        let numel = self
            .size
            .iter()
            .try_fold(1usize, |n, &s| n.checked_mul(s))
            .ok_or_else(|| format!("size {:?} has more elements than fit in memory", self.size))?;
        if numel == 0 {
            return Ok(0);
        }
        let furthest = self
            .size
            .iter()
            .zip(&self.stride)
            .try_fold(self.offset as u64, |far, (&s, &st)| {
                far.checked_add((s as u64 - 1).checked_mul(st as u64)?)
            });
        match furthest {
            Some(far) if far < elements => Ok(numel),
            _ => Err(format!(
                "size {:?} and stride {:?} from offset {} reach past its storage `{}` of {elements} elements",
                self.size, self.stride, self.offset, self.key
            )),
        }
    }

    /// The view's `numel` elements of the storage `bytes`, in row-major order, each decoded
    /// from its `W` bytes; `check` has shown every one lies inside `bytes`.
    fn gather<const W: usize, T>(
        &self,
        bytes: &[u8],
        numel: usize,
        decode: fn([u8; W]) -> T,
    ) -> Vec<T> {
        let mut out = Vec::with_capacity(numel);
        let mut index = vec![0usize; self.size.len()];
        let mut at = self.offset;
        for _ in 0..numel {
            out.push(decode(std::array::from_fn(|i| bytes[at * W + i])));
            for d in (0..index.len()).rev() {
                if index[d] + 1 < self.size[d] {
                    index[d] += 1;
                    at += self.stride[d];
                    break;
                }
                at -= index[d] * self.stride[d];
                index[d] = 0;
            }
        }
        out
    }
}

/// An opened `.pth` checkpoint: its tensors' names, kinds and shapes are known and checked
/// against their storages; their values are read only when asked for.
pub struct PthCheckpoint {
    shown: String,
    zip: zip::ZipArchive<File>,
    /// The folder of `data.pkl` inside the archive (`<name>/`).
    prefix: String,
    /// Each tensor's view, kind and element count, by name.
    tensors: BTreeMap<String, (View, Kind, usize)>,
    /// The storages read so far, by key, shared by all their views.
    storages: BTreeMap<String, Vec<u8>>,
    /// How many more bytes the archive's entries may decompress to: at first the file's size.
    budget: u64,
    bytes_read: u64,
}

impl PthCheckpoint {
    /// Opens the checkpoint at `path` (a regular file no larger than
    /// [`crate::state_dict::MAX_CHECKPOINT_BYTES`]) and reads its pickle.
    pub fn open(path: impl AsRef<Path>) -> Result<PthCheckpoint, StateDictError> {
        let path = path.as_ref();
        let (file, len) = crate::state_dict::open_checkpoint(path)?;
        PthCheckpoint::from_file(file, len, &path.display().to_string())
    }

    /// Reads the pickle of the opened checkpoint `file` of `len` bytes (shown as `shown`)
    /// and checks every tensor's metadata against its storage's size in the archive.
    pub(crate) fn from_file(
        file: File,
        len: u64,
        shown: &str,
    ) -> Result<PthCheckpoint, StateDictError> {
        let bad = |msg: String| invalid(shown, msg);
        let zip = zip::ZipArchive::new(file).map_err(|e| bad(format!("not a zip archive: {e}")))?;
        let pkl = zip
            .file_names()
            .find(|n| n.ends_with("/data.pkl") || *n == "data.pkl")
            .map(str::to_string)
            .ok_or_else(|| bad("no data.pkl in the archive: not a torch.save checkpoint".into()))?;
        let mut ck = PthCheckpoint {
            shown: shown.to_string(),
            zip,
            prefix: pkl.trim_end_matches("data.pkl").to_string(),
            tensors: BTreeMap::new(),
            storages: BTreeMap::new(),
            budget: len,
            bytes_read: 0,
        };
        let pickle = ck.read_entry(&pkl, MAX_PICKLE_BYTES)?;
        let (values, root) = unpickle(&pickle).map_err(bad)?;
        // Each storage's size in the archive, looked up once however many views share it.
        let mut stored: BTreeMap<String, u64> = BTreeMap::new();
        for (name, view) in views(&values, root).map_err(bad)? {
            let kind = Kind::of(&view.kind).ok_or_else(|| {
                bad(format!(
                    "`{name}`: storage type {} is not supported (float, double, half, bfloat16 and long are)",
                    view.kind
                ))
            })?;
            let len = match stored.get(&view.key) {
                Some(&len) => len,
                None => {
                    let entry = ck.entry_name(&view.key);
                    let len = ck
                        .zip
                        .by_name(&entry)
                        .map_err(|e| bad(format!("`{name}`: {entry}: {e}")))?
                        .size();
                    stored.insert(view.key.clone(), len);
                    len
                }
            };
            let numel = view
                .check(kind, len)
                .map_err(|e| bad(format!("`{name}`: {e}")))?;
            ck.tensors.insert(name, (view, kind, numel));
        }
        Ok(ck)
    }

    /// Each tensor's name and shape, by name.
    pub fn shapes(&self) -> impl Iterator<Item = (&str, &[usize])> {
        self.tensors
            .iter()
            .map(|(n, (v, _, _))| (n.as_str(), v.size.as_slice()))
    }

    /// The tensor `name`, its storage read from the archive unless an earlier view read it.
    pub fn tensor(&mut self, name: &str) -> Result<Tensor, StateDictError> {
        let (view, kind, numel) = self
            .tensors
            .get(name)
            .cloned()
            .ok_or_else(|| invalid(&self.shown, format!("no tensor `{name}`")))?;
        if !self.storages.contains_key(&view.key) {
            let entry = self.entry_name(&view.key);
            // As long as the size `check` saw: `read_entry` refuses an entry that is not.
            let bytes = self.read_entry(&entry, u64::MAX)?;
            self.storages.insert(view.key.clone(), bytes);
        }
        let bytes = &self.storages[&view.key];
        let t = match kind {
            Kind::Float => {
                Tensor::from_vec(view.gather(bytes, numel, f32::from_le_bytes), &view.size)
            }
            Kind::Double => {
                Tensor::from_vec(view.gather(bytes, numel, f64::from_le_bytes), &view.size)
            }
            Kind::Half => Tensor::from_vec(
                view.gather(bytes, numel, tensor::f16::from_le_bytes),
                &view.size,
            ),
            Kind::BFloat16 => Tensor::from_vec(
                view.gather(bytes, numel, tensor::bf16::from_le_bytes),
                &view.size,
            ),
            Kind::Long => {
                Tensor::from_vec(view.gather(bytes, numel, i64::from_le_bytes), &view.size)
            }
        };
        Ok(t?)
    }

    /// How many bytes have been decompressed out of the archive so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    fn entry_name(&self, key: &str) -> String {
        format!("{}data/{key}", self.prefix)
    }

    /// The entry `name`, at most `cap` bytes and within what is left of the budget; a reader
    /// limited to the size its header declares, so a lying header cannot inflate it.
    fn read_entry(&mut self, name: &str, cap: u64) -> Result<Vec<u8>, StateDictError> {
        let shown = &self.shown;
        let mut f = self
            .zip
            .by_name(name)
            .map_err(|e| invalid(shown, format!("{name}: {e}")))?;
        let declared = f.size();
        if declared > cap.min(self.budget) {
            return Err(invalid(
                shown,
                format!(
                    "{name} would decompress to {declared} bytes, more than {} allowed \
                     (the archive may not expand past its own size)",
                    cap.min(self.budget)
                ),
            ));
        }
        let mut v = Vec::with_capacity(declared as usize);
        (&mut f)
            .take(declared + 1)
            .read_to_end(&mut v)
            .map_err(|e| invalid(shown, format!("{name}: {e}")))?;
        if v.len() as u64 != declared {
            return Err(invalid(
                shown,
                format!("{name} holds {} bytes, its header says {declared}", v.len()),
            ));
        }
        self.budget -= declared;
        self.bytes_read += declared;
        Ok(v)
    }
}

/// The error for a file that is not a valid `.pth` checkpoint.
fn invalid(shown: &str, msg: String) -> StateDictError {
    StateDictError::Format {
        path: shown.to_string(),
        format: CheckpointFormat::Pth,
        msg,
    }
}

/// Every tensor of the `torch.save`d state dict at `path`, by name, each view built as the
/// file asks (a stride-0 view of a few bytes may ask for gigabytes): to load into a model,
/// use [`crate::state_dict::load`], which compares names and shapes first.
pub fn read_pth(path: impl AsRef<Path>) -> Result<BTreeMap<String, Tensor>, StateDictError> {
    let mut ck = PthCheckpoint::open(path)?;
    let names: Vec<String> = ck.shapes().map(|(n, _)| n.to_string()).collect();
    names
        .into_iter()
        .map(|n| Ok((n.clone(), ck.tensor(&n)?)))
        .collect()
}
