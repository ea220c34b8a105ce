//! The `Learner`: a model, its data, a loss and metrics, trained with AdamW and the one-cycle
//! schedule the way fastai v1 does it for lesson 6 — with a progress bar per epoch, the
//! results table (epoch, smoothed train_loss, valid_loss, metrics, time), a [`Recorder`],
//! `lr_find`, layer groups with discriminative learning rates and freezing, and
//! checkpoints. A loss that stops being a number ends the fit with an error (fastai's
//! `TerminateOnNaN`), and data without a full batch or a validation row is refused first.
mod data;
mod error;
mod groups;
mod recorder;

pub use data::{permutation, Batch, DataBunch, Rows, TensorData};
pub use error::{LearnerError, Phase, Result};
pub use groups::{even_mults, Lr};
pub use recorder::{plot_lr_find, EpochResult, Recorder, Smoothed};

use crate::metrics::Average;
use crate::module::{named_params, Entry, Mode, Module, Param};
use crate::optim::AdamW;
use crate::schedule::OneCycle;
use crate::state_dict::{self, StateDictError};
use autograd::{Tape, Var};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::path::Path;
use std::time::Instant;
use tensor::{Device, Tensor};

type Forward<M> = Box<dyn Fn(&M, &[Var], Mode) -> autograd::Result<Var>>;
type Loss = Box<dyn Fn(&Var, &Tensor) -> autograd::Result<Var>>;
type Metric = Box<dyn Fn(&Tensor, &Tensor) -> tensor::Result<f32>>;

pub struct Learner<M: Module> {
    pub model: M,
    pub data: Box<dyn DataBunch>,
    forward: Forward<M>,
    loss: Loss,
    metrics: Vec<(String, Metric)>,
    /// Weight decay (fastai's default 1e-2), decoupled from the gradient.
    pub wd: f32,
    /// Parameter-name prefixes of each layer group; empty: one group with every parameter.
    groups: Vec<Vec<String>>,
    opt: AdamW,
    /// Where the model lives and each batch is moved before its step (see [`Learner::to_device`]).
    device: Device,
    pub recorder: Recorder,
    /// Print progress bars and the results table.
    pub verbose: bool,
}

/// Every parameter of `model` with its group (the first group one of whose prefixes starts
/// its name; group 0 when there are no groups) and its name. A parameter in no group is
/// left out.
fn grouped<'a, M: Module>(model: &'a M, groups: &[Vec<String>]) -> Vec<(usize, String, &'a Param)> {
    named_params(model)
        .into_iter()
        .filter_map(|(name, p)| {
            let g = if groups.is_empty() {
                Some(0)
            } else {
                groups
                    .iter()
                    .position(|pre| pre.iter().any(|x| name.starts_with(x.as_str())))
            };
            g.map(|g| (g, name, p))
        })
        .collect()
}

/// The parts of a learner a training step uses, borrowed apart from its data so that steps
/// run while the data's batch iterator is alive (no epoch is materialised in memory).
struct Stepper<'a, M: Module> {
    model: &'a M,
    forward: &'a Forward<M>,
    loss: &'a Loss,
    groups: &'a [Vec<String>],
    opt: &'a mut AdamW,
    device: Device,
}

/// A [`Stepper`] over a learner's fields. A macro rather than a method, so that the borrows
/// stay per field and the learner's data can be iterated while the stepper is alive.
macro_rules! stepper {
    ($learner:expr) => {
        Stepper {
            model: &$learner.model,
            forward: &$learner.forward,
            loss: &$learner.loss,
            groups: &$learner.groups,
            opt: &mut $learner.opt,
            device: $learner.device,
        }
    };
}

