//! Writing a file so that it is either complete or absent: the bytes go to a temporary file
//! beside the target, are synced to disk, and the temporary file is renamed over the target
//! (a rename within one folder is atomic). A crash or a full disk mid-write leaves the old
//! file, or none, never half of the new one.
use std::path::Path;

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> std::io::Result<()> {
    let path = path.as_ref();
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let written = std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|_| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Writes `value` as pretty-printed JSON to `path` atomically; errors name the file.
pub fn write_json(path: impl AsRef<Path>, value: &impl serde::Serialize) -> Result<(), String> {
    let path = path.as_ref();
    let json =
        serde_json::to_string_pretty(value).map_err(|e| format!("{}: {e}", path.display()))?;
    write_atomic(path, json.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))
}
