//! Compiling one loop for several instruction sets. The crate is built for baseline x86-64
//! (SSE2) so that its binaries run anywhere; a loop the compiler can vectorise is then held
//! to 4 lanes. [`multiversion!`] compiles a function's body three times, for AVX-512, AVX2
//! and the baseline, and calls the best one the CPU has (detected at run time and cached by
//! the standard library), so the same plain Rust becomes 16-lane code on this machine.
//! Everything the body calls must be `#[inline(always)]` to be compiled with it.

/// `multiversion! { pub(crate) fn name<T: Bound>(args...) -> Ret { body } }` (the return type
/// may be left out) defines `name`
/// as a dispatcher over the body compiled for AVX-512F, AVX2 and the baseline.
macro_rules! multiversion {
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident $(<$T:ident: $bound:path>)? ($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block
    ) => {
        $(#[$meta])*
        $vis fn $name $(<$T: $bound>)? ($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body $(<$T: $bound>)? ($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f")]
            fn avx512 $(<$T: $bound>)? ($($arg: $ty),*) $(-> $ret)? {
                body($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2")]
            fn avx2 $(<$T: $bound>)? ($($arg: $ty),*) $(-> $ret)? {
                body($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has AVX-512F, the only feature `avx512` is compiled for.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2, the only feature `avx2` is compiled for.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}