impl<M: Module> Stepper<'_, M> {
    /// One training step on `batch` with a learning rate per group and momentum `mom`;
    /// returns the batch's loss. A loss that is not finite takes no step, so the weights stay
    /// those of the last finite one (the caller decides whether that ends training).
    fn step(&mut self, batch: &Batch, lrs: &[f64], mom: f64) -> Result<f64> {
        let batch = batch.to_device(self.device)?;
        let tape = Tape::new();
        let inputs: Vec<Var> = batch.inputs.iter().map(|t| tape.input(t.clone())).collect();
        let out = (self.forward)(self.model, &inputs, Mode::Train)?;
        let loss = (self.loss)(&out, &batch.target)?;
        let value = loss.tensor().to_scalar()? as f64;
        if !value.is_finite() {
            return Ok(value);
        }
        let grads = loss.backward()?;
        let mut groups: Vec<Vec<&Param>> = vec![Vec::new(); self.groups.len().max(1)];
        for (g, _, p) in grouped(self.model, self.groups) {
            groups[g].push(p);
        }
        for (params, &lr) in groups.iter().zip(lrs) {
            self.opt.step(params, &grads, lr as f32, mom as f32)?;
        }
        Ok(value)
    }
}

impl<M: Module> Learner<M> {
    /// A learner whose model takes the batch's first input.
    pub fn new(
        model: M,
        data: Box<dyn DataBunch>,
        loss: impl Fn(&Var, &Tensor) -> autograd::Result<Var> + 'static,
    ) -> Self {
        Learner {
            model,
            data,
            forward: Box::new(|m, x, mode| m.forward(&x[0], mode)),
            loss: Box::new(loss),
            metrics: Vec::new(),
            wd: 1e-2,
            groups: Vec::new(),
            opt: AdamW::new(1e-2),
            device: Device::Cpu,
            recorder: Recorder::default(),
            verbose: true,
        }
    }

    /// How the model takes a batch with several inputs (a tabular model's codes and values).
    pub fn with_forward(
        mut self,
        forward: impl Fn(&M, &[Var], Mode) -> autograd::Result<Var> + 'static,
    ) -> Self {
        self.forward = Box::new(forward);
        self
    }

    /// Moves the model to `device` and trains and validates there: each batch is moved to
    /// it before its step (the loader prepares batches on the host), and the optimiser's state
    /// lives beside the parameters (the optimiser starts afresh: state made on the old device
    /// would not follow). Metrics and losses come back to the host as numbers.
    pub fn to_device(mut self, device: Device) -> Result<Self> {
        crate::module::to_device(&self.model, device)?;
        self.opt = AdamW::new(self.wd);
        self.device = device;
        Ok(self)
    }

    /// The device the model lives on.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Adds a metric, shown in the results table.
    pub fn metric(
        mut self,
        name: &str,
        f: impl Fn(&Tensor, &Tensor) -> tensor::Result<f32> + 'static,
    ) -> Self {
        self.metrics.push((name.to_string(), Box::new(f)));
        self
    }

    /// Cuts the parameters into layer groups: group i holds the parameters whose names start
    /// with one of `prefixes[i]`.
    pub fn split(&mut self, prefixes: Vec<Vec<String>>) {
        self.groups = prefixes;
    }

    /// The parameters of each group.
    pub fn group_params(&self) -> Vec<Vec<&Param>> {
        let mut out: Vec<Vec<&Param>> = vec![Vec::new(); self.groups.len().max(1)];
        for (g, _, p) in grouped(&self.model, &self.groups) {
            out[g].push(p);
        }
        out
    }

    /// Freezes the groups before `n` (they stop learning), except their batch norms, and
    /// unfreezes the others.
    pub fn freeze_to(&self, n: usize) {
        // A batch norm's weight and bias are the params next to a `running_mean` buffer.
        let mut bn = std::collections::HashSet::new();
        self.model.visit("", &mut |name, e| {
            if let (Entry::Buffer(_), Some(prefix)) = (e, name.strip_suffix(".running_mean")) {
                bn.insert(prefix.to_string());
            }
        });
        for (g, name, p) in grouped(&self.model, &self.groups) {
            let is_bn = name
                .rsplit_once('.')
                .is_some_and(|(prefix, _)| bn.contains(prefix));
            p.set_trainable(g >= n || is_bn);
        }
    }

