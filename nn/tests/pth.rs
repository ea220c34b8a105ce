//! PyTorch's own checkpoints: a `torch.save`d state dict (`tests/reference/goldens/
//! small_state.pth`, written by `make_pth_fixture.py`) loads into the same layers with every
//! value as PyTorch saved it; pickles that call anything but a tensor rebuild, use an opcode
//! a state dict does not, or come in a broken archive are refused with the reason; and each
//! crafted attack of the hostile-input review (deep nesting, huge or wrapping sizes, memo
//! doubling, a stride-0 view, a device for a file, views sharing a storage) is refused or
//! read within the file's bounds.
mod crafted_pth;
#[path = "../../tests/reference/support.rs"]
mod support;

use crafted_pth::{
    create, f32_bytes, model, small_model, state_dict_pickle, temp, write_pth, Entry,
};
use nn::pth::{read_pth, PthCheckpoint};
use nn::state_dict::{load, state_dict, MAX_CHECKPOINT_BYTES};
use std::io::Write;
use support::load_tensors;

fn fixture() -> String {
    format!(
        "{}/../tests/reference/goldens/small_state.pth",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A checkpoint whose pickle is `pickle` and that has no storages.
fn zip_with_pickle(name: &str, pickle: &[u8]) -> std::path::PathBuf {
    write_pth(&format!("{name}.pth"), pickle, &[])
}

/// The error reading the checkpoint at `path` gives, as the user sees it.
fn read_err(path: &std::path::Path) -> String {
    read_pth(path).unwrap_err().to_string()
}

#[test]
fn a_torch_save_state_dict_loads_as_pytorch_wrote_it() {
    let want = load_tensors("small_state");
    let path = fixture();
    let got = read_pth(&path).unwrap();
    let mut names: Vec<&String> = want.keys().collect();
    names.sort();
    assert_eq!(got.keys().collect::<Vec<_>>(), names);
    let m = small_model();
    load(&m, &path).unwrap();
    for (name, t) in state_dict(&m) {
        assert_eq!(t.dtype(), want[&name].dtype(), "{name}");
        assert_eq!(t.shape(), want[&name].shape(), "{name}");
        let (a, b) = (
            t.to_dtype(tensor::DType::F64).unwrap(),
            want[&name].to_dtype(tensor::DType::F64).unwrap(),
        );
        assert_eq!(
            a.to_vec::<f64>().unwrap(),
            b.to_vec::<f64>().unwrap(),
            "{name}"
        );
    }
    // A model that does not fit: the tensor is named.
    let wrong = model(4, true);
    let err = load(&wrong, &path).unwrap_err().to_string();
    assert!(
        err.contains("`0.weight` has shape [2, 3] in the checkpoint but [2, 4]"),
        "{err}"
    );
}

#[test]
fn pickles_that_are_not_state_dicts_are_refused() {
    // os.system('ls'): a callable a state dict never needs.
    let evil = zip_with_pickle(
        "call",
        b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.",
    );
    let err = read_err(&evil);
    assert!(err.contains("refusing to call `os.system`"), "{err}");
    // BINFLOAT (0x47 'G'): an opcode a plain state dict does not use.
    let float = zip_with_pickle("float", b"\x80\x02G?\xf0\x00\x00\x00\x00\x00\x00.");
    let err = read_err(&float);
    assert!(err.contains("unexpected pickle opcode 0x47"), "{err}");
    // A name twice: Python would keep the second silently.
    let w = Entry {
        name: "w",
        kind: "FloatStorage",
        key: "0",
        offset: 0,
        size: &[1],
        stride: &[1],
    };
    let twice = write_pth(
        "twice.pth",
        &state_dict_pickle(&[w, Entry { offset: 1, ..w }]),
        &[("0", &f32_bytes(&[1.0, 2.0]))],
    );
    let err = read_err(&twice);
    assert!(err.contains("`w` appears twice in the state dict"), "{err}");
    let cut = zip_with_pickle("cut", b"\x80\x02cos\nsys");
    assert!(read_pth(&cut).is_err());
    // Not a zip at all, and a zip cut short.
    let junk = temp("junk.pth");
    std::fs::write(&junk, b"PK\x03\x04 not really").unwrap();
    let err = read_err(&junk);
    // Named as the format it was read as, through `load` too.
    assert!(
        err.contains("not a valid PyTorch .pth checkpoint (torch.save zip): not a zip archive"),
        "{err}"
    );
    let err = load(&small_model(), &junk).unwrap_err().to_string();
    assert!(err.contains("not a valid PyTorch .pth"), "{err}");
    let bytes = std::fs::read(fixture()).unwrap();
    std::fs::write(&junk, &bytes[..bytes.len() / 2]).unwrap();
    assert!(read_pth(&junk).is_err());
    for p in [evil, float, twice, cut, junk] {
        let _ = std::fs::remove_file(p);
    }
}

#[test]
fn fifty_thousand_nested_tuples_are_refused_without_recursion() {
    // `()` wrapped in 50,000 one-tuples: a recursive Drop or Debug of it overflows the stack.
    let mut pickle = b"\x80\x02)".to_vec();
    pickle.extend(std::iter::repeat_n(0x85u8, 50_000));
    pickle.push(b'.');
    let path = zip_with_pickle("nested", &pickle);
    let err = read_err(&path);
    assert!(
        err.contains("the pickle holds a tuple of 1 item, not a state dict"),
        "{err}"
    );
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_memo_doubled_forty_times_is_shared_not_copied() {
    // t = (); 40 times t = (t, t): 524 bytes naming 2^40 leaves if memo gets copied.
    let mut pickle = b"\x80\x02)q\x00".to_vec();
    for _ in 0..40 {
        pickle.extend(b"h\x00h\x00\x86q\x00");
    }
    pickle.push(b'.');
    let path = zip_with_pickle("memo", &pickle);
    let err = read_err(&path);
    assert!(
        err.contains("the pickle holds a tuple of 2 items, not a state dict"),
        "{err}"
    );
    let _ = std::fs::remove_file(path);
}

/// The error reading a checkpoint of the one float tensor `w` with this view of a storage
/// of `elements` floats.
fn view_err(name: &str, elements: usize, offset: u32, size: &[u32], stride: &[u32]) -> String {
    let entry = Entry {
        name: "w",
        kind: "FloatStorage",
        key: "0",
        offset,
        size,
        stride,
    };
    let storage = f32_bytes(&vec![1.0; elements]);
    let path = write_pth(name, &state_dict_pickle(&[entry]), &[("0", &storage)]);
    let err = PthCheckpoint::open(&path).err().map(|e| e.to_string());
    let _ = std::fs::remove_file(path);
    err.unwrap_or_default()
}

#[test]
fn tensor_metadata_is_checked_against_its_storage_before_allocating() {
    // 2^40 elements asked of a storage of one: refused before any Vec::with_capacity.
    let err = view_err("2p40.pth", 1, 0, &[1 << 20, 1 << 20], &[1 << 20, 1]);
    assert!(
        err.contains("`w`: size [1048576, 1048576] and stride [1048576, 1] from offset 0 reach past its storage `0` of 1 elements"),
        "{err}"
    );
    // Sizes whose product wraps to 0 in 64 bits (2^16 four times): an overflow, not 0 elements.
    let err = view_err("wrap.pth", 1, 0, &[1 << 16; 4], &[0; 4]);
    assert!(
        err.contains("has more elements than fit in memory"),
        "{err}"
    );
    // The furthest element, one past the end through the offset, through a stride.
    let err = view_err("offset.pth", 6, 1, &[2, 3], &[3, 1]);
    assert!(err.contains("reach past its storage"), "{err}");
    let err = view_err("stride.pth", 6, 0, &[2, 3], &[4, 1]);
    assert!(err.contains("reach past its storage"), "{err}");
    // The last element exactly at the end is fine, and so is a transposed view.
    assert_eq!(view_err("fits.pth", 6, 0, &[2, 3], &[3, 1]), "");
    assert_eq!(view_err("t.pth", 6, 0, &[3, 2], &[1, 3]), "");
    // A storage that is not whole floats, and a size without its stride.
    let path = write_pth(
        "ragged.pth",
        &state_dict_pickle(&[Entry {
            name: "w",
            kind: "FloatStorage",
            key: "0",
            offset: 0,
            size: &[1],
            stride: &[1],
        }]),
        &[("0", &[0u8; 6])],
    );
    let err = read_err(&path);
    assert!(
        err.contains("has 6 bytes, not a whole number of 4-byte elements"),
        "{err}"
    );
    let err = view_err("ndim.pth", 6, 0, &[2, 3], &[1]);
    assert!(err.contains("differ in length"), "{err}");
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_huge_stride_zero_view_is_compared_with_the_model_before_it_is_built() {
    // 2^30 floats (4 GB) viewed from 4 bytes, where the model wants a [2, 3] weight.
    let entry = |name, size: &'static [u32], stride: &'static [u32]| Entry {
        name,
        kind: "FloatStorage",
        key: "0",
        offset: 0,
        size,
        stride,
    };
    let pickle = state_dict_pickle(&[
        entry("0.weight", &[1 << 15, 1 << 15], &[0, 0]),
        entry("0.bias", &[2], &[0]),
    ]);
    let path = write_pth("stride0.pth", &pickle, &[("0", &f32_bytes(&[0.5]))]);
    let m = model(3, false);
    let err = load(&m, &path).unwrap_err().to_string();
    assert!(
        err.contains(
            "`0.weight` has shape [32768, 32768] in the checkpoint but [2, 3] in the model"
        ),
        "{err}"
    );
    let _ = std::fs::remove_file(path);
}

#[test]
fn devices_directories_and_oversized_files_are_refused_before_reading() {
    let m = small_model();
    let not_a_file = |path: &std::path::Path| {
        let err = load(&m, path).unwrap_err().to_string();
        assert!(
            err.contains("not a regular file, so not a checkpoint"),
            "{err}"
        );
    };
    // /dev/zero reads forever; through a `.pth` name it would be read as a zip.
    not_a_file(std::path::Path::new("/dev/zero"));
    let link = temp("zero.pth");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    not_a_file(&link);
    not_a_file(&std::env::temp_dir());
    // One byte over the cap (a sparse file: nothing is written).
    let big = temp("big.safetensors");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(MAX_CHECKPOINT_BYTES + 1)
        .unwrap();
    let err = load(&m, &big).unwrap_err().to_string();
    assert!(
        err.contains(&format!(
            "{} bytes, more than the {MAX_CHECKPOINT_BYTES} a checkpoint may have",
            MAX_CHECKPOINT_BYTES + 1
        )),
        "{err}"
    );
    for p in [link, big] {
        let _ = std::fs::remove_file(p);
    }
}

#[test]
fn views_of_one_flat_storage_read_it_once() {
    // 64 weights, each 64 floats of one flat storage of 4096: the storage is read once
    // (16 KB), not once per view (1 MB), and each view holds its own elements.
    let names: Vec<String> = (0..64).map(|i| format!("w{i}")).collect();
    let entries: Vec<Entry> = names
        .iter()
        .enumerate()
        .map(|(i, name)| Entry {
            name,
            kind: "FloatStorage",
            key: "flat",
            offset: 64 * i as u32,
            size: &[8, 8],
            stride: &[8, 1],
        })
        .collect();
    let pickle = state_dict_pickle(&entries);
    let flat: Vec<f32> = (0..4096).map(|i| i as f32).collect();
    let path = write_pth("flat.pth", &pickle, &[("flat", &f32_bytes(&flat))]);
    let mut ck = PthCheckpoint::open(&path).unwrap();
    assert_eq!(ck.bytes_read(), pickle.len() as u64);
    for (i, name) in names.iter().enumerate() {
        let t = ck.tensor(name).unwrap();
        assert_eq!(t.shape(), &[8, 8]);
        assert_eq!(t.to_vec::<f32>().unwrap(), flat[64 * i..64 * (i + 1)]);
    }
    assert_eq!(ck.bytes_read(), pickle.len() as u64 + 4096 * 4);
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_double_storage_loads_like_f64_safetensors() {
    let entry = |name, key, size: &'static [u32], stride: &'static [u32]| Entry {
        name,
        kind: "DoubleStorage",
        key,
        offset: 0,
        size,
        stride,
    };
    let pickle = state_dict_pickle(&[
        entry("0.weight", "0", &[2, 3], &[3, 1]),
        entry("0.bias", "1", &[2], &[1]),
    ]);
    let weight = [0.1f64, -0.2, 0.3, 1e-300, 2.5, -3.0];
    let bytes = |v: &[f64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let path = write_pth(
        "double.pth",
        &pickle,
        &[("0", &bytes(&weight)), ("1", &bytes(&[7.0, -8.0]))],
    );
    let got = read_pth(&path).unwrap();
    assert_eq!(got["0.weight"].dtype(), tensor::DType::F64);
    assert_eq!(got["0.weight"].to_vec::<f64>().unwrap(), weight);
    // Into an f32 model, converted.
    let m = model(3, false);
    load(&m, &path).unwrap();
    let loaded = state_dict(&m);
    assert_eq!(loaded[1].1.to_vec::<f32>().unwrap(), [7.0, -8.0]);
    let _ = std::fs::remove_file(path);
}

#[test]
fn entries_sharing_their_bytes_cannot_read_past_the_file() {
    // One 64 KB storage and 15 more central-directory entries pointing at the same bytes: a
    // 64 KB file that would read as 1 MB (and a 1 GB one as 16 GB).
    let names: Vec<String> = (0..16).map(|i| format!("w{i}")).collect();
    let keys: Vec<String> = (0..16).map(|i| i.to_string()).collect();
    let entries: Vec<Entry> = names
        .iter()
        .zip(&keys)
        .map(|(name, key)| Entry {
            name,
            kind: "FloatStorage",
            key,
            offset: 0,
            size: &[16384],
            stride: &[1],
        })
        .collect();
    let path = temp("aliased.pth");
    let mut z = zip::ZipWriter::new(create(&path));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    z.start_file("crafted/data.pkl", opts).unwrap();
    z.write_all(&state_dict_pickle(&entries)).unwrap();
    z.start_file("crafted/data/0", opts).unwrap();
    z.write_all(&f32_bytes(&[1.0; 16384])).unwrap();
    for key in &keys[1..] {
        z.shallow_copy_file("crafted/data/0", &format!("crafted/data/{key}"))
            .unwrap();
    }
    z.finish().unwrap();
    let mut ck = PthCheckpoint::open(&path).unwrap();
    let err = names
        .iter()
        .find_map(|n| ck.tensor(n).err())
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("would decompress to 65536 bytes, more than")
            && err.contains("(the archive may not expand past its own size)"),
        "{err}"
    );
    assert!(ck.bytes_read() <= std::fs::metadata(&path).unwrap().len());
    let _ = std::fs::remove_file(path);
}
