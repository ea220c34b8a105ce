//! A cache of freed f32 buffers, so that an op's output can reuse the memory of a tensor that
//! died a moment ago: the idea of PyTorch's caching allocator, on the host.
//!
//! Why it pays (measured on the development machine): a fresh 25 MB buffer costs about 10 ms
//! of page faults (2 µs per 4 KiB page) when first written, and a buffer that glibc recycles
//! costs a 2.8 ms memset, because `vec![0.0; n]` must zero it. That is a quarter of the
//! convolution `3 -> 64, 7x7/2` at batch 8, and a tenth of the Rossmann model's first linear
//! layer. A buffer from this cache costs neither: ops that overwrite every element of their
//! output take it as it is, stale values and all (any bit pattern is a valid f32, so this is
//! safe Rust; it is only wrong for an op that reads its output before writing it).
//!
//! Buffers come back when the last tensor sharing a storage is dropped. The cache holds at
//! most [`MAX_BUFFERS`] buffers and [`MAX_BYTES`] bytes, dropping the oldest beyond that, and
//! before a request takes new memory it drops the buffers no request has taken within
//! [`MAX_AGE`] requests; [`release_cached_memory`] empties it.
use std::collections::VecDeque;
use std::sync::Mutex;

/// Buffers smaller than this (64 KiB) are left to the allocator: its small-size path is fast.
const MIN_LEN: usize = 1 << 14;
/// At most this many cached buffers.
pub const MAX_BUFFERS: usize = 32;
/// At most this many cached bytes (1 GiB).
pub const MAX_BYTES: usize = 1 << 30;
/// When a request misses, cached buffers that no request has taken within this many
/// requests are freed before new memory is taken. Through ResNet-34's backward, where sizes
/// grow layer by layer, the cache otherwise kept 60-160 MB of the forward's buffers until
/// the next step, above the live tensors at the step's peak: 682-716 MiB against PyTorch's
/// 682, now 649. The price: buffers that come back only once a step are sometimes faulted
/// in afresh (a ResNet-34 step 20% more page faults, inference 45% more; freeing them on
/// any request instead of on misses only doubled inference's).
const MAX_AGE: u64 = 32;

/// The cached buffers, oldest first, each with the count of requests when it came back.
struct Pool {
    buffers: VecDeque<(Vec<f32>, u64)>,
    requests: u64,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    buffers: VecDeque::new(),
    requests: 0,
});

/// A buffer of `len` floats whose contents are unspecified (zeros, or the values of a tensor
/// that has died): for outputs whose every element the op writes.
pub(crate) fn take(len: usize) -> Vec<f32> {
    if len >= MIN_LEN {
        if let Ok(mut pool) = POOL.lock() {
            pool.requests += 1;
            // The smallest cached buffer that fits, unless it is more than twice too big.
            let best = pool
                .buffers
                .iter()
                .enumerate()
                .filter(|(_, (v, _))| (len..=2 * len).contains(&v.capacity()))
                .min_by_key(|(_, (v, _))| v.capacity())
                .map(|(i, _)| i);
            if let Some((mut v, _)) = best.and_then(|i| pool.buffers.remove(i)) {
                drop(pool);
                if v.len() >= len {
                    v.truncate(len);
                } else {
                    v.resize(len, 0.0);
                }
                return v;
            }
            // A miss: memory is about to come from the system. First free the buffers that
            // no request has taken for MAX_AGE requests.
            let now = pool.requests;
            pool.buffers.retain(|(_, at)| now - at < MAX_AGE);
        }
    }
    vec![0.0; len]
}

/// Gives a dead tensor's buffer back to the cache.
pub(crate) fn recycle(v: Vec<f32>) {
    if v.capacity() < MIN_LEN {
        return;
    }
    if let Ok(mut pool) = POOL.lock() {
        let now = pool.requests;
        pool.buffers.push_back((v, now));
        let mut bytes: usize = pool.buffers.iter().map(|(v, _)| v.capacity() * 4).sum();
        while pool.buffers.len() > MAX_BUFFERS || bytes > MAX_BYTES {
            match pool.buffers.pop_front() {
                Some((old, _)) => bytes -= old.capacity() * 4,
                None => break,
            }
        }
    }
}

/// Frees every cached buffer, on the host and on every GPU (`cuda/cache.rs`), for a program
/// that is done with large tensors and wants the memory back; returns how many bytes.
pub fn release_cached_memory() -> usize {
    let host = match POOL.lock() {
        Ok(mut pool) => pool.buffers.drain(..).map(|(v, _)| v.capacity() * 4).sum(),
        Err(_) => 0,
    };
    host + crate::cuda::release_cached_buffers(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The sizes here (32 Ki floats and up) are beyond what the crate's other unit tests
    // allocate, and the two tests' ranges do not overlap, so no test running beside one of
    // these can take its buffers or slip its own in.
    /// A dead buffer comes back, the same memory with its old values, cut to the length asked.
    #[test]
    fn a_recycled_buffer_is_reused_and_sized() {
        let v = vec![7.0f32; MIN_LEN * 3];
        let ptr = v.as_ptr();
        recycle(v);
        let w = take(MIN_LEN * 2);
        assert_eq!(w.len(), MIN_LEN * 2);
        assert_eq!(
            w.as_ptr(),
            ptr,
            "the recycled buffer was not handed out again"
        );
        assert_eq!(w.capacity(), MIN_LEN * 3);
        assert_eq!(w[0], 7.0, "a reused buffer keeps its old values");
    }

    /// A buffer more than twice the length asked is not handed out, but stays for a request
    /// it fits.
    #[test]
    fn a_buffer_more_than_twice_too_big_is_kept_for_a_larger_request() {
        let big = vec![0.0f32; MIN_LEN * 20];
        let ptr = big.as_ptr();
        recycle(big);
        let too_small = take(MIN_LEN * 9);
        assert_ne!(too_small.as_ptr(), ptr);
        let big_enough = take(MIN_LEN * 10);
        assert_eq!(big_enough.as_ptr(), ptr);
    }

    /// A buffer that no request takes within MAX_AGE requests is freed when one misses: asked
    /// for after that, it is a fresh one (zeros, not its old values).
    #[test]
    fn a_buffer_no_request_takes_is_dropped() {
        recycle(vec![7.0f32; MIN_LEN * 40]);
        for _ in 0..=MAX_AGE {
            // Requests it cannot serve (too small for them); their buffers are not recycled.
            drop(take(MIN_LEN * 100));
        }
        let again = take(MIN_LEN * 40);
        assert_eq!(again[0], 0.0, "a stale buffer was handed out");
    }
}
