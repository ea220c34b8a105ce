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

pub use data::{permutation, Batch, DataBunch, Inputs, Rows, TensorData};
pub use error::{LearnerError, Phase, Result};
pub use groups::{even_mults, Lr};
pub use recorder::{lr_find_chart, lr_suggestion, plot_lr_find, EpochResult, Recorder, Smoothed};

use crate::layers::{Sequential, SummaryRow};
use crate::metrics::Average;
use crate::module::{Mode, Module, Param};
use crate::optim::AdamW;
use crate::schedule::OneCycle;
use crate::state_dict::{self, StateDictError};
use crate::vars::{Entry, Vars};
use autograd::{Tape, Var};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::any::Any;
use std::marker::PhantomData;
use std::path::Path;
use std::rc::Rc;
use std::time::Instant;
use tensor::{Device, Tensor};

type Loss = Box<dyn Fn(&Var, &Tensor) -> autograd::Result<Var>>;
type Metric = Box<dyn Fn(&Tensor, &Tensor) -> tensor::Result<f32>>;

/// A model `M` taking inputs `I` (see [`Inputs`]), its parameters, its data, a loss and
/// metrics; configured once by [`Learner::builder`].
pub struct Learner<M, I = Var> {
    model: M,
    vars: Vars,
    data: Box<dyn DataBunch>,
    loss: Loss,
    metrics: Vec<(String, Metric)>,
    /// Parameter-name prefixes of each layer group; empty: one group with every parameter.
    groups: Vec<Vec<String>>,
    /// AdamW, with the weight decay (fastai's default 1e-2), decoupled from the gradient.
    opt: AdamW,
    /// Where the model lives and each batch is moved before its step.
    device: Device,
    recorder: Recorder,
    /// Print progress bars and the results table.
    verbose: bool,
    input: PhantomData<fn(I)>,
}

/// The settings of a [`Learner`] before it is built; each has a default.
pub struct LearnerBuilder<M, I> {
    learn: Learner<M, I>,
}

impl<M, I> LearnerBuilder<M, I> {
    /// Adds a metric, shown in the results table.
    pub fn metric(
        mut self,
        name: &str,
        f: impl Fn(&Tensor, &Tensor) -> tensor::Result<f32> + 'static,
    ) -> Self {
        self.learn.metrics.push((name.to_string(), Box::new(f)));
        self
    }

    /// The optimiser's weight decay (default 1e-2).
    pub fn wd(mut self, wd: f32) -> Self {
        self.learn.opt.wd = wd;
        self
    }

    /// Cuts the parameters into layer groups (fastai's `split`): group i holds the
    /// parameters whose names start with one of `prefixes[i]`. Default: one group.
    pub fn split(mut self, prefixes: Vec<Vec<String>>) -> Self {
        self.learn.groups = prefixes;
        self
    }

    /// Where to train (default the CPU): the model moves there when the learner is built,
    /// and each batch before its step (the loader prepares batches on the host); metrics
    /// and losses come back to the host as numbers.
    pub fn device(mut self, device: Device) -> Self {
        self.learn.device = device;
        self
    }

    /// Print progress bars and the results table (default true).
    pub fn verbose(mut self, on: bool) -> Self {
        self.learn.verbose = on;
        self
    }

    /// The learner, its model moved to its device.
    pub fn build(self) -> Result<Learner<M, I>> {
        self.learn.vars.to_device(self.learn.device)?;
        Ok(self.learn)
    }
}

/// Every parameter in `vars` with its group (the first group one of whose prefixes starts
/// its name; group 0 when there are no groups) and its name. A parameter in no group is
/// left out.
fn grouped(vars: &Vars, groups: &[Vec<String>]) -> Vec<(usize, String, Rc<Param>)> {
    vars.params()
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

/// The parameters of each of `groups`.
fn group_params(vars: &Vars, groups: &[Vec<String>]) -> Vec<Vec<Rc<Param>>> {
    let mut out: Vec<Vec<Rc<Param>>> = vec![Vec::new(); groups.len().max(1)];
    for (g, _, p) in grouped(vars, groups) {
        out[g].push(p);
    }
    out
}

/// The parts of a learner a training step uses, borrowed apart from its data so that steps
/// run while the data's batch iterator is alive (no epoch is materialised in memory).
struct Stepper<'a, M, I> {
    model: &'a M,
    vars: &'a Vars,
    loss: &'a Loss,
    groups: &'a [Vec<String>],
    opt: &'a mut AdamW,
    device: Device,
    input: PhantomData<fn(I)>,
}

