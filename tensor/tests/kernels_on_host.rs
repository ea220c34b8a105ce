//! The CUDA kernels' logic checked without a GPU: g++ compiles every `.cu` source against
//! `tests/host/cuda_shim.h` (blocks run one after another, a block's threads as real threads,
//! `__syncthreads` a barrier, warp shuffles an exchange between barriers), and each kernel's
//! output is compared with the CPU path on odd sizes and views, with grids smaller than the
//! work so that the grid-stride loops wrap. Exact where the CPU path is (dropout's mask,
//! moves, indices, im2col, pooling), 1e-5 relative for arithmetic. This checks indexing,
//! bounds and formulas; what only a GPU shows is `scripts/gpu-check.sh`'s job. Skips, saying
//! so, where no C++ compiler is found, unless `LESSON6_REQUIRE_CXX` is set (`host/require.rs`).
use kernels::sources;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use tensor::random::Philox;
use tensor::{Conv2dParams, PadMode, Tensor};

#[path = "host/require.rs"]
mod require;

/// The emulator, compiled once per test run (None where there is no C++ compiler).
fn emulator() -> Option<&'static Path> {
    static EXE: OnceLock<Option<PathBuf>> = OnceLock::new();
    EXE.get_or_init(|| {
        if !require::cxx_present() {
            return None;
        }
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("emulate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut src = String::from(include_str!("host/cuda_shim.h"));
        src.push_str(sources::COMMON);
        for s in sources::ALL {
            src.push_str(s.code);
        }
        // Every kernel of every source (the shim emulates shared memory, barriers and
        // shuffles too).
        let list: String = sources::ALL
            .iter()
            .flat_map(|s| s.kernels)
            .map(|k| format!("K({k}) "))
            .collect();
        src.push_str(&format!("\n#define KERNELS {list}\n"));
        src.push_str(include_str!("host/emulate.cpp"));
        let (cpp, exe) = (dir.join("emulate.cpp"), dir.join("emulate"));
        std::fs::write(&cpp, src).unwrap();
        let out = Command::new("c++")
            .args(["-std=c++20", "-O1", "-pthread", "-w", "-o"])
            .arg(&exe)
            .arg(&cpp)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the kernels do not compile as C++:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(exe)
    })
    .as_deref()
}

macro_rules! emulator_or_skip {
    () => {
        match emulator() {
            Some(e) => e,
            None => {
                require::skip_unless_required(
                    require::CXX,
                    "no C++ compiler (c++) to run the kernels on the host",
                );
                return;
            }
        }
    };
}

