//! The one error of the `nn` crate: what went wrong, with the data to say where (the file,
//! its line, column and value; the column of a table; the image and the format it was read
//! as), and the lower crates' errors wrapped as they came, so that a caller can match on the
//! kind and `source()` walks down to the cause. Each message names the place and what to
//! change, as the README's "Bad input" table quotes them.
//!
//! So that an error chain printed one line per `source()` repeats nothing, an error with a
//! context of its own (a path, a pattern, a batch) displays only that context and returns
//! the cause as its source, while a wrapper that adds nothing (`Tensor`, `Autograd`,
//! `Checkpoint`, `Learner`) displays the error it wraps and passes that error's own source
//! on.
use crate::learner::LearnerError;
use crate::state_dict::StateDictError;
use crate::user_file::FileError;
use std::fmt;
use std::path::PathBuf;

/// Why an `nn` function failed.
#[derive(Debug)]
pub enum Error {
    /// A file or folder the system would not read, write, list or create.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file a user named that was not opened (not a regular file, or too large);
    /// `read_as` is the format a reader refuses it as, where the message says so.
    File {
        path: PathBuf,
        source: FileError,
        read_as: Option<&'static str>,
    },
    /// A CSV file whose content is malformed or does not fit: where (the line, the column),
    /// the value found there, and what is wrong with it.
    Csv {
        path: PathBuf,
        line: Option<u64>,
        column: Option<String>,
        value: Option<String>,
        msg: String,
    },
    /// A JSON file that could not be written or read; `expected` is what it was read as.
    Json {
        path: PathBuf,
        expected: Option<&'static str>,
        source: serde_json::Error,
    },
    /// An image that could not be decoded or written: its name, the format it was read as
    /// (once known), and why.
    Image {
        name: String,
        format: Option<&'static str>,
        msg: String,
    },
    /// A folder that cannot serve: an image folder with nothing to train on (no images, no
    /// labels, too few classes), a data folder that is a file, or a run's output folder that
    /// holds what is not a run's.
    Folder { path: PathBuf, msg: String },
    /// A label pattern that is not a regular expression (`source`) or has no group.
    Pattern {
        pattern: String,
        source: Option<regex::Error>,
    },
    /// A table without the column `name`.
    MissingColumn { name: String },
    /// A column of the other kind: `is` numeric where categorical is `expected`, or back.
    ColumnKind {
        name: String,
        is: &'static str,
        expected: &'static str,
    },
    /// A column of `rows` rows set into a table of `table_rows`.
    ColumnLength {
        name: String,
        rows: usize,
        table_rows: usize,
    },
    /// A value of a date column that is not `YYYY-MM-DD`.
    NotADate {
        column: String,
        row: usize,
        value: String,
    },
    /// None of the `images` of a batch could be read; `first` is why the first was not.
    NoImageRead {
        images: usize,
        first: Option<Box<Error>>,
    },
    /// Tables that do not fit the model or each other (a preprocessing fitted on other
    /// columns, a split with no row left), with no one file to blame.
    Data(String),
    /// An argument out of its range (an image size, a validation share).
    Invalid(String),
    /// A parameter or buffer name registered twice in one model's `Vars`.
    DuplicateName(String),
    /// A checkpoint that could not be saved or loaded.
    Checkpoint(StateDictError),
    /// A safetensors file that is not an exported learner (`crate::export`): no recipe in
    /// its metadata (a plain state dict), or one that is not valid.
    NotAnExport { path: PathBuf, msg: String },
    /// An exported learner of a format version this build does not read.
    ExportVersion { path: PathBuf, found: String },
    /// An exported learner whose architecture this build cannot build.
    UnknownArch { path: PathBuf, arch: String },
    /// An exported learner of another kind than the one asked for (`"an image classifier"`,
    /// `"a tabular learner"`).
    ExportKind {
        path: PathBuf,
        found: &'static str,
        wanted: &'static str,
    },
    /// Training or validation that stopped.
    Learner(LearnerError),
    /// A tensor op that refused its tensors.
    Tensor(tensor::Error),
    /// An op on the tape that refused its tensors.
    Autograd(autograd::Error),
}

