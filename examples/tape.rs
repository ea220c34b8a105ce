//! The tape drawn: one training step of a small tabular model (lesson 6's Rossmann model, at
//! a size that fits a page) and of a ResNet `BasicBlock`, recorded on a tape and drawn before
//! backward runs (`autograd::Graph`): every op of the forward pass with its output's shape,
//! what its backward rule keeps and the bytes; every rule of the backward pass with the
//! gradients it sends on; the parameters and their gradients. Then backward and an SGD step
//! run, as in training.
//!
//! Writes `tabular.svg` and `basic_block.svg` (laid out here, no Graphviz needed) and the same
//! graphs as Graphviz DOT (`*.dot`) to `--out`, and prints the bytes each tape held at its
//! peak: everything the rules keep, at the end of the forward pass.
//!
//! `cargo run --release --example tape [-- --out out/tape]`
mod report;

use clap::Parser;
use lesson6::autograd::{bytes_text, Graph, LeafKind, Tape, Var};
use lesson6::nn::loss::mse_flat;
use lesson6::nn::models::BasicBlock;
use lesson6::nn::optim::Sgd;
use lesson6::nn::run_dir::RunDir;
use lesson6::nn::tabular::{TabularConfig, TabularModel};
use lesson6::nn::{Mode, Module, Param, Vars};
use lesson6::tensor::random::Philox;
use lesson6::tensor::Tensor;
use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "One training step's tape, drawn: a small tabular model and a BasicBlock")]
struct Args {
    /// Where the SVG and DOT files go.
    #[arg(long, default_value = "out/tape")]
    out: PathBuf,
}

fn main() -> ExitCode {
    report::exit(run(&Args::parse()))
}

/// Names the graph's parameters as the model's state dict does, and its inputs.
fn name(graph: &mut Graph, vars: &Vars, inputs: &[(&Var, &str)]) {
    let params = vars.params();
    let names = params.iter().map(|(n, p)| (p.id(), n.as_str()));
    let inputs = inputs.iter().map(|(v, n)| (v.id(), *n));
    graph.name_leaves(names.chain(inputs));
}

/// Writes `graph` as `stem.svg` and `stem.dot` into the run's folder and says what it holds.
fn draw(dir: &RunDir, stem: &str, graph: &Graph) -> Result<(), Box<dyn Error>> {
    std::fs::write(dir.join(&format!("{stem}.svg")), graph.to_svg())?;
    std::fs::write(dir.join(&format!("{stem}.dot")), graph.to_dot())?;
    let mut heaviest: Vec<_> = graph.ops.iter().filter(|o| o.saved_bytes() > 0).collect();
    heaviest.sort_by_key(|o| std::cmp::Reverse(o.saved_bytes()));
    let top: Vec<String> = heaviest
        .iter()
        .take(3)
        .map(|o| format!("{} {}", o.op, bytes_text(o.saved_bytes())))
        .collect();
    println!(
        "{stem}: {} ops, {} parameters; the tape held {} ({} bytes) at its peak; most kept by {}",
        graph.ops.len(),
        graph
            .leaves
            .iter()
            .filter(|l| l.kind == LeafKind::Parameter)
            .count(),
        bytes_text(graph.saved_bytes),
        graph.saved_bytes,
        top.join(", ")
    );
    Ok(())
}

/// Backward from `loss` and one SGD step on every parameter of `vars`.
fn step(loss: &Var, vars: &Vars) -> Result<(), Box<dyn Error>> {
    let grads = loss.backward()?;
    let params = vars.params();
    let params: Vec<&Param> = params.iter().map(|(_, p)| p.as_ref()).collect();
    Sgd::new(0.9, 0.0).step(&params, &grads, 1e-2)?;
    Ok(())
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let dir = RunDir::open(&args.out, "tape")?;
    let rng = Philox::new(0, 1);

    // Lesson 6's tabular model, small: three categorical columns (a store, a day of the week,
    // a month), two continuous ones, hidden layers of 16 and 8, dropout and y_range as in
    // the lesson. One batch of 32 rows, mean squared error on the log of sales.
    let vars = Vars::new(0);
    let cfg = TabularConfig {
        layers: vec![16, 8],
        ..TabularConfig::lesson6(vec![(10, 6), (8, 5), (13, 7)], 2, (0.0, 10.0))
    };
    let model = TabularModel::new(vars.root(), &cfg, 0)?;
    let bs = 32;
    let codes: Vec<i64> = (0..bs * 3)
        .map(|i| (rng.uniform_at(i as u64) * [10.0, 8.0, 13.0][i % 3]) as i64)
        .collect();
    let tape = Tape::new();
    let x_cat = tape.input(Tensor::from_indices(&codes, &[bs, 3])?);
    let x_cont = tape.input(rng.uniform(&[bs, 2], -1.0, 1.0)?);
    let y = Var::constant(rng.uniform(&[bs, 1], 6.0, 9.0)?);
    let out = model.forward((x_cat.clone(), x_cont.clone()), Mode::Train)?;
    let loss = mse_flat(&out, &y)?;
    let mut graph = tape.graph()?;
    name(&mut graph, &vars, &[(&x_cat, "x_cat"), (&x_cont, "x_cont")]);
    draw(&dir, "tabular", &graph)?;
    step(&loss, &vars)?;

    // A BasicBlock of ResNet-34's layer2 at a smaller size: 8 -> 16 channels at stride 2,
    // so it has the downsampling shortcut; 4 images of 16 x 16, the mean square of its
    // output as the loss.
    let vars = Vars::new(0);
    let block = BasicBlock::new(vars.root(), 8, 16, 2)?;
    let tape = Tape::new();
    let x = tape.input(rng.uniform(&[4, 8, 16, 16], -1.0, 1.0)?);
    let loss = block.forward(x.clone(), Mode::Train)?.sqr()?.mean_all()?;
    let mut graph = tape.graph()?;
    name(&mut graph, &vars, &[(&x, "x")]);
    draw(&dir, "basic_block", &graph)?;
    step(&loss, &vars)?;

    dir.commit()?;
    println!(
        "wrote tabular.svg, basic_block.svg and their .dot to {}",
        args.out.display()
    );
    Ok(())
}
