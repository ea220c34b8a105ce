//! sgemm throughput on the shapes the issue names: square 1024 and 2048, and the Rossmann
//! tabular model's two big layers at batch 512. Compare with `benches/compare_torch.py`.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lesson6::tensor::random::Philox;

fn shapes() -> Vec<(&'static str, usize, usize, usize)> {
    vec![
        ("square", 1024, 1024, 1024),
        ("square", 2048, 2048, 2048),
        ("tabular-l1", 512, 233, 1000),
        ("tabular-l2", 512, 1000, 500),
    ]
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("sgemm");
    g.sample_size(10);
    for (name, m, k, n) in shapes() {
        let a = Philox::new(1, 0).uniform(&[m, k], -1.0, 1.0).unwrap();
        let b = Philox::new(2, 0).uniform(&[k, n], -1.0, 1.0).unwrap();
        g.throughput(Throughput::Elements((2 * m * n * k) as u64));
        g.bench_with_input(
            BenchmarkId::new(name, format!("{m}x{k}x{n}")),
            &(),
            |bch, _| bch.iter(|| a.matmul(&b).unwrap()),
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
