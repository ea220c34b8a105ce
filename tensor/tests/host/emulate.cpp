// Runs one lesson6 kernel on the host through cuda_shim.h:
//   emulate KERNEL GRID BLOCK ARG...
// (or, `emulate offsets LAYOUT I...`, prints the offsets of elements of a strided view).
// Each ARG is, in the kernel's parameter order: a number (its type is the parameter's), a
// buffer file (`f32:PATH`, `i64:PATH`, `u64:PATH`, `u32:PATH`, `i32:PATH`, raw little-endian
// elements; buffers the kernel may write are written back after the launch), `null`, or a
// struct given as its fields separated by commas (ConvGeometry: its 11 fields; StridedLayout,
// Divisor, PlaneSizes, CodeBlock, AdamGroup, CatGroup and EmbeddingGroup: see their parsers). The sources are
// concatenated in front of this file by the test (common.cuh, then every .cu).
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <tuple>

struct Buffer {
    std::string path;
    std::vector<char> bytes;
    bool writable;
};
static std::vector<Buffer *> buffers;
static char **argv_at;

static const char *next_arg() { return *argv_at++; }

template <class T> static T *buffer(bool writable) {
    std::string a = next_arg();
    if (a == "null") return nullptr;
    auto b = new Buffer{a.substr(a.find(':') + 1), {}, writable};
    std::ifstream in(b->path, std::ios::binary);
    b->bytes.assign(std::istreambuf_iterator<char>(in), {});
    b->bytes.resize(b->bytes.size() + 64);  // room for a vector load's tail, never written back
    buffers.push_back(b);
    return (T *)b->bytes.data();
}

template <class T> struct Parse;
#define NUMBER(T, CONV) template <> struct Parse<T> { static T get() { return (T)CONV(next_arg()); } };
NUMBER(unsigned int, std::stoull)
NUMBER(unsigned long long, std::stoull)
NUMBER(int, std::stoll)
NUMBER(float, std::stod)
template <class T> struct Parse<T *> { static T *get() { return buffer<T>(true); } };
template <class T> struct Parse<const T *> { static const T *get() { return buffer<T>(false); } };
// A StridedLayout, a Divisor or a PlaneSizes comes as the bytes of the Rust launcher's own struct, in hex,
// so the host emulation reads what the driver is handed (magic divisors included) and a
// struct that no longer matches its Rust twin is refused.
template <class T> static T from_hex() {
    std::string s = next_arg();
    if (s.size() != 2 * sizeof(T)) {
        fprintf(stderr, "a struct of %zu hex digits, %zu expected\n", s.size(), 2 * sizeof(T));
        exit(2);
    }
    T v;
    unsigned char *bytes = (unsigned char *)&v;
    for (size_t b = 0; b < sizeof v; ++b) bytes[b] = (unsigned char)std::stoul(s.substr(2 * b, 2), nullptr, 16);
    return v;
}
template <> struct Parse<StridedLayout> {
    static StridedLayout get() { return from_hex<StridedLayout>(); }
};
template <> struct Parse<Divisor> {
    static Divisor get() { return from_hex<Divisor>(); }
};
template <> struct Parse<PlaneSizes> {
    static PlaneSizes get() { return from_hex<PlaneSizes>(); }
};
template <> struct Parse<CodeBlock> {
    static CodeBlock get() { return from_hex<CodeBlock>(); }
};
template <> struct Parse<ConvGeometry> {
    static ConvGeometry get() {
        std::string s = next_arg();
        unsigned int f[11];
        sscanf(s.c_str(), "%u,%u,%u,%u,%u,%u,%u,%u,%u,%u,%u", f, f + 1, f + 2, f + 3, f + 4, f + 5, f + 6, f + 7, f + 8, f + 9, f + 10);
        return ConvGeometry{f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10]};
    }
};

