//! Every GPU op against the CPU path, on random inputs with odd sizes, with outputs poisoned
//! (NaN) so that an element a kernel forgets to write fails the comparison. Tolerance: 1e-5
//! relative (plus 1e-6 absolute near zero) for f32 arithmetic; exact for moves, indices and
//! the dropout mask. Without a GPU every test prints why and passes: CI has none, and
//! `scripts/gpu-check.sh` runs them where one is lent.
use tensor::random::Philox;
use tensor::{Accumulate, Conv2dParams, Device, Error, Gpu, PadMode, Tensor};

/// The GPU to test on, or `None` (after saying why) where there is none.
fn gpu() -> Option<Device> {
    match Gpu::get(0) {
        Ok(_) => {
            tensor::poison_outputs(true);
            Some(Device::Cuda(0))
        }
        Err(e) => {
            eprintln!("skipped: {e}");
            None
        }
    }
}

fn rand(shape: &[usize], seed: u64) -> Tensor {
    Philox::new(seed, 7).uniform(shape, -2.0, 2.0).unwrap()
}

fn on(t: &Tensor, dev: Device) -> Tensor {
    t.to_device(dev).unwrap()
}

/// GPU result `g` equals CPU result `c` within 1e-5 relative.
fn close(what: &str, g: &Tensor, c: &Tensor) {
    close_within(what, g, c, 0.0);
}

/// For sums of many products (matmul, convolution): 1e-5 relative to each element plus 1e-5
/// of the largest, since the two sides add the terms in different orders and an element
/// that nearly cancels keeps only the rounding of the terms it summed.
fn close_sums(what: &str, g: &Tensor, c: &Tensor) {
    let largest = c
        .to_vec::<f32>()
        .unwrap()
        .iter()
        .fold(0f32, |m, v| m.max(v.abs()));
    close_within(what, g, c, 1e-5 * largest);
}

