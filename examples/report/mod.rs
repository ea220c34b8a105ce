//! How every example ends: `main` returns what [`exit`] makes of its result, so that an error
//! prints as `error: ...` and then one `  caused by: ...` line for each `source()` down its
//! chain (the library's errors display only their own part, so no line repeats another).
use std::error::Error;
use std::process::ExitCode;

/// Success for `Ok`; for an error, its chain on stderr and exit code 1.
pub fn exit<E: Into<Box<dyn Error>>>(result: Result<(), E>) -> ExitCode {
    let Err(e) = result else {
        return ExitCode::SUCCESS;
    };
    let e = e.into();
    eprintln!("error: {e}");
    let mut source = e.source();
    while let Some(cause) = source {
        eprintln!("  caused by: {cause}");
        source = cause.source();
    }
    ExitCode::FAILURE
}
