//! `Var`: a tensor with an identity, and the tape it belongs to. Every op on vars computes its
//! forward with the tensor crate and, when a tracked input is involved and the tape is
//! recording, records a backward rule on the tape.
use crate::tape::{Entry, Rule, Saved, Tape, VarId};
use crate::{Error, Result};
use tensor::{DType, Tensor};

/// A value in a computation: a tensor, its id, and (unless it is a constant) its tape.
#[derive(Clone)]
pub struct Var {
    tensor: Tensor,
    id: VarId,
    tape: Option<Tape>,
    /// Gradients flow to this value: it is a leaf parameter, or an op output that depends on one.
    tracked: bool,
}

impl std::fmt::Debug for Var {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Var({:?}, tracked: {}, {:?})",
            self.id, self.tracked, self.tensor
        )
    }
}

impl Var {
    /// A constant: on no tape, never tracked. An op between a constant and a tracked var
    /// records on the tracked var's tape.
    pub fn constant(tensor: Tensor) -> Var {
        Var {
            tensor,
            id: VarId::new(),
            tape: None,
            tracked: false,
        }
    }

    pub fn tensor(&self) -> &Tensor {
        &self.tensor
    }
    pub fn id(&self) -> VarId {
        self.id
    }
    pub fn tape(&self) -> Option<&Tape> {
        self.tape.as_ref()
    }
    pub fn is_tracked(&self) -> bool {
        self.tracked
    }
    /// Whether an op on this var alone would be recorded (tracked, and its tape not under
    /// `no_grad`): an op can then skip what only its backward needs.
    pub fn records(&self) -> bool {
        self.tracked && self.tape.as_ref().is_some_and(|t| t.is_recording())
    }
    pub fn shape(&self) -> &[usize] {
        self.tensor.shape()
    }
    pub fn dtype(&self) -> DType {
        self.tensor.dtype()
    }
    pub fn rank(&self) -> usize {
        self.tensor.rank()
    }

    /// The same value, cut from the graph: gradients stop here (it stays on its tape, so ops
    /// with it still find the tape).
    pub fn detach(&self) -> Var {
        Var {
            tensor: self.tensor.clone(),
            id: VarId::new(),
            tape: self.tape.clone(),
            tracked: false,
        }
    }
}

impl Tape {
    /// Data entering a computation: on this tape, but no gradient is computed for it.
    pub fn input(&self, tensor: Tensor) -> Var {
        Var {
            tensor,
            id: VarId::new(),
            tape: Some(self.clone()),
            tracked: false,
        }
    }

    /// A leaf whose gradient backward returns under `id`: a parameter, which keeps its id
    /// from step to step while each step has its own tape.
    pub fn leaf(&self, tensor: Tensor, id: VarId) -> Var {
        self.inner.leaves.borrow_mut().insert(id);
        Var {
            tensor,
            id,
            tape: Some(self.clone()),
            tracked: true,
        }
    }

    /// Asks backward to return the gradient of an intermediate value too (Grad-CAM needs
    /// d(class score)/d(activations)). Other intermediate gradients are dropped as soon as
    /// they have been propagated.
    pub fn retain_grad(&self, v: &Var) {
        if v.tracked {
            self.inner.retained.borrow_mut().insert(v.id);
        }
    }
}

/// Builds the backward rule of an op, given its output, which inputs need a gradient, and
/// where to declare each tensor the rule keeps ([`Saved::keep`]); called only when the op is
/// recorded, so an unrecorded op saves nothing.
pub(crate) trait MakeRule: FnOnce(&Tensor, &[bool], &mut Saved) -> Rule {}
impl<F: FnOnce(&Tensor, &[bool], &mut Saved) -> Rule> MakeRule for F {}

/// Wraps an op's output: finds the tape of the inputs (an error if they come from two
/// tapes), and records the rule made by `make_rule` if the tape is recording and any input
/// is tracked.
pub(crate) fn record(
    op: &'static str,
    inputs: &[&Var],
    output: Tensor,
    make_rule: impl MakeRule,
) -> Result<Var> {
    let tape = common_tape(op, inputs)?;
    let needs: Vec<bool> = inputs.iter().map(|v| v.tracked).collect();
    let tracked = tape.is_some_and(|t| t.is_recording()) && needs.iter().any(|&n| n);
    let id = VarId::new();
    if let (true, Some(t)) = (tracked, tape) {
        let mut saved = Saved::default();
        let rule = make_rule(&output, &needs, &mut saved);
        t.record(Entry {
            op,
            output: id,
            output_shape: output.shape().to_vec(),
            dtype: output.dtype(),
            inputs: inputs
                .iter()
                .map(|v| (v.id, v.tracked, v.shape().to_vec()))
                .collect(),
            saved: saved.0,
            rule,
        })?;
    }
    Ok(Var {
        tensor: output,
        id,
        tape: tape.cloned(),
        tracked,
    })
}

/// An op output through which no gradient flows (a comparison mask, an argmax): on the
/// inputs' tape, untracked.
pub(crate) fn untracked(op: &'static str, inputs: &[&Var], output: Tensor) -> Result<Var> {
    Ok(Var {
        tensor: output,
        id: VarId::new(),
        tape: common_tape(op, inputs)?.cloned(),
        tracked: false,
    })
}

/// The tape the inputs are on, if any; an error if they are on two different tapes.
fn common_tape<'a>(op: &'static str, inputs: &[&'a Var]) -> Result<Option<&'a Tape>> {
    let mut tape: Option<&Tape> = None;
    for v in inputs {
        match (&tape, &v.tape) {
            (None, Some(t)) => tape = Some(t),
            (Some(a), Some(b)) if !a.same(b) => return Err(Error::TwoTapes { op }),
            _ => {}
        }
    }
    Ok(tape)
}

/// Zeros of `shape` in the dtype and on the device of `like` (gradients keep the dtype and
/// the device of the values they belong to).
pub(crate) fn zeros(shape: &[usize], like: &Tensor) -> tensor::Result<Tensor> {
    like.new_full(shape, 0.0)
}

/// A 0-d tensor holding `value` in the dtype and on the device of `like` (exact for the
/// small integers the rules divide by).
pub(crate) fn scalar_like(value: f32, like: &Tensor) -> tensor::Result<Tensor> {
    like.new_full(&[], value)
}

/// Sums a gradient down to `shape`, undoing broadcasting: leading dimensions the input did
/// not have are summed away, and dimensions where the input had size 1 are summed with
/// keepdim.
pub(crate) fn sum_to(g: &Tensor, shape: &[usize]) -> tensor::Result<Tensor> {
    if g.shape() == shape {
        return Ok(g.clone());
    }
    let lead = g.rank() - shape.len();
    let mut dims: Vec<usize> = (0..lead).collect();
    dims.extend(
        shape
            .iter()
            .enumerate()
            .filter(|&(i, &s)| s == 1 && g.shape()[lead + i] != 1)
            .map(|(i, _)| lead + i),
    );
    g.sum(&dims, true)?.reshape(shape)
}
