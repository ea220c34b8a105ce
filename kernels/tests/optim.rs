//! The fused AdamW and SGD kernels against nn's arithmetic written out on the host, for sizes
//! that are not multiples of a block. Skips, saying why, where there is no GPU.
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

#[test]
fn adamw_matches_the_host_arithmetic() {
    let Some(gpu) = gpu() else { return };
    let s = gpu.stream();
    for n in [1, 255, 257, 100_003] {
        let (mut p, g, mut m, mut v) = (values(n, 1), values(n, 2), values(n, 3), values(n, 4));
        v.iter_mut().for_each(|x| *x = x.abs());
        let (dp, dg) = (s.clone_htod(&p).unwrap(), s.clone_htod(&g).unwrap());
        let (mut dp, mut dm, mut dv) = (dp, s.clone_htod(&m).unwrap(), s.clone_htod(&v).unwrap());
        let (lr, wd, b1, b2, eps) = (1e-2f32, 0.2f32, 0.9f32, 0.99f32, 1e-8f32);
        let decay = 1.0 - lr * wd;
        let step_size = lr * (1.0 - b2.powi(3)).sqrt() / (1.0 - b1.powi(3));
        gpu.adamw(
            &mut dp,
            &dg.as_view(),
            (&mut dm, &mut dv),
            decay,
            (b1, b2),
            step_size,
            eps,
        )
        .unwrap();
        for i in 0..n {
            m[i] = b1 * m[i] + (1.0 - b1) * g[i];
            v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
            p[i] = p[i] * decay - step_size * m[i] / (v[i].sqrt() + eps);
        }
        close("p", &s.clone_dtoh(&dp).unwrap(), &p);
        close("m", &s.clone_dtoh(&dm).unwrap(), &m);
        close("v", &s.clone_dtoh(&dv).unwrap(), &v);
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
