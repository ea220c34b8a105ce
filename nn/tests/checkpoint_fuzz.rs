//! Fuzzing the checkpoint loaders on stable Rust (cargo-fuzz needs nightly): a seeded
//! mutator under proptest feeds `state_dict::load` thousands of mutated (bytes flipped,
//! inserted, deleted), truncated and spliced versions of valid checkpoints: the committed
//! `small_state.pth` as a whole archive, its pickle alone (re-zipped, so the zip's checksums
//! hold and the mutations reach the unpickler), and a safetensors file saved from the same
//! model. Each must load or fail with an error, never panic or abort, and the process's peak
//! memory stays under `PEAK_BYTES`, as it does after a crafted stride-0 view that would
//! materialise 4 GB if tensors were built before their shapes are compared with the model.
//! Everything runs in this binary's one test, so nothing else moves the high-water mark.
mod crafted_pth;

use crafted_pth::{
    create, f32_bytes, model, small_model, state_dict_pickle, temp, write_pth, Entry,
};
use nn::state_dict::{load, save};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::cell::Cell;
use std::io::{Read, Write};
use std::path::PathBuf;

/// Mutated files tried per loader: 0.5 to 2 s each in release on 2 cores.
const CASES: u32 = 5000;

/// The most the process's resident memory may ever reach: the test binary itself takes
/// about 10 MB, the files are a few KB, and each crafted view asks for gigabytes.
const PEAK_BYTES: u64 = 256 << 20;

/// One edit of a file; positions are fractions of its length at the time.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Insert(Index, u8),
    Delete(Index),
    Truncate(Index),
    /// Copies `len` bytes from one place of the original file over another.
    Splice(Index, Index, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        2 => any::<Index>().prop_map(Mutation::Delete),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), any::<Index>(), any::<u8>())
            .prop_map(|(a, b, n)| Mutation::Splice(a, b, n)),
    ]
}

/// `original` with the edits `ms` applied in turn.
fn mutate(original: &[u8], ms: &[Mutation]) -> Vec<u8> {
    let mut v = original.to_vec();
    for m in ms {
        if v.is_empty() {
            break;
        }
        match m {
            Mutation::Flip(i, b) => {
                let at = i.index(v.len());
                v[at] ^= b | 1;
            }
            Mutation::Insert(i, b) => v.insert(i.index(v.len() + 1), *b),
            Mutation::Delete(i) => {
                v.remove(i.index(v.len()));
            }
            Mutation::Truncate(i) => v.truncate(i.index(v.len())),
            Mutation::Splice(from, to, n) => {
                let from = from.index(original.len());
                let chunk = &original[from..(from + *n as usize).min(original.len())];
                let to = to.index(v.len());
                let end = (to + chunk.len()).min(v.len());
                v[to..end].copy_from_slice(&chunk[..end - to]);
            }
        }
    }
    v
}

/// The process's peak resident memory, from VmHWM in /proc/self/status.
fn peak_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// Runs `CASES` mutations of `original` through `load`, each written by `write`; fails on
/// a panic, and unless both a load and an error were seen (the mutations reach the loader).
fn fuzz(what: &str, original: &[u8], write: impl Fn(&[u8]) -> PathBuf) {
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let model = small_model();
    let (ok, err) = (Cell::new(0), Cell::new(0));
    let edits = prop::collection::vec(mutation(), 1..6);
    runner
        .run(&edits, |ms| {
            let path = write(&mutate(original, &ms));
            match load(&model, &path) {
                Ok(()) => ok.set(ok.get() + 1),
                Err(_) => err.set(err.get() + 1),
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        ok.get() > 0 && err.get() > 0,
        "{what}: {} loaded, {} refused",
        ok.get(),
        err.get()
    );
}

/// The fixture's archive entries, by name.
fn fixture_entries() -> Vec<(String, Vec<u8>)> {
    let path = format!(
        "{}/../tests/reference/goldens/small_state.pth",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut f = zip.by_index(i).unwrap();
            let mut v = Vec::new();
            f.read_to_end(&mut v).unwrap();
            (f.name().to_string(), v)
        })
        .collect()
}

/// Loads a checkpoint whose `0.weight` is a [32768, 32768] stride-0 view of one float
/// into a Linear(3, 2): refused, and without building the 4 GB tensor.
fn load_huge_stride_zero_view() {
    let view = |name, size: &'static [u32]| Entry {
        name,
        kind: "FloatStorage",
        key: "0",
        offset: 0,
        size,
        stride: &[0, 0][..size.len()],
    };
    let pickle = state_dict_pickle(&[view("0.weight", &[1 << 15, 1 << 15]), view("0.bias", &[2])]);
    let path = write_pth("fuzz-stride0.pth", &pickle, &[("0", &f32_bytes(&[0.5]))]);
    let m = model(3, false);
    assert!(load(&m, &path).is_err());
    let _ = std::fs::remove_file(path);
}

#[test]
fn mutated_checkpoints_load_or_fail_within_bounded_memory() {
    load_huge_stride_zero_view();
    let peak = peak_bytes();
    assert!(
        peak < PEAK_BYTES,
        "a stride-0 view took the peak to {peak} bytes"
    );

    let whole = std::fs::read(format!(
        "{}/../tests/reference/goldens/small_state.pth",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let pth = temp("fuzz-archive.pth");
    fuzz(".pth archive", &whole, |b| {
        create(&pth).write_all(b).unwrap();
        pth.clone()
    });

    let entries = fixture_entries();
    let (_, pickle) = entries
        .iter()
        .find(|(n, _)| n.ends_with("data.pkl"))
        .unwrap();
    let storages: Vec<(String, &[u8])> = entries
        .iter()
        .filter_map(|(n, b)| Some((n.split("/data/").nth(1)?.to_string(), b.as_slice())))
        .collect();
    let storages: Vec<(&str, &[u8])> = storages.iter().map(|(k, b)| (k.as_str(), *b)).collect();
    fuzz(".pth pickle", pickle, |b| {
        write_pth("fuzz-pickle.pth", b, &storages)
    });

    let st = temp("fuzz.safetensors");
    save(&small_model(), &st).unwrap();
    let original = std::fs::read(&st).unwrap();
    fuzz("safetensors", &original, |b| {
        create(&st).write_all(b).unwrap();
        st.clone()
    });

    let peak = peak_bytes();
    assert!(peak < PEAK_BYTES, "fuzzing took the peak to {peak} bytes");
    for p in [pth, st, temp("fuzz-pickle.pth")] {
        let _ = std::fs::remove_file(p);
    }
}
