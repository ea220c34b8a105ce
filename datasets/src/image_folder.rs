//! A labelled image folder, fastai's `ImageList.from_folder(path).split_by_rand_pct(0.2)
//! .label_from_re(pattern)`: every JPEG or PNG under a folder, labelled by the first group
//! of a regular expression searched in its path (the lesson's `([^/]+)_\d+.jpg$` takes the
//! breed from `great_pyrenees_173.jpg`), classes sorted, and a seeded random validation
//! split. (The split draws its permutation from Philox, not numpy's generator, so the same
//! seed picks other images than fastai's; the proportion is the same.)
use nn::learner::permutation;
use nn::vision::LabelledImages;
use nn::{Error, Result};
use regex::Regex;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The lesson's label pattern for the Oxford-IIIT Pet file names.
pub const PETS_PATTERN: &str = r"([^/]+)_\d+.jpg$";

pub struct ImageFolder {
    /// Every labelled image, in path order, its classes sorted (Python's order: capitals
    /// first), split into training and validation.
    pub images: LabelledImages,
    /// Images whose path the pattern did not match: left out, and reported.
    pub unlabelled: Vec<PathBuf>,
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
}

/// Every JPEG or PNG under `dir`, each real file once: the walk follows symbolic links but
/// enters each real folder once (a link back up a tree would otherwise list its images again
/// and again), and a file reached by two paths (a link beside its target) is listed once,
/// under the first in sorted order.
/// Entries are visited in sorted order, so the result does not depend on the file system's.
fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let real = |p: &Path| std::fs::canonicalize(p).map_err(|e| Error::io(p, e));
    let mut folders_seen = HashSet::from([real(dir)?]);
    let mut files_seen = HashSet::new();
    let mut out = Vec::new();
    let mut to_visit = vec![dir.to_path_buf()];
    while let Some(dir) = to_visit.pop() {
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            entries.push(entry.map_err(|e| Error::io(&dir, e))?.path());
        }
        entries.sort();
        // Folders go on the stack last first, so the first is visited next.
        for path in entries.into_iter().rev() {
            if path.is_dir() {
                if folders_seen.insert(real(&path)?) {
                    to_visit.push(path);
                }
            } else if is_image(&path) {
                // A dangling link has no real path: it is listed, and fails when read.
                let key = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
                out.push((path, key));
            }
        }
    }
    // In sorted order, the first path of each real file.
    out.sort();
    Ok(out
        .into_iter()
        .filter(|(_, key)| files_seen.insert(key.clone()))
        .map(|(path, _)| path)
        .collect())
}

impl ImageFolder {
    /// Reads `dir` (recursively), labels with `pattern`, and holds out `valid_pct` of the
    /// labelled images, chosen by `seed`. Fewer than two classes, or no validation images,
    /// is an error naming the counts: training would end in a meaningless loss or an error
    /// rate measured on nothing.
    pub fn from_folder(
        dir: impl AsRef<Path>,
        pattern: &str,
        valid_pct: f64,
        seed: u64,
    ) -> Result<Self> {
        let dir = dir.as_ref();
        let bad_pattern = |source| Error::Pattern {
            pattern: pattern.to_string(),
            source,
        };
        let re = Regex::new(pattern).map_err(|e| bad_pattern(Some(e)))?;
        if re.captures_len() < 2 {
            return Err(bad_pattern(None));
        }
        // Nothing in `dir` to train on, and why.
        let unusable = |msg: String| Error::Folder {
            path: dir.to_path_buf(),
            msg,
        };
        let paths = walk(dir)?;
        if paths.is_empty() {
            return Err(unusable("no JPEG or PNG images".into()));
        }
        let mut labelled = Vec::new();
        let mut unlabelled = Vec::new();
        for p in paths {
            let text = p.to_string_lossy().replace('\\', "/");
            match re.captures(&text).and_then(|c| c.get(1)) {
                Some(m) => labelled.push((p.clone(), m.as_str().to_string())),
                None => unlabelled.push(p),
            }
        }
        if labelled.is_empty() {
            return Err(unusable(format!(
                "none of the {} images matches the label pattern `{pattern}` (e.g. {})",
                unlabelled.len(),
                unlabelled[0].display()
            )));
        }
        Self::split(dir, labelled, unlabelled, valid_pct, seed)
    }

