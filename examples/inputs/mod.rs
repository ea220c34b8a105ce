//! What the examples check of a path the user gives before they start working on it (before
//! a model is built or trained): that it is a regular file, as the library's readers check
//! again when they open it (`nn::user_file`).
use lesson6::nn::user_file;
use std::path::Path;

/// Refuses anything but a regular file: a FIFO would block the open and a device such as
/// `/dev/zero` would be read forever. `what` names the flag or argument in the message.
pub fn regular_file(path: &Path, what: &str) -> Result<(), String> {
    user_file::open(path, u64::MAX)
        .map(drop)
        .map_err(|e| format!("{what} {}: {e}", path.display()))
}
