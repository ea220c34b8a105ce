//! Opening a file a user names, bounded by what it is, before anything is allocated for it:
//! only a regular file is read (opening a FIFO waits for a writer, and a device such as
//! `/dev/zero` never ends), and no larger than a cap its reader states. Checkpoints, images
//! and CSV tables all open their files here.
use std::fs::File;
use std::path::Path;

/// Why a file a user named was not opened.
#[derive(Debug)]
pub enum FileError {
    Io(std::io::Error),
    /// A folder, a FIFO, a socket or a device.
    NotARegularFile,
    /// Larger than its reader accepts.
    TooLarge {
        bytes: u64,
        cap: u64,
    },
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileError::Io(e) => e.fmt(f),
            FileError::NotARegularFile => {
                write!(f, "not a regular file (a folder, a FIFO or a device)")
            }
            FileError::TooLarge { bytes, cap } => {
                write!(f, "{bytes} bytes, more than the {cap} such a file may have")
            }
        }
    }
}

impl std::error::Error for FileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FileError::Io(e) => e.source(),
            _ => None,
        }
    }
}

/// Opens `path` if it is a regular file of at most `cap` bytes, checked from its metadata
/// before opening (so a FIFO never blocks) and again on the file opened (so the file read is
/// the one checked). Returns the file and its length: read no further than that length
/// (`file.take(len)`), in case the file grows meanwhile.
pub fn open(path: &Path, cap: u64) -> Result<(File, u64), FileError> {
    let check = |meta: std::fs::Metadata| {
        if !meta.is_file() {
            Err(FileError::NotARegularFile)
        } else if meta.len() > cap {
            Err(FileError::TooLarge {
                bytes: meta.len(),
                cap,
            })
        } else {
            Ok(meta.len())
        }
    };
    check(std::fs::metadata(path).map_err(FileError::Io)?)?;
    let file = File::open(path).map_err(FileError::Io)?;
    let len = check(file.metadata().map_err(FileError::Io)?)?;
    Ok((file, len))
}
