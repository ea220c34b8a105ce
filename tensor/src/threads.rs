//! The thread that drives training as one of rayon's workers. A parallel op called from a
//! thread outside rayon's pool hands its work to the pool and sleeps until it is done; on
//! this machine that round trip costs 10-20 µs, and a Rossmann training step calls a few
//! hundred ops, most of them small. With the calling thread inside the pool, an op that does
//! not split runs in place and one that does shares its work with the other workers.
//! Measured on a Rossmann step (2 threads): batch 64 3.6 -> 3.1 ms, batch 512 16.3 -> 14.6.

/// Makes the calling thread worker 0 of rayon's global pool (whose size stays
/// `RAYON_NUM_THREADS`, or the number of CPUs). Call it first thing in `main`, before any
/// parallel op; it fails if the global pool has already been built (rayon's error says so).
pub fn join_thread_pool() -> Result<(), rayon::ThreadPoolBuildError> {
    rayon::ThreadPoolBuilder::new()
        .use_current_thread()
        .build_global()
}
