//! Runs a GPU test binary again on a stand-in for the CUDA driver and cuBLAS that executes on
//! the host (`fake_cuda.cpp`): g++ builds it as `libcuda.so` and `libcublas.so` with every
//! kernel of `kernels::sources` compiled in, and the child process finds them first on its
//! `LD_LIBRARY_PATH`. The GPU tests then run through the whole GPU path (tensor's dispatch,
//! the launchers and their argument lists, the kernels, the products' transpositions) instead
//! of skipping. NVRTC is the real one: the sources are still compiled to PTX on the way.
//! Without a C++ compiler or NVRTC the rerun says so and passes, unless CI asked for them
//! (`require.rs`). Included by the GPU test files with `#[path]`.
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The child's marker: set, the tests below run on the stand-in and this one stays out.
pub const CHILD: &str = "LESSON6_FAKE_GPU";

#[path = "require.rs"]
mod require;

/// The variable that makes a missing NVRTC library a failure, as in `kernels/tests/compile.rs`.
const REQUIRE_NVRTC: &str = "LESSON6_REQUIRE_NVRTC";

/// Where to build the stand-in and leave it, when `LESSON6_STAND_IN_DIR` says so: then any
/// program (an example with `--device cuda`) can run on it with that folder first on its
/// `LD_LIBRARY_PATH`.
fn kept_dir() -> Option<PathBuf> {
    std::env::var_os("LESSON6_STAND_IN_DIR").map(PathBuf::from)
}

/// The tool this machine lacks to build the stand-in, as the variable that requires it and
/// why the rerun cannot run; None where it has both.
fn missing_tool() -> Option<(&'static str, &'static str)> {
    if !require::cxx_present() {
        return Some((
            require::CXX,
            "no C++ compiler (c++) to build the stand-in GPU",
        ));
    }
    if !kernels::sources::nvrtc_present() {
        return Some((
            REQUIRE_NVRTC,
            "no NVRTC library to compile the kernels for the stand-in GPU",
        ));
    }
    None
}

/// Builds the stand-in libraries into a fresh folder. A stand-in that does not compile is a
/// failure, not a reason to skip.
fn build() -> PathBuf {
    let dir = kept_dir().unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("stand-in-gpu-{}", std::process::id()))
    });
    std::fs::create_dir_all(&dir).expect("the stand-in's folder");
    let mut src = String::from(include_str!("cuda_shim.h"));
    src.push_str(kernels::sources::COMMON);
    for s in kernels::sources::ALL {
        src.push_str(s.code);
    }
    let list: String = kernels::sources::ALL
        .iter()
        .flat_map(|s| s.kernels)
        .map(|k| format!("K({k}) "))
        .collect();
    src.push_str(&format!("\n#define KERNELS {list}\n"));
    src.push_str(include_str!("fake_cuda.cpp"));
    let cpp = dir.join("fake_cuda.cpp");
    std::fs::write(&cpp, src).expect("the stand-in's source");
    let lib = dir.join("libcuda.so");
    let out = Command::new("c++")
        .args([
            "-std=c++20",
            "-O2",
            "-shared",
            "-fPIC",
            "-pthread",
            "-w",
            "-o",
        ])
        .arg(&lib)
        .arg(&cpp)
        .output()
        .expect("c++ runs");
    assert!(
        out.status.success(),
        "the stand-in does not compile:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::copy(&lib, dir.join("libcublas.so")).expect("the stand-in's cuBLAS");
    dir
}

/// SIGSEGV's number on Linux, the one system the stand-in builds on (it maps pages itself).
const SIGSEGV: i32 = 11;

/// Checks that the stand-in's fence, in each place it can stand, lets a read inside a buffer
/// through and stops one just outside it with a report naming the buffer (`fence_probe.cpp`):
/// the GPU tests lean on it to catch a kernel that reads or writes out of bounds.
fn check_fences(dir: &Path) {
    let probe = dir.join("fence_probe");
    let src = dir.join("fence_probe.cpp");
    std::fs::write(&src, include_str!("fence_probe.cpp")).expect("the probe's source");
    let built = Command::new("c++")
        .arg("-o")
        .arg(&probe)
        .arg(&src)
        .arg("-ldl")
        .output()
        .expect("c++ runs");
    assert!(built.status.success(), "the fence probe does not compile");
    let read = |fence: &str, offset: i64| {
        let out = Command::new(&probe)
            .arg(dir.join("libcuda.so"))
            .args(["100", &offset.to_string()])
            .env("LESSON6_STAND_IN_FENCE", fence)
            .output()
            .expect("the fence probe runs");
        (
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // A 100-byte buffer: 16-byte alignment leaves bytes 100..112 unfenced at its end.
    for (fence, inside, outside, report) in [
        ("end", 99, 112, "12 bytes past the end of the buffer at"),
        ("front", 0, -1, "1 byte before the start of the buffer at"),
    ] {
        let (status, text) = read(fence, inside);
        assert!(
            status.success(),
            "the {fence} fence stopped a read inside the buffer: {text}"
        );
        let (status, text) = read(fence, outside);
        assert!(
            status.signal() == Some(SIGSEGV) && text.contains(report),
            "the {fence} fence let a read at {outside} through, or did not say so ({status}): {text}"
        );
    }
}

/// Runs every other test of this binary in a child process on the stand-in, one at a time
/// (the stand-in runs one launch at a time), and fails with the child's output if it fails;
/// twice, with the fence after each buffer and then before it (`fake_cuda.cpp`).
pub fn run_this_binary_on_the_stand_in(this_test: &str) {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    if let Some((var, why)) = missing_tool() {
        require::skip_unless_required(var, why);
        return;
    }
    let dir = build();
    check_fences(&dir);
    let path = match std::env::var("LD_LIBRARY_PATH") {
        Ok(p) if !p.is_empty() => format!("{}:{p}", dir.display()),
        _ => dir.display().to_string(),
    };
    for fence in ["end", "front"] {
        let out = Command::new(std::env::current_exe().expect("the test binary"))
            .args(["--skip", this_test, "--test-threads", "1"])
            .env("LD_LIBRARY_PATH", &path)
            .env("LESSON6_STAND_IN_FENCE", fence)
            .env(CHILD, "1")
            .output()
            .expect("the test binary runs again");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "on the stand-in GPU, fenced at each buffer's {fence} ({}):\n{text}",
            out.status
        );
        assert!(
            !text.contains("skipped:"),
            "a test skipped on the stand-in GPU:\n{text}"
        );
        eprintln!("fenced at each buffer's {fence}:");
        for line in text.lines().filter(|l| l.starts_with("test ")) {
            eprintln!("{line}");
        }
    }
    if kept_dir().is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
