//! fastai's `learn.export()` and `load_learner`: one file with everything inference needs,
//! and a learner rebuilt from it without any training data.
//!
//! The file is a safetensors file: its tensors are the model's state dict (the names
//! [`crate::state_dict::save`] writes), and its `__metadata__` holds the format's version and
//! a [`Recipe`] as JSON: the architecture with its configuration (the classes, the head's
//! dropouts; the `TabularConfig`) and the input pipeline (the image size and normalisation
//! statistics; the fitted [`Procs`] and whether the target is a log). Where fastai pickles
//! the whole learner, a recipe says how to build the model again, so the file holds data
//! only and loads as safetensors anywhere (PyTorch reads its weights as they are).
//!
//! [`load_learner`] returns a [`Loaded`]: a [`Learner`] over an empty data bunch (as fastai's,
//! whose exported learner has an empty `DataBunch`: fitting it is refused until
//! [`Learner::set_data`]), with the recipe beside it. Predictions go through the recipe
//! ([`CnnRecipe::predict`], [`TabularRecipe::predict`]) on any learner of the model's kind,
//! so the trained learner before export and the loaded one after share one code path.
use crate::layers::Sequential;
use crate::learner::{Learner, TensorData};
use crate::loss::{cross_entropy, mse_flat};
use crate::models::{cnn_model, resnet34, Ps};
use crate::module::Module;
use crate::state_dict::{self, StateDictError};
use crate::tabular::{parse_csv, Procs, Schema, Table, TabularConfig, TabularModel};
use crate::vars::Vars;
use crate::vision::{check_size, normalize, Augment, Padding};
use crate::{Error, Result};
use autograd::Var;
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use tensor::{Device, Tensor};

/// The version of the export format this build writes and reads.
pub const EXPORT_VERSION: &str = "1";

/// The metadata keys of an exported learner.
const VERSION_KEY: &str = "lesson6.export_version";
const RECIPE_KEY: &str = "lesson6.recipe";

/// The largest recipe read: 16 MiB of JSON (Kaggle's Rossmann procs take about 100 KB).
pub const MAX_RECIPE_BYTES: usize = 16 << 20;

/// How to rebuild a model and feed it: what an exported file holds besides the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Recipe {
    Cnn(CnnRecipe),
    Tabular(TabularRecipe),
}

/// fastai's `cnn_learner` model ([`cnn_model`]) and its validation transform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CnnRecipe {
    /// The body's architecture: `resnet34`, the only one this build has.
    pub arch: String,
    /// Class names, in the order of the model's outputs.
    pub classes: Vec<String>,
    /// The head's dropouts ([`Ps::per_layer`]).
    pub ps: [f32; 2],
    /// Side of the centre crop the model sees.
    pub size: usize,
    /// Per-channel mean and std the images are normalised with.
    pub stats: ([f32; 3], [f32; 3]),
}

/// fastai's `tabular_learner` model ([`TabularModel`]) and its preprocessing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TabularRecipe {
    pub config: TabularConfig,
    /// FillMissing, Categorify and Normalize as fitted on the training rows.
    pub procs: Procs,
    /// The model predicts the log of the target (Rossmann: ln(Sales)), so predictions are
    /// the exp of its output.
    pub y_log: bool,
}

/// One image's class: its name, its index, and every class's probability.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub class: String,
    pub index: usize,
    pub probs: Vec<f32>,
}

/// A learner from [`load_learner`] (boxed: a learner is a few hundred bytes), with its
/// recipe.
pub enum Loaded {
    Cnn(Box<Learner<Sequential>>, CnnRecipe),
    Tabular(Box<TabularLearner>, TabularRecipe),
}

/// The learner of the tabular model, which takes `(x_cat, x_cont)`.
pub type TabularLearner = Learner<TabularModel, (Var, Var)>;

impl Loaded {
    /// What kind of learner this is, as errors name it.
    fn kind(&self) -> &'static str {
        match self {
            Loaded::Cnn(..) => "an image classifier",
            Loaded::Tabular(..) => "a tabular learner",
        }
    }

    /// The image classifier loaded from `path`; another kind is an error naming both.
    pub fn into_cnn(self, path: &Path) -> Result<(Box<Learner<Sequential>>, CnnRecipe)> {
        match self {
            Loaded::Cnn(learn, recipe) => Ok((learn, recipe)),
            other => Err(other.kind_error(path, "an image classifier")),
        }
    }

    /// The tabular learner loaded from `path`; another kind is an error naming both.
    pub fn into_tabular(self, path: &Path) -> Result<(Box<TabularLearner>, TabularRecipe)> {
        match self {
            Loaded::Tabular(learn, recipe) => Ok((learn, recipe)),
            other => Err(other.kind_error(path, "a tabular learner")),
        }
    }

    fn kind_error(&self, path: &Path, wanted: &'static str) -> Error {
        Error::ExportKind {
            path: path.to_path_buf(),
            found: self.kind(),
            wanted,
        }
    }
}