// AdamGroup: its count, then for each parameter its four buffers (p, g, m, v) and its step
// as "decay,b1,b2,step_size,eps"; `start` follows from the parameters' lengths.
template <> struct Parse<AdamGroup> {
    static AdamGroup get() {
        AdamGroup t{};
        t.count = std::stoul(next_arg());
        for (unsigned j = 0; j < t.count; ++j) {
            t.p[j] = buffer<float>(true);
            t.start[j + 1] = t.start[j] + (buffers.back()->bytes.size() - 64) / sizeof(float);
            t.g[j] = buffer<float>(false);
            t.m[j] = buffer<float>(true);
            t.v[j] = buffer<float>(true);
            sscanf(next_arg(), "%f,%f,%f,%f,%f", &t.decay[j], &t.b1[j], &t.b2[j], &t.step_size[j], &t.eps[j]);
        }
        return t;
    }
};

// CatGroup: its count, inner and total, then for each input its buffer (read-only), its
// layout (as StridedLayout's) and its block's `at` and `len`; `start` follows from the
// layouts' sizes.
template <> struct Parse<CatGroup> {
    static CatGroup get() {
        CatGroup g{};
        g.count = std::stoul(next_arg());
        g.inner = std::stoull(next_arg());
        g.total = std::stoull(next_arg());
        for (unsigned j = 0; j < g.count; ++j) {
            g.x[j] = (unsigned long long)buffer<char>(false);
            g.src[j] = Parse<StridedLayout>::get();
            g.at[j] = std::stoull(next_arg());
            g.len[j] = std::stoull(next_arg());
            unsigned long long n = 1;
            for (unsigned d = 0; d < g.src[j].rank; ++d) n *= g.src[j].shape[d].d;
            g.start[j + 1] = g.start[j] + n;
        }
        return g;
    }
};

// EmbeddingGroup: its count, then for each table its buffer (written back: the backward's
// gradients are the tables), its rows and its width; `start` follows from the widths and
// each table reads the column of codes of its place.
template <> struct Parse<EmbeddingGroup> {
    static EmbeddingGroup get() {
        EmbeddingGroup g{};
        g.count = std::stoul(next_arg());
        for (unsigned j = 0; j < g.count; ++j) {
            g.table[j] = (unsigned long long)buffer<char>(true);
            g.rows[j] = std::stoull(next_arg());
            g.start[j + 1] = g.start[j] + std::stoull(next_arg());
            g.code[j] = j;
        }
        return g;
    }
};

template <class... P> static std::function<void(unsigned, unsigned)> runner(void (*k)(P...)) {
    return [k](unsigned grid, unsigned block) {
        std::tuple<P...> args{Parse<P>::get()...};  // braced: parsed left to right
        emulate_launch(grid, block, [&] { std::apply(k, args); });
    };
}

int main(int argc, char **argv) {
    // `emulate offsets LAYOUT I...`: strided_offset of each element index I, one a line (no
    // launch, no buffers), so that views of more than 2^32 elements, where `divide` leaves
    // its multiply-high for a 64-bit division, are checked without allocating them.
    if (argc >= 3 && std::string(argv[1]) == "offsets") {
        argv_at = argv + 2;
        StridedLayout l = from_hex<StridedLayout>();
        for (; *argv_at; ++argv_at) printf("%lld\n", strided_offset(l, std::stoull(*argv_at)));
        return 0;
    }
    std::map<std::string, std::function<void(unsigned, unsigned)>> kernels = {
#define K(name) {#name, runner(name)},
        KERNELS
#undef K
    };
    if (argc < 4 || !kernels.count(argv[1])) {
        fprintf(stderr, "usage: emulate KERNEL GRID BLOCK ARG... (unknown kernel %s)\n", argc > 1 ? argv[1] : "");
        return 2;
    }
    argv_at = argv + 4;
    kernels[argv[1]](std::stoul(argv[2]), std::stoul(argv[3]));
    for (auto *b : buffers)
        if (b->writable) {
            std::ofstream out(b->path, std::ios::binary);
            out.write(b->bytes.data(), b->bytes.size() - 64);
        }
    return 0;
}
