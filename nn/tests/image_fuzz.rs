//! Fuzzing the image decoder on stable Rust (issue 22, item 9): a seeded mutator under
//! proptest feeds mutated, truncated and spliced versions of valid PNG and JPEG files (made
//! here with the `image` crate, in several colour types) to `decode_image`. Each must give an
//! image or an error, never a panic; and the process's peak memory stays under
//! [`PEAK_BOUND`], which the pixel limit makes hold even for a valid 12000 x 12000 PNG. The
//! file holds one test, so that the peak it reads (`VmHWM`) is its own.
#[path = "shared/images.rs"]
#[allow(dead_code)] // each test file uses part of it
mod images;

use image::{DynamicImage, ImageFormat};
use images::{encode, huge_black_png, picture};
use nn::vision::decode_image;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestRunner};

/// Mutated files decoded: about 1 s in release on 2 cores.
const CASES: u32 = 20_000;

/// The most memory the process may ever hold: 1 GiB, above what any image within the pixel
/// limit takes to decode (0.9 GB at most) and far above what these small files need; the
/// 12000 x 12000 PNG decoded, with no limit, took 2.4 GB.
const PEAK_BOUND: u64 = 1 << 30;

/// One edit of a file's bytes; positions are fractions of the current length.
#[derive(Clone, Debug)]
enum Mutation {
    /// Sets a byte (often to 0 or 0xFF, the values that lengths and markers break on).
    Set(Index, u8),
    /// Cuts the file short.
    Truncate(Index),
    /// Inserts a few bytes.
    Insert(Index, Vec<u8>),
    /// Removes up to 64 bytes.
    Remove(Index, usize),
    /// Repeats up to 64 bytes in place (a chunk or segment twice).
    Repeat(Index, usize),
    /// This file's start followed by the end of another seed file.
    Splice(Index, usize, Index),
}

fn mutation(seeds: usize) -> impl Strategy<Value = Mutation> {
    let byte = prop_oneof![any::<u8>(), Just(0u8), Just(0xFFu8)];
    prop_oneof![
        4 => (any::<Index>(), byte).prop_map(|(i, b)| Mutation::Set(i, b)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), vec(any::<u8>(), 1..8)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<Index>(), 1..64usize).prop_map(|(i, n)| Mutation::Remove(i, n)),
        1 => (any::<Index>(), 1..64usize).prop_map(|(i, n)| Mutation::Repeat(i, n)),
        1 => (any::<Index>(), 0..seeds, any::<Index>())
            .prop_map(|(i, s, j)| Mutation::Splice(i, s, j)),
    ]
}

/// `bytes` after `m` (an edit needing a position in an empty file leaves it empty).
fn apply(mut bytes: Vec<u8>, m: &Mutation, seeds: &[Vec<u8>]) -> Vec<u8> {
    if bytes.is_empty() {
        return bytes;
    }
    let n = bytes.len();
    match m {
        Mutation::Set(i, b) => bytes[i.index(n)] = *b,
        Mutation::Truncate(i) => bytes.truncate(i.index(n)),
        Mutation::Insert(i, b) => {
            let at = i.index(n + 1);
            bytes.splice(at..at, b.iter().copied());
        }
        Mutation::Remove(i, len) => {
            let at = i.index(n);
            bytes.drain(at..(at + len).min(n));
        }
        Mutation::Repeat(i, len) => {
            let at = i.index(n);
            let part = bytes[at..(at + len).min(n)].to_vec();
            bytes.splice(at..at, part);
        }
        Mutation::Splice(i, s, j) => {
            let other = &seeds[*s];
            bytes.truncate(i.index(n));
            bytes.extend_from_slice(&other[j.index(other.len())..]);
        }
    }
    bytes
}

/// The process's peak resident memory so far, in bytes (`VmHWM` of /proc/self/status).
fn peak_memory() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

#[test]
fn mutated_images_decode_or_fail_without_panics_in_bounded_memory() {
    // Seeds: RGB, grey and 16-bit RGBA PNGs; RGB and grey JPEGs.
    let rgb = picture(7, 24, 32);
    let grey = DynamicImage::ImageLuma8(rgb.to_luma8());
    let seeds = vec![
        encode(&rgb, ImageFormat::Png),
        encode(&grey, ImageFormat::Png),
        encode(
            &DynamicImage::ImageRgba16(rgb.to_rgba16()),
            ImageFormat::Png,
        ),
        encode(&rgb, ImageFormat::Jpeg),
        encode(&grey, ImageFormat::Jpeg),
    ];
    for s in &seeds {
        decode_image(s, "seed").expect("every seed decodes");
    }
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let files = (
        0..seeds.len(),
        vec(mutation(seeds.len()), 1..6),
        any::<bool>(),
    );
    runner
        .run(&files, |(seed, edits, end_again)| {
            let mut bytes = edits
                .iter()
                .fold(seeds[seed].clone(), |b, m| apply(b, m, &seeds));
            if end_again {
                // The seed's end (a PNG's IEND chunk, a JPEG's end marker) put back, so that
                // broken data reaches the decoder rather than the check for a file cut short.
                let seed = &seeds[seed];
                let end = if seed.starts_with(b"\x89PNG") { 12 } else { 2 };
                bytes.extend_from_slice(&seed[seed.len() - end..]);
            }
            // Ok or Err: a panic fails the case, and proptest shrinks it.
            let _ = decode_image(&bytes, "mutated");
            Ok(())
        })
        .unwrap();
    let huge = decode_image(&huge_black_png(), "huge.png");
    let peak = peak_memory();
    assert!(
        peak < PEAK_BOUND,
        "peak memory {peak} bytes, more than the bound of {PEAK_BOUND}"
    );
    assert!(huge.is_err(), "over the pixel limit");
}