    /// The images of `dir` labelled by the CSV file `labels` (a header `file,label`, then one
    /// row per image: its path relative to `dir` and its label, as the explore example's page
    /// downloads them); images not in it are left out, and split as [`Self::from_folder`]
    /// does. Each row's file must be a file under `dir`, named once, with a label.
    pub fn from_csv(
        dir: impl AsRef<Path>,
        labels: &Path,
        valid_pct: f64,
        seed: u64,
    ) -> Result<Self> {
        let dir = dir.as_ref();
        let (file, len) = nn::user_file::open(labels, u64::MAX).map_err(|source| Error::File {
            path: labels.to_path_buf(),
            source,
            read_as: Some("CSV"),
        })?;
        let mut reader = csv::Reader::from_reader(std::io::Read::take(file, len));
        let header = reader
            .headers()
            .map_err(|e| Error::csv(labels, format!("has no header: {e}")))?
            .clone();
        if header.iter().collect::<Vec<_>>() != ["file", "label"] {
            return Err(Error::csv(
                labels,
                "must start with the header `file,label`",
            ));
        }
        let mut seen = HashSet::new();
        let mut labelled = Vec::new();
        for row in reader.records() {
            let row = row.map_err(|e| {
                let line = e.position().map_or(0, |p| p.line());
                Error::csv_at(labels, line, None, None, e.to_string())
            })?;
            let line = row.position().map_or(0, |p| p.line());
            let (file, label) = (&row[0], row[1].trim());
            let at = |column, value: &str, msg: &str| {
                Error::csv_at(labels, line, Some(column), Some(value), msg)
            };
            let path = dir.join(file);
            let inside = Path::new(file)
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
            if !inside || !is_image(&path) || !path.is_file() {
                return Err(at(
                    "file",
                    file,
                    &format!("is not an image file under {}", dir.display()),
                ));
            }
            if label.is_empty() {
                return Err(at("label", label, "is empty: every row needs a label"));
            }
            if !seen.insert(file.to_string()) {
                return Err(at("file", file, "is named twice"));
            }
            labelled.push((path, label.to_string()));
        }
        if labelled.is_empty() {
            return Err(Error::csv(labels, "has no rows: no image is labelled"));
        }
        labelled.sort();
        Self::split(dir, labelled, Vec::new(), valid_pct, seed)
    }

    /// Classes (sorted), class indices, and the seeded split of `labelled`.
    fn split(
        dir: &Path,
        labelled: Vec<(PathBuf, String)>,
        unlabelled: Vec<PathBuf>,
        valid_pct: f64,
        seed: u64,
    ) -> Result<Self> {
        if !(0.0..1.0).contains(&valid_pct) {
            return Err(Error::Invalid(format!(
                "the validation share must be in [0, 1), not {valid_pct}"
            )));
        }
        let unusable = |msg: String| Error::Folder {
            path: dir.to_path_buf(),
            msg,
        };
        let mut classes: Vec<String> = labelled.iter().map(|(_, l)| l.clone()).collect();
        classes.sort();
        classes.dedup();
        let items: Vec<(PathBuf, usize)> = labelled
            .into_iter()
            .map(|(p, l)| {
                let c = classes.binary_search(&l).expect("every label is a class");
                (p, c)
            })
            .collect();
        let order = permutation(items.len(), seed, 0);
        let n_valid = (valid_pct * items.len() as f64) as usize;
        let mut valid: Vec<usize> = order[..n_valid].iter().map(|&i| i as usize).collect();
        let mut train: Vec<usize> = order[n_valid..].iter().map(|&i| i as usize).collect();
        valid.sort_unstable();
        train.sort_unstable();
        // (A share below 1 always leaves training images.)
        if classes.len() < 2 || valid.is_empty() {
            return Err(unusable(format!(
                "{} class(es), {} training and {} validation images (a validation share of \
                 {valid_pct} of {} labelled images): a classifier needs two classes at least and \
                 validation images",
                classes.len(),
                train.len(),
                valid.len(),
                items.len()
            )));
        }
        Ok(ImageFolder {
            images: LabelledImages {
                items,
                classes,
                train,
                valid,
            },
            unlabelled,
        })
    }
}
