//! The tape as a graph, to be drawn ([`Graph::to_dot`], [`Graph::to_svg`]): one node per
//! recorded op with its output's shape and dtype and what its backward rule keeps (and the
//! bytes), the values that enter the computation (parameters, whose gradients backward
//! returns, and inputs), and for every op its backward: the gradient of its output comes in,
//! the gradients of its inputs that need one go out, each of its input's shape.
//!
//! A graph is read off a tape before backward consumes it, and holds no tensor: only shapes,
//! names and byte counts.
use crate::tape::{Tape, VarId};
use crate::{Error, Result};
use std::collections::{HashMap, HashSet};
use tensor::DType;

/// A tensor a backward rule keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedTensor {
    /// What the rule calls it (`input`, `weight`, `output`, `indices`, ...).
    pub name: &'static str,
    pub shape: Vec<usize>,
    pub dtype: DType,
    /// `elements * dtype size`: what the rule keeps alive (a view counts its own elements).
    pub bytes: usize,
}

/// One input of an op.
#[derive(Debug, Clone, PartialEq)]
pub struct OpInput {
    pub id: VarId,
    pub shape: Vec<usize>,
    /// Whether a gradient flows back to it (what backward computes for it).
    pub needs_grad: bool,
}

/// One recorded op.
#[derive(Debug, Clone, PartialEq)]
pub struct OpNode {
    pub op: &'static str,
    pub output: VarId,
    /// The output's shape and dtype: its gradient has the same.
    pub shape: Vec<usize>,
    pub dtype: DType,
    pub inputs: Vec<OpInput>,
    pub saved: Vec<SavedTensor>,
}

impl OpNode {
    /// The bytes its backward rule keeps.
    pub fn saved_bytes(&self) -> usize {
        self.saved.iter().map(|s| s.bytes).sum()
    }
}

/// What a value from outside the tape's ops is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafKind {
    /// A parameter ([`Tape::leaf`]): backward returns its gradient.
    Parameter,
    /// Data or a constant: no gradient.
    Input,
}

/// A value the ops read that no op on the tape produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Leaf {
    pub id: VarId,
    pub kind: LeafKind,
    pub shape: Vec<usize>,
    /// Its name, if given ([`Graph::name_leaves`]).
    pub name: Option<String>,
}

/// A recorded tape, as a graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    /// In the order they were recorded.
    pub ops: Vec<OpNode>,
    /// In the order the ops first read them.
    pub leaves: Vec<Leaf>,
    /// The bytes all the rules keep, each tensor's storage counted once (a tensor two rules
    /// keep, as a ReLU's output that the next product keeps as its input, is one buffer):
    /// what the tape holds at its peak, the end of the forward pass, before backward frees
    /// each rule's tensors as it runs it.
    pub saved_bytes: usize,
}

impl Tape {
    /// The ops recorded so far, as a graph (before backward, which consumes them).
    pub fn graph(&self) -> Result<Graph> {
        if self.inner.consumed.get() {
            return Err(Error::Consumed { op: "graph" });
        }
        let entries = self.inner.entries.borrow();
        let params = self.inner.leaves.borrow();
        let produced: HashSet<VarId> = entries.iter().map(|e| e.output).collect();
        let mut leaves: Vec<Leaf> = Vec::new();
        let mut seen = HashSet::new();
        // Distinct storages among the saved tensors, each with the largest view kept of it.
        let mut storages: Vec<(tensor::Tensor, usize)> = Vec::new();
        let mut ops = Vec::with_capacity(entries.len());
        for e in entries.iter() {
            for (id, _, shape) in &e.inputs {
                if !produced.contains(id) && seen.insert(*id) {
                    leaves.push(Leaf {
                        id: *id,
                        kind: if params.contains(id) {
                            LeafKind::Parameter
                        } else {
                            LeafKind::Input
                        },
                        shape: shape.clone(),
                        name: None,
                    });
                }
            }
            let mut saved = Vec::with_capacity(e.saved.len());
            for (name, t) in &e.saved {
                let bytes = t.elem_count() * t.dtype().size_in_bytes();
                match storages.iter_mut().find(|(s, _)| s.shares_storage(t)) {
                    Some((_, b)) => *b = (*b).max(bytes),
                    None => storages.push((t.clone(), bytes)),
                }
                saved.push(SavedTensor {
                    name,
                    shape: t.shape().to_vec(),
                    dtype: t.dtype(),
                    bytes,
                });
            }
            ops.push(OpNode {
                op: e.op,
                output: e.output,
                shape: e.output_shape.clone(),
                dtype: e.dtype,
                inputs: e
                    .inputs
                    .iter()
                    .map(|(id, needs_grad, shape)| OpInput {
                        id: *id,
                        shape: shape.clone(),
                        needs_grad: *needs_grad,
                    })
                    .collect(),
                saved,
            });
        }
        Ok(Graph {
            ops,
            leaves,
            saved_bytes: storages.iter().map(|(_, b)| b).sum(),
        })
    }
}

/// A box of a drawing: its lines of text, and whether it is a forward op, a backward rule,
/// a parameter, a parameter's gradient or an input.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub lines: Vec<String>,
    pub kind: NodeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeKind {
    Forward,
    Backward,
    Parameter,
    Gradient,
    Input,
}

