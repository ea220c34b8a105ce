//! A training run's output folder as one unit: the run writes every file into a staging
//! folder beside `--out`, and only a run that finished moves it into place, so a folder never
//! mixes the files of two runs and a failed run leaves the last good one as it was.
//!
//! For `--out runs/x` a run (process id P) writes `runs/.x.new-P`. Committing renames the old
//! `runs/x` to `runs/.x.old-P`, `runs/.x.new-P` to `runs/x`, and deletes `runs/.x.old-P`. A kill
//! between two steps leaves names that say how far it got, and the next run finishes the job
//! for any P no longer alive (`/proc/P` gone): a `.new-P` alone is an unfinished run (deleted);
//! a `.old-P` with `runs/x` missing means the new folder was complete (it is moved in); a
//! `.old-P` beside `runs/x` is left over (deleted). A run's folder holds a marker file, and a
//! non-empty folder without one is refused rather than replaced: it is not a run's to delete.
use crate::atomic::{clean_stale, is_dead};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// The file that marks a folder as a run's output (it holds the name of what wrote it).
pub const MARKER: &str = ".lesson6-run";

/// A run's output folder, staged until [`RunDir::commit`]. Dropped uncommitted (the run
/// failed), it deletes its staging folder.
#[derive(Debug)]
pub struct RunDir {
    out: PathBuf,
    staging: PathBuf,
    committed: bool,
}

/// A folder that cannot be a run's output, and why.
fn refuse(path: &Path, msg: &str) -> Error {
    Error::Folder {
        path: path.to_path_buf(),
        msg: msg.to_string(),
    }
}

/// `.NAME.KIND-PID` beside `out`, the names of a run's staging (`new`) and old (`old`) folders.
fn sibling(out: &Path, kind: &str, pid: u32) -> PathBuf {
    let name = out.file_name().unwrap_or_default().to_string_lossy();
    out.with_file_name(format!(".{name}.{kind}-{pid}"))
}

impl RunDir {
    /// Checks and prepares `out` before a run of `example` trains: finishes or cleans what
    /// dead runs left beside it, refuses a non-empty folder that is not a run's, and creates
    /// the staging folder with the marker in it (which proves the place writable).
    pub fn open(out: &Path, example: &str) -> Result<RunDir> {
        let out = absolute(out)?;
        recover(&out)?;
        if out.exists() {
            if !out.is_dir() {
                return Err(refuse(&out, "not a folder"));
            }
            let mut entries = std::fs::read_dir(&out).map_err(|e| Error::io(&out, e))?;
            if entries.next().is_some() && !out.join(MARKER).exists() {
                return Err(refuse(
                    &out,
                    "holds files that are not a run's output (no .lesson6-run marker), and \
                     a run replaces its folder whole: choose a new or empty folder (or delete \
                     this one if an older version of the examples wrote it)",
                ));
            }
            clean_stale(&out);
        }
        let staging = sibling(&out, "new", std::process::id());
        let run = RunDir {
            out,
            staging,
            committed: false,
        };
        // A folder of this process's id can only be a dead run's whose id came round again.
        let _ = std::fs::remove_dir_all(&run.staging);
        std::fs::create_dir(&run.staging).map_err(|e| Error::io(&run.staging, e))?;
        let marker = run.staging.join(MARKER);
        std::fs::write(&marker, format!("{example}\n")).map_err(|e| Error::io(&marker, e))?;
        Ok(run)
    }

    /// The folder the run writes into (the staging folder).
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// A file of the run, in the staging folder.
    pub fn join(&self, name: &str) -> PathBuf {
        self.staging.join(name)
    }

    /// The folder the run is committed to (`--out`, made absolute).
    pub fn out(&self) -> &Path {
        &self.out
    }

    /// Moves the finished run into place, replacing the previous one whole.
    pub fn commit(mut self) -> Result<()> {
        let old = sibling(&self.out, "old", std::process::id());
        let had_old = self.out.exists();
        if had_old {
            std::fs::rename(&self.out, &old).map_err(|e| Error::io(&self.out, e))?;
        }
        if let Err(e) = std::fs::rename(&self.staging, &self.out) {
            if had_old {
                let _ = std::fs::rename(&old, &self.out);
            }
            return Err(Error::io(&self.out, e));
        }
        self.committed = true;
        if had_old {
            // The run is in place; an old folder that resists is deleted by the next run.
            let _ = std::fs::remove_dir_all(&old);
        }
        Ok(())
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

/// `out` as an absolute path with a real parent folder (created if missing) and a name.
fn absolute(out: &Path) -> Result<PathBuf> {
    if out.exists() {
        let real = out.canonicalize().map_err(|e| Error::io(out, e))?;
        return match real.parent() {
            Some(_) => Ok(real),
            None => Err(refuse(out, "the root folder cannot be a run's output")),
        };
    }
    let name = out
        .file_name()
        .ok_or_else(|| refuse(out, "not a folder name"))?;
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(parent).map_err(|e| match e.kind() {
        // A file where a folder of the path should be.
        std::io::ErrorKind::AlreadyExists => {
            refuse(parent, "cannot create this folder: a file is in the way")
        }
        _ => Error::io(parent, e),
    })?;
    Ok(parent
        .canonicalize()
        .map_err(|e| Error::io(parent, e))?
        .join(name))
}

/// Finishes or cleans what runs that died left beside `out` (see the module's rules).
fn recover(out: &Path) -> Result<()> {
    let parent = out.parent().unwrap_or(Path::new("/"));
    let name = out.file_name().unwrap_or_default().to_string_lossy();
    let entries = std::fs::read_dir(parent).map_err(|e| Error::io(parent, e))?;
    let mut dead: Vec<u32> = entries
        .flatten()
        .filter_map(|e| {
            let file = e.file_name().to_string_lossy().into_owned();
            let kind_pid = file.strip_prefix(&format!(".{name}."))?;
            let pid = kind_pid
                .strip_prefix("new-")
                .or_else(|| kind_pid.strip_prefix("old-"))?;
            pid.parse().ok()
        })
        .filter(|&pid| pid != std::process::id() && is_dead(pid))
        .collect();
    dead.sort_unstable();
    dead.dedup();
    for pid in dead {
        let (new, old) = (sibling(out, "new", pid), sibling(out, "old", pid));
        if old.exists() && !out.exists() {
            // The commit had begun, so the new folder was complete; without it, the old one.
            let done = if new.exists() { &new } else { &old };
            std::fs::rename(done, out).map_err(|e| Error::io(done, e))?;
        }
        for left in [new, old] {
            if left.exists() {
                std::fs::remove_dir_all(&left).map_err(|e| Error::io(&left, e))?;
            }
        }
    }
    Ok(())
}
