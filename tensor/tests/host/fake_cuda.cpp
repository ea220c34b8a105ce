// A stand-in for the CUDA driver (libcuda) and cuBLAS (libcublas) that runs on the host, so
// that the whole GPU path (tensor's dispatch, the launchers, the kernels, the products) can
// be tested where no GPU is lent: device memory is host memory, a module is every kernel of
// lesson6's sources compiled by g++ against cuda_shim.h (the PTX NVRTC made is ignored), a
// launch runs the kernel through the shim, and a product is a plain column-major loop.
// The same file is built twice, as libcuda.so and as libcublas.so; tensor/tests/fake_gpu.rs
// builds them and runs the GPU tests against them. It checks what the host can show
// (arguments, layouts, indexing, the products' transpositions); a real GPU is still the only
// judge of timing, memory model and NVRTC's code generation.
#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>

#include <sys/mman.h>
#include <unistd.h>

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef void *CUhandle;

// A block's threads run one after another in one OS thread (the last first) unless the kernel
// waits on a barrier: the first __syncthreads (or shuffle) in that mode throws, and the launch
// is run again with real threads, one warp a block (kernels that synchronise write nothing
// before their first barrier).
static thread_local bool sequential_block = false;

struct Kernel {
    std::function<void(unsigned, unsigned, void **)> launch;
    std::string name;
};

template <class... P, size_t... I>
static void call_with(void (*k)(P...), void **params, std::index_sequence<I...>) {
    k(*(P *)params[I]...);
}

template <class... P> static Kernel kernel(void (*k)(P...)) {
    // A launch's arguments travel in a constant bank of 4 KiB on drivers before CUDA 12.1
    // (32 KiB since, on Volta and later): a kernel over it would be refused there.
    static_assert((sizeof(P) + ... + 0) <= 4096, "kernel parameters over 4 KiB");
    return {[k](unsigned grid, unsigned block, void **params) {
        auto body = [&] { call_with(k, params, std::index_sequence_for<P...>{}); };
        try {
            gridDim = {grid, 1, 1};
            blockDim = {block, 1, 1};
            sequential_block = true;
            no_barriers = &sequential_block;
            // Last block and last thread first: a GPU keeps no order, and a kernel whose
            // result leans on one (atomics summed in position order) shows it here.
            for (unsigned b = grid; b-- > 0;)
                for (unsigned t = block; t-- > 0;) {
                    blockIdx = {b, 1, 1};
                    threadIdx = {t, 1, 1};
                    body();
                }
            sequential_block = false;
        } catch (const BarrierInSequence &) {
            // One warp a block: the kernels that synchronise take any block size in whole
            // warps (their loops stride by blockDim.x), and every barrier costs a wake-up
            // of each of the block's OS threads.
            sequential_block = false;
            emulate_launch(grid, 32, body);
        }
    }};
}

// The device's default memory pool, which stream-ordered allocations draw from: the bytes
// it has handed out and not had back, their high-water mark and the release threshold, the
// attributes the Gpu sets and reads (CUmemPool_attribute's numbers). The stand-in's own
// buffers are host memory all the same; the pool only keeps the books, as a real one would.
struct Pool {
    unsigned long long used = 0, high = 0, release_threshold = 0;
};
static Pool the_pool;

// With LESSON6_STAND_IN_COUNTS set, the stand-in counts what a program asks of the driver and
// prints it when the program exits: launches by kernel, copies each way (a copy to the host is
// where a real GPU makes the program wait), copies and memsets on the device, allocations and
// events, and the pool's high-water mark; the copy loaded as cuBLAS counts its products.
// These counts are the same on a real GPU; times are not measured here.
struct Counts {
    bool on = getenv("LESSON6_STAND_IN_COUNTS") != nullptr;
    std::map<std::string, long> launches;
    long to_host = 0, to_device = 0, on_device = 0, memsets = 0, allocations = 0, events = 0;
    long products = 0;
    ~Counts() {
        if (!on) return;
        if (products) fprintf(stderr, "stand-in counts: %ld cuBLAS products\n", products);
        long total = 0;
        for (auto &[name, n] : launches) total += n;
        if (total + to_host + to_device + on_device + memsets + allocations + events == 0) return;
        fprintf(stderr,
                "stand-in counts: %ld launches, %ld copies to the host, %ld to the device, %ld on the "
                "device, %ld memsets, %ld allocations, %ld events made\n",
                total, to_host, to_device, on_device, memsets, allocations, events);
        fprintf(stderr, "stand-in counts: %.1f MiB at most in use at once (pool's high-water mark)\n",
                the_pool.high / 1048576.0);
        for (auto &[name, n] : launches) fprintf(stderr, "stand-in counts: %8ld %s\n", n, name.c_str());
    }
};
static Counts counts;