/// An arrow of a drawing, from node to node, with a label (a shape).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Arrow {
    pub from: usize,
    pub to: usize,
    pub label: String,
}

/// `[3, 4]`.
fn shape_text(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", dims.join(", "))
}

/// `1.5 MB`, `2.0 kB`, `320 B` (a kB is 1024 bytes, an MB 1024 kB).
pub fn bytes_text(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / (1 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} kB", b as f64 / (1 << 10) as f64),
        b => format!("{b} B"),
    }
}

impl Graph {
    /// Names leaves by id (a model's parameter names; the rest keep their kind as name).
    pub fn name_leaves<'a>(&mut self, names: impl IntoIterator<Item = (VarId, &'a str)>) {
        let names: HashMap<VarId, &str> = names.into_iter().collect();
        for leaf in &mut self.leaves {
            if let Some(n) = names.get(&leaf.id) {
                leaf.name = Some(n.to_string());
            }
        }
    }

    /// The graph as boxes and arrows, forward then backward: every leaf, every op, the
    /// backward rule of every op backward reaches from the last op (those whose output leads
    /// to it), and the gradient of every parameter it reaches. Forward arrows carry the
    /// value's shape; backward arrows the gradient's.
    pub(crate) fn drawing(&self) -> (Vec<Node>, Vec<Arrow>) {
        let mut nodes = Vec::new();
        let mut arrows = Vec::new();
        let mut value_node: HashMap<VarId, usize> = HashMap::new();
        for leaf in &self.leaves {
            let (kind, what) = match leaf.kind {
                LeafKind::Parameter => (NodeKind::Parameter, "parameter"),
                LeafKind::Input => (NodeKind::Input, "input"),
            };
            let name = leaf.name.clone().unwrap_or_else(|| what.to_string());
            value_node.insert(leaf.id, nodes.len());
            nodes.push(Node {
                lines: vec![name, shape_text(&leaf.shape)],
                kind,
            });
        }
        for op in &self.ops {
            let mut lines = vec![
                op.op.to_string(),
                format!("{} {}", shape_text(&op.shape), op.dtype.as_str()),
            ];
            for s in &op.saved {
                lines.push(format!(
                    "keeps {} {} {}",
                    s.name,
                    shape_text(&s.shape),
                    bytes_text(s.bytes)
                ));
            }
            let at = nodes.len();
            nodes.push(Node {
                lines,
                kind: NodeKind::Forward,
            });
            for input in &op.inputs {
                if let Some(&from) = value_node.get(&input.id) {
                    arrows.push(Arrow {
                        from,
                        to: at,
                        label: shape_text(&input.shape),
                    });
                }
            }
            value_node.insert(op.output, at);
        }
        // Backward: from the last op's rule down to the parameters, through the ops whose
        // gradient is needed (an op backward never reaches runs no rule).
        let Some(last) = self.ops.last() else {
            return (nodes, arrows);
        };
        let mut reached: HashSet<VarId> = HashSet::from([last.output]);
        let mut rule_node: HashMap<VarId, usize> = HashMap::new();
        // (rule node, input id, gradient shape): the gradient goes to the rule of the op that
        // made the input, or to a parameter's gradient; resolved once those nodes exist.
        let mut flows: Vec<(usize, VarId, String)> = Vec::new();
        for op in self.ops.iter().rev() {
            if !reached.contains(&op.output) {
                continue;
            }
            let at = nodes.len();
            nodes.push(Node {
                lines: vec![
                    format!("{} backward", op.op),
                    format!("grad {}", shape_text(&op.shape)),
                ],
                kind: NodeKind::Backward,
            });
            rule_node.insert(op.output, at);
            if op.output == last.output {
                arrows.push(Arrow {
                    from: value_node[&op.output],
                    to: at,
                    label: "seed 1".to_string(),
                });
            }
            for input in op.inputs.iter().filter(|i| i.needs_grad) {
                reached.insert(input.id);
                flows.push((at, input.id, shape_text(&input.shape)));
            }
        }
        let params = self.leaves.iter().filter(|l| l.kind == LeafKind::Parameter);
        for leaf in params.filter(|l| reached.contains(&l.id)) {
            rule_node.insert(leaf.id, nodes.len());
            let name = leaf.name.clone().unwrap_or_else(|| "parameter".to_string());
            nodes.push(Node {
                lines: vec![format!("grad of {name}"), shape_text(&leaf.shape)],
                kind: NodeKind::Gradient,
            });
        }
        for (from, id, label) in flows {
            if let Some(&to) = rule_node.get(&id) {
                arrows.push(Arrow { from, to, label });
            }
        }
        (nodes, arrows)
    }
}

/// The fill colour of a box of `kind` (the same in DOT and SVG).
pub(crate) fn colour(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Forward => "#dbe8f7",
        NodeKind::Backward => "#fde2cc",
        NodeKind::Parameter => "#d9f0d3",
        NodeKind::Gradient => "#fff2b3",
        NodeKind::Input => "#eeeeee",
    }
}
