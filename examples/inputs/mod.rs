//! What the examples check of a path the user gives before they open it.
use std::path::Path;

/// Refuses anything but a regular file: a FIFO would block the open and a device such as
/// `/dev/zero` would be read forever. `what` names the flag or argument in the message.
pub fn regular_file(path: &Path, what: &str) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{what} {}: {e}", path.display()))?;
    if meta.is_file() {
        Ok(())
    } else {
        Err(format!("{what} {}: not a regular file", path.display()))
    }
}