/// Images, and table rows, that go through the model together when predicting (fastai's
/// `get_preds` batches): memory stays that of one batch however many are given.
const IMAGE_BS: usize = 64;
const ROW_BS: usize = 4096;

impl CnnRecipe {
    /// The model this recipe describes, in fresh `vars`.
    fn model(&self, vars: &Vars, path: &Path) -> Result<Sequential> {
        match self.arch.as_str() {
            "resnet34" => cnn_model(
                resnet34(vars.root(), 1000)?,
                self.classes.len(),
                Ps::Each(self.ps),
                0,
            ),
            _ => Err(Error::UnknownArch {
                path: path.to_path_buf(),
                arch: self.arch.clone(),
            }),
        }
    }

    /// `image` (`[3, H, W]` in [0, 1], as [`crate::vision::load_image`] gives it) as the
    /// model sees it: the centre crop at the recipe's size, normalised (`[3, size, size]`).
    pub fn input(&self, image: &Tensor) -> Result<Tensor> {
        let crop = Augment::centre().apply(image, self.size, Padding::Reflection)?;
        let data = normalize(&crop, self.stats)?;
        Ok(Tensor::from_vec(data, &[3, self.size, self.size])?)
    }

    /// The class of each of `images` under `learn` (fastai's `learn.predict(img)`): the
    /// validation transform ([`CnnRecipe::input`]), the model in eval mode, a softmax.
    pub fn predict_batch<M: Module<Var, Output = Var> + 'static>(
        &self,
        learn: &Learner<M>,
        images: &[Tensor],
    ) -> Result<Vec<Prediction>> {
        let inputs: Vec<Tensor> = images
            .iter()
            .map(|i| self.input(i))
            .collect::<Result<_>>()?;
        let refs: Vec<&Tensor> = inputs.iter().collect();
        let x = Tensor::stack(&refs, 0)?;
        let probs = learn.predict(&[x], IMAGE_BS)?.softmax(1)?.to_vec::<f32>()?;
        let n = self.classes.len().max(1);
        Ok(probs
            .chunks_exact(n)
            .map(|row| {
                let index = (0..row.len())
                    .max_by(|&a, &b| row[a].total_cmp(&row[b]).then(b.cmp(&a)))
                    .unwrap_or(0);
                Prediction {
                    class: self.classes.get(index).cloned().unwrap_or_default(),
                    index,
                    probs: row.to_vec(),
                }
            })
            .collect())
    }

    /// The class of one image ([`CnnRecipe::predict_batch`] of one).
    pub fn predict<M: Module<Var, Output = Var> + 'static>(
        &self,
        learn: &Learner<M>,
        image: &Tensor,
    ) -> Result<Prediction> {
        let mut one = self.predict_batch(learn, std::slice::from_ref(image))?;
        one.pop()
            .ok_or_else(|| Error::Data("a model with no class to predict".into()))
    }
}

impl TabularRecipe {
    /// The predictions for the rows of `table` under `learn`: the procs applied, the model in
    /// eval mode, and the exp of its output where the target is a log (Rossmann: the sales).
    /// `config.out` values a row, row after row.
    pub fn predict<M: Module<(Var, Var), Output = Var> + 'static>(
        &self,
        learn: &Learner<M, (Var, Var)>,
        table: &Table,
    ) -> Result<Vec<f64>> {
        let (codes, conts) = self.procs.apply(table)?;
        let out = learn.predict(&[codes, conts], ROW_BS)?.to_vec::<f32>()?;
        Ok(out
            .into_iter()
            .map(|y| {
                if self.y_log {
                    (y as f64).exp()
                } else {
                    y as f64
                }
            })
            .collect())
    }

    /// The prediction for one row given as CSV: a header line naming the columns, then the
    /// row (the procs' continuous columns read as numbers, the others as text). Text of
    /// another number of rows is an error.
    pub fn predict_row<M: Module<(Var, Var), Output = Var> + 'static>(
        &self,
        learn: &Learner<M, (Var, Var)>,
        csv: &str,
    ) -> Result<Vec<f64>> {
        let numbers: Vec<&str> = self.procs.cont_names.iter().map(String::as_str).collect();
        let schema = Schema {
            numbers: &numbers,
            ..Schema::default()
        };
        let table = parse_csv(csv, "the row", &schema)?;
        if table.rows() != 1 {
            return Err(Error::Invalid(format!(
                "expected a header and one row, got {} rows",
                table.rows()
            )));
        }
        self.predict(learn, &table)
    }
}

