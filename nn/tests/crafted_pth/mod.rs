//! Crafted `.pth` checkpoints for the tests: a protocol-2 pickle of a state dict written the
//! way `torch.save` writes one (an OrderedDict of `_rebuild_tensor_v2` calls on persistent
//! storage ids), and the zip of `<name>/data.pkl` and `<name>/data/<key>` around it; and the
//! small model the fixture was saved from, to load them into.
#![allow(dead_code)] // each test binary uses part of it

use nn::layers::{BatchNorm, Linear};
use nn::Vars;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The parameters of `Sequential[Linear(inputs, 2)]`, with a BatchNorm1d(2) after it when
/// `bn`.
pub fn model(inputs: usize, bn: bool) -> Vars {
    let vars = Vars::new(0);
    Linear::new(vars.root().pp(0), inputs, 2, true).unwrap();
    if bn {
        BatchNorm::new_1d(vars.root().pp(1), 2).unwrap();
    }
    vars
}

/// The Linear(3, 2) and BatchNorm1d(2) the fixture was saved from.
pub fn small_model() -> Vars {
    model(3, true)
}

/// One tensor of a crafted state dict: a view of the storage `key` of `kind`
/// (`"FloatStorage"`, `"DoubleStorage"`...).
#[derive(Clone, Copy)]
pub struct Entry<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub key: &'a str,
    pub offset: u32,
    pub size: &'a [u32],
    pub stride: &'a [u32],
}

/// BININT: a 4-byte little-endian integer.
fn int(out: &mut Vec<u8>, n: u32) {
    out.push(b'J');
    out.extend(n.to_le_bytes());
}

/// BINUNICODE: a length-prefixed UTF-8 string.
fn text(out: &mut Vec<u8>, s: &str) {
    out.push(b'X');
    out.extend((s.len() as u32).to_le_bytes());
    out.extend(s.as_bytes());
}

/// A MARK, the integers `ns`, and TUPLE.
fn ints(out: &mut Vec<u8>, ns: &[u32]) {
    out.push(b'(');
    ns.iter().for_each(|&n| int(out, n));
    out.push(b't');
}

/// The pickle `torch.save` writes for a state dict of `entries`.
pub fn state_dict_pickle(entries: &[Entry]) -> Vec<u8> {
    let mut p = b"\x80\x02ccollections\nOrderedDict\n)R(".to_vec();
    for e in entries {
        text(&mut p, e.name);
        p.extend(b"ctorch._utils\n_rebuild_tensor_v2\n((");
        text(&mut p, "storage");
        p.extend(format!("ctorch\n{}\n", e.kind).as_bytes());
        text(&mut p, e.key);
        text(&mut p, "cpu");
        int(&mut p, 0);
        p.extend(b"tQ");
        int(&mut p, e.offset);
        ints(&mut p, e.size);
        ints(&mut p, e.stride);
        p.extend(b"\x89ccollections\nOrderedDict\n)RtR");
    }
    p.extend(b"u.");
    p
}

/// A temporary path for the test file `name`, unique to this process.
pub fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("lesson6-pth-{}-{name}", std::process::id()))
}

/// Creates `path` afresh (the old file removed first: truncating a file makes ext4 flush it
/// to disk, milliseconds a time, which thousands of fuzz cases cannot afford).
pub fn create(path: &Path) -> std::fs::File {
    let _ = std::fs::remove_file(path);
    std::fs::File::create(path).unwrap()
}

/// Writes the zip `torch.save` would (entries stored, not compressed) of `pickle` and the
/// `storages` by key to the temporary file `name`.
pub fn write_pth(name: &str, pickle: &[u8], storages: &[(&str, &[u8])]) -> PathBuf {
    let path = temp(name);
    let mut z = zip::ZipWriter::new(create(&path));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    z.start_file("crafted/data.pkl", opts).unwrap();
    z.write_all(pickle).unwrap();
    for (key, bytes) in storages {
        z.start_file(format!("crafted/data/{key}"), opts).unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap();
    path
}

/// The little-endian bytes of `values`.
pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}
