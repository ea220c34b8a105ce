//! Assembling the kernels for a real GPU architecture, to read what each one costs.
//!
//! At run time the driver turns the PTX that [`sources::compile`] makes into machine code
//! (SASS) for the card in hand; only then does `ptxas` decide how many registers a kernel
//! takes, and a kernel whose registers times its block size exceed the SM's 65,536 fails
//! every launch with "too many resources requested". NVRTC carries `ptxas` too: compiled
//! for `sm_90` with `--ptxas-options=-v` it assembles each kernel and logs its registers,
//! its stack frame, its spills and its static shared memory. That needs no GPU and no
//! driver, only the NVRTC library, so CI checks every kernel's resources for the cards the
//! project is measured on (`kernels/tests/compile.rs`) before any of them meets one.
use crate::sources::{nvrtc_present, Source, COMMON};
use crate::{Error, Result};
use cudarc::nvrtc::result as nvrtc;
use std::ffi::{CStr, CString};

/// What `ptxas` reports for one kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    pub kernel: String,
    /// Registers per thread.
    pub registers: u32,
    /// Per-thread local memory for the stack (arrays indexed at run time, calls).
    pub stack_bytes: u32,
    /// Bytes stored to and loaded from local memory because registers ran out.
    pub spill_stores: u32,
    pub spill_loads: u32,
    /// Static shared memory per block.
    pub shared_bytes: u32,
}

/// Assembles `source` for the real architecture `sm` (e.g. "sm_90") with the options
/// [`sources::compile`](crate::sources::compile) uses, and returns `ptxas`'s report for
/// each of its kernels, in the order `ptxas` assembled them.
pub fn assemble(source: Source, sm: &str) -> Result<Vec<Resources>> {
    if !nvrtc_present() {
        return Err(Error::Unavailable(
            "the NVRTC library (libnvrtc) was not found".into(),
        ));
    }
    let compile_error = |log: String| Error::Compile {
        source: source.name,
        log,
    };
    let code = CString::new(format!("{COMMON}\n{}", source.code))
        .map_err(|_| compile_error("the source holds a NUL byte".into()))?;
    let name = CString::new(format!("{}.cu", source.name))
        .map_err(|_| compile_error("the source's name holds a NUL byte".into()))?;
    let prog =
        nvrtc::create_program(&code, Some(&name)).map_err(|e| compile_error(format!("{e:?}")))?;
    let options = [
        "--fmad=false".to_string(),
        format!("--gpu-architecture={sm}"),
        "--ptxas-options=-v".to_string(),
    ];
    // SAFETY: FFI on a program just created from `code` and `name`, which outlive it; the
    // log is read before the program is destroyed, and it is destroyed once.
    let (compiled, log) = unsafe {
        let compiled = nvrtc::compile_program(prog, &options);
        let log = nvrtc::get_program_log(prog);
        let _ = nvrtc::destroy_program(prog);
        (compiled, log)
    };
    let log = log
        .map(|chars| {
            let bytes: Vec<u8> = chars.iter().map(|&c| c as u8).collect();
            CStr::from_bytes_until_nul(&bytes)
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    match compiled {
        Ok(()) => Ok(parse_report(&log)),
        Err(e) => Err(compile_error(format!("{e:?}\n{log}"))),
    }
}

/// Reads `ptxas -v`'s lines: "Compiling entry function 'k' for 'sm_90'", then
/// "N bytes stack frame, N bytes spill stores, N bytes spill loads", then
/// "Used N registers, used N barriers, N bytes smem" (the smem part only when there is some).
fn parse_report(log: &str) -> Vec<Resources> {
    let mut kernels = Vec::new();
    let mut current: Option<Resources> = None;
    for line in log.lines() {
        if let Some(rest) = line.split("Compiling entry function '").nth(1) {
            kernels.extend(current.take());
            current = Some(Resources {
                kernel: rest.split('\'').next().unwrap_or_default().to_string(),
                registers: 0,
                stack_bytes: 0,
                spill_stores: 0,
                spill_loads: 0,
                shared_bytes: 0,
            });
        } else if let Some(k) = current.as_mut() {
            if line.contains("bytes stack frame") {
                k.stack_bytes = number_before(line, "bytes stack frame");
                k.spill_stores = number_before(line, "bytes spill stores");
                k.spill_loads = number_before(line, "bytes spill loads");
            } else if line.contains("Used ") {
                k.registers = number_before(line, "registers");
                k.shared_bytes = number_before(line, "bytes smem");
            }
        }
    }
    kernels.extend(current);
    kernels
}

/// The number written just before `unit` in `line` (0 when `unit` is not there).
fn number_before(line: &str, unit: &str) -> u32 {
    line.split(unit)
        .next()
        .filter(|_| line.contains(unit))
        .and_then(|head| head.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ptxas_report() {
        let log = "ptxas info    : 0 bytes gmem\n\
            ptxas info    : Compiling entry function 'sum_rows_f32' for 'sm_90'\n\
            ptxas info    : Function properties for sum_rows_f32\n\
            ptxas         .     8 bytes stack frame, 4 bytes spill stores, 12 bytes spill loads\n\
            ptxas info    : Used 17 registers, used 1 barriers, 256 bytes smem\n\
            ptxas info    : Compile time = 80.176 ms\n\
            ptxas info    : Compiling entry function 'fill_f32' for 'sm_90'\n\
            ptxas info    : Function properties for fill_f32\n\
            ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n\
            ptxas info    : Used 12 registers, used 0 barriers\n";
        assert_eq!(
            parse_report(log),
            vec![
                Resources {
                    kernel: "sum_rows_f32".into(),
                    registers: 17,
                    stack_bytes: 8,
                    spill_stores: 4,
                    spill_loads: 12,
                    shared_bytes: 256,
                },
                Resources {
                    kernel: "fill_f32".into(),
                    registers: 12,
                    stack_bytes: 0,
                    spill_stores: 0,
                    spill_loads: 0,
                    shared_bytes: 0,
                },
            ]
        );
    }
}
