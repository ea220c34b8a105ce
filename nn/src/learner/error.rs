//! What can stop a [`super::Learner`]: an op's error, a loss that is no longer a number
//! (fastai's `TerminateOnNaN`), or data too small to train or validate on. Each message says
//! where it happened and what to change.
use std::fmt;

/// Which pass a loss came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Train,
    Valid,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Train => "training",
            Phase::Valid => "validation",
        })
    }
}

/// Why training or validation stopped. The wrapped errors display as they are and pass
/// their own `source()` on (the convention of the `nn` crate's errors).
#[derive(Debug)]
pub enum LearnerError {
    /// An op refused its tensors (a shape, a device, the tape).
    Autograd(autograd::Error),
    /// A batch could not be made (none of its images could be read, say).
    Data(Box<crate::Error>),
    /// A batch's loss was NaN or infinite. `epoch` counts from 0 within one fit; it is `None`
    /// for a validation outside a fit. The model keeps the weights of the last finite step.
    NonFiniteLoss {
        phase: Phase,
        epoch: Option<usize>,
        batch: usize,
        value: f64,
    },
    /// No full training batch (the incomplete last one is dropped, as in fastai) or no
    /// validation row, found before training.
    TooFewRows {
        train: usize,
        valid: usize,
        bs: usize,
    },
    /// Every batch of a pass was left out (all its images unreadable, say), so there is no
    /// loss to report; `epoch` as in `NonFiniteLoss`.
    NoBatchRead { phase: Phase, epoch: Option<usize> },
    /// A batch with another number of input tensors than the model takes.
    InputCount { model: usize, batch: usize },
}

/// Result of the learner's functions.
pub type Result<T> = std::result::Result<T, LearnerError>;

impl From<autograd::Error> for LearnerError {
    fn from(e: autograd::Error) -> Self {
        LearnerError::Autograd(e)
    }
}

impl From<crate::Error> for LearnerError {
    fn from(e: crate::Error) -> Self {
        LearnerError::Data(Box::new(e))
    }
}

impl From<tensor::Error> for LearnerError {
    fn from(e: tensor::Error) -> Self {
        LearnerError::Autograd(e.into())
    }
}

impl fmt::Display for LearnerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LearnerError::Autograd(e) => e.fmt(f),
            LearnerError::Data(e) => e.fmt(f),
            LearnerError::NonFiniteLoss {
                phase,
                epoch,
                batch,
                value,
            } => {
                let when = at_epoch(*epoch);
                write!(
                    f,
                    "the loss is {value} at {when}{phase} batch {batch}: training stopped \
                     (fastai's TerminateOnNaN); try a lower learning rate, or look for huge \
                     or infinite values in the data"
                )
            }
            LearnerError::TooFewRows { train, valid, bs } => {
                if *valid == 0 {
                    write!(
                        f,
                        "no validation rows ({train} training rows): nothing to measure \
                         the model on"
                    )
                } else {
                    write!(
                        f,
                        "no full training batch: {train} training rows for a batch size of \
                         {bs} (the incomplete last batch is dropped); lower the batch size \
                         or add data"
                    )
                }
            }
            LearnerError::NoBatchRead { phase, epoch } => write!(
                f,
                "{}no {phase} batch could be read (every one was left out)",
                at_epoch(*epoch)
            ),
            LearnerError::InputCount { model, batch } => write!(
                f,
                "the batch has {batch} input tensor(s), the model takes {model}"
            ),
        }
    }
}

impl std::error::Error for LearnerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LearnerError::Autograd(e) => e.source(),
            LearnerError::Data(e) => e.source(),
            _ => None,
        }
    }
}

/// "epoch N, " inside a fit, nothing outside one.
fn at_epoch(epoch: Option<usize>) -> String {
    epoch.map_or(String::new(), |e| format!("epoch {e}, "))
}