/// A [`Stepper`] over a learner's fields. A macro rather than a method, so that the borrows
/// stay per field and the learner's data can be iterated while the stepper is alive.
macro_rules! stepper {
    ($learner:expr) => {
        Stepper {
            model: &$learner.model,
            vars: &$learner.vars,
            loss: &$learner.loss,
            groups: &$learner.groups,
            opt: &mut $learner.opt,
            device: $learner.device,
            input: PhantomData,
        }
    };
}

impl<M: Module<I, Output = Var>, I: Inputs> Stepper<'_, M, I> {
    /// One training step on `batch` with a learning rate per group and momentum `mom`;
    /// returns the batch's loss. A loss that is not finite takes no step, so the weights stay
    /// those of the last finite one (the caller decides whether that ends training).
    fn step(&mut self, batch: &Batch, lrs: &[f64], mom: f64) -> Result<f64> {
        let batch = batch.to_device(self.device)?;
        let tape = Tape::new();
        let inputs = batch.inputs.iter().map(|t| tape.input(t.clone())).collect();
        let out = self.model.forward(I::from_vars(inputs)?, Mode::Train)?;
        let loss = (self.loss)(&out, &batch.target)?;
        let value = loss.tensor().to_scalar()? as f64;
        if !value.is_finite() {
            return Ok(value);
        }
        let grads = loss.backward()?;
        for (params, &lr) in group_params(self.vars, self.groups).iter().zip(lrs) {
            let params: Vec<&Param> = params.iter().map(Rc::as_ref).collect();
            self.opt.step(&params, &grads, lr as f32, mom as f32)?;
        }
        Ok(value)
    }
}