/// Result of the `nn` functions that read, check or prepare data.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An [`Error::Io`] naming `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`Error::Csv`] about the CSV file `path` as a whole (its header, a key in it twice).
    pub fn csv(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Csv {
            path: path.into(),
            line: None,
            column: None,
            value: None,
            msg: msg.into(),
        }
    }

    /// An [`Error::Csv`] at `line` of the CSV file `path`, in `column` where it is one field,
    /// on `value` where the message quotes it.
    pub fn csv_at(
        path: impl Into<PathBuf>,
        line: u64,
        column: Option<&str>,
        value: Option<&str>,
        msg: impl Into<String>,
    ) -> Self {
        Error::Csv {
            path: path.into(),
            line: Some(line),
            column: column.map(str::to_string),
            value: value.map(str::to_string),
            msg: msg.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, .. } => write!(f, "{}", path.display()),
            Error::File { path, read_as, .. } => match read_as {
                Some(format) => write!(f, "{}: refusing to read it as {format}", path.display()),
                None => write!(f, "{}", path.display()),
            },
            Error::Csv {
                path,
                line,
                column,
                value,
                msg,
            } => {
                write!(f, "{}", path.display())?;
                if let Some(line) = line {
                    write!(f, ", line {line}")?;
                }
                if let Some(column) = column {
                    write!(f, ", column `{column}`")?;
                }
                match value {
                    Some(value) => write!(f, ": `{value}` {msg}"),
                    None => write!(f, ": {msg}"),
                }
            }
            Error::Json { path, expected, .. } => match expected {
                Some(kind) => write!(f, "{}: not a {kind}", path.display()),
                None => write!(f, "{}", path.display()),
            },
            Error::Image { name, format, msg } => match format {
                Some(format) => write!(f, "{name} (read as {format}): {msg}"),
                None => write!(f, "{name}: {msg}"),
            },
            Error::Folder { path, msg } => write!(f, "{}: {msg}", path.display()),
            Error::Pattern { pattern, source } => match source {
                Some(_) => write!(f, "label pattern `{pattern}` is not a regular expression"),
                None => write!(
                    f,
                    "label pattern `{pattern}` has no group to take the label from"
                ),
            },
            Error::MissingColumn { name } => write!(f, "no column `{name}`"),
            Error::ColumnKind { name, is, expected } => {
                write!(f, "column `{name}` is {is}, not {expected}")
            }
            Error::ColumnLength {
                name,
                rows,
                table_rows,
            } => write!(f, "column `{name}` has {rows} rows, the table {table_rows}"),
            Error::NotADate { column, row, value } => write!(
                f,
                "column `{column}`, row {row}: `{value}` is not a date (YYYY-MM-DD)"
            ),
            Error::NoImageRead { images, .. } => {
                write!(f, "none of its {images} images could be read")
            }
            Error::Data(msg) | Error::Invalid(msg) => f.write_str(msg),
            Error::DuplicateName(name) => write!(
                f,
                "`{name}` is registered twice: give each layer its own path"
            ),
            Error::Checkpoint(e) => e.fmt(f),
            Error::NotAnExport { path, msg } => {
                write!(f, "{}: not an exported learner: {msg}", path.display())
            }
            Error::ExportVersion { path, found } => write!(
                f,
                "{}: an exported learner of format version {found}, this build reads version {}",
                path.display(),
                crate::export::EXPORT_VERSION
            ),
            Error::ExportKind {
                path,
                found,
                wanted,
            } => write!(f, "{}: {found}, not {wanted}", path.display()),
            Error::UnknownArch { path, arch } => write!(
                f,
                "{}: an exported learner of architecture `{arch}`, which this build cannot build (it has resnet34)",
                path.display()
            ),
            Error::Learner(e) => e.fmt(f),
            Error::Tensor(e) => e.fmt(f),
            Error::Autograd(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::File { source, .. } => Some(source),
            Error::Json { source, .. } => Some(source),
            Error::Pattern {
                source: Some(e), ..
            } => Some(e),
            Error::NoImageRead { first: Some(e), .. } => Some(e.as_ref()),
            Error::Checkpoint(e) => e.source(),
            Error::Learner(e) => e.source(),
            Error::Tensor(e) => e.source(),
            Error::Autograd(e) => e.source(),
            _ => None,
        }
    }
}

impl From<StateDictError> for Error {
    fn from(e: StateDictError) -> Self {
        Error::Checkpoint(e)
    }
}

impl From<LearnerError> for Error {
    fn from(e: LearnerError) -> Self {
        Error::Learner(e)
    }
}

impl From<tensor::Error> for Error {
    fn from(e: tensor::Error) -> Self {
        Error::Tensor(e)
    }
}

impl From<autograd::Error> for Error {
    fn from(e: autograd::Error) -> Self {
        Error::Autograd(e)
    }
}
