//! fastai's `learn.export()` and `load_learner`: a CNN (ResNet-34 with the fastai head, at
//! 32 px) and a small tabular model predict the same, to the bit, before export and after
//! loading; a tabular row's prediction is the exp of the model run by hand on the procs'
//! output; the file is written atomically; and a file that is not an export (cut short, a
//! plain state dict, bad or missing metadata, another version or architecture, weights that
//! do not fit the recipe) is a typed error naming it.
use autograd::Var;
use nn::export::{export, load_learner, CnnRecipe, Loaded, Recipe, TabularRecipe, EXPORT_VERSION};
use nn::learner::{Learner, TensorData};
use nn::loss::{cross_entropy, mse_flat};
use nn::models::{cnn_model, resnet34, Ps};
use nn::state_dict::{self, StateDictError};
use nn::tabular::{Column, Procs, Table, TabularConfig, TabularModel};
use nn::vision::IMAGENET_STATS;
use nn::{Error, Mode, Module, Vars};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tensor::random::Philox;
use tensor::{Device, Tensor};

/// A fresh folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lesson6-export-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Data with no rows: these learners only predict.
fn no_data() -> TensorData {
    let none = || (Vec::new(), Tensor::zeros(&[0]));
    TensorData::new(none(), none(), 1, 0)
}

/// `n` values drawn uniformly from [0, 1) by Philox stream `stream`.
fn uniform(n: usize, stream: u64) -> Vec<f32> {
    let rng = Philox::new(7, stream);
    (0..n)
        .map(|i| rng.word(i as u64) as f32 / 4_294_967_296.0)
        .collect()
}

/// The rows of a small table: a categorical `shop`, a continuous `temp` with one missing
/// value (so FillMissing adds `temp_na`) and a continuous `promo`.
fn table(shops: &[&str], temps: &[f64], promos: &[f64]) -> Table {
    let mut t = Table::new();
    let shops = shops.iter().map(|s| Some(s.to_string())).collect();
    t.set("shop", Column::Cat(shops)).unwrap();
    t.set("temp", Column::Num(temps.to_vec())).unwrap();
    t.set("promo", Column::Num(promos.to_vec())).unwrap();
    t
}

/// A tabular learner on procs fitted to a small table, its parameters drawn from `seed`,
/// and its recipe.
fn tabular(seed: u64) -> (Learner<TabularModel, (Var, Var)>, TabularRecipe) {
    let train = table(
        &["a", "b", "c", "a", "b"],
        &[10.0, f64::NAN, 14.0, 9.0, 12.0],
        &[0.0, 1.0, 1.0, 0.0, 1.0],
    );
    let procs = Procs::fit(&train, &["shop"], &["temp", "promo"]).unwrap();
    let config = TabularConfig {
        embeddings: procs.emb_szs(&[]).unwrap(),
        n_cont: 2,
        out: 1,
        layers: vec![6, 4],
        ps: vec![0.1, 0.2],
        emb_drop: 0.1,
        y_range: Some((0.0, 9.0)),
    };
    let vars = Vars::new(seed);
    let model = TabularModel::new(vars.root(), &config, seed).unwrap();
    let loss = |out: &Var, y: &Tensor| mse_flat(out, &Var::constant(y.clone()));
    let learn = Learner::builder(model, vars, no_data(), loss)
        .verbose(false)
        .build()
        .unwrap();
    let recipe = TabularRecipe {
        config,
        procs,
        y_log: true,
    };
    (learn, recipe)
}

fn cnn_recipe() -> CnnRecipe {
    CnnRecipe {
        arch: "resnet34".into(),
        classes: vec!["Abyssinian".into(), "Bengal".into(), "Bombay".into()],
        ps: [0.25, 0.5],
        size: 32,
        stats: IMAGENET_STATS,
    }
}

/// Files in `dir` other than `keep`: what an export left behind.
fn others(dir: &Path, keep: &[&str]) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect()
}

