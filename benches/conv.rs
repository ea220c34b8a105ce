//! conv2d forward on ResNet-34's shapes at batch 8 (the targets), and its two
//! backward GEMMs on the 64 -> 64 layer. Compare with `benches/compare_torch.py`.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lesson6::tensor::random::Philox;
use lesson6::tensor::{Conv2dParams, Tensor};

fn rand(shape: &[usize], seed: u64) -> Tensor {
    Philox::new(seed, 0).uniform(shape, -1.0, 1.0).unwrap()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("conv2d");
    g.sample_size(10);
    // (c_in, c_out, size, kernel, stride, padding)
    for (ci, co, hw, k, s, p) in [
        (3, 64, 224, 7, 2, 3),
        (64, 64, 56, 3, 1, 1),
        (256, 256, 14, 3, 1, 1),
    ] {
        let x = rand(&[8, ci, hw, hw], 1);
        let w = rand(&[co, ci, k, k], 2);
        let params = Conv2dParams::new(s, p);
        let ho = (hw + 2 * p - k) / s + 1;
        g.throughput(Throughput::Elements(
            (2 * 8 * co * ho * ho * ci * k * k) as u64,
        ));
        let id = format!("{ci}to{co}_k{k}s{s}_{hw}");
        g.bench_with_input(BenchmarkId::new("forward", &id), &(), |b, _| {
            b.iter(|| x.conv2d(&w, None, params).unwrap())
        });
        if ci == 64 {
            let dy = rand(&[8, co, ho, ho], 3);
            g.bench_with_input(BenchmarkId::new("backward_input", &id), &(), |b, _| {
                b.iter(|| dy.conv2d_backward_input(&w, x.shape(), params).unwrap())
            });
            g.bench_with_input(BenchmarkId::new("backward_weight", &id), &(), |b, _| {
                b.iter(|| dy.conv2d_backward_weight(&x, [k, k], params).unwrap())
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
