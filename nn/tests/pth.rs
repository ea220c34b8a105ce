//! PyTorch's own checkpoints: a `torch.save`d state dict (`tests/reference/goldens/
//! small_state.pth`, written by `make_pth_fixture.py`) loads into the same layers with every
//! value as PyTorch saved it; pickles that call anything but a tensor rebuild, use an opcode
//! a state dict does not, or come in a broken archive are refused with the reason.
#[path = "../../tests/reference/support.rs"]
mod support;

use nn::layers::{BatchNorm, Linear, Sequential};
use nn::pth::read_pth;
use nn::state_dict::{load, state_dict};
use std::io::Write;
use support::load_tensors;

fn fixture() -> String {
    format!(
        "{}/../tests/reference/goldens/small_state.pth",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn zip_with_pickle(name: &str, pickle: &[u8]) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("lesson6-pth-{}-{name}.pth", std::process::id()));
    let mut z = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    z.start_file("evil/data.pkl", opts).unwrap();
    z.write_all(pickle).unwrap();
    z.finish().unwrap();
    path
}

#[test]
fn a_torch_save_state_dict_loads_as_pytorch_wrote_it() {
    let want = load_tensors("small_state");
    let path = fixture();
    let got = read_pth(&path).unwrap();
    let mut names: Vec<&String> = want.keys().collect();
    names.sort();
    assert_eq!(got.keys().collect::<Vec<_>>(), names);
    let init = nn::init::Init::new(0);
    let m = Sequential::new()
        .push(Linear::new(&init, 3, 2, true).unwrap())
        .push(BatchNorm::new_1d(2));
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
    let wrong = Sequential::new()
        .push(Linear::new(&init, 4, 2, true).unwrap())
        .push(BatchNorm::new_1d(2));
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
    let err = read_pth(&evil).unwrap_err();
    assert!(err.contains("refusing to call `os.system`"), "{err}");
    // BINFLOAT (0x47 'G'): an opcode a plain state dict does not use.
    let float = zip_with_pickle("float", b"\x80\x02G?\xf0\x00\x00\x00\x00\x00\x00.");
    let err = read_pth(&float).unwrap_err();
    assert!(err.contains("unexpected pickle opcode 0x47"), "{err}");
    let cut = zip_with_pickle("cut", b"\x80\x02cos\nsys");
    assert!(read_pth(&cut).is_err());
    // Not a zip at all, and a zip cut short.
    let junk = std::env::temp_dir().join(format!("lesson6-pth-{}-junk.pth", std::process::id()));
    std::fs::write(&junk, b"PK\x03\x04 not really").unwrap();
    let err = read_pth(&junk).unwrap_err();
    assert!(err.contains("not a PyTorch zip checkpoint"), "{err}");
    let bytes = std::fs::read(fixture()).unwrap();
    std::fs::write(&junk, &bytes[..bytes.len() / 2]).unwrap();
    assert!(read_pth(&junk).is_err());
    for p in [evil, float, cut, junk] {
        let _ = std::fs::remove_file(p);
    }
}