/// The error for a file at `path` that is not an exported learner, because of `msg`.
fn not_an_export(path: &Path, msg: impl Into<String>) -> Error {
    Error::NotAnExport {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

/// Writes the weights in `vars` and `recipe` to `path` atomically (fastai's `export.pkl`).
pub fn export(vars: &Vars, recipe: &Recipe, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let json = serde_json::to_string(recipe).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        expected: None,
        source,
    })?;
    let metadata = HashMap::from([
        (VERSION_KEY.to_string(), EXPORT_VERSION.to_string()),
        (RECIPE_KEY.to_string(), json),
    ]);
    Ok(state_dict::save_with(vars, Some(metadata), path)?)
}

/// The recipe in the metadata of the safetensors file `bytes`, read from `path`.
fn read_recipe(bytes: &[u8], path: &Path) -> Result<Recipe> {
    let shown = path.display().to_string();
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| {
        Error::Checkpoint(StateDictError::Format {
            path: shown,
            format: state_dict::CheckpointFormat::Safetensors,
            msg: e.to_string(),
        })
    })?;
    let no_recipe = || {
        not_an_export(
            path,
            "no learner recipe in its metadata: a plain state dict (load it with `state_dict::load`), not an exported learner",
        )
    };
    let meta = meta.metadata().as_ref().ok_or_else(no_recipe)?;
    let version = meta.get(VERSION_KEY).ok_or_else(no_recipe)?;
    if version != EXPORT_VERSION {
        return Err(Error::ExportVersion {
            path: path.to_path_buf(),
            found: version.clone(),
        });
    }
    let json = meta.get(RECIPE_KEY).ok_or_else(no_recipe)?;
    if json.len() > MAX_RECIPE_BYTES {
        return Err(not_an_export(
            path,
            format!(
                "a recipe of {} bytes, more than the {MAX_RECIPE_BYTES} one may have",
                json.len()
            ),
        ));
    }
    serde_json::from_str(json)
        .map_err(|e| not_an_export(path, format!("its recipe is not valid: {e}")))
}

/// The learner exported to `path` by [`export`], rebuilt from its recipe with fresh
/// parameters, its weights loaded with [`state_dict::load`]'s checks (every name, with its
/// shape), on `device`, with no data (fastai's `load_learner`). A file that is not an
/// export, of another version, or of an unknown architecture is an error naming it.
pub fn load_learner(path: impl AsRef<Path>, device: Device) -> Result<Loaded> {
    let path = path.as_ref();
    let shown = path.display().to_string();
    let (file, len) = state_dict::open_checkpoint(path)?;
    let bytes = state_dict::read_bounded(file, len, &shown)?;
    let recipe = read_recipe(&bytes, path)?;
    let st = state_dict::parse_safetensors(&bytes, &shown)?;
    let vars = Vars::new(0);
    let no_data = || {
        let none = || (Vec::new(), Tensor::zeros(&[0]));
        TensorData::new(none(), none(), 1, 0)
    };
    Ok(match recipe {
        Recipe::Cnn(recipe) => {
            check_size(recipe.size)?;
            let model = recipe.model(&vars, path)?;
            state_dict::load_safetensors(&vars, &st, &shown)?;
            let learn = Learner::builder(model, vars, no_data(), cross_entropy)
                .verbose(false)
                .device(device)
                .build()?;
            Loaded::Cnn(Box::new(learn), recipe)
        }
        Recipe::Tabular(recipe) => {
            let model = TabularModel::new(vars.root(), &recipe.config, 0)?;
            state_dict::load_safetensors(&vars, &st, &shown)?;
            let loss = |out: &Var, y: &Tensor| mse_flat(out, &Var::constant(y.clone()));
            let learn = Learner::builder(model, vars, no_data(), loss)
                .verbose(false)
                .device(device)
                .build()?;
            Loaded::Tabular(Box::new(learn), recipe)
        }
    })
}
