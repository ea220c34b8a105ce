// Reads one byte of a buffer of the stand-in GPU (fake_cuda.cpp), to check that its fence
// catches an access outside the buffer and names it (fake_gpu.rs runs this before the tests):
//   fence_probe LIBCUDA BYTES OFFSET
// allocates BYTES through the stand-in's cuMemAlloc_v2 and reads the byte at OFFSET from the
// buffer's start (negative: before it). Exits 0 after a read the fence allows.
#include <cstdio>
#include <cstdlib>
#include <dlfcn.h>

int main(int argc, char **argv) {
    if (argc != 4) return 2;
    void *lib = dlopen(argv[1], RTLD_NOW);
    auto alloc = lib ? (int (*)(unsigned long long *, size_t))dlsym(lib, "cuMemAlloc_v2") : nullptr;
    unsigned long long p = 0;
    if (!alloc || alloc(&p, std::strtoull(argv[2], nullptr, 10)) != 0) return 3;
    volatile const char *at = (const char *)p + std::strtoll(argv[3], nullptr, 10);
    printf("read %d\n", *at);
    return 0;
}