static std::map<std::string, Kernel> &kernels() {
    static std::map<std::string, Kernel> k = {
#define K(name) {#name, kernel(name)},
        KERNELS
#undef K
    };
    return k;
}

extern "C" {
// ---------------------------------------------------------------- the driver
CUresult cuInit(unsigned) { return 0; }
CUresult cuDriverGetVersion(int *v) { *v = 13000; return 0; }
CUresult cuDeviceGetCount(int *n) { *n = 1; return 0; }
CUresult cuDeviceGet(CUdevice *d, int ordinal) { *d = ordinal; return ordinal == 0 ? 0 : 101; }
CUresult cuDeviceGetName(char *name, int len, CUdevice) {
    snprintf(name, len, "host emulation of a GPU (tests only)");
    return 0;
}
// The memory the stand-in says it has (16 GiB), which its pool will not hand out more of.
static const unsigned long long DEVICE_MEMORY = 1ull << 34;
CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice) { *bytes = DEVICE_MEMORY; return 0; }
CUresult cuDeviceGetAttribute(int *v, int attribute, CUdevice) {
    switch (attribute) {
        case 75: *v = 9; break;   // compute capability major
        case 76: *v = 0; break;   // minor
        case 115: *v = 1; break;  // memory pools: yes, as on the GPUs lent (cuMemAllocAsync)
        default: *v = 0;
    }
    return 0;
}
static int the_context;
CUresult cuDevicePrimaryCtxRetain(CUhandle *ctx, CUdevice) { *ctx = &the_context; return 0; }
CUresult cuDevicePrimaryCtxRelease_v2(CUdevice) { return 0; }
CUresult cuCtxSetCurrent(CUhandle) { return 0; }
CUresult cuCtxGetCurrent(CUhandle *ctx) { *ctx = &the_context; return 0; }
CUresult cuCtxSynchronize() { return 0; }
CUresult cuStreamSynchronize(CUhandle) { return 0; }
CUresult cuGetErrorString(CUresult, const char **s) { *s = "fake driver error"; return 0; }
static int the_event;
CUresult cuEventCreate(CUhandle *e, unsigned) {
    ++counts.events;
    *e = &the_event;
    return 0;
}
CUresult cuEventDestroy_v2(CUhandle) { return 0; }
CUresult cuEventRecord(CUhandle, CUhandle) { return 0; }
CUresult cuEventSynchronize(CUhandle) { return 0; }
CUresult cuEventQuery(CUhandle) { return 0; }
CUresult cuStreamWaitEvent(CUhandle, CUhandle, unsigned) { return 0; }
CUresult cuGetErrorName(CUresult, const char **s) { *s = "CUDA_ERROR_FAKE"; return 0; }

// Each buffer ends where a page nobody may touch begins (an "electric fence", as Bruce
// Perens's malloc debugger placed them): a kernel that reads or writes past the end of its
// buffer faults here, where a GPU would report an illegal address or, worse, silently
// overwrite a neighbour in its memory pool. Buffers start 16 bytes aligned (a float4), so
// at most 15 bytes past the end go unseen; an empty buffer starts on the fence itself.
// With LESSON6_STAND_IN_FENCE=front the page stands before each buffer instead, which then
// starts page-aligned (a GPU's buffers start 256-byte aligned or more): an access before the
// start faults, one past the end does not. fake_gpu.rs runs the tests both ways.
static const bool fence_in_front = [] {
    const char *f = getenv("LESSON6_STAND_IN_FENCE");
    return f && std::string(f) == "front";
}();
struct Mapping {
    void *base;
    size_t length;
    CUdeviceptr fence;  // the page nobody may touch, after the buffer or before it
    size_t bytes;  // as asked for
    bool pooled;   // from the pool (cuMemAllocAsync), so counted in its books
};
static std::map<CUdeviceptr, Mapping> mappings;
static std::mutex memory_lock;
static const char *last_kernel = "none yet";

