//! The tape: the list of ops recorded during a forward pass, each with the ids of its inputs
//! and output and a backward rule, replayed in reverse by [`crate::Var::backward`].
//!
//! A rule is a `FnOnce` closure that owns exactly the tensors its backward needs (ReLU its
//! output, max pooling its indices, a view nothing but shapes). Backward consumes the tape,
//! running each rule once and dropping it right after, so every saved tensor is freed as soon
//! as it has been used, and the peak memory of a step is the forward's, not twice it.
use crate::{Error, Result};
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use tensor::{DType, Tensor};

/// The identity of a value on a tape. Parameters keep theirs across steps (their gradients
/// are looked up by it); every op output gets a fresh one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VarId(u64);

impl VarId {
    /// A new, never used id.
    pub fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        VarId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

impl Default for VarId {
    fn default() -> Self {
        Self::new()
    }
}

/// A backward rule: from the gradient of the op's output, the gradients of its inputs (in
/// the order the inputs were recorded; `None` for an input that needs none).
pub(crate) type Rule = Box<dyn FnOnce(&Tensor) -> Result<Vec<Option<Tensor>>>>;

/// One recorded op.
pub(crate) struct Entry {
    pub op: &'static str,
    pub output: VarId,
    /// The output's shape and dtype (its gradient has the same).
    pub output_shape: Vec<usize>,
    pub dtype: DType,
    /// Each input: its id, whether it needs a gradient, and its shape.
    pub inputs: Vec<(VarId, bool, Vec<usize>)>,
    /// What the rule keeps for backward, by name: handles to the very tensors it holds (see
    /// [`Saved`]), so drawing the tape can say what each op costs in memory.
    pub saved: Vec<(&'static str, Tensor)>,
    pub rule: Rule,
}

/// What a backward rule keeps: every tensor a rule captures goes through [`Saved::keep`] when
/// the rule is made, which records it under a name for [`crate::Graph`].
#[derive(Default)]
pub(crate) struct Saved(pub Vec<(&'static str, Tensor)>);

impl Saved {
    /// Records `t` as kept under `name`, and gives it back to be captured by the rule.
    pub fn keep(&mut self, name: &'static str, t: Tensor) -> Tensor {
        self.0.push((name, t.clone()));
        t
    }
}

pub(crate) struct TapeInner {
    pub entries: RefCell<Vec<Entry>>,
    /// Ids whose gradient backward must keep although they are not leaves.
    pub retained: RefCell<HashSet<VarId>>,
    /// Ids of the leaves (parameters) seen on this tape.
    pub leaves: RefCell<HashSet<VarId>>,
    /// False inside [`Tape::no_grad`]: ops record nothing.
    pub recording: Cell<bool>,
    /// Set once backward has consumed the entries.
    pub consumed: Cell<bool>,
}

/// A tape: where the ops of one forward pass are recorded. Cloning it clones a handle to the
/// same tape. Not `Send`: a tape belongs to the thread running the forward pass (the ops
/// themselves still use every core).
#[derive(Clone)]
pub struct Tape {
    pub(crate) inner: Rc<TapeInner>,
}

impl Default for Tape {
    fn default() -> Self {
        Self::new()
    }
}

impl Tape {
    /// A new, empty tape.
    pub fn new() -> Self {
        Tape {
            inner: Rc::new(TapeInner {
                entries: RefCell::new(Vec::new()),
                retained: RefCell::new(HashSet::new()),
                leaves: RefCell::new(HashSet::new()),
                recording: Cell::new(true),
                consumed: Cell::new(false),
            }),
        }
    }

    /// True for two handles of the same tape.
    pub fn same(&self, other: &Tape) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }

    /// Number of ops recorded so far.
    pub fn len(&self) -> usize {
        self.inner.entries.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether ops are being recorded (false inside [`Tape::no_grad`]).
    pub fn is_recording(&self) -> bool {
        self.inner.recording.get()
    }

    /// Runs `f` with recording off: ops inside record nothing and keep no saved tensors (the
    /// evaluation of a validation batch, an optimiser step). Nests; restores the previous
    /// state afterwards, also if `f` panics.
    pub fn no_grad<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Restore<'a>(&'a Cell<bool>, bool);
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                self.0.set(self.1);
            }
        }
        let _restore = Restore(&self.inner.recording, self.inner.recording.replace(false));
        f()
    }

    pub(crate) fn record(&self, entry: Entry) -> Result<()> {
        if self.inner.consumed.get() {
            return Err(Error::Consumed { op: entry.op });
        }
        self.inner.entries.borrow_mut().push(entry);
        Ok(())
    }
}
