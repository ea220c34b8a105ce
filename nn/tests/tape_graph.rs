//! One training step of lesson 6's tabular model, drawn: the graph of its tape against the
//! ops the model records, worked out from its definition: every op in order with its shape,
//! what each backward rule keeps and the bytes, the parameters, and the bytes the tape holds
//! at its peak; and the SVG and DOT drawings hold a box for every op forward and backward.
use autograd::{LeafKind, Tape, Var};
use nn::loss::mse_flat;
use nn::tabular::{TabularConfig, TabularModel};
use nn::{Mode, Module, Vars};
use tensor::random::Philox;
use tensor::Tensor;

/// f32 and i64 bytes per element.
const F: usize = 4;
const I: usize = 8;

#[test]
fn tabular_step_graph_matches_the_model() {
    let (bs, widths) = (16, [3usize, 2]);
    let cfg = TabularConfig {
        layers: vec![6],
        ..TabularConfig::lesson6(vec![(5, widths[0]), (4, widths[1])], 2, (0.0, 5.0))
    };
    let vars = Vars::new(0);
    let model = TabularModel::new(vars.root(), &cfg, 0).unwrap();
    let rng = Philox::new(0, 2);
    let codes: Vec<i64> = (0..bs * 2).map(|i| (i % 4) as i64).collect();
    let tape = Tape::new();
    let x_cat = tape.input(Tensor::from_indices(&codes, &[bs, 2]).unwrap());
    let x_cont = tape.input(rng.uniform(&[bs, 2], -1.0, 1.0).unwrap());
    let y = Var::constant(rng.uniform(&[bs, 1], 1.0, 4.0).unwrap());
    let out = model.forward((x_cat, x_cont), Mode::Train).unwrap();
    mse_flat(&out, &y).unwrap();
    let g = tape.graph().unwrap();

    // The model's forward (embeddings and their dropout, bn_cont, the concatenation; Linear,
    // ReLU, BatchNorm1d, Dropout for the hidden layer; the last Linear and y_range's sigmoid
    // and affine) and the loss (flatten, difference, square, mean), with each op's output
    // shape and what its rule keeps: (name, elements, bytes per element).
    let (emb, hidden) = (widths[0] + widths[1], 6);
    let width = emb + 2;
    type Kept = Vec<(&'static str, usize, usize)>;
    let want: Vec<(&str, Vec<usize>, Kept)> = vec![
        ("embeddings_cat", vec![bs, emb], vec![("codes", 2 * bs, I)]),
        ("dropout", vec![bs, emb], vec![]),
        (
            "batch_norm",
            vec![bs, 2],
            vec![
                ("input", 2 * bs, F),
                ("weight", 2, F),
                ("mean", 2, F),
                ("var", 2, F),
            ],
        ),
        ("cat", vec![bs, width], vec![]),
        ("t", vec![width, hidden], vec![]),
        (
            "matmul",
            vec![bs, hidden],
            vec![("b", width * hidden, F), ("a", bs * width, F)],
        ),
        ("add", vec![bs, hidden], vec![]),
        ("relu", vec![bs, hidden], vec![("output", bs * hidden, F)]),
        (
            "batch_norm",
            vec![bs, hidden],
            vec![
                ("input", bs * hidden, F),
                ("weight", hidden, F),
                ("mean", hidden, F),
                ("var", hidden, F),
            ],
        ),
        ("dropout", vec![bs, hidden], vec![]),
        ("t", vec![hidden, 1], vec![]),
        (
            "matmul",
            vec![bs, 1],
            vec![("b", hidden, F), ("a", bs * hidden, F)],
        ),
        ("add", vec![bs, 1], vec![]),
        ("sigmoid", vec![bs, 1], vec![("output", bs, F)]),
        ("affine", vec![bs, 1], vec![]),
        ("reshape", vec![bs], vec![]),
        ("sub", vec![bs], vec![]),
        ("sqr", vec![bs], vec![("input", bs, F)]),
        ("mean", vec![], vec![]),
    ];
    assert_eq!(g.ops.len(), tape.len());
    assert_eq!(
        g.ops.len(),
        want.len(),
        "{:?}",
        g.ops.iter().map(|o| o.op).collect::<Vec<_>>()
    );
    let mut total = 0;
    for (op, (name, shape, kept)) in g.ops.iter().zip(&want) {
        assert_eq!((op.op, &op.shape), (*name, shape));
        let got: Vec<(&str, usize)> = op.saved.iter().map(|s| (s.name, s.bytes)).collect();
        let expected: Vec<(&str, usize)> = kept.iter().map(|&(n, e, b)| (n, e * b)).collect();
        assert_eq!(got, expected, "{name}");
        total += op.saved_bytes();
    }
    // Shared buffers are counted once at the peak: the ReLU's output is the batch norm's
    // input.
    assert_eq!(g.saved_bytes, total - bs * hidden * F);
    let params = g
        .leaves
        .iter()
        .filter(|l| l.kind == LeafKind::Parameter)
        .count();
    assert_eq!(params, vars.params().len());

    // Drawn: a box per op forward, per rule backward, per parameter and per gradient.
    let svg = g.to_svg();
    let boxes = |class: &str| svg.matches(&format!("<g class=\"{class}\">")).count();
    assert_eq!(boxes("forward"), want.len());
    assert_eq!(boxes("backward"), want.len());
    assert_eq!((boxes("parameter"), boxes("gradient")), (params, params));
    assert_eq!(g.to_dot().matches(" backward\\n").count(), want.len());
}