// A fault on a fence names the buffer and the last kernel launched before the process dies
// (a product of the cuBLAS stand-in may be the culprit too). Best effort, as a signal handler
// can be: the table is read without its lock, and the message is written by write(2).
static void on_fault(int, siginfo_t *info, void *) {
    CUdeviceptr at = (CUdeviceptr)info->si_addr, page = (CUdeviceptr)sysconf(_SC_PAGESIZE);
    char text[400];
    int len = snprintf(text, sizeof text, "the stand-in GPU: a fault at %#llx, ", at);
    // The buffer whose fence was hit starts below the address (a fence after it) or above it
    // (a fence before it).
    auto above = mappings.upper_bound(at);
    for (auto it : {above == mappings.begin() ? mappings.end() : std::prev(above), above}) {
        if (it == mappings.end()) continue;
        auto &[start, m] = *it;
        if (at < m.fence || at >= m.fence + page) continue;
        bool after = at >= start;
        CUdeviceptr by = after ? at - start - m.bytes : start - at;
        len += snprintf(text + len, sizeof text - len, "%llu byte%s %s", by, by == 1 ? "" : "s",
                        after ? "past the end" : "before the start");
        len += snprintf(text + len, sizeof text - len, " of the buffer at %#llx of %zu bytes: ", start, m.bytes);
        break;
    }
    len += snprintf(text + len, sizeof text - len,
                    "something read or wrote outside its buffer (last kernel launched: %s)\n",
                    last_kernel);
    if (write(2, text, len) < 0) {}
    signal(SIGSEGV, SIG_DFL);  // returning re-runs the access, which now ends the process
}

// A fresh fenced buffer of `bytes`, noted in `mappings` (the caller holds memory_lock).
static CUresult fenced_alloc(CUdeviceptr *p, size_t bytes, bool pooled) {
    // Installed by the first allocation, so by the copy of this file built as libcuda (the
    // one that knows the buffers), not by the one built as libcublas.
    static bool watching = [] {
        struct sigaction act = {};
        act.sa_sigaction = on_fault;
        act.sa_flags = SA_SIGINFO;
        return sigaction(SIGSEGV, &act, nullptr) == 0;
    }();
    (void)watching;
    ++counts.allocations;
    size_t page = (size_t)sysconf(_SC_PAGESIZE), used = (bytes + 15) / 16 * 16;
    // At least one page beside the fence, so that even an empty buffer's address is ours.
    size_t length = std::max<size_t>((used + page - 1) / page, 1) * page + page;
    void *base = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) return 2;  // CUDA_ERROR_OUT_OF_MEMORY
    char *fence = fence_in_front ? (char *)base : (char *)base + length - page;
    mprotect(fence, page, PROT_NONE);
    *p = fence_in_front ? (CUdeviceptr)fence + page : (CUdeviceptr)(fence - used);
    // Fresh pages are zeros, a GPU's fresh memory is whatever its pool last held: all ones
    // here (a NaN in every f32, -1 in every i64), so that a kernel leaning on memory it never
    // cleared shows it.
    memset((void *)*p, 0xff, used);
    mappings[*p] = {base, length, (CUdeviceptr)fence, bytes, pooled};
    return 0;
}

// Frees a buffer fenced_alloc made as `pooled` says (the caller holds memory_lock).
static CUresult fenced_free(CUdeviceptr p, bool pooled) {
    auto at = mappings.find(p);
    // CUDA_ERROR_INVALID_VALUE: not a buffer of ours, or freed the other way.
    if (at == mappings.end() || at->second.pooled != pooled) return 1;
    if (pooled) the_pool.used -= at->second.bytes;
    munmap(at->second.base, at->second.length);
    mappings.erase(at);
    return 0;
}

CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t bytes) {
    std::lock_guard<std::mutex> hold(memory_lock);
    return fenced_alloc(p, bytes, false);
}
CUresult cuMemFree_v2(CUdeviceptr p) {
    std::lock_guard<std::mutex> hold(memory_lock);
    return fenced_free(p, false);
}
enum { RELEASE_THRESHOLD = 4, USED_MEM_CURRENT = 7, USED_MEM_HIGH = 8 };
CUresult cuMemAllocAsync(CUdeviceptr *p, size_t bytes, CUhandle) {
    std::lock_guard<std::mutex> hold(memory_lock);
    if (bytes > DEVICE_MEMORY - the_pool.used) return 2;  // CUDA_ERROR_OUT_OF_MEMORY
    CUresult r = fenced_alloc(p, bytes, true);
    if (r == 0) {
        the_pool.used += bytes;
        if (the_pool.used > the_pool.high) the_pool.high = the_pool.used;
    }
    return r;
}
CUresult cuMemFreeAsync(CUdeviceptr p, CUhandle) {
    std::lock_guard<std::mutex> hold(memory_lock);
    return fenced_free(p, true);
}
CUresult cuDeviceGetDefaultMemPool(CUhandle *pool, CUdevice) { *pool = &the_pool; return 0; }
CUresult cuMemPoolSetAttribute(CUhandle pool, int attribute, void *value) {
    std::lock_guard<std::mutex> hold(memory_lock);
    unsigned long long v = *(unsigned long long *)value;
    if (pool != &the_pool) return 1;
    switch (attribute) {
        case RELEASE_THRESHOLD: the_pool.release_threshold = v; return 0;
        // As the driver: the high-water mark can only be reset to 0, which starts it again
        // from the bytes in use now.
        case USED_MEM_HIGH: if (v != 0) return 1; the_pool.high = the_pool.used; return 0;
        default: return 1;
    }
}
CUresult cuMemPoolGetAttribute(CUhandle pool, int attribute, void *value) {
    std::lock_guard<std::mutex> hold(memory_lock);
    unsigned long long *v = (unsigned long long *)value;
    if (pool != &the_pool) return 1;
    switch (attribute) {
        case RELEASE_THRESHOLD: *v = the_pool.release_threshold; return 0;
        case USED_MEM_CURRENT: *v = the_pool.used; return 0;
        case USED_MEM_HIGH: *v = the_pool.high; return 0;
        default: return 1;
    }
}
CUresult cuMemcpyHtoD_v2(CUdeviceptr d, const void *h, size_t n) {
    ++counts.to_device;
    memcpy((void *)d, h, n);
    return 0;
}
CUresult cuMemcpyDtoH_v2(void *h, CUdeviceptr d, size_t n) {
    ++counts.to_host;
    memcpy(h, (void *)d, n);
    return 0;
}
CUresult cuMemcpyDtoD_v2(CUdeviceptr d, CUdeviceptr s, size_t n) {
    ++counts.on_device;
    memmove((void *)d, (void *)s, n);
    return 0;
}
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr d, const void *h, size_t n, CUhandle) { return cuMemcpyHtoD_v2(d, h, n); }
CUresult cuMemcpyDtoHAsync_v2(void *h, CUdeviceptr d, size_t n, CUhandle) { return cuMemcpyDtoH_v2(h, d, n); }
CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr d, CUdeviceptr s, size_t n, CUhandle) { return cuMemcpyDtoD_v2(d, s, n); }
CUresult cuMemsetD8_v2(CUdeviceptr d, unsigned char v, size_t n) {
    ++counts.memsets;
    memset((void *)d, v, n);
    return 0;
}
CUresult cuMemsetD8Async(CUdeviceptr d, unsigned char v, size_t n, CUhandle) { return cuMemsetD8_v2(d, v, n); }

