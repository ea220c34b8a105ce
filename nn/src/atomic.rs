//! Writing a file so that it is either complete or absent: the bytes go to a temporary file
//! beside the target, are synced to disk, and the temporary file is renamed over the target
//! (a rename within one folder is atomic). A crash or a full disk mid-write leaves the old
//! file, or none, never half of the new one. A process killed between the two leaves its
//! temporary file; [`clean_stale`] removes those of processes that are gone.
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
pub fn write_json(path: impl AsRef<Path>, value: &impl serde::Serialize) -> crate::Result<()> {
    let path = path.as_ref();
    let json = serde_json::to_string_pretty(value).map_err(|source| crate::Error::Json {
        path: path.to_path_buf(),
        expected: None,
        source,
    })?;
    write_atomic(path, json.as_bytes()).map_err(|e| crate::Error::io(path, e))
}

/// Whether process `pid` has ended, read from `/proc` (Linux). Where there is no `/proc`,
/// every process counts as alive, so that nothing of a running one is removed.
pub fn is_dead(pid: u32) -> bool {
    Path::new("/proc/self").exists() && !Path::new(&format!("/proc/{pid}")).exists()
}

/// The process id at the end of `name` after `marker` (`model.tmp-123` with `.tmp-`).
pub fn owner(name: &str, marker: &str) -> Option<u32> {
    name.rsplit_once(marker)?.1.parse().ok()
}

/// Removes the temporary files [`write_atomic`] left in `dir` when its process died; returns
/// how many. A folder that cannot be listed has none to clean.
pub fn clean_stale(dir: impl AsRef<Path>) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| owner(&e.file_name().to_string_lossy(), ".tmp-").is_some_and(is_dead))
        .filter(|e| std::fs::remove_file(e.path()).is_ok())
        .count()
}
