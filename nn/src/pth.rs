//! Reading PyTorch's own checkpoints (`torch.save(model.state_dict())`, the `.pth` files
//! torchvision downloads): a zip archive holding `<name>/data.pkl`, a pickled dictionary of
//! tensors, and `<name>/data/<key>`, each tensor storage's raw little-endian bytes.
//!
//! The pickle is read by a small, strict machine that knows the opcodes a state dict uses
//! (protocol 2: globals, persistent ids, tuples, dictionaries, integers, strings, booleans)
//! and only two callables: `collections.OrderedDict` and `torch._utils._rebuild_tensor_v2`.
//! Anything else (another opcode, another callable: a pickle can name any Python function)
//! is refused with the opcode or the name and its byte position. Nothing is executed.
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use tensor::Tensor;

/// A value on the pickle machine's stack.
#[derive(Clone, Debug)]
enum Value {
    Mark,
    None,
    /// A boolean (a tensor's `requires_grad`, not needed).
    Bool,
    Int(i64),
    Str(String),
    Tuple(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    /// `module.name`, from GLOBAL.
    Global(String),
    /// A storage from a persistent id: its element type and archive key.
    Storage {
        dtype: String,
        key: String,
    },
    Tensor {
        dtype: String,
        key: String,
        offset: usize,
        size: Vec<usize>,
        stride: Vec<usize>,
    },
}

fn ints(v: &Value, what: &str) -> Result<Vec<usize>, String> {
    match v {
        Value::Tuple(items) => items
            .iter()
            .map(|i| match i {
                Value::Int(n) if *n >= 0 => Ok(*n as usize),
                other => Err(format!("{what}: {other:?} is not a size")),
            })
            .collect(),
        other => Err(format!("{what}: {other:?} is not a tuple")),
    }
}

/// Runs the pickle `data`, returning the value STOP leaves on the stack.
fn unpickle(data: &[u8]) -> Result<Value, String> {
    let mut stack: Vec<Value> = Vec::new();
    let mut memo: BTreeMap<u32, Value> = BTreeMap::new();
    let mut at = 0usize;
    let take = |at: &mut usize, n: usize| -> Result<&[u8], String> {
        let s = data
            .get(*at..*at + n)
            .ok_or("the pickle ends in the middle of an opcode")?;
        *at += n;
        Ok(s)
    };
    let le = |b: &[u8]| b.iter().rev().fold(0u64, |a, &x| (a << 8) | x as u64);
    let pop_mark = |stack: &mut Vec<Value>| -> Result<Vec<Value>, String> {
        let m = stack
            .iter()
            .rposition(|v| matches!(v, Value::Mark))
            .ok_or("no MARK on the stack")?;
        let items = stack.split_off(m + 1);
        stack.pop();
        Ok(items)
    };
    let pop = |stack: &mut Vec<Value>| {
        stack
            .pop()
            .ok_or_else(|| "the pickle's stack is empty".to_string())
    };
    loop {
        let pos = at;
        let op = *take(&mut at, 1)?.first().expect("one byte");
        match op {
            0x80 => {
                take(&mut at, 1)?;
            }
            b'.' => return pop(&mut stack),
            b'(' => stack.push(Value::Mark),
            b')' => stack.push(Value::Tuple(Vec::new())),
            b'}' => stack.push(Value::Dict(Vec::new())),
            b'N' => stack.push(Value::None),
            0x88 | 0x89 => stack.push(Value::Bool),
            b'K' => stack.push(Value::Int(take(&mut at, 1)?[0] as i64)),
            b'M' => stack.push(Value::Int(le(take(&mut at, 2)?) as i64)),
            b'J' => stack.push(Value::Int(le(take(&mut at, 4)?) as u32 as i32 as i64)),
            b'X' => {
                let n = le(take(&mut at, 4)?) as usize;
                let s = std::str::from_utf8(take(&mut at, n)?)
                    .map_err(|_| format!("byte {pos}: a string that is not UTF-8"))?;
                stack.push(Value::Str(s.to_string()));
            }
            b'c' => {
                let line = |at: &mut usize| -> Result<String, String> {
                    let end = data[*at..]
                        .iter()
                        .position(|&b| b == b'\n')
                        .ok_or("GLOBAL without a newline")?;
                    let s = String::from_utf8_lossy(&data[*at..*at + end]).into_owned();
                    *at += end + 1;
                    Ok(s)
                };
                let (module, name) = (line(&mut at)?, line(&mut at)?);
                stack.push(Value::Global(format!("{module}.{name}")));
            }
            b'q' => {
                let k = take(&mut at, 1)?[0] as u32;
                memo.insert(k, stack.last().cloned().ok_or("BINPUT on an empty stack")?);
            }
            b'r' => {
                let k = le(take(&mut at, 4)?) as u32;
                memo.insert(
                    k,
                    stack
                        .last()
                        .cloned()
                        .ok_or("LONG_BINPUT on an empty stack")?,
                );
            }
            b'h' | b'j' => {
                let k = if op == b'h' {
                    take(&mut at, 1)?[0] as u32
                } else {
                    le(take(&mut at, 4)?) as u32
                };
                stack.push(
                    memo.get(&k)
                        .cloned()
                        .ok_or_else(|| format!("byte {pos}: memo {k} was never stored"))?,
                );
            }
            b't' => {
                let items = pop_mark(&mut stack)?;
                stack.push(Value::Tuple(items));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if stack.len() < n {
                    return Err(format!("byte {pos}: a tuple of {n} from a shorter stack"));
                }
                let items = stack.split_off(stack.len() - n);
                stack.push(Value::Tuple(items));
            }
            b's' | b'u' => {
                let items = if op == b's' {
                    let v = pop(&mut stack)?;
                    vec![pop(&mut stack)?, v]
                } else {
                    pop_mark(&mut stack)?
                };
                match stack.last_mut() {
                    Some(Value::Dict(d)) => d.extend(
                        items
                            .chunks_exact(2)
                            .map(|kv| (kv[0].clone(), kv[1].clone())),
                    ),
                    _ => return Err(format!("byte {pos}: SETITEM(S) without a dictionary")),
                }
            }
            b'Q' => {
                let pid = pop(&mut stack)?;
                let storage = match &pid {
                    Value::Tuple(t) if t.len() == 5 => match (&t[0], &t[1], &t[2]) {
                        (Value::Str(kind), Value::Global(dtype), Value::Str(key))
                            if kind == "storage" =>
                        {
                            Value::Storage {
                                dtype: dtype.clone(),
                                key: key.clone(),
                            }
                        }
                        _ => {
                            return Err(format!(
                                "byte {pos}: a persistent id that is no storage: {pid:?}"
                            ))
                        }
                    },
                    _ => {
                        return Err(format!(
                            "byte {pos}: a persistent id that is no storage: {pid:?}"
                        ))
                    }
                };
                stack.push(storage);
            }
            b'R' => {
                let args = pop(&mut stack)?;
                let f = pop(&mut stack)?;
                let value = match (&f, &args) {
                    (Value::Global(g), Value::Tuple(_)) if g == "collections.OrderedDict" => Value::Dict(Vec::new()),
                    (Value::Global(g), Value::Tuple(a)) if g == "torch._utils._rebuild_tensor_v2" && a.len() >= 4 => {
                        let Value::Storage { dtype, key } = &a[0] else {
                            return Err(format!("byte {pos}: a tensor without a storage"));
                        };
                        let Value::Int(offset) = a[1] else {
                            return Err(format!("byte {pos}: a tensor's offset is not an integer"));
                        };
                        Value::Tensor {
                            dtype: dtype.clone(),
                            key: key.clone(),
                            offset: offset as usize,
                            size: ints(&a[2], "size")?,
                            stride: ints(&a[3], "stride")?,
                        }
                    }
                    (Value::Global(g), _) => return Err(format!("byte {pos}: refusing to call `{g}`: a state dict needs only OrderedDict and _rebuild_tensor_v2")),
                    _ => return Err(format!("byte {pos}: REDUCE on {f:?}")),
                };
                stack.push(value);
            }
            b'b' => {
                // BUILD sets an object's state: the state dict's `_metadata`, not needed.
                pop(&mut stack)?;
            }
            other => {
                return Err(format!(
                    "byte {pos}: unexpected pickle opcode 0x{other:02x}: not a plain state dict"
                ))
            }
        }
    }
}

/// The elements of the view (`offset`, `size`, `stride`) of `data`, in row-major order;
/// `None` if the view reaches past the data.
fn gather<T: Copy>(data: &[T], offset: usize, size: &[usize], stride: &[usize]) -> Option<Vec<T>> {
    let n: usize = size.iter().product();
    let mut out = Vec::with_capacity(n);
    let mut index = vec![0usize; size.len()];
    for _ in 0..n {
        let at = offset + index.iter().zip(stride).map(|(i, s)| i * s).sum::<usize>();
        out.push(*data.get(at)?);
        for d in (0..size.len()).rev() {
            index[d] += 1;
            if index[d] < size[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Some(out)
}

/// The tensor `name` from its storage's little-endian bytes.
fn tensor_of(
    name: &str,
    dtype: &str,
    bytes: &[u8],
    offset: usize,
    size: &[usize],
    stride: &[usize],
) -> Result<Tensor, String> {
    let overrun = || {
        format!("`{name}`: size {size:?} and stride {stride:?} from offset {offset} overrun its storage")
    };
    let floats = |width: usize, f: &dyn Fn(&[u8]) -> f32| -> Result<Tensor, String> {
        let v: Vec<f32> = bytes.chunks_exact(width).map(f).collect();
        let v = gather(&v, offset, size, stride).ok_or_else(overrun)?;
        Tensor::from_vec(v, size).map_err(|e| e.to_string())
    };
    match dtype {
        "torch.FloatStorage" => floats(4, &|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        "torch.HalfStorage" => floats(2, &|c| tensor::f16::from_le_bytes([c[0], c[1]]).to_f32()),
        "torch.BFloat16Storage" => {
            floats(2, &|c| tensor::bf16::from_le_bytes([c[0], c[1]]).to_f32())
        }
        "torch.LongStorage" => {
            let v: Vec<i64> = bytes
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect();
            let v = gather(&v, offset, size, stride).ok_or_else(overrun)?;
            Tensor::from_vec(v, size).map_err(|e| e.to_string())
        }
        other => Err(format!(
            "`{name}`: storage type {other} is not supported (float, half, bfloat16 and long are)"
        )),
    }
}

/// The tensors of a `torch.save`d state dict, by name.
pub fn read_pth(path: impl AsRef<Path>) -> Result<BTreeMap<String, Tensor>, String> {
    let path = path.as_ref();
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|e| format!("{shown}: {e}"))?;
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| format!("{shown}: not a PyTorch zip checkpoint: {e}"))?;
    let pkl = zip
        .file_names()
        .find(|n| n.ends_with("/data.pkl") || *n == "data.pkl")
        .map(str::to_string)
        .ok_or_else(|| {
            format!("{shown}: no data.pkl in the archive: not a torch.save checkpoint")
        })?;
    let prefix = pkl.trim_end_matches("data.pkl").to_string();
    let mut read = |name: &str| -> Result<Vec<u8>, String> {
        let mut f = zip
            .by_name(name)
            .map_err(|e| format!("{shown}: {name}: {e}"))?;
        let mut v = Vec::new();
        f.read_to_end(&mut v)
            .map_err(|e| format!("{shown}: {name}: {e}"))?;
        Ok(v)
    };
    let root = unpickle(&read(&pkl)?).map_err(|e| format!("{shown}: {e}"))?;
    let Value::Dict(items) = root else {
        return Err(format!(
            "{shown}: the pickle holds {root:?}, not a state dict"
        ));
    };
    let mut out = BTreeMap::new();
    for (k, v) in items {
        let (
            Value::Str(name),
            Value::Tensor {
                dtype,
                key,
                offset,
                size,
                stride,
            },
        ) = (k, v)
        else {
            return Err(format!("{shown}: an entry that is not a named tensor"));
        };
        let bytes = read(&format!("{prefix}data/{key}"))?;
        let t = tensor_of(&name, &dtype, &bytes, offset, &size, &stride)
            .map_err(|e| format!("{shown}: {e}"))?;
        out.insert(name, t);
    }
    Ok(out)
}