fn close_within(what: &str, g: &Tensor, c: &Tensor, slack: f32) {
    assert_eq!(g.shape(), c.shape(), "{what}: shapes");
    assert_eq!(
        g.device(),
        Device::Cuda(0),
        "{what}: the result left the GPU"
    );
    let (g, c) = (g.to_vec::<f32>().unwrap(), c.to_vec::<f32>().unwrap());
    for (i, (a, b)) in g.iter().zip(&c).enumerate() {
        let ok =
            (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-5 * b.abs() + 1e-6 + slack || a == b;
        assert!(ok, "{what}: element {i}: GPU {a} vs CPU {b}");
    }
}

#[test]
fn transfers_round_trip_f32_and_i64_through_views() {
    let Some(dev) = gpu() else { return };
    let x = rand(&[3, 5, 7], 1);
    assert_eq!(
        on(&x, dev).to_vec::<f32>().unwrap(),
        x.to_vec::<f32>().unwrap()
    );
    let view = x.permute(&[2, 0, 1]).unwrap().narrow(0, 1, 5).unwrap();
    let g = on(&x, dev)
        .permute(&[2, 0, 1])
        .unwrap()
        .narrow(0, 1, 5)
        .unwrap();
    assert_eq!(
        g.contiguous().unwrap().to_vec::<f32>().unwrap(),
        view.to_vec::<f32>().unwrap()
    );
    let ids = Tensor::from_indices(&[4, -1, 0, 9_000_000_000], &[4]).unwrap();
    assert_eq!(
        on(&ids, dev).to_vec::<i64>().unwrap(),
        ids.to_vec::<i64>().unwrap()
    );
    assert_eq!(
        on(&x, dev).to_device(Device::Cpu).unwrap().device(),
        Device::Cpu
    );
    let half = x.to_dtype(tensor::DType::F16).unwrap();
    assert!(matches!(
        half.to_device(dev),
        Err(Error::Unsupported { device, dtype: Some(tensor::DType::F16), .. }) if device == dev
    ));
}

#[test]
fn binary_ops_broadcast_as_on_the_cpu() {
    let Some(dev) = gpu() else { return };
    let (a, b) = (rand(&[5, 1, 33], 2), rand(&[4, 33], 3));
    let bt = rand(&[33, 4], 4).t().unwrap(); // a transposed view
    type Op = fn(&Tensor, &Tensor) -> tensor::Result<Tensor>;
    let ops: [(&str, Op); 13] = [
        ("add", Tensor::add),
        ("sub", Tensor::sub),
        ("mul", Tensor::mul),
        ("div", Tensor::div),
        ("maximum", Tensor::maximum),
        ("minimum", Tensor::minimum),
        ("relu_backward", Tensor::relu_backward),
        ("eq", Tensor::eq),
        ("ne", Tensor::ne),
        ("lt", Tensor::lt),
        ("le", Tensor::le),
        ("gt", Tensor::gt),
        ("ge", Tensor::ge),
    ];
    for (name, f) in ops {
        close(
            name,
            &f(&on(&a, dev), &on(&b, dev)).unwrap(),
            &f(&a, &b).unwrap(),
        );
        close(
            name,
            &f(&on(&a, dev), &on(&bt, dev).t().unwrap().t().unwrap()).unwrap(),
            &f(&a, &bt).unwrap(),
        );
    }
    let pos = a.abs().unwrap();
    close(
        "pow",
        &on(&pos, dev).pow(&on(&b, dev)).unwrap(),
        &pos.pow(&b).unwrap(),
    );
}

#[test]
fn unary_ops_match_the_cpu() {
    let Some(dev) = gpu() else { return };
    let x = rand(&[7, 129], 5);
    let g = on(&x, dev);
    type Op = fn(&Tensor) -> tensor::Result<Tensor>;
    let ops: [(&str, Op); 8] = [
        ("exp", Tensor::exp),
        ("sigmoid", Tensor::sigmoid),
        ("tanh", Tensor::tanh),
        ("relu", Tensor::relu),
        ("neg", Tensor::neg),
        ("abs", Tensor::abs),
        ("sqr", Tensor::sqr),
        ("recip", Tensor::recip),
    ];
    for (name, f) in ops {
        close(name, &f(&g).unwrap(), &f(&x).unwrap());
    }
    let pos = x.abs().unwrap().add_scalar(0.1).unwrap();
    close("log", &on(&pos, dev).log().unwrap(), &pos.log().unwrap());
    close("sqrt", &on(&pos, dev).sqrt().unwrap(), &pos.sqrt().unwrap());
    close(
        "powf",
        &on(&pos, dev).powf(1.7).unwrap(),
        &pos.powf(1.7).unwrap(),
    );
    close(
        "affine",
        &g.affine(3.0, -1.0).unwrap(),
        &x.affine(3.0, -1.0).unwrap(),
    );
    close(
        "clamp",
        &g.clamp(-0.5, 0.25).unwrap(),
        &x.clamp(-0.5, 0.25).unwrap(),
    );
    close(
        "mul_scalar",
        &g.mul_scalar(0.3).unwrap(),
        &x.mul_scalar(0.3).unwrap(),
    );
    close(
        "add_scalar",
        &g.add_scalar(0.3).unwrap(),
        &x.add_scalar(0.3).unwrap(),
    );
}

#[test]
fn reductions_and_softmax_match_the_cpu() {
    let Some(dev) = gpu() else { return };
    let x = rand(&[3, 17, 5, 9], 6);
    let g = on(&x, dev);
    for dims in [&[0][..], &[1], &[3], &[1, 2], &[0, 2], &[0, 1, 2, 3], &[]] {
        for keep in [false, true] {
            close(
                "sum",
                &g.sum(dims, keep).unwrap(),
                &x.sum(dims, keep).unwrap(),
            );
            close(
                "mean",
                &g.mean(dims, keep).unwrap(),
                &x.mean(dims, keep).unwrap(),
            );
            if !dims.is_empty() {
                close(
                    "max",
                    &g.max(dims, keep).unwrap(),
                    &x.max(dims, keep).unwrap(),
                );
                close(
                    "min",
                    &g.min(dims, keep).unwrap(),
                    &x.min(dims, keep).unwrap(),
                );
            }
        }
    }
    for (dims, unbiased) in [(&[1][..], true), (&[0, 2][..], false), (&[3][..], true)] {
        let (gv, cv) = (
            g.var(dims, false, unbiased).unwrap(),
            x.var(dims, false, unbiased).unwrap(),
        );
        close("var", &gv, &cv);
    }
    for dim in 0..4 {
        let (ga, ca) = (g.argmax(dim, false).unwrap(), x.argmax(dim, false).unwrap());
        assert_eq!(
            ga.to_vec::<i64>().unwrap(),
            ca.to_vec::<i64>().unwrap(),
            "argmax {dim}"
        );
        let (ga, ca) = (g.argmin(dim, true).unwrap(), x.argmin(dim, true).unwrap());
        assert_eq!(
            ga.to_vec::<i64>().unwrap(),
            ca.to_vec::<i64>().unwrap(),
            "argmin {dim}"
        );
        close(
            "softmax",
            &g.softmax(dim).unwrap(),
            &x.softmax(dim).unwrap(),
        );
        close(
            "log_softmax",
            &g.log_softmax(dim).unwrap(),
            &x.log_softmax(dim).unwrap(),
        );
    }
    let wide = rand(&[2, 100_003], 8).mul_scalar(30.0).unwrap();
    close(
        "log_softmax wide",
        &on(&wide, dev).log_softmax(1).unwrap(),
        &wide.log_softmax(1).unwrap(),
    );
    close(
        "sum_all wide",
        &on(&wide, dev).sum_all().unwrap(),
        &wide.sum_all().unwrap(),
    );
}

#[test]
fn empty_tensors_give_the_cpus_results() {
    let Some(dev) = gpu() else { return };
    // An empty batch: every output of these is empty (or of empty sums), and no kernel may
    // touch a row that is not there (the stand-in faults on any access past a buffer's end).
    let rows = rand(&[0, 70], 40);
    let g = on(&rows, dev);
    for dims in [&[1][..], &[0], &[0, 1]] {
        close(
            "sum",
            &g.sum(dims, false).unwrap(),
            &rows.sum(dims, false).unwrap(),
        );
    }
    close("softmax", &g.softmax(1).unwrap(), &rows.softmax(1).unwrap());
    close(
        "log_softmax",
        &g.log_softmax(1).unwrap(),
        &rows.log_softmax(1).unwrap(),
    );
    let cols = rand(&[0, 5, 40], 41);
    close(
        "sum of columns",
        &on(&cols, dev).sum(&[1], false).unwrap(),
        &cols.sum(&[1], false).unwrap(),
    );
    let w = rand(&[70, 5], 42);
    close_sums(
        "matmul",
        &g.matmul(&on(&w, dev)).unwrap(),
        &rows.matmul(&w).unwrap(),
    );
    let t = rows.transpose(0, 1).unwrap();
    close_sums(
        "matmul with an empty inner size",
        &on(&t, dev).matmul(&g).unwrap(),
        &t.matmul(&rows).unwrap(),
    );
    // An empty batch of images through a convolution, its gradients and pooling; batch norm
    // refuses it on both devices, in training and at inference (no values per channel).
    let images = rand(&[0, 3, 9, 9], 43);
    let gi = on(&images, dev);
    let (w, p) = (rand(&[4, 3, 3, 3], 44), Conv2dParams::new(2, 1));
    let y = images.conv2d(&w, None, p).unwrap();
    let gw = on(&w, dev);
    close("conv2d", &gi.conv2d(&gw, None, p).unwrap(), &y);
    close(
        "conv dx",
        &on(&y, dev)
            .conv2d_backward_input(&gw, images.shape(), p)
            .unwrap(),
        &y.conv2d_backward_input(&w, images.shape(), p).unwrap(),
    );
    close(
        "conv dw",
        &on(&y, dev).conv2d_backward_weight(&gi, [3, 3], p).unwrap(),
        &y.conv2d_backward_weight(&images, [3, 3], p).unwrap(),
    );
    close(
        "max pool",
        &gi.max_pool2d_values([3, 3], p).unwrap(),
        &images.max_pool2d_values([3, 3], p).unwrap(),
    );
    let (scale, shift) = (rand(&[3], 45), rand(&[3], 46));
    assert!(images.channel_affine(&scale, &shift).is_err());
    assert!(gi
        .channel_affine(&on(&scale, dev), &on(&shift, dev))
        .is_err());
    assert!(images.batch_norm(&scale, &shift, 1e-5, None).is_err());
    assert!(gi
        .batch_norm(&on(&scale, dev), &on(&shift, dev), 1e-5, None)
        .is_err());
}

#[test]
fn running_out_of_gpu_memory_is_an_error_that_leaves_the_gpu_usable() {
    let Some(dev) = gpu() else { return };
    let total = Gpu::get(0).unwrap().total_memory().unwrap();
    // One row seen as more rows than the device can hold: `contiguous` asks for more memory
    // than there is, and the allocation fails before anything is written.
    let cols = 1024;
    let x = rand(&[1, cols], 47);
    let g = on(&x, dev);
    let err = g
        .expand(&[total / (4 * cols) + 1, cols])
        .unwrap()
        .contiguous()
        .unwrap_err();
    assert!(err.to_string().contains("out of GPU memory"), "{err}");
    close(
        "an op after it",
        &g.add_scalar(1.0).unwrap(),
        &x.add_scalar(1.0).unwrap(),
    );
}

#[test]
fn matmul_matches_the_cpu_for_views_batches_and_vectors() {
    let Some(dev) = gpu() else { return };
    let (a, b) = (rand(&[37, 19], 9), rand(&[19, 23], 10));
    close_sums(
        "mm",
        &on(&a, dev).matmul(&on(&b, dev)).unwrap(),
        &a.matmul(&b).unwrap(),
    );
    let bt = rand(&[23, 19], 11);
    close_sums(
        "a bt",
        &on(&a, dev).matmul(&on(&bt, dev).t().unwrap()).unwrap(),
        &a.matmul(&bt.t().unwrap()).unwrap(),
    );
    let at = rand(&[19, 37], 12);
    close_sums(
        "at b",
        &on(&at, dev).t().unwrap().matmul(&on(&b, dev)).unwrap(),
        &at.t().unwrap().matmul(&b).unwrap(),
    );
    let (x, w) = (rand(&[4, 3, 37, 19], 13), rand(&[3, 19, 5], 14));
    close_sums(
        "batched broadcast",
        &on(&x, dev).matmul(&on(&w, dev)).unwrap(),
        &x.matmul(&w).unwrap(),
    );
    let v = rand(&[19], 15);
    close_sums(
        "matrix vector",
        &on(&a, dev).matmul(&on(&v, dev)).unwrap(),
        &a.matmul(&v).unwrap(),
    );
    let odd = x.permute(&[1, 0, 2, 3]).unwrap();
    close_sums(
        "permuted batch",
        &on(&x, dev)
            .permute(&[1, 0, 2, 3])
            .unwrap()
            .matmul(&on(&w, dev).unsqueeze(1).unwrap())
            .unwrap(),
        &odd.matmul(&w.unsqueeze(1).unwrap()).unwrap(),
    );
}

#[test]
fn dropout_mask_is_the_cpus_bit_for_bit() {
    let Some(dev) = gpu() else { return };
    for (n, p) in [
        (1, 0.5),
        (3, 0.1),
        (4, 0.9),
        (5, 0.5),
        (1023, 0.25),
        (100_003, 0.5),
        (1 << 20, 0.04),
    ] {
        let x = rand(&[n], n as u64);
        let rng = Philox::new(42, n as u64);
        let (g, c) = (
            on(&x, dev).dropout(p, rng).unwrap(),
            x.dropout(p, rng).unwrap(),
        );
        let (g, c) = (g.to_vec::<f32>().unwrap(), c.to_vec::<f32>().unwrap());
        assert!(
            g.iter().zip(&c).all(|(a, b)| a.to_bits() == b.to_bits()),
            "n {n}, p {p}"
        );
    }
    // A view with an offset (the kernel's unaligned path) and a block of columns (emb_drop's
    // backward on the cat's gradient, read in place) draw the same mask too.
    let x = rand(&[9, 33], 3);
    let (gx, rng) = (on(&x, dev), Philox::new(7, 1));
    let views: [fn(&Tensor) -> Tensor; 2] = [
        |t| t.narrow(0, 1, 7).unwrap(),
        |t| t.narrow(1, 2, 20).unwrap(),
    ];
    for view in views {
        let mask = |t: &Tensor| view(t).dropout(0.3, rng).unwrap().to_vec::<f32>().unwrap();
        assert_eq!(mask(&gx), mask(&x));
    }
    assert_eq!(on(&x, dev).dropout(1.0, rng).unwrap().device(), dev);
}

#[test]
fn embedding_lookup_and_gradient_match_the_cpu_and_refuse_bad_indices() {
    let Some(dev) = gpu() else { return };
    let weight = rand(&[1116, 81], 16);
    let ids: Vec<i64> = (0..517).map(|i| (i * 7919 % 1116) as i64 % 300).collect();
    let idx = Tensor::from_indices(&ids, &[517]).unwrap();
    let (gw, gi) = (on(&weight, dev), on(&idx, dev));
    close(
        "index_select",
        &gw.index_select(0, &gi).unwrap(),
        &weight.index_select(0, &idx).unwrap(),
    );
    let grad = rand(&[517, 81], 17);
    let zeros = Tensor::zeros(&[1116, 81]);
    let cpu = zeros.index_add(0, &idx, &grad).unwrap();
    for how in [Accumulate::Atomic, Accumulate::Sorted] {
        let g = on(&zeros, dev)
            .index_add_with(0, &gi, &on(&grad, dev), how)
            .unwrap();
        close("index_add", &g, &cpu);
    }
    let sorted = on(&zeros, dev)
        .index_add_with(0, &gi, &on(&grad, dev), Accumulate::Sorted)
        .unwrap();
    assert_eq!(
        sorted.to_vec::<f32>().unwrap(),
        cpu.to_vec::<f32>().unwrap(),
        "the sorted sum is the CPU's, bit for bit"
    );
    let other = rand(&[4, 6, 5], 18);
    let i3 = Tensor::from_indices(&[5, 0, 5], &[3]).unwrap();
    close(
        "index_select dim 1",
        &on(&other, dev).index_select(1, &on(&i3, dev)).unwrap(),
        &other.index_select(1, &i3).unwrap(),
    );
    for bad in [1116, -1] {
        let b = on(&Tensor::from_indices(&[3, bad, 2], &[3]).unwrap(), dev);
        let err = gw.index_select(0, &b).unwrap_err();
        assert!(
            matches!(err, Error::IndexOutOfRange { index, position: 1, dim: 0, size, .. }
                if index == bad && size == gw.shape()[0]),
            "{err}"
        );
        assert!(err.to_string().contains("position 1"), "{err}");
        let err = on(&zeros, dev)
            .index_add(0, &b, &on(&rand(&[3, 81], 1), dev))
            .unwrap_err();
        assert!(
            matches!(err, Error::IndexOutOfRange { index, position: 1, .. } if index == bad),
            "{err}"
        );
    }
}

/// The grouped lookup on the GPU: the CPU's rows, its adjoint by atomics within the sums'
/// tolerance and, under the deterministic switch, bit for bit; a code out of range named.
/// 40 tables, so that two launches share the output.
#[test]
fn embeddings_cat_matches_the_cpu() {
    let Some(dev) = gpu() else { return };
    let sizes: Vec<[usize; 2]> = (0..40).map(|j| [3 + j % 7, 1 + j % 5]).collect();
    let tables: Vec<Tensor> = sizes
        .iter()
        .enumerate()
        .map(|(j, s)| rand(s, 80 + j as u64))
        .collect();
    let n = 53;
    let codes: Vec<i64> = (0..n)
        .flat_map(|b| {
            sizes
                .iter()
                .enumerate()
                .map(move |(j, s)| ((b * 7 + j * 3) % s[0]) as i64)
        })
        .collect();
    let codes = Tensor::from_indices(&codes, &[n, 40]).unwrap();
    let refs: Vec<&Tensor> = tables.iter().collect();
    let want = Tensor::embeddings_cat(&refs, &codes).unwrap();
    let gtables: Vec<Tensor> = tables.iter().map(|t| on(t, dev)).collect();
    let grefs: Vec<&Tensor> = gtables.iter().collect();
    let gcodes = on(&codes, dev);
    let got = Tensor::embeddings_cat(&grefs, &gcodes).unwrap();
    assert_eq!(got.to_vec::<f32>().unwrap(), want.to_vec::<f32>().unwrap());
    // The gradient as the model hands it over: a block of columns of a wider one, read in
    // place.
    let wide = rand(&[n, want.shape()[1] + 5], 79);
    let dy = wide.narrow(1, 2, want.shape()[1]).unwrap();
    let gdy = on(&wide, dev).narrow(1, 2, want.shape()[1]).unwrap();
    let cpu = dy.embeddings_cat_backward(&codes, &sizes).unwrap();
    let atomic = gdy.embeddings_cat_backward(&gcodes, &sizes).unwrap();
    for (a, c) in atomic.iter().zip(&cpu) {
        close_sums("embeddings_cat gradient", a, c);
    }
    let mut bad = codes.to_vec::<i64>().unwrap();
    bad[40 * 9 + 33] = -1;
    let bad = on(&Tensor::from_indices(&bad, &[n, 40]).unwrap(), dev);
    // The sorted gradient (the codes read back and sorted on the host) is the CPU's bit for
    // bit, and a bad code is named: by the sorted gradient before it launches anything, by
    // the atomic one and by the lookup.
    tensor::set_deterministic(true);
    let sorted = gdy.embeddings_cat_backward(&gcodes, &sizes);
    let refused = gdy.embeddings_cat_backward(&bad, &sizes);
    tensor::set_deterministic(false);
    for (s, c) in sorted.unwrap().iter().zip(&cpu) {
        assert_eq!(s.to_vec::<f32>().unwrap(), c.to_vec::<f32>().unwrap());
    }
    for e in [
        refused.unwrap_err(),
        gdy.embeddings_cat_backward(&bad, &sizes).unwrap_err(),
        Tensor::embeddings_cat(&grefs, &bad).unwrap_err(),
    ] {
        assert!(e.to_string().contains("code -1 at [9, 33]"), "{e}");
    }
}

/// After `set_deterministic(true)` the default index_add along dimension 0 (the embedding's
/// backward) is the sorted one, the CPU's sum bit for bit (the indices, a strided column,
/// read back and sorted on the host); along another dimension, where only atomics exist, it
/// still runs. (Other tests may run meanwhile:
/// their sums are compared within a tolerance, which both forms meet.)
#[test]
fn the_deterministic_switch_makes_the_default_sum_the_cpus() {
    let Some(dev) = gpu() else { return };
    let grad = rand(&[700, 81], 64);
    // Column 1 of a [700, 3] table, as an embedding reads its codes: in place, 3 apart.
    let ids: Vec<i64> = (0..2100).map(|i| (i * 31 % 9) as i64).collect();
    let table = Tensor::from_indices(&ids, &[700, 3]).unwrap();
    let column = |t: &Tensor| t.narrow(1, 1, 1).unwrap().squeeze(1).unwrap();
    let idx = column(&table);
    let zeros = Tensor::zeros(&[9, 81]);
    let want = zeros.index_add(0, &idx, &grad).unwrap();
    let other = rand(&[4, 9, 3], 65);
    let src = rand(&[4, 700, 3], 66);
    let want_dim1 = other.index_add(1, &idx, &src).unwrap();
    let gidx = column(&on(&table, dev));
    tensor::set_deterministic(true);
    let got = on(&zeros, dev).index_add(0, &gidx, &on(&grad, dev));
    let got_dim1 = on(&other, dev).index_add(1, &gidx, &on(&src, dev));
    tensor::set_deterministic(false);
    assert_eq!(
        got.unwrap().to_vec::<f32>().unwrap(),
        want.to_vec::<f32>().unwrap(),
        "the default sum under the switch is the CPU's, bit for bit"
    );
    close_sums(
        "index_add along dimension 1",
        &got_dim1.unwrap(),
        &want_dim1,
    );
}

/// A dead GPU tensor's buffer is kept for the next output of its length (cuda/cache.rs): an
/// op that accumulates gets it cleared, so the stale NaNs left in it never show, and
/// `release_cached_memory` frees it, counting its bytes.
#[test]
fn a_cached_gpu_buffer_comes_back_cleared_and_is_released() {
    let Some(dev) = gpu() else { return };
    // [1, 1, 37, 41]: a length (1517) no other test's outputs have. Zero padding's
    // adjoint adds one gradient onto each input pixel: exact, and accumulated in a cleared
    // buffer.
    let x = rand(&[1, 1, 37, 41], 71);
    let pads = [1, 2, 3, 1];
    let dy = rand(x.pad2d(pads, PadMode::Zeros).unwrap().shape(), 72);
    let want = dy.pad2d_backward(x.shape(), pads, PadMode::Zeros).unwrap();
    let (gx, gdy) = (on(&x, dev), on(&dy, dev));
    for round in 0..3 {
        let stale = gx
            .mul_scalar(0.0)
            .unwrap()
            .log()
            .unwrap()
            .mul_scalar(0.0)
            .unwrap();
        assert!(stale.to_vec::<f32>().unwrap().iter().all(|v| v.is_nan()));
        drop(stale);
        let got = gdy.pad2d_backward(x.shape(), pads, PadMode::Zeros).unwrap();
        assert_eq!(
            got.to_vec::<f32>().unwrap(),
            want.to_vec::<f32>().unwrap(),
            "round {round}: the gradient in a reused buffer is the CPU's"
        );
    }
    drop(gx);
    let released = tensor::release_cached_memory();
    assert!(released >= 1517 * 4, "{released} bytes released");
}

/// `into_index_add` and `into_scatter_add` add in place only into a storage no other tensor
/// holds: a kept clone, the rest of a narrowed storage and a tensor whose call failed all
/// read as before, and every result equals the CPU's.
#[test]
fn adding_into_a_consumed_tensor_changes_no_other() {
    let Some(dev) = gpu() else { return };
    let (base, grad) = (rand(&[10, 81], 60), rand(&[7, 81], 61));
    let idx = Tensor::from_indices(&[0, 3, 5, 3, 1, 0, 4], &[7]).unwrap();
    let (gbase, ggrad, gidx) = (on(&base, dev), on(&grad, dev), on(&idx, dev));
    let want = base.index_add(0, &idx, &grad).unwrap();
    let kept = gbase.clone();
    let added = gbase
        .into_index_add(0, &gidx, &ggrad, Accumulate::Atomic)
        .unwrap();
    close("into_index_add of a shared storage", &added, &want);
    close("the clone kept", &kept, &base);
    let alone = on(&base, dev)
        .into_index_add(0, &gidx, &ggrad, Accumulate::Sorted)
        .unwrap();
    close("into_index_add in place", &alone, &want);
    let rows = on(&base, dev);
    let part = rows
        .narrow(0, 2, 6)
        .unwrap()
        .into_index_add(0, &gidx, &ggrad, Accumulate::Atomic)
        .unwrap();
    let part_want = base
        .narrow(0, 2, 6)
        .unwrap()
        .index_add(0, &idx, &grad)
        .unwrap();
    close("into_index_add of a narrowed view", &part, &part_want);
    close("the storage around the view", &rows, &base);
    let bad = on(
        &Tensor::from_indices(&[0, 3, 10, 3, 1, 0, 4], &[7]).unwrap(),
        dev,
    );
    let target = on(&base, dev);
    let err = target
        .clone()
        .into_index_add(0, &bad, &ggrad, Accumulate::Atomic)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::IndexOutOfRange {
                index: 10,
                position: 2,
                dim: 0,
                ..
            }
        ),
        "{err}"
    );
    close("a refused call's target", &target, &base);

    let index = Tensor::from_indices(&[2, 0, 1, 2, 2, 0], &[2, 3]).unwrap();
    let src = rand(&[2, 3], 62);
    let x = rand(&[2, 3], 63);
    let gx = on(&x, dev);
    let kept = gx.clone();
    close(
        "into_scatter_add",
        &gx.into_scatter_add(1, &on(&index, dev), &on(&src, dev))
            .unwrap(),
        &x.scatter_add(1, &index, &src).unwrap(),
    );
    close("the clone kept", &kept, &x);
}

