//! The Rust side of `benches/compare_torch.py`: times one named case (or all of them) and
//! prints one line per case, `case<TAB>median_ms<TAB>gflops`. The Python script runs this and
//! PyTorch alternately, in one process tree, with 2 threads each.
//!
//! `cargo bench --bench compare -- [CASE ...] [--reps N]`
use lesson6::autograd::{Tape, Var, VarId};
use lesson6::nn::learner::{Learner, Lr, TensorData};
use lesson6::nn::loss::{cross_entropy, mse_flat};
use lesson6::nn::models::resnet34;
use lesson6::nn::optim::AdamW;
use lesson6::nn::optim::Sgd;
use lesson6::nn::tabular::TabularModel;
use lesson6::nn::{Mode, Module, Param, Vars};
use lesson6::tensor::random::Philox;
use lesson6::tensor::{Conv2dParams, Tensor};
use std::time::Instant;

#[path = "shared/mod.rs"]
mod shared;
use shared::{rand, rossmann_config, rossmann_rows, EPOCH_ROWS, ROSSMANN};

/// A timed case: a name, its FLOP count and the closure to time.
struct Case {
    name: String,
    flops: f64,
    run: Box<dyn Fn()>,
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for (m, k, n) in [
        (1024, 1024, 1024),
        (2048, 2048, 2048),
        (512, 233, 1000),
        (512, 1000, 500),
    ] {
        let (a, b) = (rand(&[m, k], 1), rand(&[k, n], 2));
        v.push(Case {
            name: format!("sgemm_{m}x{k}x{n}"),
            flops: 2.0 * (m * n * k) as f64,
            run: Box::new(move || {
                a.matmul(&b).unwrap();
            }),
        });
    }
    // ResNet-34 convolutions at batch 8: (c_in, c_out, size, kernel, stride, padding).
    for (ci, co, hw, kk, s, p) in [
        (3, 64, 224, 7, 2, 3),
        (64, 64, 56, 3, 1, 1),
        (256, 256, 14, 3, 1, 1),
    ] {
        let x = rand(&[8, ci, hw, hw], 3);
        let w = rand(&[co, ci, kk, kk], 4);
        let params = Conv2dParams::new(s, p);
        let ho = (hw + 2 * p - kk) / s + 1;
        let flops = 2.0 * (8 * co * ho * ho * ci * kk * kk) as f64;
        let (xc, wc) = (x.clone(), w.clone());
        v.push(Case {
            name: format!("conv_{ci}to{co}_k{kk}s{s}_{hw}"),
            flops,
            run: Box::new(move || {
                xc.conv2d(&wc, None, params).unwrap();
            }),
        });
        // Training: the forward, then the input and weight gradients of a given output
        // gradient (each as much arithmetic as the forward).
        let dy = rand(&[8, co, ho, ho], 5);
        v.push(Case {
            name: format!("conv_{ci}to{co}_k{kk}s{s}_{hw}_train"),
            flops: 3.0 * flops,
            run: Box::new(move || {
                let tape = Tape::new();
                let (ix, iw) = (VarId::new(), VarId::new());
                let (xv, wv) = (tape.leaf(x.clone(), ix), tape.leaf(w.clone(), iw));
                let g = xv
                    .conv2d(&wv, None, params)
                    .unwrap()
                    .backward_with(&dy)
                    .unwrap();
                assert!(g.get(ix).is_some() && g.get(iw).is_some());
            }),
        });
    }
    // Dropout on 16M floats: one fused pass (draw, scale, multiply) against PyTorch's
    // bernoulli_ + div_ + mul.
    let big = rand(&[1 << 24], 6);
    v.push(Case {
        name: "dropout_16M".into(),
        flops: 0.0,
        run: Box::new(move || {
            big.dropout(0.5, Philox::new(7, 0)).unwrap();
        }),
    });
    // One AdamW step on 21.8M parameters (ResNet-34's count) in one tensor: a single fused
    // pass over parameter, gradient and both moments.
    let n = 21_800_000;
    let param = Param::new(rand(&[n], 8));
    let grads = {
        let tape = Tape::new();
        let p = param.leaf(&tape);
        p.mul(&Var::constant(rand(&[n], 9)))
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap()
    };
    let opt = std::cell::RefCell::new(AdamW::new(1e-2));
    v.push(Case {
        name: "adamw_step_21.8M".into(),
        flops: 0.0,
        run: Box::new(move || {
            opt.borrow_mut().step(&[&param], &grads, 1e-3, 0.9).unwrap();
        }),
    });
    // One training step (forward, backward, AdamW) of lesson 6's Rossmann model at batch 64
    // and 512: 24 embeddings (217 columns), 16 continuous inputs, 1000-500-1 layers.
    for bs in [64usize, 512] {
        let vars = Vars::new(0);
        let model = TabularModel::new(vars.root(), &rossmann_config(), 0).unwrap();
        let codes: Vec<i64> = (0..bs * 24)
            .map(|i| ((i * 7919) % ROSSMANN[i % 24]) as i64)
            .collect();
        let x_cat = Tensor::from_indices(&codes, &[bs, 24]).unwrap();
        let x_cont = rand(&[bs, 16], 10);
        let y = rand(&[bs, 1], 11).affine(1.0, 8.0).unwrap();
        let opt = std::cell::RefCell::new(AdamW::new(1e-2));
        v.push(Case {
            name: format!("tabular_step_bs{bs}"),
            flops: 0.0,
            run: Box::new(move || {
                let tape = Tape::new();
                let x = (tape.input(x_cat.clone()), tape.input(x_cont.clone()));
                let out = model.forward(x, Mode::Train).unwrap();
                let grads = mse_flat(&out, &Var::constant(y.clone()))
                    .unwrap()
                    .backward()
                    .unwrap();
                let params: Vec<_> = vars.params().into_iter().map(|(_, p)| p).collect();
                let params: Vec<&Param> = params.iter().map(|p| p.as_ref()).collect();
                opt.borrow_mut().step(&params, &grads, 1e-3, 0.9).unwrap();
            }),
        });
    }
    // One training epoch of the same model through the `Learner` (shuffled batches gathered
    // from the whole table, the one-cycle schedule, AdamW with weight decay, the recorder),
    // on EPOCH_ROWS random rows, and a one-batch validation pass.
    for bs in [64usize, 512] {
        let vars = Vars::new(0);
        let model = TabularModel::new(vars.root(), &rossmann_config(), 0).unwrap();
        let data = TensorData::new(rossmann_rows(EPOCH_ROWS, 20), rossmann_rows(bs, 30), bs, 0);
        let learn = Learner::builder(model, vars, data, |out, y| {
            mse_flat(out, &Var::constant(y.clone()))
        })
        .verbose(false)
        .build()
        .unwrap();
        let learn = std::cell::RefCell::new(learn);
        v.push(Case {
            name: format!("tabular_epoch_bs{bs}"),
            flops: 0.0,
            run: Box::new(move || {
                learn
                    .borrow_mut()
                    .fit_one_cycle(1, Lr::Single(1e-3), None)
                    .unwrap();
            }),
        });
    }
    // ResNet-34 (torchvision's, 1000 classes) at batch 16 and 224 x 224: one training step
    // (forward, cross-entropy, backward, SGD with momentum) and one inference.
    {
        let vars = Vars::new(0);
        let model = std::rc::Rc::new(resnet34(vars.root(), 1000).unwrap());
        let x = rand(&[16, 3, 224, 224], 40);
        let y = Tensor::from_indices(&(0..16).map(|i| i * 37 % 1000).collect::<Vec<i64>>(), &[16])
            .unwrap();
        let sgd = std::cell::RefCell::new(Sgd::new(0.9, 0.0));
        let (m, xt) = (model.clone(), x.clone());
        v.push(Case {
            name: "resnet34_train_bs16_224".into(),
            flops: 0.0,
            run: Box::new(move || {
                let tape = Tape::new();
                let out = m.forward(tape.input(xt.clone()), Mode::Train).unwrap();
                let grads = cross_entropy(&out, &y).unwrap().backward().unwrap();
                let params: Vec<_> = vars.params().into_iter().map(|(_, p)| p).collect();
                let params: Vec<&Param> = params.iter().map(|p| p.as_ref()).collect();
                sgd.borrow_mut().step(&params, &grads, 1e-3).unwrap();
            }),
        });
        v.push(Case {
            name: "resnet34_infer_bs16_224".into(),
            flops: 0.0,
            run: Box::new(move || {
                model.forward(Var::constant(x.clone()), Mode::Eval).unwrap();
            }),
        });
    }
    // Tape overhead: 1,000 tiny element-wise ops on 64 floats, then backward. The work is
    // negligible; what is timed is recording, rule dispatch and allocation.
    let x0 = rand(&[64], 5);
    v.push(Case {
        name: "tape_chain_1000x64".into(),
        flops: 0.0,
        run: Box::new(move || {
            let tape = Tape::new();
            let id = VarId::new();
            let mut y = tape.leaf(x0.clone(), id);
            for i in 0..1000 {
                y = if i % 2 == 0 {
                    y.mul_scalar(0.9)
                } else {
                    y.tanh()
                }
                .unwrap();
            }
            let g = y.sum_all().unwrap().backward().unwrap();
            assert!(g.get(id).is_some());
        }),
    });
    v
}

fn main() {
    // Timed ops are called from this thread, as in training: make it one of rayon's workers
    // (PyTorch's calling thread is likewise one of its intra-op threads).
    lesson6::tensor::join_thread_pool().unwrap();
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let reps = args
        .iter()
        .position(|a| a == "--reps")
        .and_then(|i| args.get(i + 1))
        .and_then(|r| r.parse().ok())
        .unwrap_or(10);
    let wanted: Vec<&String> = args
        .iter()
        .filter(|a| !a.starts_with("--") && a.parse::<usize>().is_err())
        .collect();
    for case in cases() {
        if !wanted.is_empty() && !wanted.iter().any(|w| **w == case.name) {
            continue;
        }
        (case.run)();
        let mut times: Vec<f64> = (0..reps)
            .map(|_| {
                let t = Instant::now();
                (case.run)();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        println!(
            "{}\t{:.3}\t{:.1}",
            case.name,
            median,
            case.flops / median / 1e6
        );
    }
}