#[test]
fn an_image_classifier_predicts_the_same_after_export_and_load() {
    let dir = scratch("cnn");
    let recipe = cnn_recipe();
    let vars = Vars::new(3);
    let model = cnn_model(
        resnet34(vars.root(), 1000).unwrap(),
        3,
        Ps::Each(recipe.ps),
        0,
    );
    let learn = Learner::builder(model.unwrap(), vars, no_data(), cross_entropy)
        .verbose(false)
        .build()
        .unwrap();
    // A 40 x 48 image: the centre crop takes its middle 40 x 40 down to 32 x 32.
    let image = Tensor::from_vec(uniform(3 * 40 * 48, 1), &[3, 40, 48]).unwrap();
    let before = recipe.predict(&learn, &image).unwrap();
    assert_eq!(before.probs.len(), 3);
    let sum: f32 = before.probs.iter().sum();
    assert!((sum - 1.0).abs() < 1e-5, "probabilities sum to {sum}");
    let top = (0..3)
        .max_by(|&a, &b| before.probs[a].total_cmp(&before.probs[b]))
        .unwrap();
    assert_eq!(before.index, top);
    assert_eq!(before.class, recipe.classes[top]);

    let path = dir.join("export.safetensors");
    learn.export(&path, &Recipe::Cnn(recipe.clone())).unwrap();
    assert_eq!(others(&dir, &["export.safetensors"]), Vec::<String>::new());
    // The weights are the state dict `state_dict::save` writes, under the same names.
    let plain = Vars::new(9);
    let _ = cnn_model(resnet34(plain.root(), 1000).unwrap(), 3, Ps::default(), 0).unwrap();
    state_dict::load(&plain, &path).unwrap();

    let Loaded::Cnn(loaded, loaded_recipe) = load_learner(&path, Device::Cpu).unwrap() else {
        panic!("a CNN export loaded as another kind");
    };
    assert_eq!(loaded_recipe, recipe);
    let after = loaded_recipe.predict(&loaded, &image).unwrap();
    assert_eq!(after, before, "the same prediction, to the bit");
    // Fitting the loaded learner, which has no data, is refused rather than run.
    let mut loaded = loaded;
    assert!(loaded
        .fit_one_cycle(1, nn::learner::Lr::Single(1e-3), None)
        .is_err());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_tabular_row_is_the_model_on_its_procs_and_survives_export() {
    let dir = scratch("tabular");
    let (learn, recipe) = tabular(5);
    // One row typed in, with a missing temperature (filled by the training median) and a
    // shop unseen in training (code 0).
    let row = "shop,temp,promo\nz,,1\n";
    let predicted = recipe.predict_row(&learn, row).unwrap();
    // By hand: the procs on the same row as a table, the model in eval mode, exp.
    let by_hand_table = table(&["z"], &[f64::NAN], &[1.0]);
    let (codes, conts) = recipe.procs.apply(&by_hand_table).unwrap();
    assert_eq!(codes.to_vec::<i64>().unwrap(), [0, 2]); // unseen shop; temp_na True
    let out = learn
        .model()
        .forward((Var::constant(codes), Var::constant(conts)), Mode::Eval)
        .unwrap();
    let by_hand = (out.tensor().to_vec::<f32>().unwrap()[0] as f64).exp();
    assert_eq!(predicted, [by_hand]);
    assert!(by_hand > 1.0 && by_hand < 9f64.exp(), "exp of y_range");

    let rows = table(&["a", "b", "c"], &[11.0, 13.0, f64::NAN], &[1.0, 0.0, 1.0]);
    let before = recipe.predict(&learn, &rows).unwrap();
    assert_eq!(before.len(), 3);
    let path = dir.join("export.safetensors");
    learn
        .export(&path, &Recipe::Tabular(recipe.clone()))
        .unwrap();
    // Asked for an image classifier, the tabular export is refused, naming both kinds.
    let err = load_learner(&path, Device::Cpu).unwrap().into_cnn(&path);
    assert!(matches!(
        err,
        Err(Error::ExportKind {
            found: "a tabular learner",
            wanted: "an image classifier",
            ..
        })
    ));
    let (loaded, loaded_recipe) = (load_learner(&path, Device::Cpu).unwrap())
        .into_tabular(&path)
        .unwrap();
    assert_eq!(loaded_recipe, recipe);
    assert_eq!(loaded_recipe.predict(&loaded, &rows).unwrap(), before);
    assert_eq!(loaded_recipe.predict_row(&loaded, row).unwrap(), predicted);
    // Two rows where one is asked for is refused.
    let two = "shop,temp,promo\na,1,0\nb,2,1\n";
    assert!(matches!(
        loaded_recipe.predict_row(&loaded, two),
        Err(Error::Invalid(m)) if m.contains("2 rows")
    ));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_export_is_written_atomically() {
    let dir = scratch("atomic");
    let path = dir.join("export.safetensors");
    let (learn, recipe) = tabular(1);
    let recipe = Recipe::Tabular(recipe);
    learn.export(&path, &recipe).unwrap();
    let old = std::fs::read(&path).unwrap();
    assert_eq!(others(&dir, &["export.safetensors"]), Vec::<String>::new());
    // A write that fails (its temporary file's place is taken by a folder) leaves the old
    // file as it was.
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::create_dir(&tmp).unwrap();
    let (other, _) = tabular(2);
    assert!(matches!(
        other.export(&path, &recipe),
        Err(Error::Checkpoint(StateDictError::Io { .. }))
    ));
    assert_eq!(std::fs::read(&path).unwrap(), old);
    std::fs::remove_dir(&tmp).unwrap();
    other.export(&path, &recipe).unwrap();
    assert_ne!(std::fs::read(&path).unwrap(), old);
    assert_eq!(others(&dir, &["export.safetensors"]), Vec::<String>::new());
    let _ = std::fs::remove_dir_all(dir);
}

/// Writes a safetensors file at `path` with one tensor and `metadata`.
fn with_metadata(path: &Path, metadata: &[(&str, &str)]) {
    let bytes = 1f32.to_le_bytes();
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![1], &bytes).unwrap();
    let meta: HashMap<String, String> = (metadata.iter())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    std::fs::write(
        path,
        safetensors::serialize([("w", view)], &Some(meta)).unwrap(),
    )
    .unwrap();
}

#[test]
fn a_file_that_is_not_an_export_is_a_typed_error() {
    let dir = scratch("errors");
    let (learn, recipe) = tabular(1);
    let good = dir.join("export.safetensors");
    learn
        .export(&good, &Recipe::Tabular(recipe.clone()))
        .unwrap();
    let load = |p: &Path| load_learner(p, Device::Cpu).err().expect("an error");
    let names = |e: &Error, p: &Path| {
        let shown = p.display().to_string();
        assert!(e.to_string().contains(&shown), "{e} names {shown}");
    };

    // Cut short: not a valid safetensors file.
    let cut = dir.join("cut.safetensors");
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = load(&cut);
    assert!(
        matches!(&e, Error::Checkpoint(StateDictError::Format { .. })),
        "{e:?}"
    );
    names(&e, &cut);

    // A plain state dict: no recipe.
    let plain = dir.join("model.safetensors");
    learn.save(&plain).unwrap();
    let e = load(&plain);
    assert!(
        matches!(&e, Error::NotAnExport { path, msg } if path == &plain && msg.contains("plain state dict")),
        "{e:?}"
    );
    names(&e, &plain);

    // Another version.
    let v2 = dir.join("v2.safetensors");
    with_metadata(
        &v2,
        &[("lesson6.export_version", "2"), ("lesson6.recipe", "{}")],
    );
    let e = load(&v2);
    assert!(
        matches!(&e, Error::ExportVersion { path, found } if path == &v2 && found == "2"),
        "{e:?}"
    );
    assert!(e
        .to_string()
        .contains(&format!("reads version {EXPORT_VERSION}")));

    // A recipe that is not JSON, or not a recipe.
    for (name, json) in [
        ("bad.safetensors", "{not json"),
        ("odd.safetensors", r#"{"kind":"rnn"}"#),
    ] {
        let p = dir.join(name);
        with_metadata(
            &p,
            &[
                ("lesson6.export_version", EXPORT_VERSION),
                ("lesson6.recipe", json),
            ],
        );
        let e = load(&p);
        assert!(
            matches!(&e, Error::NotAnExport { path, msg } if path == &p && msg.contains("recipe is not valid")),
            "{e:?}"
        );
    }

    // An architecture this build does not have.
    let arch = dir.join("arch.safetensors");
    let recipe50 = Recipe::Cnn(CnnRecipe {
        arch: "resnet50".into(),
        ..cnn_recipe()
    });
    let json = serde_json::to_string(&recipe50).unwrap();
    with_metadata(
        &arch,
        &[
            ("lesson6.export_version", EXPORT_VERSION),
            ("lesson6.recipe", &json),
        ],
    );
    let e = load(&arch);
    assert!(
        matches!(&e, Error::UnknownArch { path, arch: a } if path == &arch && a == "resnet50"),
        "{e:?}"
    );

    // Weights that do not fit the recipe: a wider first hidden layer, named in the error.
    let wide = dir.join("wide.safetensors");
    let mut other = recipe.clone();
    other.config.layers[0] = 7;
    export(learn.vars(), &Recipe::Tabular(other), &wide).unwrap();
    let e = load(&wide);
    assert!(
        matches!(&e, Error::Checkpoint(StateDictError::Mismatch { .. })),
        "{e:?}"
    );
    assert!(e.to_string().contains("`layers.0.weight`"), "{e}");
    let _ = std::fs::remove_dir_all(dir);
}