    /// Freezes every group but the last (the head).
    pub fn freeze(&self) {
        self.freeze_to(self.group_params().len().saturating_sub(1));
    }

    /// Makes every group trainable.
    pub fn unfreeze(&self) {
        self.freeze_to(0);
    }

    /// Validation loss and metrics, each averaged over batches weighted by batch size. A
    /// batch whose loss is not finite is an error naming it.
    pub fn validate(&self) -> Result<(f64, Vec<f64>)> {
        self.validate_in(None)
    }

    /// [`Learner::validate`] at the end of `epoch` of a fit (named in errors), or outside one.
    fn validate_in(&self, epoch: Option<usize>) -> Result<(f64, Vec<f64>)> {
        let mut loss = Average::default();
        let mut metrics = vec![Average::default(); self.metrics.len()];
        let mut seen = 0;
        for (b, batch) in self.data.valid().enumerate() {
            let batch = batch?.to_device(self.device)?;
            let inputs: Vec<Var> = batch.inputs.iter().cloned().map(Var::constant).collect();
            let out = (self.forward)(&self.model, &inputs, Mode::Eval)?;
            let n = batch.len();
            let value = (self.loss)(&out, &batch.target)?.tensor().to_scalar()?;
            if !value.is_finite() {
                return Err(LearnerError::NonFiniteLoss {
                    phase: Phase::Valid,
                    epoch,
                    batch: b,
                    value: value as f64,
                });
            }
            loss.add(value, n);
            seen += n;
            for ((_, f), avg) in self.metrics.iter().zip(&mut metrics) {
                avg.add(f(out.tensor(), &batch.target)?, n);
            }
        }
        if seen == 0 {
            return Err(LearnerError::NoBatchRead {
                phase: Phase::Valid,
                epoch,
            });
        }
        Ok((
            loss.value() as f64,
            metrics.iter().map(|a| a.value() as f64).collect(),
        ))
    }

    /// The model's outputs on `inputs` (each `[N, ...]`, in the order the forward takes
    /// them), in evaluation mode, `bs` rows at a time (fastai's `get_preds`).
    pub fn predict(&self, inputs: &[Tensor], bs: usize) -> Result<Tensor> {
        let n = inputs
            .first()
            .map_or(0, |t| t.shape().first().copied().unwrap_or(0));
        let mut outs = Vec::new();
        for start in (0..n).step_by(bs.max(1)) {
            let len = bs.max(1).min(n - start);
            let batch: Vec<Var> = inputs
                .iter()
                .map(|t| {
                    Ok(Var::constant(
                        t.narrow(0, start, len)?.to_device(self.device)?,
                    ))
                })
                .collect::<autograd::Result<_>>()?;
            outs.push(
                (self.forward)(&self.model, &batch, Mode::Eval)?
                    .tensor()
                    .clone(),
            );
        }
        let refs: Vec<&Tensor> = outs.iter().collect();
        Ok(Tensor::cat(&refs, 0)?)
    }

    /// Refuses data with no full training batch or no validation row, before any step.
    fn check_rows(&self) -> Result<()> {
        let rows = self.data.rows();
        if rows.train < rows.bs.max(1) || rows.valid == 0 {
            return Err(LearnerError::TooFewRows {
                train: rows.train,
                valid: rows.valid,
                bs: rows.bs,
            });
        }
        Ok(())
    }