/// A buffer a launch writes, read back after it.
enum Out<'a> {
    F32(&'a mut Vec<f32>),
    I64(&'a mut Vec<i64>),
    U64(&'a mut Vec<u64>),
}

/// One emulated launch: the kernel, its grid, and its arguments in parameter order.
struct Launch<'a> {
    exe: &'a Path,
    args: Vec<String>,
    outs: Vec<(PathBuf, Out<'a>)>,
    dir: PathBuf,
}

impl<'a> Launch<'a> {
    fn new(exe: &'a Path, kernel: &str, grid: u32, block: u32) -> Self {
        let dir = exe.parent().unwrap().join(format!("{kernel}-{}", unique()));
        std::fs::create_dir_all(&dir).unwrap();
        Launch {
            exe,
            args: vec![kernel.into(), grid.to_string(), block.to_string()],
            outs: Vec::new(),
            dir,
        }
    }
    fn num(mut self, v: impl ToString) -> Self {
        self.args.push(v.to_string());
        self
    }
    fn null(self) -> Self {
        self.num("null")
    }
    fn file(&mut self, kind: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.join(format!("{}.bin", self.args.len()));
        std::fs::write(&path, bytes).unwrap();
        self.args.push(format!("{kind}:{}", path.display()));
        path
    }
    fn f32s(mut self, v: &[f32]) -> Self {
        self.file("f32", bytemuck::cast_slice(v));
        self
    }
    fn i64s(mut self, v: &[i64]) -> Self {
        self.file("i64", bytemuck::cast_slice(v));
        self
    }
    fn u32s(mut self, v: &[u32]) -> Self {
        self.file("u32", bytemuck::cast_slice(v));
        self
    }
    fn i32s(mut self, v: &[i32]) -> Self {
        self.file("i32", bytemuck::cast_slice(v));
        self
    }
    fn out(mut self, o: Out<'a>) -> Self {
        let bytes: Vec<u8> = match &o {
            Out::F32(v) => bytemuck::cast_slice(v.as_slice()).to_vec(),
            Out::I64(v) => bytemuck::cast_slice(v.as_slice()).to_vec(),
            Out::U64(v) => bytemuck::cast_slice(v.as_slice()).to_vec(),
        };
        let path = self.file("out", &bytes);
        self.outs.push((path, o));
        self
    }
    fn f32_out(self, v: &'a mut Vec<f32>) -> Self {
        self.out(Out::F32(v))
    }
    fn run(self) {
        let out = Command::new(self.exe).args(&self.args).output().unwrap();
        assert!(
            out.status.success(),
            "{:?}: {}",
            self.args,
            String::from_utf8_lossy(&out.stderr)
        );
        for (path, o) in self.outs {
            let bytes = std::fs::read(&path).unwrap();
            match o {
                Out::F32(v) => v.copy_from_slice(bytemuck::cast_slice(&bytes)),
                Out::I64(v) => v.copy_from_slice(bytemuck::cast_slice(&bytes)),
                Out::U64(v) => v.copy_from_slice(bytemuck::cast_slice(&bytes)),
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn unique() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A tensor's layout as the kernels' `StridedLayout`.
fn layout(t: &Tensor) -> String {
    layout_of(t.shape(), t.strides(), t.layout().offset())
}

/// The launcher's `StridedLayout` of a view of `shape` with `strides` from `offset`, as the
/// hex of its bytes (what the emulator reads).
fn layout_of(shape: &[usize], strides: &[usize], offset: usize) -> String {
    hex_of(&kernels::StridedLayout::new(shape, strides, offset).unwrap())
}

/// The launcher's `Divisor` of `d`, as the hex of its bytes.
fn divisor(d: usize) -> String {
    hex_of(&kernels::Divisor::new("test", d).unwrap())
}

/// A launcher's struct as the hex of its bytes: what the emulator reads, so that it runs on
/// what the driver would be handed.
fn hex_of<T: bytemuck::Pod>(v: &T) -> String {
    bytemuck::bytes_of(v)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The whole buffer under a view (what a kernel is handed with the view's layout).
fn storage_of(t: &Tensor) -> Vec<f32> {
    // Views here are made from a fresh contiguous tensor, so its elements in order are the
    // storage; the caller passes that base tensor.
    t.to_vec::<f32>().unwrap()
}

fn rand(shape: &[usize], seed: u64) -> Tensor {
    Philox::new(seed, 11).uniform(shape, -2.0, 2.0).unwrap()
}

fn f32s(t: &Tensor) -> Vec<f32> {
    t.to_vec::<f32>().unwrap()
}

fn close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        let ok = a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-5 * b.abs() + 1e-6;
        assert!(ok, "{what}[{i}]: kernel {a}, CPU {b}");
    }
}

fn nan(n: usize) -> Vec<f32> {
    vec![f32::NAN; n]
}

#[test]
fn dropout_draws_the_cpus_mask_bit_for_bit() {
    let exe = emulator_or_skip!();
    for (n, p, seed, offset) in [
        (1, 0.5, 3, 0),
        (7, 0.1, 42, 5),
        (1023, 0.5, 7, 1 << 33),
        (4097, 0.9, u64::MAX, 9),
    ] {
        let keep = 1.0 - p;
        let threshold = (keep as f64 * (1u32 << 24) as f64).ceil() as u32;
        let scale = (1.0 / keep as f64) as f32;
        // Dense, and a column of a wider tensor (read in place through its layout).
        let (x, wide) = (rand(&[n], n as u64), rand(&[n, 3], 1));
        let column = wide.narrow(1, 1, 1).unwrap();
        for (view, base) in [(&x, &x), (&column, &wide)] {
            let mut y = nan(n);
            Launch::new(exe, "dropout_f32", 3, 32)
                .num(n)
                .num(layout(view))
                .f32s(&f32s(base))
                .f32_out(&mut y)
                .num(seed as u32)
                .num((seed >> 32) as u32)
                .num(offset as u32)
                .num((offset >> 32) as u32)
                .num(threshold)
                .num(format!("{scale:e}"))
                .run();
            let want = f32s(&view.dropout(p, Philox::new(seed, offset)).unwrap());
            assert!(
                y.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()),
                "n {n} p {p} {:?}",
                view.shape()
            );
        }
    }
}

#[test]
fn strided_copies_and_broadcast_binary_ops_match_the_cpu() {
    let exe = emulator_or_skip!();
    let base = rand(&[4, 3, 5], 1);
    let view = base.permute(&[2, 0, 1]).unwrap().narrow(1, 1, 3).unwrap();
    let n = view.elem_count();
    let dense = Tensor::zeros(view.shape());
    let mut y = nan(n);
    Launch::new(exe, "copy_strided_f32", 2, 32)
        .num(n)
        .num(layout(&view))
        .num(layout(&dense))
        .f32s(&storage_of(&base))
        .f32_out(&mut y)
        .run();
    close("copy", &y, &f32s(&view));
    // A slab of a larger output (what cat writes): columns 2..5 of [5, 9].
    let slab = Tensor::zeros(&[5, 9]).narrow(1, 2, 3).unwrap();
    let src = rand(&[5, 3], 2);
    let mut out = vec![0.0; 45];
    Launch::new(exe, "copy_strided_f32", 1, 32)
        .num(15)
        .num(layout(&src))
        .num(layout(&slab))
        .f32s(&f32s(&src))
        .f32_out(&mut out)
        .run();
    let want = Tensor::cat(&[&Tensor::zeros(&[5, 2]), &src, &Tensor::zeros(&[5, 4])], 1).unwrap();
    close("copy into a slab", &out, &f32s(&want));
    // cat in one launch: [5, 2] (a transposed view), [5, 3] and [5, 4] along dimension 1.
    let first_base = rand(&[2, 5], 5);
    let first = first_base.permute(&[1, 0]).unwrap();
    let (second, third) = (rand(&[5, 3], 6), rand(&[5, 4], 7));
    let mut out = nan(45);
    Launch::new(exe, "cat_f32", 2, 32)
        .num(3)
        .num(1)
        .num(9)
        .f32s(&storage_of(&first_base))
        .num(layout(&first))
        .num(0)
        .num(2)
        .f32s(&f32s(&second))
        .num(layout(&second))
        .num(2)
        .num(3)
        .f32s(&f32s(&third))
        .num(layout(&third))
        .num(5)
        .num(4)
        .f32_out(&mut out)
        .run();
    let want = Tensor::cat(&[&first, &second, &third], 1).unwrap();
    close("cat", &out, &f32s(&want));

    let (a, b) = (rand(&[5, 1, 7], 3), rand(&[4, 7], 4));
    let shape = [5, 4, 7];
    let (ea, eb) = (a.expand(&shape).unwrap(), b.expand(&shape).unwrap());
    type Op = fn(&Tensor, &Tensor) -> tensor::Result<Tensor>;
    let ops: [(&str, Op); 7] = [
        ("add_f32", Tensor::add),
        ("sub_f32", Tensor::sub),
        ("mul_f32", Tensor::mul),
        ("div_f32", Tensor::div),
        ("maximum_f32", Tensor::maximum),
        ("relu_backward_f32", Tensor::relu_backward),
        ("gt_f32", Tensor::gt),
    ];
    // Each case: the two views and the buffers under them. Broadcast operands go through their
    // layouts; dense ones four at a time when aligned: from offset 4 (aligned, with a tail of
    // 3) and from offset 1 (not aligned: one at a time).
    let (da, db) = (rand(&[148], 8), rand(&[147], 9));
    let dense = |at| {
        (
            da.narrow(0, at, 143).unwrap(),
            db.narrow(0, 4, 143).unwrap(),
        )
    };
    let ((a4, b4), (a1, b1)) = (dense(4), dense(1));
    let cases = [
        (&ea, &a, &eb, &b),
        (&a4, &da, &b4, &db),
        (&a1, &da, &b1, &db),
    ];
    for (kernel, f) in ops {
        for (va, sa, vb, sb) in cases {
            let n = va.elem_count();
            let mut y = nan(n);
            Launch::new(exe, kernel, 2, 32)
                .num(n)
                .num(layout(va))
                .num(layout(vb))
                .f32s(&f32s(sa))
                .f32s(&f32s(sb))
                .f32_out(&mut y)
                .run();
            close(kernel, &y, &f32s(&f(va, vb).unwrap()));
        }
    }
}

#[test]
fn unary_maps_and_conversions_match_the_cpu() {
    let exe = emulator_or_skip!();
    let x = rand(&[333], 5);
    type Op = fn(&Tensor) -> tensor::Result<Tensor>;
    let ops: [(&str, Op, f32, f32); 5] = [
        ("exp_f32", Tensor::exp, 0.0, 0.0),
        ("sigmoid_f32", Tensor::sigmoid, 0.0, 0.0),
        ("relu_f32", Tensor::relu, 0.0, 0.0),
        ("affine_f32", |t| t.affine(3.0, -1.0), 3.0, -1.0),
        ("clamp_f32", |t| t.clamp(-0.5, 0.25), -0.5, 0.25),
    ];
    for (kernel, f, p, q) in ops {
        let mut y = nan(333);
        Launch::new(exe, kernel, 2, 64)
            .num(333)
            .f32s(&f32s(&x))
            .f32_out(&mut y)
            .num(p)
            .num(q)
            .run();
        close(kernel, &y, &f32s(&f(&x).unwrap()));
    }
    let v = [2.9f32, -2.9, f32::NAN, 1e30, -1e30, 0.5];
    let mut ints = vec![7i64; 6];
    Launch::new(exe, "f32_to_i64", 1, 32)
        .num(6)
        .f32s(&v)
        .out(Out::I64(&mut ints))
        .run();
    let want = Tensor::from_slice(&v, &[6])
        .unwrap()
        .to_dtype(tensor::DType::I64)
        .unwrap();
    assert_eq!(ints, want.to_vec::<i64>().unwrap());
}

#[test]
fn reductions_and_softmax_match_the_cpu() {
    let exe = emulator_or_skip!();
    let x = rand(&[3, 333, 5], 6);
    // Rows (inner = 1): the block reduction.
    let rows = rand(&[9, 111], 23);
    let mut y = nan(9);
    Launch::new(exe, "sum_rows_f32", 9, 64)
        .num(111)
        .f32s(&f32s(&rows))
        .f32_out(&mut y)
        .num(1.0)
        .run();
    close("sum_rows", &y, &f32s(&rows.sum(&[1], false).unwrap()));
    // Columns (inner > 1), as a mean: a block per (outer, tile of 32 columns), in 2 and 8
    // lanes, and over two tiles of columns.
    let wide = rand(&[2, 77, 45], 24);
    for (t, lanes) in [(&x, 2), (&x, 8), (&wide, 8)] {
        let [outer, r, inner] = [t.shape()[0], t.shape()[1], t.shape()[2]];
        let mut y = nan(outer * inner);
        Launch::new(
            exe,
            "sum_cols_f32",
            (outer * inner.div_ceil(32)) as u32,
            32 * lanes,
        )
        .num(outer)
        .num(r)
        .num(inner)
        .f32s(&f32s(t))
        .f32_out(&mut y)
        .num(1.0 / r as f32)
        .run();
        close("sum_cols mean", &y, &f32s(&t.mean(&[1], false).unwrap()));
    }
    let (mut v, mut i) = (nan(15), vec![-1i64; 15]);
    Launch::new(exe, "max_mid_f32", 1, 32)
        .num(3)
        .num(333)
        .num(5)
        .f32s(&f32s(&x))
        .f32_out(&mut v)
        .out(Out::I64(&mut i))
        .run();
    close("max", &v, &f32s(&x.max(&[1], false).unwrap()));
    assert_eq!(i, x.argmax(1, false).unwrap().to_vec::<i64>().unwrap());
    for log in [0, 1] {
        let wide = rows.mul_scalar(20.0).unwrap();
        let mut y = nan(999);
        Launch::new(exe, "softmax_rows_f32", 9, 64)
            .num(111)
            .f32s(&f32s(&wide))
            .f32_out(&mut y)
            .num(log)
            .run();
        let want = if log == 1 {
            wide.log_softmax(1)
        } else {
            wide.softmax(1)
        }
        .unwrap();
        close("softmax", &y, &f32s(&want));
    }
}

fn geometry(x: &[usize; 4], k: usize, p: Conv2dParams, ho: usize, wo: usize) -> String {
    [
        x[1],
        x[2],
        x[3],
        k,
        k,
        p.stride[0],
        p.stride[1],
        p.padding[0],
        p.padding[1],
        ho,
        wo,
    ]
    .map(|v| v.to_string())
    .join(",")
}

#[test]
fn im2col_and_col2im_match_the_cpu() {
    let exe = emulator_or_skip!();
    for (shape, k, p) in [
        ([2, 3, 11, 9], 7, Conv2dParams::new(2, 3)),
        ([1, 4, 6, 7], 3, Conv2dParams::new(1, 1)),
        ([2, 2, 5, 5], 1, Conv2dParams::new(2, 0)),
    ] {
        let x = rand(&shape, 7);
        let cols = x.im2col(k, k, p).unwrap();
        let (ho, wo) = (
            (shape[2] + 2 * p.padding[0] - k) / p.stride[0] + 1,
            (shape[3] + 2 * p.padding[1] - k) / p.stride[1] + 1,
        );
        let g = geometry(&shape, k, p, ho, wo);
        let mut y = nan(cols.elem_count());
        Launch::new(exe, "im2col_f32", 3, 64)
            .num(shape[0])
            .num(&g)
            .f32s(&f32s(&x))
            .f32_out(&mut y)
            .run();
        close("im2col", &y, &f32s(&cols));
        let mut wide = nan(cols.elem_count());
        Launch::new(exe, "im2col_wide_f32", 3, 64)
            .num(shape[0])
            .num(&g)
            .f32s(&f32s(&x))
            .f32_out(&mut wide)
            .run();
        let side_by_side = cols.permute(&[1, 0, 2]).unwrap();
        close("im2col side by side", &wide, &f32s(&side_by_side));
        let dcols = rand(cols.shape(), 8);
        let mut dx = nan(x.elem_count());
        Launch::new(exe, "col2im_f32", 3, 64)
            .num(shape[0])
            .num(&g)
            .f32s(&f32s(&dcols))
            .f32_out(&mut dx)
            .run();
        close(
            "col2im",
            &dx,
            &f32s(&dcols.col2im(&shape, k, k, p).unwrap()),
        );
    }
}

#[test]
fn batch_norm_kernels_match_the_cpu() {
    let exe = emulator_or_skip!();
    // Planes of a multiple of 4 floats ([2, 3, 8, 8], [5, 2, 12, 12]) are walked in float4s,
    // the second over more than a block's 64 threads; the others one float at a time.
    let shapes = [
        &[5, 3, 7, 9][..],
        &[64, 17],
        &[3, 2, 31, 3],
        &[2, 3, 8, 8],
        &[5, 2, 12, 12],
    ];
    for shape in shapes {
        let (n, c) = (shape[0], shape[1]);
        let s: usize = shape[2..].iter().product();
        let x = rand(shape, 9).affine(3.0, 5.0).unwrap();
        let (w, b) = (rand(&[c], 10), rand(&[c], 11));
        let (y, m, v) = x.batch_norm(&w, &b, 1e-5, None).unwrap();
        let (mut gy, mut gm, mut gv) = (nan(x.elem_count()), nan(c), nan(c));
        let (mut rm, mut rv) = (vec![0.0f32; c], vec![1.0f32; c]);
        Launch::new(exe, "batch_norm_forward_f32", c as u32, 64)
            .num(n)
            .num(c)
            .num(s)
            .f32s(&f32s(&x))
            .f32s(&f32s(&w))
            .f32s(&f32s(&b))
            .num(1e-5)
            .f32_out(&mut gy)
            .f32_out(&mut gm)
            .f32_out(&mut gv)
            .f32_out(&mut rm)
            .f32_out(&mut rv)
            .num(0.1)
            .run();
        close("bn y", &gy, &f32s(&y));
        close("bn mean", &gm, &f32s(&m));
        close("bn var", &gv, &f32s(&v));
        let m_n = (n * s) as f32;
        let want_rv: Vec<f32> = f32s(&v)
            .iter()
            .map(|v| 0.9 + 0.1 * v * m_n / (m_n - 1.0))
            .collect();
        close("running mean", &rm, &f32s(&m.mul_scalar(0.1).unwrap()));
        close("running var", &rv, &want_rv);
        let dy = rand(shape, 12);
        // dy dense, and as channels 1..=C of a gradient of C + 1 channels: its images one
        // plane further apart, read from its offset (s floats in).
        let mut wider = shape.to_vec();
        wider[1] += 1;
        let wide = rand(&wider, 13);
        let block = wide.narrow(1, 1, c).unwrap();
        let wide_from_block = f32s(&wide)[s..].to_vec();
        for (dy, buffer, image) in [
            (&dy, f32s(&dy), c * s),
            (&block, wide_from_block, (c + 1) * s),
        ] {
            let (dx, dg, db) = dy.batch_norm_backward(&x, &w, &m, &v, 1e-5).unwrap();
            let (mut gdx, mut gdg, mut gdb) = (nan(x.elem_count()), nan(c), nan(c));
            Launch::new(exe, "batch_norm_backward_f32", c as u32, 64)
                .num(n)
                .num(c)
                .num(s)
                .f32s(&buffer)
                .num(image)
                .f32s(&f32s(&x))
                .f32s(&f32s(&w))
                .f32s(&f32s(&m))
                .f32s(&f32s(&v))
                .num(1e-5)
                .f32_out(&mut gdx)
                .f32_out(&mut gdg)
                .f32_out(&mut gdb)
                .run();
            close("bn dx", &gdx, &f32s(&dx));
            close("bn dgamma", &gdg, &f32s(&dg));
            close("bn dbeta", &gdb, &f32s(&db));
        }
        let (cdx, cds, cdb) = dy.channel_affine_backward(Some(&x), &w).unwrap();
        let (mut sdy, mut sdyx) = (nan(c), nan(c));
        Launch::new(exe, "channel_sums_f32", c as u32, 64)
            .num(n)
            .num(c)
            .num(s)
            .f32s(&f32s(&dy))
            .f32s(&f32s(&x))
            .f32_out(&mut sdy)
            .f32_out(&mut sdyx)
            .run();
        close("channel sums", &sdy, &f32s(&cdb));
        close("channel dots", &sdyx, &f32s(&cds.unwrap()));
        // Without x (channel_affine's backward when no scale gradient is wanted).
        let mut only = nan(c);
        Launch::new(exe, "channel_sums_f32", c as u32, 64)
            .num(n)
            .num(c)
            .num(s)
            .f32s(&f32s(&dy))
            .null()
            .f32_out(&mut only)
            .null()
            .run();
        close("channel sums without x", &only, &f32s(&cdb));
        let mut ax = nan(x.elem_count());
        Launch::new(exe, "channel_affine_f32", 2, 64)
            .num(x.elem_count())
            .num(divisor(c))
            .num(divisor(s))
            .f32s(&f32s(&dy))
            .f32s(&f32s(&w))
            .f32s(&vec![0.0; c])
            .f32_out(&mut ax)
            .run();
        close("channel affine", &ax, &f32s(&cdx));
        let (rm, rv) = (rand(&[c], 13), rand(&[c], 14).abs().unwrap());
        let (scale, shift) = Tensor::batch_norm_fold(&w, &b, &rm, &rv, 1e-5).unwrap();
        let (mut gs, mut gb) = (nan(c), nan(c));
        Launch::new(exe, "batch_norm_fold_f32", 1, 32)
            .num(c)
            .num(1e-5)
            .f32s(&f32s(&w))
            .f32s(&f32s(&b))
            .f32s(&f32s(&rm))
            .f32s(&f32s(&rv))
            .f32_out(&mut gs)
            .f32_out(&mut gb)
            .run();
        assert_eq!(gs, f32s(&scale), "fold scale");
        assert_eq!(gb, f32s(&shift), "fold shift");
    }
}

#[test]
fn index_kernels_match_the_cpu_and_flag_bad_indices() {
    let exe = emulator_or_skip!();
    let weight = rand(&[50, 9], 13);
    let ids: Vec<i64> = (0..37).map(|i| (i * 7 % 50) as i64 % 20).collect();
    let idx = Tensor::from_indices(&ids, &[37]).unwrap();
    // The indices as column 1 of a [37, 3] table of codes, read in place (stride 3).
    let table: Vec<i64> = ids.iter().flat_map(|&i| [-5, i, 99]).collect();
    let mut y = nan(37 * 9);
    let mut bad = vec![0u64];
    Launch::new(exe, "index_select_f32", 2, 64)
        .num(1)
        .num(50)
        .num(divisor(9))
        .num(divisor(37))
        .f32s(&f32s(&weight))
        .i64s(&table[1..])
        .num(3)
        .f32_out(&mut y)
        .out(Out::U64(&mut bad))
        .run();
    close(
        "index_select",
        &y,
        &f32s(&weight.index_select(0, &idx).unwrap()),
    );
    assert_eq!(bad, [0], "no bad index");
    let with_bad = [3i64, 50, 2, -1];
    let mut y = nan(36);
    Launch::new(exe, "index_select_f32", 1, 32)
        .num(1)
        .num(50)
        .num(divisor(9))
        .num(divisor(4))
        .f32s(&f32s(&weight))
        .i64s(&with_bad)
        .num(1)
        .f32_out(&mut y)
        .out(Out::U64(&mut bad))
        .run();
    assert_eq!(bad, [!1], "the first bad position, flipped");
    assert!(
        y[9..18].iter().all(|&v| v == 0.0),
        "nothing read for a bad index"
    );

    // The gradient as columns 2..11 of a [37, 13] tensor (one embedding's block of the
    // concatenation's gradient), read through its layout.
    let wide = rand(&[37, 13], 14);
    let grad = wide.narrow(1, 2, 9).unwrap();
    let grad_layout = layout(&grad);
    let want = f32s(&Tensor::zeros(&[50, 9]).index_add(0, &idx, &grad).unwrap());
    let mut dw = vec![0.0f32; 450];
    let mut bad = vec![0u64];
    Launch::new(exe, "index_add_atomic_f32", 2, 64)
        .num(1)
        .num(50)
        .num(divisor(9))
        .num(divisor(37))
        .i64s(&table[1..])
        .num(3)
        .num(&grad_layout)
        .f32s(&f32s(&wide))
        .f32_out(&mut dw)
        .out(Out::U64(&mut bad))
        .run();
    close("index_add atomic", &dw, &want);
    // The sorted variant's segments, as its launcher builds them.
    let mut order: Vec<u32> = (0..37).collect();
    order.sort_by_key(|&p| ids[p as usize]);
    let mut seg: Vec<u32> = (0..37)
        .filter(|&j| j == 0 || ids[order[j] as usize] != ids[order[j - 1] as usize])
        .map(|j| j as u32)
        .collect();
    let n_seg = seg.len();
    seg.push(37);
    let mut dw = vec![0.0f32; 450];
    Launch::new(exe, "index_add_sorted_f32", 3, 32)
        .num(9)
        .num(n_seg)
        .i64s(&table[1..])
        .num(3)
        .u32s(&order)
        .u32s(&seg)
        .num(&grad_layout)
        .f32s(&f32s(&wide))
        .f32_out(&mut dw)
        .run();
    assert_eq!(dw, want, "the sorted sum is the CPU's, bit for bit");

    // gather and scatter_add along a dimension of a non-contiguous view, with repeats.
    let base = rand(&[5, 4, 6], 15);
    let x = base.permute(&[1, 0, 2]).unwrap(); // [4, 5, 6]
    for (dim, ishape) in [(0usize, [3usize, 5, 2]), (2, [4, 2, 7])] {
        let size = x.shape()[dim];
        let n: usize = ishape.iter().product();
        let values: Vec<i64> = (0..n).map(|i| ((i * 7 + 3) % size) as i64).collect();
        let index = Tensor::from_indices(&values, &ishape).unwrap();
        let over = layout_of(&ishape, x.strides(), x.layout().offset());
        let mut y = nan(n);
        let mut bad = vec![0u64];
        Launch::new(exe, "gather_f32", 2, 32)
            .num(n)
            .num(over)
            .num(layout(&index))
            .num(dim)
            .num(size)
            .f32s(&f32s(&base))
            .i64s(&values)
            .f32_out(&mut y)
            .out(Out::U64(&mut bad))
            .run();
        assert_eq!(bad, [0]);
        close("gather", &y, &f32s(&x.gather(dim, &index).unwrap()));
        let src = rand(&[4, 5, 7], 16);
        let dst = Tensor::zeros(x.shape());
        let dense_over = layout_of(&ishape, dst.strides(), 0);
        let src_over = layout_of(&ishape, src.strides(), 0);
        let mut out = f32s(&dst);
        Launch::new(exe, "scatter_add_f32", 2, 32)
            .num(n)
            .num(dense_over)
            .num(layout(&index))
            .num(src_over)
            .num(dim)
            .num(size)
            .i64s(&values)
            .f32s(&f32s(&src))
            .f32_out(&mut out)
            .out(Out::U64(&mut bad))
            .run();
        assert_eq!(bad, [0]);
        let want = dst.scatter_add(dim, &index, &src).unwrap();
        close("scatter_add", &out, &f32s(&want));
    }
}

/// The grouped lookup and its adjoint, three tables in one launch reading a column each of
/// codes held in a wider table (strides 5 and 2: codes read in place), writing columns
/// 2.. of a wider output; the CPU's rows exactly and its gradients within the sums'
/// tolerance; a code out of range reported at its position.
#[test]
fn grouped_embedding_kernels_match_the_cpu() {
    let exe = emulator_or_skip!();
    let sizes = [[6usize, 3usize], [2, 1], [9, 4]];
    let tables: Vec<Tensor> = sizes
        .iter()
        .zip(50..)
        .map(|(s, seed)| rand(s, seed))
        .collect();
    let n = 29;
    let flat: Vec<i64> = (0..n)
        .flat_map(|b| {
            sizes
                .iter()
                .enumerate()
                .map(move |(j, s)| ((b * 5 + j) % s[0]) as i64)
        })
        .collect();
    let codes = Tensor::from_indices(&flat, &[n, 3]).unwrap();
    let refs: Vec<&Tensor> = tables.iter().collect();
    let want = Tensor::embeddings_cat(&refs, &codes).unwrap();
    // The codes at columns 0, 2, 4 of rows 5 apart; the output 2 columns wider on the left.
    let mut wide = vec![-7i64; n * 5];
    for (p, &c) in flat.iter().enumerate() {
        wide[(p / 3) * 5 + 2 * (p % 3)] = c;
    }
    let block = hex_of(&kernels::CodeBlock::new([5, 2, 3], [10, 2, 8]).unwrap());
    let grouped = |name: &str, tabs: &mut [Vec<f32>], codes: &[i64], y: &mut Vec<f32>| {
        let mut bad = vec![0u64];
        let mut l = Launch::new(exe, name, 2, 32).num(3);
        for (t, s) in tabs.iter_mut().zip(&sizes) {
            l = l.f32_out(t).num(s[0]).num(s[1]);
        }
        l.num(&block)
            .num(n)
            .i64s(codes)
            .f32_out(y)
            .out(Out::U64(&mut bad))
            .run();
        bad[0]
    };
    let mut tabs: Vec<Vec<f32>> = tables.iter().map(f32s).collect();
    let mut y = nan(n * 10);
    assert_eq!(grouped("embeddings_cat_f32", &mut tabs, &wide, &mut y), 0);
    let got: Vec<f32> = y.chunks(10).flat_map(|r| r[2..].to_vec()).collect();
    assert_eq!(got, f32s(&want));
    assert!(
        y.chunks(10).all(|r| r[..2].iter().all(|v| v.is_nan())),
        "columns 0..2 untouched"
    );
    let dy = rand(&[n, 10], 60);
    let mut grads: Vec<Vec<f32>> = sizes.iter().map(|s| vec![0.0; s[0] * s[1]]).collect();
    let mut dys = f32s(&dy);
    assert_eq!(
        grouped("embeddings_cat_backward_f32", &mut grads, &wide, &mut dys),
        0
    );
    let block_dy = dy.narrow(1, 2, 8).unwrap();
    let cpu = block_dy.embeddings_cat_backward(&codes, &sizes).unwrap();
    for (g, c) in grads.iter().zip(&cpu) {
        close("embeddings_cat gradient", g, &f32s(c));
    }
    let mut bad = wide.clone();
    bad[7 * 5 + 2 * 2] = 9;
    let flag = grouped("embeddings_cat_f32", &mut tabs, &bad, &mut y);
    assert_eq!(!flag, 7 * 3 + 2, "the first bad code's position in [n, 3]");
}

/// `strided_offset` in `common.cuh` on views of more than 2^32 elements (none allocated: the
/// emulator computes offsets alone), where `divide` takes its 64-bit division above 2^32 and
/// its multiply-high below, against the row-major decomposition in u64. The element indices
/// straddle 2^32 and reach the last element; the sizes include ones near 2^32 themselves.
#[test]
fn strided_offsets_are_exact_beyond_2_to_the_32() {
    let exe = emulator_or_skip!();
    let views: [(&[usize], &[usize], usize); 4] = [
        // A transpose of [65539, 65537]: rows 65539 apart, columns 1.
        (&[65537, 65539], &[1, 65537], 0),
        // A permuted [3, 65537, 21851] with an offset.
        (&[21851, 3, 65537], &[1, 65537 * 21851, 21851], 7),
        // Sizes near 2^32: a column of 2^32 - 1 elements, twice, strides 2 and 1.
        (&[2, u32::MAX as usize], &[1, 2], 0),
        (&[3, 1 << 31, 2], &[1 << 33, 3, 1 << 32], 5),
    ];
    for (shape, strides, offset) in views {
        let total: u64 = shape.iter().map(|&s| s as u64).product();
        let mut indices = vec![0, 1, (1 << 32) - 2, (1 << 32) - 1, 1 << 32, (1 << 32) + 1];
        indices.extend([total / 3, total / 2 + 12345, total - 2, total - 1]);
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..32 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            indices.push(state % total);
        }
        let out = Command::new(exe)
            .arg("offsets")
            .arg(layout_of(shape, strides, offset))
            .args(indices.iter().map(u64::to_string))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: Vec<u64> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect();
        let want: Vec<u64> = indices
            .iter()
            .map(|&i| {
                let (mut rest, mut at) = (i, offset as u64);
                for (&size, &stride) in shape.iter().zip(strides).rev() {
                    at += (rest % size as u64) * stride as u64;
                    rest /= size as u64;
                }
                at
            })
            .collect();
        assert_eq!(got, want, "view {shape:?} strides {strides:?}");
    }
}

/// The windows of an axis of `n` pixels, fixed (kernel `k`, stride `s`, padding `pad`) or
/// adaptive (`out` of them), as the GPU path hands them over: `[start, end)` per output.
fn fixed_windows(n: usize, k: usize, s: usize, pad: usize) -> Vec<(usize, usize)> {
    (0..(n + 2 * pad - k) / s + 1)
        .map(|o| ((o * s).saturating_sub(pad), (o * s + k - pad).min(n)))
        .collect()
}

fn adaptive_windows(n: usize, out: usize) -> Vec<(usize, usize)> {
    (0..out)
        .map(|i| (i * n / out, ((i + 1) * n).div_ceil(out)))
        .collect()
}

/// Max and average pooling and their gathered gradients, over overlapping fixed 3x3/2
/// windows and overlapping adaptive ones (9 -> 4 rows, 8 -> 3 columns): every output is
/// poisoned, and all four match the CPU path bit for bit (the gradients add in its order).
/// Indices moved out of their windows are reported at the first such output.
#[test]
fn pooling_kernels_match_the_cpu() {
    let exe = emulator_or_skip!();
    let x = rand(&[2, 3, 9, 8], 17);
    let p = Conv2dParams::new(2, 1);
    for adaptive in [false, true] {
        let win = if adaptive {
            kernels::Windows {
                rows: adaptive_windows(9, 4),
                cols: adaptive_windows(8, 3),
            }
        } else {
            kernels::Windows {
                rows: fixed_windows(9, 3, 2, 1),
                cols: fixed_windows(8, 3, 2, 1),
            }
        };
        let (oh, ow) = (win.rows.len(), win.cols.len());
        let geo = win.geometry([9, 8]).unwrap();
        let sizes = hex_of(&kernels::PlaneSizes::new([6, 9, 8], [oh, ow]).unwrap());
        let (v, i) = if adaptive {
            x.adaptive_max_pool2d([oh, ow]).unwrap()
        } else {
            x.max_pool2d([3, 3], p).unwrap()
        };
        let (mut gv, mut gi) = (nan(v.elem_count()), vec![-1i64; v.elem_count()]);
        Launch::new(exe, "max_pool_f32", 2, 32)
            .num(&sizes)
            .i32s(&geo)
            .f32s(&f32s(&x))
            .f32_out(&mut gv)
            .out(Out::I64(&mut gi))
            .run();
        assert_eq!(gv, f32s(&v), "max_pool, adaptive: {adaptive}");
        assert_eq!(gi, i.to_vec::<i64>().unwrap());
        let dy = rand(v.shape(), 18);
        let max_backward = |idx: &[i64]| {
            let (mut dx, mut flag) = (nan(x.elem_count()), vec![0u64]);
            Launch::new(exe, "max_pool_backward_f32", 2, 32)
                .num(&sizes)
                .i32s(&geo)
                .f32s(&f32s(&dy))
                .i64s(idx)
                .f32_out(&mut dx)
                .out(Out::U64(&mut flag))
                .run();
            (dx, flag[0])
        };
        let (dx, flag) = max_backward(&gi);
        assert_eq!(flag, 0, "no index out of its window");
        let want = if adaptive {
            dy.adaptive_max_pool2d_backward(&i, x.shape())
        } else {
            dy.max_pool2d_backward(&i, x.shape(), [3, 3], p)
        };
        assert_eq!(
            dx,
            f32s(&want.unwrap()),
            "max_pool dx, adaptive: {adaptive}"
        );
        // Every index two pixels right: the first output whose window that leaves.
        let shifted: Vec<i64> = gi.iter().map(|&a| a + 2).collect();
        let first_out = shifted.iter().enumerate().position(|(o, &a)| {
            let (oy, ox) = ((o / ow) % oh, o % ow);
            let inside = |v: i64, (s, e): (usize, usize)| (s as i64..e as i64).contains(&v);
            !(0..72).contains(&a) || !inside(a / 8, win.rows[oy]) || !inside(a % 8, win.cols[ox])
        });
        assert_eq!(Some(!max_backward(&shifted).1 as usize), first_out);
        let area = if adaptive { 0.0 } else { 9.0 };
        let (a, da) = if adaptive {
            (
                x.adaptive_avg_pool2d([oh, ow]).unwrap(),
                dy.adaptive_avg_pool2d_backward(x.shape()).unwrap(),
            )
        } else {
            (
                x.avg_pool2d([3, 3], p).unwrap(),
                dy.avg_pool2d_backward(x.shape(), [3, 3], p).unwrap(),
            )
        };
        let mut ga = nan(v.elem_count());
        Launch::new(exe, "avg_pool_f32", 2, 32)
            .num(&sizes)
            .i32s(&geo)
            .num(area)
            .f32s(&f32s(&x))
            .f32_out(&mut ga)
            .run();
        close("avg_pool", &ga, &f32s(&a));
        let mut gda = nan(x.elem_count());
        Launch::new(exe, "avg_pool_backward_f32", 2, 32)
            .num(&sizes)
            .i32s(&geo)
            .num(area)
            .f32s(&f32s(&dy))
            .f32_out(&mut gda)
            .run();
        assert_eq!(gda, f32s(&da), "avg_pool dx, adaptive: {adaptive}");
    }
}

/// One launch over a group of two parameters of different lengths and steps.
#[test]
fn grouped_adamw_kernel_matches_the_tensor_step() {
    let exe = emulator_or_skip!();
    let mut launch = Launch::new(exe, "adamw_f32", 2, 64).num(2);
    let mut want = Vec::new();
    let mut outs: Vec<[Vec<f32>; 3]> = Vec::new();
    let mut grads = Vec::new();
    for (j, n) in [1001usize, 37].into_iter().enumerate() {
        let s = 19 + 4 * j as u64;
        let (p, g, m) = (rand(&[n], s), rand(&[n], s + 1), rand(&[n], s + 2));
        let v = rand(&[n], s + 3).abs().unwrap();
        let h = tensor::AdamStep {
            decay: 0.998,
            beta1: 0.9,
            beta2: 0.99 - 0.01 * j as f32,
            step_size: 1e-3 * (1 + j) as f32,
            eps: 1e-8,
        };
        outs.push([f32s(&p), f32s(&m), f32s(&v)]);
        grads.push((f32s(&g), h));
        let (mut cp, mut cm, mut cv) = (p, m, v);
        cp.adamw_step(&g, &mut cm, &mut cv, h).unwrap();
        want.push([f32s(&cp), f32s(&cm), f32s(&cv)]);
    }
    for ([p, m, v], (g, h)) in outs.iter_mut().zip(&grads) {
        launch = launch.f32_out(p).f32s(g).f32_out(m).f32_out(v).num(format!(
            "{:e},{:e},{:e},{:e},{:e}",
            h.decay, h.beta1, h.beta2, h.step_size, h.eps
        ));
    }
    launch.run();
    for (got, want) in outs.iter().zip(&want) {
        close("adamw p", &got[0], &want[0]);
        close("adamw m", &got[1], &want[1]);
        close("adamw v", &got[2], &want[2]);
    }
}

/// A padding's source maps as the GPU path hands them over (-1: zero).
fn pad_map(n: usize, lo: usize, hi: usize, mode: PadMode) -> Vec<i32> {
    (0..lo + n + hi)
        .map(|o| {
            if o >= lo && o - lo < n {
                (o - lo) as i32
            } else {
                match (mode, o < lo) {
                    (PadMode::Zeros, _) => -1,
                    (PadMode::Reflect, true) => (lo - o) as i32,
                    (PadMode::Reflect, false) => (2 * (n - 1) - (o - lo)) as i32,
                    (PadMode::Replicate, true) => 0,
                    (PadMode::Replicate, false) => n as i32 - 1,
                }
            }
        })
        .collect()
}

#[test]
fn padding_kernels_match_the_cpu() {
    let exe = emulator_or_skip!();
    let x = rand(&[2, 3, 5, 4], 24);
    let pads = [2, 1, 3, 2]; // left, right, top, bottom
    for mode in [PadMode::Zeros, PadMode::Reflect, PadMode::Replicate] {
        let (rows, cols) = (pad_map(5, 3, 2, mode), pad_map(4, 2, 1, mode));
        let want = x.pad2d(pads, mode).unwrap();
        let sizes = hex_of(&kernels::PlaneSizes::new([6, 5, 4], [rows.len(), cols.len()]).unwrap());
        let geo = [rows, cols].concat();
        let mut y = nan(want.elem_count());
        Launch::new(exe, "pad_f32", 2, 32)
            .num(&sizes)
            .i32s(&geo)
            .f32s(&f32s(&x))
            .f32_out(&mut y)
            .run();
        close(&format!("pad {mode:?}"), &y, &f32s(&want));
        let dy = rand(want.shape(), 25);
        let mut dx = vec![0.0f32; x.elem_count()];
        Launch::new(exe, "pad_backward_f32", 2, 32)
            .num(&sizes)
            .i32s(&geo)
            .f32s(&f32s(&dy))
            .f32_out(&mut dx)
            .run();
        let back = dy.pad2d_backward(x.shape(), pads, mode).unwrap();
        close(&format!("pad backward {mode:?}"), &dx, &f32s(&back));
    }
}
