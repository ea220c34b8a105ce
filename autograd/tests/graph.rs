//! The tape as a graph: ops, shapes, what each rule keeps (and the bytes, a shared buffer
//! counted once), the leaves, and the drawing's boxes and arrows in DOT and SVG, on a
//! two-layer computation worked out by hand.
use autograd::{Error, LeafKind, Tape, VarId};
use tensor::Tensor;

fn ones(shape: &[usize]) -> Tensor {
    Tensor::ones(shape)
}

/// `mean(relu(x @ w1 + b) @ w2)` with x `[4, 3]` (data), w1 `[3, 2]`, b `[2]`, w2 `[2, 5]`.
fn two_layers(tape: &Tape) -> (VarId, VarId, VarId) {
    let (w1, b, w2) = (VarId::new(), VarId::new(), VarId::new());
    let x = tape.input(ones(&[4, 3]));
    let h = x
        .matmul(&tape.leaf(ones(&[3, 2]), w1))
        .and_then(|h| h.add(&tape.leaf(ones(&[2]), b)))
        .and_then(|h| h.relu())
        .unwrap();
    let loss = h.matmul(&tape.leaf(ones(&[2, 5]), w2)).unwrap();
    loss.mean_all().unwrap();
    (w1, b, w2)
}

#[test]
fn graph_has_every_op_its_shapes_and_what_it_keeps() {
    let tape = Tape::new();
    let (w1, b, w2) = two_layers(&tape);
    let g = tape.graph().unwrap();
    let ops: Vec<&str> = g.ops.iter().map(|o| o.op).collect();
    assert_eq!(ops, ["matmul", "add", "relu", "matmul", "mean"]);
    assert_eq!(g.ops.len(), tape.len());
    let shapes: Vec<&[usize]> = g.ops.iter().map(|o| o.shape.as_slice()).collect();
    assert_eq!(shapes, [&[4, 2][..], &[4, 2], &[4, 2], &[4, 5], &[]]);
    // The first product keeps only x (w1's gradient needs it; x needs none, so w1 is not
    // kept); relu keeps its output; the second product keeps both operands (h and w2 each
    // need the other); add and mean keep nothing.
    let kept: Vec<Vec<(&str, Vec<usize>, usize)>> = g
        .ops
        .iter()
        .map(|o| {
            o.saved
                .iter()
                .map(|s| (s.name, s.shape.clone(), s.bytes))
                .collect()
        })
        .collect();
    assert_eq!(
        kept,
        [
            vec![("a", vec![4, 3], 48)],
            vec![],
            vec![("output", vec![4, 2], 32)],
            vec![("b", vec![2, 5], 40), ("a", vec![4, 2], 32)],
            vec![],
        ]
    );
    // relu's output and the second product's `a` are one buffer: 48 + 32 + 40.
    assert_eq!(g.saved_bytes, 120);
    let needs: Vec<Vec<bool>> = g
        .ops
        .iter()
        .map(|o| o.inputs.iter().map(|i| i.needs_grad).collect())
        .collect();
    assert_eq!(
        needs,
        [
            vec![false, true],
            vec![true, true],
            vec![true],
            vec![true, true],
            vec![true]
        ]
    );
    let leaves: Vec<(LeafKind, Vec<usize>)> =
        g.leaves.iter().map(|l| (l.kind, l.shape.clone())).collect();
    assert_eq!(
        leaves,
        [
            (LeafKind::Input, vec![4, 3]),
            (LeafKind::Parameter, vec![3, 2]),
            (LeafKind::Parameter, vec![2]),
            (LeafKind::Parameter, vec![2, 5]),
        ]
    );
    assert_eq!(
        g.leaves[1..].iter().map(|l| l.id).collect::<Vec<_>>(),
        [w1, b, w2]
    );
}

#[test]
fn dot_and_svg_draw_every_op_forward_and_backward() {
    let tape = Tape::new();
    let (w1, b, w2) = two_layers(&tape);
    let mut g = tape.graph().unwrap();
    g.name_leaves([(w1, "w1"), (b, "b"), (w2, "w2")]);
    // 4 leaves, 5 ops, 5 backward rules, 3 parameter gradients.
    let dot = g.to_dot();
    assert_eq!(dot.matches("fillcolor").count(), 17, "{dot}");
    assert_eq!(dot.matches("backward").count(), 5, "{dot}");
    assert!(dot.contains("grad of w1") && dot.contains("keeps output [4, 2] 32 B"));
    // Arrows: 8 forward (one per op input), the seed, and 7 gradients: mean to the second
    // product, which sends two (to relu and to w2), relu to add, add to the first product
    // and to b, the first product to w1.
    assert_eq!(dot.matches(" -> ").count(), 8 + 1 + 7, "{dot}");
    let svg = g.to_svg();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    for (class, n) in [
        ("forward", 5),
        ("backward", 5),
        ("parameter", 3),
        ("gradient", 3),
        ("input", 1),
    ] {
        let count = svg.matches(&format!("<g class=\"{class}\">")).count();
        assert_eq!(count, n, "{class} boxes");
    }
    assert_eq!(svg.matches("class=\"arrow\"").count(), 16);
    // Every box lies inside the picture, and no two overlap.
    let size = |key: &str, s: &str| -> f64 {
        let at = s.find(&format!("{key}=\"")).unwrap() + key.len() + 2;
        s[at..].split('"').next().unwrap().parse().unwrap()
    };
    let (width, height) = (size("width", &svg), size("height", &svg));
    let mut boxes: Vec<[f64; 4]> = Vec::new();
    for rect in svg.split("<rect x=").skip(1) {
        let r = format!("x={rect}");
        let (x, y) = (size("x", &r), size("y", &r));
        let (w, h) = (size("width", &r), size("height", &r));
        assert!(
            x >= 0.0 && y >= 0.0 && x + w <= width && y + h <= height,
            "{r}"
        );
        for b in &boxes {
            let apart = x + w <= b[0] || b[0] + b[2] <= x || y + h <= b[1] || b[1] + b[3] <= y;
            assert!(apart, "{r} overlaps {b:?}");
        }
        boxes.push([x, y, w, h]);
    }
    assert_eq!(boxes.len(), 17);
}

#[test]
fn a_consumed_tape_has_no_graph() {
    let tape = Tape::new();
    let w = tape.leaf(ones(&[2]), VarId::new());
    w.sum_all().unwrap().backward().unwrap();
    assert_eq!(tape.graph(), Err(Error::Consumed { op: "graph" }));
}