/// The Rossmann model's pattern: one upload of a `[batch, n_cat]` table of codes, each
/// column looked up where it lies (stride n_cat), each gradient read from its block of the
/// concatenation's gradient. A code out of range is refused, by the column it is in, and
/// named.
#[test]
fn columns_of_a_code_table_are_looked_up_in_place_and_checked() {
    let Some(dev) = gpu() else { return };
    let sizes = [1116usize, 8, 25];
    let widths = [81usize, 5, 11];
    let rows = 203;
    let codes: Vec<i64> = (0..rows * 3)
        .map(|i| ((i * 7919 + 13) % sizes[i % 3]) as i64)
        .collect();
    let table = Tensor::from_indices(&codes, &[rows, 3]).unwrap();
    let gtable = on(&table, dev);
    let wide_grad = rand(&[rows, 97 + 10], 44); // 81 + 5 + 11 columns and 10 to spare
    let mut offset = 3;
    for (c, (&n, &d)) in sizes.iter().zip(&widths).enumerate() {
        let weight = rand(&[n, d], 45 + c as u64);
        let col = table.narrow(1, c, 1).unwrap().squeeze(1).unwrap();
        let gcol = gtable.narrow(1, c, 1).unwrap().squeeze(1).unwrap();
        assert!(
            !gcol.is_contiguous(),
            "a column of the table is a strided view"
        );
        close(
            "index_select of a column",
            &on(&weight, dev).index_select(0, &gcol).unwrap(),
            &weight.index_select(0, &col).unwrap(),
        );
        let grad = wide_grad.narrow(1, offset, d).unwrap();
        let ggrad = on(&wide_grad, dev).narrow(1, offset, d).unwrap();
        offset += d;
        let zeros = Tensor::zeros(&[n, d]);
        let cpu = zeros.index_add(0, &col, &grad).unwrap();
        for how in [Accumulate::Atomic, Accumulate::Sorted] {
            let g = on(&zeros, dev)
                .index_add_with(0, &gcol, &ggrad, how)
                .unwrap();
            close("index_add from a column block", &g, &cpu);
        }
    }
    // Column 1's codes are below 8 and column 2's below 25: in a table of 8 rows, column 1
    // is looked up and column 2 refused.
    let small = on(&rand(&[8, 5], 50), dev);
    let col1 = gtable.narrow(1, 1, 1).unwrap().squeeze(1).unwrap();
    let col2 = gtable.narrow(1, 2, 1).unwrap().squeeze(1).unwrap();
    assert!(small.index_select(0, &col1).is_ok());
    let err = small.index_select(0, &col2).unwrap_err();
    assert!(
        matches!(
            err,
            Error::IndexOutOfRange {
                dim: 0,
                size: 8,
                ..
            }
        ),
        "{err}"
    );
    // The kernel's report names the index, read back from the GPU, and its position.
    let bad = on(&Tensor::from_indices(&[1, 9, 2], &[3]).unwrap(), dev);
    let err = small.index_select(0, &bad).unwrap_err();
    assert!(err.to_string().contains("index 9 (at position 1)"), "{err}");
    let err = on(&Tensor::zeros(&[8, 5]), dev)
        .index_add(0, &bad, &on(&rand(&[3, 5], 51), dev))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::IndexOutOfRange {
                index: 9,
                position: 1,
                size: 8,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn cross_entropy_pieces_match_the_cpu() {
    let Some(dev) = gpu() else { return };
    let logits = rand(&[13, 37], 19);
    let target = Tensor::from_indices(
        &(0..13).map(|i| (i * 5 % 37) as i64).collect::<Vec<_>>(),
        &[13, 1],
    )
    .unwrap();
    let (gl, gt) = (on(&logits, dev), on(&target, dev));
    close(
        "gather",
        &gl.gather(1, &gt).unwrap(),
        &logits.gather(1, &target).unwrap(),
    );
    let src = rand(&[13, 1], 20);
    close(
        "scatter_add",
        &gl.scatter_add(1, &gt, &on(&src, dev)).unwrap(),
        &logits.scatter_add(1, &target, &src).unwrap(),
    );
    let bad = on(&Tensor::from_indices(&[37; 13], &[13, 1]).unwrap(), dev);
    assert!(matches!(
        gl.gather(1, &bad),
        Err(Error::IndexOutOfRange {
            index: 37,
            position: 0,
            dim: 1,
            size: 37,
            ..
        })
    ));
    // Along any dimension of a non-contiguous view, with repeats.
    let x = rand(&[5, 4, 6], 43).permute(&[1, 0, 2]).unwrap();
    for (dim, shape) in [(0usize, [3usize, 5, 2]), (1, [4, 9, 6]), (2, [4, 2, 7])] {
        let size = x.shape()[dim];
        let n: usize = shape.iter().product();
        let values: Vec<i64> = (0..n).map(|i| ((i * 7 + 3) % size) as i64).collect();
        let index = Tensor::from_indices(&values, &shape).unwrap();
        let gi = on(&index, dev);
        let gx = on(&rand(&[5, 4, 6], 43), dev).permute(&[1, 0, 2]).unwrap();
        close(
            "gather",
            &gx.gather(dim, &gi).unwrap(),
            &x.gather(dim, &index).unwrap(),
        );
        let src = rand(&[4, 9, 7], 44);
        let want = x.scatter_add(dim, &index, &src).unwrap();
        close(
            "scatter_add",
            &gx.scatter_add(dim, &gi, &on(&src, dev)).unwrap(),
            &want,
        );
    }
}

#[test]
fn batch_norm_forward_and_backward_match_the_cpu() {
    let Some(dev) = gpu() else { return };
    // [4, 3, 6, 6] and [9, 2, 20, 24] are walked in float4s (planes of a multiple of 4
    // floats), the second over more than a block's 1024 threads.
    let shapes = [
        &[5, 3, 7, 9][..],
        &[64, 17],
        &[1, 4, 1, 1],
        &[3, 2, 31, 33],
        &[4, 3, 6, 6],
        &[9, 2, 20, 24],
    ];
    for shape in shapes {
        let c = shape[1];
        let x = rand(shape, 21)
            .mul_scalar(3.0)
            .unwrap()
            .add_scalar(5.0)
            .unwrap();
        let (w, b) = (rand(&[c], 22), rand(&[c], 23));
        let (gx, gw, gb) = (on(&x, dev), on(&w, dev), on(&b, dev));
        let (y, m, v) = x.batch_norm(&w, &b, 1e-5, None).unwrap();
        let (gy, gm, gv) = gx.batch_norm(&gw, &gb, 1e-5, None).unwrap();
        close("bn y", &gy, &y);
        close("bn mean", &gm, &m);
        close("bn var", &gv, &v);
        // The running statistics, updated in the forward's launch on the GPU.
        let (mut rm, mut rv) = (rand(&[c], 25), rand(&[c], 26).abs().unwrap());
        let (mut grm, mut grv) = (on(&rm, dev), on(&rv, dev));
        let running = |mean, var| tensor::RunningStats {
            mean,
            var,
            momentum: 0.1,
        };
        x.batch_norm(&w, &b, 1e-5, Some(running(&mut rm, &mut rv)))
            .unwrap();
        gx.batch_norm(&gw, &gb, 1e-5, Some(running(&mut grm, &mut grv)))
            .unwrap();
        close("running mean", &grm, &rm);
        close("running var", &grv, &rv);
        let dy = rand(shape, 24);
        let (dx, dw, db) = dy.batch_norm_backward(&x, &w, &m, &v, 1e-5).unwrap();
        let (gdx, gdw, gdb) = on(&dy, dev)
            .batch_norm_backward(&gx, &gw, &gm, &gv, 1e-5)
            .unwrap();
        close("bn dx", &gdx, &dx);
        close("bn dgamma", &gdw, &dw);
        close("bn dbeta", &gdb, &db);
        // dy as a block of channels of a wider gradient (bn_cont's in the tabular model's
        // cat), read in place.
        let mut wider = shape.to_vec();
        wider[1] += 3;
        let wide = rand(&wider, 20);
        let (block, gblock) = (
            wide.narrow(1, 2, c).unwrap(),
            on(&wide, dev).narrow(1, 2, c).unwrap(),
        );
        let want = block.batch_norm_backward(&x, &w, &m, &v, 1e-5).unwrap();
        let got = gblock
            .batch_norm_backward(&gx, &gw, &gm, &gv, 1e-5)
            .unwrap();
        close("bn dx of a block", &got.0, &want.0);
        close("bn dgamma of a block", &got.1, &want.1);
        close("bn dbeta of a block", &got.2, &want.2);
        let ya = x.channel_affine(&w, &b).unwrap();
        close("channel_affine", &gx.channel_affine(&gw, &gb).unwrap(), &ya);
        let (cdx, cds, cdb) = dy.channel_affine_backward(Some(&x), &w).unwrap();
        let (gdx, gds, gdb) = on(&dy, dev)
            .channel_affine_backward(Some(&gx), &gw)
            .unwrap();
        close("affine dx", &gdx, &cdx);
        close("affine dscale", &gds.unwrap(), &cds.unwrap());
        close("affine dshift", &gdb, &cdb);
        // Inference's constants from running statistics: the CPU's operations in its order,
        // so the same bits.
        let (rm, rv) = (rand(&[c], 27), rand(&[c], 28).abs().unwrap());
        let (scale, shift) = Tensor::batch_norm_fold(&w, &b, &rm, &rv, 1e-5).unwrap();
        let (gscale, gshift) =
            Tensor::batch_norm_fold(&gw, &gb, &on(&rm, dev), &on(&rv, dev), 1e-5).unwrap();
        let bits = |t: &Tensor| t.to_vec::<f32>().unwrap();
        assert_eq!(bits(&gscale), bits(&scale), "fold scale");
        assert_eq!(bits(&gshift), bits(&shift), "fold shift");
    }
}

/// The convolution of `x_shape` by `w_shape` (with a bias), im2col, col2im and both
/// gradients on the GPU against the CPU.
fn check_convolution(dev: Device, x_shape: [usize; 4], w_shape: [usize; 4], p: Conv2dParams) {
    let (x, w, b) = (
        rand(&x_shape, 25),
        rand(&w_shape, 26),
        rand(&[w_shape[0]], 27),
    );
    let (gx, gw) = (on(&x, dev), on(&w, dev));
    let y = x.conv2d(&w, Some(&b), p).unwrap();
    close_sums(
        "conv2d",
        &gx.conv2d(&gw, Some(&on(&b, dev)), p).unwrap(),
        &y,
    );
    let cols = x.im2col(w_shape[2], w_shape[3], p).unwrap();
    close(
        "im2col",
        &gx.im2col(w_shape[2], w_shape[3], p).unwrap(),
        &cols,
    );
    let back = cols.col2im(x.shape(), w_shape[2], w_shape[3], p).unwrap();
    let gcols = on(&cols, dev);
    close(
        "col2im",
        &gcols.col2im(x.shape(), w_shape[2], w_shape[3], p).unwrap(),
        &back,
    );
    let dy = rand(y.shape(), 28);
    let dx = dy.conv2d_backward_input(&w, x.shape(), p).unwrap();
    close_sums(
        "conv dx",
        &on(&dy, dev)
            .conv2d_backward_input(&gw, x.shape(), p)
            .unwrap(),
        &dx,
    );
    let k = [w_shape[2], w_shape[3]];
    let dw = dy.conv2d_backward_weight(&x, k, p).unwrap();
    close_sums(
        "conv dw",
        &on(&dy, dev).conv2d_backward_weight(&gx, k, p).unwrap(),
        &dw,
    );
}

#[test]
fn convolution_and_its_gradients_match_the_cpu() {
    let Some(dev) = gpu() else { return };
    // ResNet's stem (7x7, stride 2, padding 3), a 3x3 block, a 1x1 downsample, odd sizes;
    // a 1x1 of stride 1 (its columns are its input, read in place) and one padded (not so).
    check_convolution(dev, [2, 3, 37, 29], [5, 3, 7, 7], Conv2dParams::new(2, 3));
    check_convolution(dev, [3, 8, 13, 11], [6, 8, 3, 3], Conv2dParams::new(1, 1));
    check_convolution(dev, [2, 6, 9, 9], [4, 6, 1, 1], Conv2dParams::new(2, 0));
    check_convolution(dev, [3, 6, 5, 7], [4, 6, 1, 1], Conv2dParams::new(1, 0));
    check_convolution(dev, [3, 6, 5, 7], [4, 6, 1, 1], Conv2dParams::new(1, 1));
}

/// Puts the GPU's convolution chunk size back when dropped (also when a test fails).
struct ConvColumns(std::sync::Arc<Gpu>, usize);

impl Drop for ConvColumns {
    fn drop(&mut self) {
        self.0.set_conv_columns(self.1);
    }
}

#[test]
fn convolution_in_chunks_of_images_matches_the_cpu() {
    let Some(dev) = gpu() else { return };
    let g = Gpu::get(0).unwrap();
    let _restore = ConvColumns(g.clone(), g.conv_columns());
    // Columns of two images of the 3x3 case (72 rows, 143 pixels, f32) a chunk: five images
    // go as 2, 2 and 1, and the weight gradient adds three products. Then one image a chunk
    // for the strided stem (any size below an image's columns still takes one).
    g.set_conv_columns(2 * 72 * 143 * 4);
    check_convolution(dev, [5, 8, 13, 11], [6, 8, 3, 3], Conv2dParams::new(1, 1));
    g.set_conv_columns(1);
    check_convolution(dev, [3, 3, 37, 29], [5, 3, 7, 7], Conv2dParams::new(2, 3));
}

#[test]
fn the_memory_high_water_mark_counts_what_is_allocated() {
    let Some(dev) = gpu() else { return };
    let g = Gpu::get(0).unwrap();
    let Some(start) = g.memory_high_water().unwrap() else {
        eprintln!("skipped: this GPU has no memory pool");
        return;
    };
    g.reset_memory_high_water().unwrap();
    let before = g.memory_high_water().unwrap().unwrap();
    assert!(
        before <= start,
        "a reset raised the mark: {start} -> {before}"
    );
    // A length no other test uses, so that no freed buffer is at hand for it, and larger
    // (64 MiB) than what the other tests, which may run beside this one, allocate at once.
    let n = (1 << 24) + 4099;
    let t = Tensor::zeros(&[n]).to_device(dev).unwrap();
    let after = g.memory_high_water().unwrap().unwrap();
    assert!(
        after >= before + 4 * n as u64,
        "{n} f32 allocated, the mark moved {before} -> {after}"
    );
    // A mark, not the bytes in use: freeing the buffer (out of the cache too) keeps it.
    drop(t);
    tensor::release_cached_memory();
    g.synchronize().unwrap();
    let freed = g.memory_high_water().unwrap().unwrap();
    assert!(
        freed >= after,
        "freeing {n} f32 lowered the mark: {after} -> {freed}"
    );
    g.reset_memory_high_water().unwrap();
    let reset = g.memory_high_water().unwrap().unwrap();
    assert!(
        reset + 2 * n as u64 <= after,
        "a reset after freeing {n} f32 left the mark near them: {after} -> {reset}"
    );
}

#[test]
fn pooling_and_its_gradients_match_the_cpu() {
    let Some(dev) = gpu() else { return };
    let x = rand(&[2, 3, 17, 14], 29);
    let gx = on(&x, dev);
    let p = Conv2dParams::new(2, 1);
    let (v, i) = x.max_pool2d([3, 3], p).unwrap();
    let (gv, gi) = gx.max_pool2d([3, 3], p).unwrap();
    close("max_pool", &gv, &v);
    assert_eq!(gi.to_vec::<i64>().unwrap(), i.to_vec::<i64>().unwrap());
    close(
        "max_pool values",
        &gx.max_pool2d_values([3, 3], p).unwrap(),
        &v,
    );
    // The gradients are gathered in the CPU path's order of additions: the same bits, and
    // over overlapping 3x3/2 windows, so some pixels sum several.
    let dy = rand(v.shape(), 30);
    let gdy = on(&dy, dev);
    let bits = |t: Tensor| t.to_vec::<f32>().unwrap();
    assert_eq!(
        bits(gdy.max_pool2d_backward(&gi, x.shape(), [3, 3], p).unwrap()),
        bits(dy.max_pool2d_backward(&i, x.shape(), [3, 3], p).unwrap()),
        "max_pool dx"
    );
    close(
        "avg_pool",
        &gx.avg_pool2d([3, 3], p).unwrap(),
        &x.avg_pool2d([3, 3], p).unwrap(),
    );
    assert_eq!(
        bits(gdy.avg_pool2d_backward(x.shape(), [3, 3], p).unwrap()),
        bits(dy.avg_pool2d_backward(x.shape(), [3, 3], p).unwrap()),
        "avg_pool dx"
    );
    // Indices out of their plane, and in it but out of their window (each index moved two
    // pixels right, which takes many out of their 3-pixel-wide windows), on both devices.
    let shifted: Vec<i64> = i.to_vec::<i64>().unwrap().iter().map(|&a| a + 2).collect();
    for bad in [vec![10_000; i.elem_count()], shifted] {
        let wrong = Tensor::from_indices(&bad, i.shape()).unwrap();
        let err = gdy
            .max_pool2d_backward(&on(&wrong, dev), x.shape(), [3, 3], p)
            .unwrap_err();
        assert!(matches!(err, Error::OutsideWindow { .. }), "{err}");
        let cpu = dy.max_pool2d_backward(&wrong, x.shape(), [3, 3], p);
        assert!(matches!(cpu, Err(Error::OutsideWindow { .. })), "{cpu:?}");
    }
    // The forward's own indices skip the backward's check only for the forward's windows:
    // handed to the adaptive pool's backward (to the same [9, 7], over 2-pixel-wide column
    // windows where the forward's were 3), many lie outside, and it says so.
    let err = gdy
        .adaptive_max_pool2d_backward(&gi, x.shape())
        .unwrap_err();
    assert!(matches!(err, Error::OutsideWindow { .. }), "{err}");
    let cpu = dy.adaptive_max_pool2d_backward(&i, x.shape());
    assert!(matches!(cpu, Err(Error::OutsideWindow { .. })), "{cpu:?}");
    for out in [[1, 1], [5, 3], [17, 14], [6, 9]] {
        let a = x.adaptive_avg_pool2d(out).unwrap();
        close("adaptive avg", &gx.adaptive_avg_pool2d(out).unwrap(), &a);
        let d = rand(a.shape(), 31);
        let gd = on(&d, dev);
        assert_eq!(
            bits(gd.adaptive_avg_pool2d_backward(x.shape()).unwrap()),
            bits(d.adaptive_avg_pool2d_backward(x.shape()).unwrap()),
            "adaptive avg dx to {out:?}"
        );
        let (m, mi) = x.adaptive_max_pool2d(out).unwrap();
        let (gm, gmi) = gx.adaptive_max_pool2d(out).unwrap();
        close("adaptive max", &gm, &m);
        assert_eq!(gmi.to_vec::<i64>().unwrap(), mi.to_vec::<i64>().unwrap());
        assert_eq!(
            bits(gd.adaptive_max_pool2d_backward(&gmi, x.shape()).unwrap()),
            bits(d.adaptive_max_pool2d_backward(&mi, x.shape()).unwrap()),
            "adaptive max dx to {out:?}"
        );
    }
}

#[test]
fn cat_where_and_constants_match_the_cpu() {
    let Some(dev) = gpu() else { return };
    let (a, b) = (rand(&[3, 4, 5], 33), rand(&[3, 2, 5], 34));
    let bt = rand(&[3, 5, 2], 35).transpose(1, 2).unwrap();
    for second in [&b, &bt] {
        let c = Tensor::cat(&[&a, second], 1).unwrap();
        let g = Tensor::cat(&[&on(&a, dev), &on(second, dev)], 1).unwrap();
        close("cat", &g, &c);
    }
    // The Rossmann model's cat: 23 blocks of different widths along dimension 1 (two
    // launches of up to 16), some of them views, one empty.
    let parts: Vec<Tensor> = (0..23)
        .map(|j| match j % 3 {
            0 => rand(&[7, 1 + j % 5], 60 + j as u64),
            1 => rand(&[1 + j % 4, 7], 60 + j as u64)
                .transpose(0, 1)
                .unwrap(),
            _ => rand(&[7, (j / 3) % 3 * 2], 60 + j as u64),
        })
        .collect();
    let cpu_parts: Vec<&Tensor> = parts.iter().collect();
    let gpu_parts: Vec<Tensor> = parts.iter().map(|p| on(p, dev)).collect();
    let gpu_refs: Vec<&Tensor> = gpu_parts.iter().collect();
    assert_eq!(parts[2].elem_count(), 0, "one empty block");
    close(
        "cat of 23",
        &Tensor::cat(&gpu_refs, 1).unwrap(),
        &Tensor::cat(&cpu_parts, 1).unwrap(),
    );
    let ids = Tensor::from_indices(&[1, 2], &[2]).unwrap();
    let gi = Tensor::cat(&[&on(&ids, dev), &on(&ids, dev)], 0).unwrap();
    assert_eq!(gi.to_vec::<i64>().unwrap(), [1, 2, 1, 2]);
    let stacked = Tensor::stack(&[&on(&a, dev), &on(&a, dev)], 1).unwrap();
    close("stack", &stacked, &Tensor::stack(&[&a, &a], 1).unwrap());
    let mask = a.gt(&Tensor::scalar(0.0)).unwrap();
    let other = rand(&[5], 36);
    let want = mask.where_cond(&a, &other).unwrap();
    let got = on(&mask, dev)
        .where_cond(&on(&a, dev), &on(&other, dev))
        .unwrap();
    close("where", &got, &want);
    let full = on(&a, dev).new_full(&[2, 7], 2.5).unwrap();
    close("new_full", &full, &Tensor::full(2.5, &[2, 7]));
}

#[test]
fn optimiser_steps_match_the_cpu() {
    let Some(dev) = gpu() else { return };
    let n = 100_003;
    let (p, g, m) = (rand(&[n], 37), rand(&[n], 38), rand(&[n], 39));
    let v = rand(&[n], 40).abs().unwrap();
    let h = tensor::AdamStep {
        decay: 0.998,
        beta1: 0.9,
        beta2: 0.99,
        step_size: 1e-3,
        eps: 1e-8,
    };
    let (mut cp, mut cm, mut cv) = (p.clone(), m.clone(), v.clone());
    cp.adamw_step(&g, &mut cm, &mut cv, h).unwrap();
    let (mut gp, mut gm, mut gv) = (on(&p, dev), on(&m, dev), on(&v, dev));
    let shared = gm.clone();
    gp.adamw_step(&on(&g, dev), &mut gm, &mut gv, h).unwrap();
    close("adamw p", &gp, &cp);
    close("adamw m", &gm, &cm);
    close("adamw v", &gv, &cv);
    close("adamw left a shared moment alone", &shared, &m);
    let s = tensor::SgdStep {
        decay: 0.99,
        lr: 0.1,
        momentum: 0.9,
        first: false,
    };
    let (mut cp, mut cb) = (p.clone(), m.clone());
    cp.sgd_step(&g, &mut cb, s).unwrap();
    let (mut gp, mut gb) = (on(&p, dev), on(&m, dev));
    gp.sgd_step(&on(&g, dev), &mut gb, s).unwrap();
    close("sgd p", &gp, &cp);
    close("sgd buf", &gb, &cb);
}

/// AdamW over 30 parameters in one call (two launches: groups of 24), each with its own
/// step, against the CPU; a call with one bad operand is refused and changes nothing.
#[test]
fn grouped_adamw_matches_the_cpu_and_refuses_as_a_whole() {
    let Some(dev) = gpu() else { return };
    let sizes: Vec<usize> = [1usize, 255, 257, 20_011]
        .into_iter()
        .chain((0..26).map(|j| 3 + 37 * j))
        .collect();
    let mut cpu = Vec::new();
    let mut gpu_side = Vec::new();
    for (j, &n) in sizes.iter().enumerate() {
        let s = 100 + 4 * j as u64;
        let (p, g, m) = (rand(&[n], s), rand(&[n], s + 1), rand(&[n], s + 2));
        let v = rand(&[n], s + 3).abs().unwrap();
        let h = tensor::AdamStep {
            decay: 0.998,
            beta1: 0.9,
            beta2: 0.99,
            step_size: 1e-3 * (1 + j % 4) as f32,
            eps: 1e-8,
        };
        gpu_side.push((on(&p, dev), on(&g, dev), on(&m, dev), on(&v, dev), h));
        let (mut cp, mut cm, mut cv) = (p, m, v);
        cp.adamw_step(&g, &mut cm, &mut cv, h).unwrap();
        cpu.push((cp, cm, cv));
    }
    let before: Vec<Vec<f32>> = gpu_side
        .iter()
        .map(|(p, ..)| p.to_vec::<f32>().unwrap())
        .collect();
    // A gradient of the wrong shape in the last update: nothing may move.
    let wrong = on(&rand(&[2], 9), dev);
    let refused = {
        let mut updates: Vec<tensor::AdamUpdate> = gpu_side
            .iter_mut()
            .enumerate()
            .map(|(j, (p, g, m, v, h))| tensor::AdamUpdate {
                param: p,
                grad: if j + 1 == sizes.len() { &wrong } else { g },
                m,
                v,
                step: *h,
            })
            .collect();
        tensor::adamw_steps(&mut updates)
    };
    assert!(matches!(refused, Err(Error::Shape { .. })), "{refused:?}");
    for ((p, ..), b) in gpu_side.iter().zip(&before) {
        assert_eq!(
            &p.to_vec::<f32>().unwrap(),
            b,
            "a refused step changed a parameter"
        );
    }
    let mut updates: Vec<tensor::AdamUpdate> = gpu_side
        .iter_mut()
        .map(|(p, g, m, v, h)| tensor::AdamUpdate {
            param: p,
            grad: g,
            m,
            v,
            step: *h,
        })
        .collect();
    tensor::adamw_steps(&mut updates).unwrap();
    drop(updates);
    for ((gp, _, gm, gv, _), (cp, cm, cv)) in gpu_side.iter().zip(&cpu) {
        close("grouped adamw p", gp, cp);
        close("grouped adamw m", gm, cm);
        close("grouped adamw v", gv, cv);
    }
}

#[test]
fn devices_do_not_mix_and_unported_ops_say_so() {
    let Some(dev) = gpu() else { return };
    let x = rand(&[2, 3, 4, 4], 32);
    let err = on(&x, dev).add(&x).unwrap_err();
    assert!(
        matches!(err, Error::DeviceMismatch { lhs, rhs: Device::Cpu, .. } if lhs == dev)
            && err.to_string().contains("cuda:0"),
        "{err}"
    );
    for mode in [
        tensor::PadMode::Zeros,
        tensor::PadMode::Reflect,
        tensor::PadMode::Replicate,
    ] {
        let want = x.pad2d([2, 1, 3, 2], mode).unwrap();
        close(
            "pad2d",
            &on(&x, dev).pad2d([2, 1, 3, 2], mode).unwrap(),
            &want,
        );
        let dy = rand(want.shape(), 41);
        let back = dy.pad2d_backward(x.shape(), [2, 1, 3, 2], mode).unwrap();
        let got = on(&dy, dev)
            .pad2d_backward(x.shape(), [2, 1, 3, 2], mode)
            .unwrap();
        close("pad2d backward", &got, &back);
    }
    // The explicit weight-tied matrix (a demo op) has no GPU path: refused by name.
    let w = on(&rand(&[2, 3, 2, 2], 42), dev);
    let err = w
        .conv2d_matrix([4, 4], Conv2dParams::new(1, 0))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Unsupported {
                op: "conv2d_matrix",
                dtype: None,
                ..
            }
        ),
        "{err}"
    );
}

#[path = "host/fake_gpu.rs"]
mod fake_gpu;

/// Every test above, run again on the host's stand-in for a GPU (see `host/fake_gpu.rs`).
#[test]
fn every_test_above_on_a_stand_in_gpu() {
    fake_gpu::run_this_binary_on_the_stand_in("every_test_above_on_a_stand_in_gpu");
}
