// Just enough of CUDA for g++ to compile lesson6's kernel sources and run them on the host,
// for tests that check the kernels' logic where no GPU is lent (tensor/tests/kernels_on_host.rs).
// A launch runs its blocks one after another and a block's threads as real threads, so
// __syncthreads is a barrier, __shfl_xor_sync an exchange through a per-block array between
// two barriers, and __shared__ a static (one block at a time owns it). Atomics take a lock.
// This checks indexing, bounds and arithmetic; it cannot check what only a GPU shows (its
// memory model, warp scheduling, NVRTC's code generation): that is scripts/gpu-check.sh's job.
#pragma once
#include <math.h>
#include <barrier>
#include <cstdint>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(threads)

struct dim3 {
    unsigned int x = 1, y = 1, z = 1;
};
inline thread_local dim3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;

struct uint2 { unsigned int x, y; };
struct uint4 { unsigned int x, y, z, w; };
struct alignas(16) float4 { float x, y, z, w; };
inline uint2 make_uint2(unsigned int x, unsigned int y) { return {x, y}; }
inline uint4 make_uint4(unsigned int x, unsigned int y, unsigned int z, unsigned int w) { return {x, y, z, w}; }
inline unsigned int __umulhi(unsigned int a, unsigned int b) { return (unsigned int)(((uint64_t)a * b) >> 32); }
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }

inline std::mutex atomic_lock;
inline float atomicAdd(float *p, float v) { std::lock_guard<std::mutex> g(atomic_lock); float old = *p; *p = old + v; return old; }
inline unsigned long long atomicMax(unsigned long long *p, unsigned long long v) {
    std::lock_guard<std::mutex> g(atomic_lock);
    unsigned long long old = *p;
    if (v > old) *p = v;
    return old;
}

// Set by a launcher that runs a block's threads one after another: a barrier cannot be kept
// there, so the first one asks for real threads (see fake_cuda.cpp).
inline thread_local bool *no_barriers = nullptr;
struct BarrierInSequence {};
inline std::barrier<> *block_barrier = nullptr;
inline std::vector<double> shuffle_slots;
inline void __syncthreads() {
    if (no_barriers && *no_barriers) throw BarrierInSequence{};
    block_barrier->arrive_and_wait();
}
template <class T> T __shfl_xor_sync(unsigned int, T v, int lane_mask) {
    if (no_barriers && *no_barriers) throw BarrierInSequence{};
    shuffle_slots[threadIdx.x] = (double)v;
    __syncthreads();
    T r = (T)shuffle_slots[threadIdx.x ^ lane_mask];
    __syncthreads();
    return r;
}

// Runs `body` as a grid of `grid` blocks of `block` threads: one OS thread per thread of a
// block, each running its part of every block in turn (the last block first: a GPU keeps no
// order), with a barrier between blocks (so a block's __shared__ statics are free again
// before the next block starts).
template <class F> void emulate_launch(unsigned int grid, unsigned int block, F body) {
    gridDim = {grid, 1, 1};
    blockDim = {block, 1, 1};
    std::barrier<> bar(block);
    block_barrier = &bar;
    shuffle_slots.assign(block, 0.0);
    std::vector<std::thread> threads;
    for (unsigned int t = 0; t < block; ++t)
        threads.emplace_back([&, t] {
            threadIdx = {t, 1, 1};
            for (unsigned int b = grid; b-- > 0;) {
                blockIdx = {b, 1, 1};
                body();
                bar.arrive_and_wait();
            }
        });
    for (auto &th : threads) th.join();
}