    fn bar(&self, len: usize) -> ProgressBar {
        let bar = ProgressBar::new(len as u64);
        if !self.verbose {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        if let Ok(style) =
            ProgressStyle::with_template("{bar:40} {pos}/{len} [{elapsed}<{eta}] {msg}")
        {
            bar.set_style(style);
        }
        bar
    }

    /// Trains for `epochs` with the one-cycle schedule peaking at `lr` (per group), printing
    /// the results table as fastai does. A non-finite loss, in training or validation, stops
    /// it with an error naming the epoch and the batch.
    pub fn fit_one_cycle(&mut self, epochs: usize, lr: Lr, pct_start: Option<f64>) -> Result<()> {
        self.check_rows()?;
        let groups = self.group_params().len();
        let maxes = lr.per_group(groups);
        let per_epoch = self.data.train_batches();
        let n = per_epoch * epochs;
        let schedules: Vec<OneCycle> = maxes
            .iter()
            .map(|&m| OneCycle {
                pct_start: pct_start.unwrap_or(0.3),
                ..OneCycle::new(m)
            })
            .collect();
        let mut smooth = Smoothed::new(0.98);
        if self.verbose {
            let names: String = self
                .metrics
                .iter()
                .map(|(n, _)| format!("{n:<12}"))
                .collect();
            println!(
                "{:<8}{:<12}{:<12}{names}time",
                "epoch", "train_loss", "valid_loss"
            );
        }
        let mut t = 0;
        for epoch in 0..epochs {
            let start = Instant::now();
            let bar = self.bar(per_epoch);
            self.opt.wd = self.wd;
            let mut stepper = stepper!(self);
            let mut stepped = false;
            for (b, batch) in self.data.train(epoch).enumerate() {
                let batch = batch?;
                let sched: Vec<(f64, f64)> = schedules.iter().map(|s| s.at(t, n)).collect();
                let lrs: Vec<f64> = sched.iter().map(|&(l, _)| l).collect();
                let mom = sched.last().map_or(0.9, |&(_, m)| m);
                let loss = stepper.step(&batch, &lrs, mom)?;
                if !loss.is_finite() {
                    return Err(LearnerError::NonFiniteLoss {
                        phase: Phase::Train,
                        epoch: Some(epoch),
                        batch: b,
                        value: loss,
                    });
                }
                stepped = true;
                let s = smooth.add(loss);
                self.recorder.losses.push(loss);
                self.recorder.smooth_losses.push(s);
                self.recorder.lrs.push(*lrs.last().unwrap_or(&0.0));
                self.recorder.moms.push(mom);
                bar.set_message(format!("{s:.6}"));
                bar.inc(1);
                t += 1;
            }
            bar.finish_and_clear();
            if !stepped {
                return Err(LearnerError::NoBatchRead {
                    phase: Phase::Train,
                    epoch: Some(epoch),
                });
            }
            let (valid_loss, metrics) = self.validate_in(Some(epoch))?;
            let secs = start.elapsed().as_secs_f64();
            if self.verbose {
                let m: String = metrics.iter().map(|v| format!("{v:<12.6}")).collect();
                println!(
                    "{:<8}{:<12.6}{:<12.6}{m}{:02}:{:02}",
                    epoch,
                    smooth.value(),
                    valid_loss,
                    secs as u64 / 60,
                    secs as u64 % 60
                );
            }
            self.recorder.epochs.push(EpochResult {
                epoch,
                train_loss: smooth.value(),
                valid_loss,
                metrics,
                seconds: secs,
            });
        }
        Ok(())
    }

    /// fastai's learning-rate finder: trains with a learning rate growing exponentially from
    /// `start` to `end` over at most `iters` batches, stops when the smoothed loss exceeds 4x
    /// its minimum or stops being finite, and restores the weights (and optimiser state) it
    /// started from, also when it fails. Returns the (learning rate, smoothed loss) pairs. A
    /// first loss that is not finite is an error: the data, not the rate, is at fault.
    pub fn lr_find(&mut self, start: f64, end: f64, iters: usize) -> Result<Vec<(f64, f64)>> {
        self.check_rows()?;
        let saved: Vec<(String, Tensor)> = state_dict::state_dict(&self.model);
        let saved_opt = std::mem::replace(&mut self.opt, AdamW::new(self.wd));
        let sweep = self.sweep(start, end, iters);
        // Put the weights and buffers back.
        let mut by_name: std::collections::HashMap<String, Tensor> = saved.into_iter().collect();
        self.model.visit("", &mut |name, e| {
            if let Some(t) = by_name.remove(name) {
                match e {
                    Entry::Param(p) => p.set(t),
                    Entry::Buffer(b) => b.set(t),
                }
            }
        });
        self.opt = saved_opt;
        sweep
    }

    /// The steps of [`Learner::lr_find`], leaving the weights trained.
    fn sweep(&mut self, start: f64, end: f64, iters: usize) -> Result<Vec<(f64, f64)>> {
        let groups = self.group_params().len();
        let mut smooth = Smoothed::new(0.98);
        let mut best = f64::INFINITY;
        let mut out = Vec::new();
        let mut it = 0;
        for epoch in 0.. {
            let mut stepper = stepper!(self);
            let mut stepped = false;
            for (b, batch) in self.data.train(epoch).enumerate() {
                if it >= iters {
                    return Ok(out);
                }
                let lr = start * (end / start).powf(it as f64 / (iters.max(2) - 1) as f64);
                let loss = stepper.step(&batch?, &vec![lr; groups], 0.9)?;
                if it == 0 && !loss.is_finite() {
                    return Err(LearnerError::NonFiniteLoss {
                        phase: Phase::Train,
                        epoch: Some(epoch),
                        batch: b,
                        value: loss,
                    });
                }
                let s = smooth.add(loss);
                out.push((lr, s));
                best = best.min(s);
                it += 1;
                stepped = true;
                if s > 4.0 * best || !s.is_finite() {
                    return Ok(out);
                }
            }
            if !stepped {
                return Err(LearnerError::NoBatchRead {
                    phase: Phase::Train,
                    epoch: Some(epoch),
                });
            }
        }
        Ok(out)
    }

    /// Each layer's output shape and parameter count on the first validation batch, as
    /// fastai's `learn.summary()`, formatted as a table.
    pub fn summary(&self) -> Result<String> {
        let Some(batch) = self.data.valid().next() else {
            return Ok(String::from("no validation batch to trace the model with"));
        };
        let batch = batch?.to_device(self.device)?;
        let inputs: Vec<Var> = batch.inputs.iter().cloned().map(Var::constant).collect();
        let mut rows = Vec::new();
        match inputs.as_slice() {
            [x] => {
                self.model.trace(x, Mode::Eval, "", &mut rows)?;
            }
            _ => {
                let out = (self.forward)(&self.model, &inputs, Mode::Eval)?;
                rows.push(crate::module::SummaryRow {
                    name: String::new(),
                    layer: self.model.describe(),
                    output_shape: out.shape().to_vec(),
                    params: crate::module::param_count(&self.model),
                    trainable: true,
                });
            }
        }
        let mut s = format!(
            "{:<6}{:<56}{:<20}{:>10}  Trainable\n",
            "", "Layer (type)", "Output Shape", "Param #"
        );
        for r in &rows {
            s += &format!(
                "{:<6}{:<56}{:<20}{:>10}  {}\n",
                r.name,
                r.layer,
                format!("{:?}", r.output_shape),
                r.params,
                r.trainable
            );
        }
        s += &format!(
            "Total params: {}\n",
            rows.iter().map(|r| r.params).sum::<usize>()
        );
        Ok(s)
    }

    /// Saves the model's state dict (atomically).
    pub fn save(&self, path: impl AsRef<Path>) -> std::result::Result<(), StateDictError> {
        state_dict::save(&self.model, path)
    }

    /// Loads a state dict saved by [`Learner::save`] (or by PyTorch, with the same names).
    pub fn load(&self, path: impl AsRef<Path>) -> std::result::Result<(), StateDictError> {
        state_dict::load(&self.model, path)
    }
}