static int the_module;
CUresult cuModuleLoadData(CUhandle *m, const void *) { *m = &the_module; return 0; }
CUresult cuModuleUnload(CUhandle) { return 0; }
CUresult cuModuleGetFunction(CUhandle *f, CUhandle, const char *name) {
    auto it = kernels().find(name);
    if (it == kernels().end()) return 500;  // CUDA_ERROR_NOT_FOUND
    it->second.name = it->first;
    *f = &it->second;
    return 0;
}
CUresult cuLaunchKernel(CUhandle f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                        unsigned bz, unsigned, CUhandle, void **params, void **) {
    if (gy != 1 || gz != 1 || by != 1 || bz != 1) return 1;  // lesson6 launches 1-D grids only
    // The driver's own limits (CUDA_ERROR_INVALID_VALUE): no empty grid or block, at most
    // 1,024 threads a block and 2^31 - 1 blocks.
    if (gx == 0 || gx > 0x7fffffffu || bx == 0 || bx > 1024) return 1;
    Kernel *k = (Kernel *)f;
    if (counts.on) ++counts.launches[k->name];
    last_kernel = k->name.c_str();
    k->launch(gx, bx, params);
    return 0;
}

// ---------------------------------------------------------------- cuBLAS
typedef int cublasStatus_t;
static int the_handle;
cublasStatus_t cublasCreate_v2(CUhandle *h) { *h = &the_handle; return 0; }
cublasStatus_t cublasDestroy_v2(CUhandle) { return 0; }
cublasStatus_t cublasSetStream_v2(CUhandle, CUhandle) { return 0; }
cublasStatus_t cublasSetMathMode(CUhandle, int) { return 0; }

// C = alpha op(A) op(B) + beta C, column-major; C is not read when beta is 0 (as cuBLAS: it
// may hold anything, NaN included). Accumulated as a GPU does, in f32 by fused
// multiply-adds, but in the opposite order to the CPU's GEMM (the last term first), so that
// the GPU tests' tolerances meet a product rounded differently from the CPU's, as cuBLAS's is.
static void gemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc) {
    ++counts.products;
    for (int j = 0; j < n; ++j)
        for (int i = 0; i < m; ++i) {
            float acc = 0.0f;
            for (int p = k - 1; p >= 0; --p) {
                float av = ta ? a[p + (long long)i * lda] : a[i + (long long)p * lda];
                float bv = tb ? b[j + (long long)p * ldb] : b[p + (long long)j * ldb];
                acc = fmaf(av, bv, acc);
            }
            float *out = c + i + (long long)j * ldc;
            *out = beta == 0.0f ? alpha * acc : fmaf(alpha, acc, beta * *out);
        }
}

// cuBLAS's own argument checks (CUBLAS_STATUS_INVALID_VALUE, 7): no negative size, and each
// leading dimension at least its matrix's stored rows and at least 1, even when a size is 0.
static bool valid(int ta, int tb, int m, int n, int k, int lda, int ldb, int ldc) {
    auto at_least = [](int ld, int rows) { return ld >= (rows > 1 ? rows : 1); };
    return m >= 0 && n >= 0 && k >= 0 && at_least(lda, ta ? k : m) && at_least(ldb, tb ? n : k) &&
           at_least(ldc, m);
}

cublasStatus_t cublasSgemm_v2(CUhandle, int ta, int tb, int m, int n, int k, const float *alpha,
                              const float *a, int lda, const float *b, int ldb, const float *beta,
                              float *c, int ldc) {
    if (!valid(ta, tb, m, n, k, lda, ldb, ldc)) return 7;
    gemm(ta, tb, m, n, k, *alpha, a, lda, b, ldb, *beta, c, ldc);
    return 0;
}

cublasStatus_t cublasSgemmStridedBatched(CUhandle, int ta, int tb, int m, int n, int k,
                                         const float *alpha, const float *a, int lda, long long sa,
                                         const float *b, int ldb, long long sb, const float *beta,
                                         float *c, int ldc, long long sc, int batch) {
    if (!valid(ta, tb, m, n, k, lda, ldb, ldc) || batch < 0) return 7;
    for (int i = 0; i < batch; ++i)
        gemm(ta, tb, m, n, k, *alpha, a + i * sa, lda, b + i * sb, ldb, *beta, c + i * sc, ldc);
    return 0;
}
}