impl<M: Module<I, Output = Var> + 'static, I: Inputs> Learner<M, I> {
    /// The settings of a learner for `model`, whose parameters are in `vars`, trained on
    /// `data` to lower `loss`.
    pub fn builder(
        model: M,
        vars: Vars,
        data: impl DataBunch + 'static,
        loss: impl Fn(&Var, &Tensor) -> autograd::Result<Var> + 'static,
    ) -> LearnerBuilder<M, I> {
        LearnerBuilder {
            learn: Learner {
                model,
                vars,
                data: Box::new(data),
                loss: Box::new(loss),
                metrics: Vec::new(),
                groups: Vec::new(),
                opt: AdamW::new(1e-2),
                device: Device::Cpu,
                recorder: Recorder::default(),
                verbose: true,
                input: PhantomData,
            },
        }
    }

    pub fn model(&self) -> &M {
        &self.model
    }

    /// The trained model, its learner done with.
    pub fn into_model(self) -> M {
        self.model
    }

    /// Trains on `data` from now on (fastai's progressive resizing: `learn.data = ...`).
    pub fn set_data(&mut self, data: impl DataBunch + 'static) {
        self.data = Box::new(data);
    }

    /// The data it trains and validates on.
    pub fn data(&self) -> &dyn DataBunch {
        self.data.as_ref()
    }

    /// The model's parameters and buffers by name.
    pub fn vars(&self) -> &Vars {
        &self.vars
    }

    /// The losses, rates and epoch results of the fits so far.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// The device the model lives on.
    pub fn device(&self) -> Device {
        self.device
    }

    /// The parameters of each group.
    pub fn group_params(&self) -> Vec<Vec<Rc<Param>>> {
        group_params(&self.vars, &self.groups)
    }

    /// Freezes the groups before `n` (they stop learning), except their batch norms, and
    /// unfreezes the others.
    pub fn freeze_to(&self, n: usize) {
        // A batch norm's weight and bias are the params next to a `running_mean` buffer.
        let bn: std::collections::HashSet<String> = (self.vars.entries().into_iter())
            .filter(|(_, e)| matches!(e, Entry::Buffer(_)))
            .filter_map(|(name, _)| Some(name.strip_suffix(".running_mean")?.to_string()))
            .collect();
        for (g, name, p) in grouped(&self.vars, &self.groups) {
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
            let inputs = batch.inputs.iter().cloned().map(Var::constant).collect();
            let out = self.model.forward(I::from_vars(inputs)?, Mode::Eval)?;
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
            let out = self.model.forward(I::from_vars(batch)?, Mode::Eval)?;
            outs.push(out.tensor().clone());
        }
        let refs: Vec<&Tensor> = outs.iter().collect();
        Ok(Tensor::cat(&refs, 0)?)
    }

    /// The model's outputs on `batches` in evaluation mode and their targets, each
    /// concatenated over the batches and on the host (fastai's `get_preds` over a data
    /// loader; the activation, such as a softmax, is the caller's). No batch at all is an
    /// error.
    pub fn get_preds(
        &self,
        batches: impl Iterator<Item = crate::Result<Batch>>,
    ) -> Result<(Tensor, Tensor)> {
        let (mut outs, mut targets) = (Vec::new(), Vec::new());
        for batch in batches {
            let batch = batch?.to_device(self.device)?;
            let inputs = batch.inputs.iter().cloned().map(Var::constant).collect();
            let out = self.model.forward(I::from_vars(inputs)?, Mode::Eval)?;
            outs.push(out.tensor().to_device(Device::Cpu)?);
            targets.push(batch.target.to_device(Device::Cpu)?);
        }
        if outs.is_empty() {
            return Err(LearnerError::NoBatchRead {
                phase: Phase::Valid,
                epoch: None,
            });
        }
        let cat = |ts: &[Tensor]| Tensor::cat(&ts.iter().collect::<Vec<_>>(), 0);
        Ok((cat(&outs)?, cat(&targets)?))
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
        let saved: Vec<Tensor> = self.vars.entries().iter().map(|(_, e)| e.value()).collect();
        let fresh = AdamW::new(self.opt.wd);
        let saved_opt = std::mem::replace(&mut self.opt, fresh);
        let sweep = self.sweep(start, end, iters);
        // Put the weights and buffers back.
        for ((_, e), t) in self.vars.entries().iter().zip(saved) {
            e.set(t);
        }
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

    /// The weight decay of the fits that follow, keeping the optimiser's state (as fastai's
    /// `fit_one_cycle(..., wd=...)` sets it on the optimiser it already has).
    pub fn set_wd(&mut self, wd: f32) {
        self.opt.wd = wd;
    }

    /// Each layer's output shape and parameter count on the first validation batch, as
    /// fastai's `learn.summary()`, formatted as a table.
    pub fn summary(&self) -> Result<String> {
        let Some(batch) = self.data.valid().next() else {
            return Ok(String::from("no validation batch to trace the model with"));
        };
        let batch = batch?.to_device(self.device)?;
        let inputs: Vec<Var> = batch.inputs.iter().cloned().map(Var::constant).collect();
        // A Sequential lists its layers; another model is one line.
        let model: &dyn Any = &self.model;
        let rows = match model.downcast_ref::<Sequential>() {
            Some(seq) => {
                let mut rows = Vec::new();
                seq.trace(Var::from_vars(inputs)?, Mode::Eval, "", &mut rows)?;
                rows
            }
            None => {
                let out = self.model.forward(I::from_vars(inputs)?, Mode::Eval)?;
                vec![SummaryRow {
                    name: String::new(),
                    layer: self.model.to_string(),
                    output_shape: out.shape().to_vec(),
                }]
            }
        };
        // Columns as wide as their longest entry, so that a long layer never shifts a row.
        let name_w = rows.iter().map(|r| r.name.len()).max().unwrap_or(0) + 2;
        let layer_w = rows
            .iter()
            .map(|r| r.layer.len())
            .max()
            .unwrap_or(0)
            .max(12)
            + 2;
        let mut s = format!(
            "{:<name_w$}{:<layer_w$}{:<20}{:>10}  Trainable\n",
            "", "Layer (type)", "Output Shape", "Param #"
        );
        let mut total = 0;
        for r in &rows {
            // A row's parameters are those named under it.
            let at = self.vars.root().pp(&r.name);
            let params: Vec<_> = (self.vars.params().into_iter())
                .filter(|(name, _)| at.strip(name).is_some())
                .collect();
            let count: usize = params.iter().map(|(_, p)| p.value().elem_count()).sum();
            let trainable = params.iter().all(|(_, p)| p.is_trainable());
            let shape = format!("{:?}", r.output_shape);
            s += &format!(
                "{:<name_w$}{:<layer_w$}{shape:<20}{count:>10}  {trainable}\n",
                r.name, r.layer
            );
            total += count;
        }
        s += &format!("Total params: {total}\n");
        Ok(s)
    }

    /// Saves the model's state dict (atomically).
    pub fn save(&self, path: impl AsRef<Path>) -> std::result::Result<(), StateDictError> {
        state_dict::save(&self.vars, path)
    }

    /// Writes the model's weights and `recipe` to `path` atomically, for
    /// [`crate::export::load_learner`] (fastai's `learn.export()`).
    pub fn export(
        &self,
        path: impl AsRef<Path>,
        recipe: &crate::export::Recipe,
    ) -> crate::Result<()> {
        crate::export::export(&self.vars, recipe, path)
    }

    /// Loads a state dict saved by [`Learner::save`] (or by PyTorch, with the same names).
    pub fn load(&self, path: impl AsRef<Path>) -> std::result::Result<(), StateDictError> {
        state_dict::load(&self.vars, path)
    }
}
