//! What a test does on a machine that lacks a tool it needs (a C++ compiler, NVRTC): it says
//! so and passes, unless the tool's `LESSON6_REQUIRE_*` variable is set (CI sets them), where
//! the missing tool is a failure: a skipped check must not pass for a done one. Included with
//! `#[path]` by the tests that build on the host's C++ compiler.

/// The variable that makes a missing C++ compiler (`c++`) a failure.
pub const CXX: &str = "LESSON6_REQUIRE_CXX";

/// Whether the host has a C++ compiler to run as `c++`.
pub fn cxx_present() -> bool {
    std::process::Command::new("c++")
        .arg("--version")
        .output()
        .is_ok()
}

/// Skips, saying `why`, or fails with it where `var` is set.
pub fn skip_unless_required(var: &str, why: &str) {
    assert!(std::env::var_os(var).is_none(), "{var} is set, but {why}");
    eprintln!("skipped: {why}");
}
