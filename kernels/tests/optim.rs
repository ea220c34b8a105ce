//! The fused AdamW and SGD kernels against nn's arithmetic written out on the host, for sizes
//! that are not multiples of a block. Skips, saying why, where there is no GPU; the last test
//! runs them all again on the host's stand-in GPU, so that CI, which has none, runs them too.
use kernels::Gpu;

fn gpu() -> Option<std::sync::Arc<Gpu>> {
    Gpu::get(0).map_err(|e| eprintln!("skipped: {e}")).ok()
}

fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32
                / (1 << 24) as f32
                - 0.5
        })
        .collect()
}

fn close(what: &str, a: &[f32], b: &[f32]) {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-5 * y.abs() + 1e-7,
            "{what}[{i}]: GPU {x}, host {y}"
        );
    }
}

/// 30 parameters of odd sizes (more than one launch's group of 24), each with its own step.
#[test]
fn adamw_matches_the_host_arithmetic() {
    let Some(gpu) = gpu() else { return };
    let s = gpu.stream();
    let sizes: Vec<usize> = [1, 255, 257, 100_003]
        .into_iter()
        .chain((0..26).map(|j| 3 + 37 * j))
        .collect();
    assert!(sizes.len() > kernels::ADAM_GROUP);
    let (lr, wd, b1, b2, eps) = (1e-2f32, 0.2f32, 0.9f32, 0.99f32, 1e-8f32);
    let mut host = Vec::new();
    let mut dev = Vec::new();
    for (j, &n) in sizes.iter().enumerate() {
        let seed = 4 * j as u32;
        let (p, g, m) = (values(n, seed), values(n, seed + 1), values(n, seed + 2));
        let v: Vec<f32> = values(n, seed + 3).iter().map(|x| x.abs()).collect();
        let t = 1 + (j % 5) as i32;
        let step = kernels::AdamStep {
            decay: 1.0 - lr * wd,
            beta1: b1,
            beta2: b2,
            step_size: lr * (1.0 - b2.powi(t)).sqrt() / (1.0 - b1.powi(t)),
            eps,
        };
        let up = |x: &Vec<f32>| s.clone_htod(x).unwrap();
        dev.push((up(&p), up(&g), up(&m), up(&v), step));
        host.push((p, g, m, v, step));
    }
    let mut params: Vec<kernels::AdamParam> = dev
        .iter_mut()
        .map(|(p, g, m, v, step)| kernels::AdamParam {
            p,
            g: g.as_view(),
            m,
            v,
            step: *step,
        })
        .collect();
    gpu.adamw(&mut params).unwrap();
    drop(params);
    for ((p, g, m, v, h), (dp, _, dm, dv, _)) in host.iter_mut().zip(&dev) {
        for i in 0..p.len() {
            m[i] = h.beta1 * m[i] + (1.0 - h.beta1) * g[i];
            v[i] = h.beta2 * v[i] + (1.0 - h.beta2) * g[i] * g[i];
            p[i] = p[i] * h.decay - h.step_size * m[i] / (v[i].sqrt() + h.eps);
        }
        close("p", &s.clone_dtoh(dp).unwrap(), p);
        close("m", &s.clone_dtoh(dm).unwrap(), m);
        close("v", &s.clone_dtoh(dv).unwrap(), v);
    }
}

#[test]
fn sgd_matches_the_host_arithmetic() {
    let Some(gpu) = gpu() else { return };
    let s = gpu.stream();
    let n = 1001;
    let (mut p, g, mut buf) = (values(n, 5), values(n, 6), values(n, 7));
    let (mut dp, dg, mut db) = (
        s.clone_htod(&p).unwrap(),
        s.clone_htod(&g).unwrap(),
        s.clone_htod(&buf).unwrap(),
    );
    let (decay, lr, mom) = (0.99f32, 0.1f32, 0.9f32);
    for first in [true, false] {
        gpu.sgd(&mut dp, &dg.as_view(), &mut db, (decay, lr, mom), first)
            .unwrap();
        for i in 0..n {
            buf[i] = if first { g[i] } else { mom * buf[i] + g[i] };
            p[i] = p[i] * decay - lr * buf[i];
        }
    }
    close("p", &s.clone_dtoh(&dp).unwrap(), &p);
    close("buf", &s.clone_dtoh(&db).unwrap(), &buf);
}

#[test]
fn a_missing_gpu_is_an_error_not_a_panic() {
    match Gpu::get(999) {
        Ok(_) => panic!("GPU 999 should not exist"),
        Err(e) => assert!(matches!(e, kernels::Error::Unavailable(_)), "{e}"),
    }
}

#[path = "../../tensor/tests/host/fake_gpu.rs"]
mod fake_gpu;

/// Every test above, run again on the host's stand-in for a GPU (see
/// `tensor/tests/host/fake_gpu.rs`).
#[test]
fn every_test_above_on_a_stand_in_gpu() {
    fake_gpu::run_this_binary_on_the_stand_in("every_test_above_on_a_stand_in_gpu");
}
