//! A labelled image folder, fastai's `ImageList.from_folder(path).split_by_rand_pct(0.2)
//! .label_from_re(pattern)`: every JPEG or PNG under a folder, labelled by the first group
//! of a regular expression searched in its path (the lesson's `([^/]+)_\d+.jpg$` takes the
//! breed from `great_pyrenees_173.jpg`), classes sorted, and a seeded random validation
//! split. (The split draws its permutation from Philox, not numpy's generator, so the same
//! seed picks other images than fastai's; the proportion is the same.)
use crate::learner::permutation;
use regex::Regex;
use std::path::{Path, PathBuf};

/// The lesson's label pattern for the Oxford-IIIT Pet file names.
pub const PETS_PATTERN: &str = r"([^/]+)_\d+.jpg$";

pub struct ImageFolder {
    /// (path, class index) of every labelled image, in path order.
    pub items: Vec<(PathBuf, usize)>,
    /// Class names, sorted (Python's order: capitals first).
    pub classes: Vec<String>,
    /// Indices into `items`.
    pub train: Vec<usize>,
    pub valid: Vec<usize>,
    /// Images whose path the pattern did not match: left out, and reported.
    pub unlabelled: Vec<PathBuf>,
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if is_image(&path) {
            out.push(path);
        }
    }
    Ok(())
}

impl ImageFolder {
    /// Reads `dir` (recursively), labels with `pattern`, and holds out `valid_pct` of the
    /// labelled images, chosen by `seed`.
    pub fn from_folder(
        dir: impl AsRef<Path>,
        pattern: &str,
        valid_pct: f64,
        seed: u64,
    ) -> Result<Self, String> {
        let dir = dir.as_ref();
        let re = Regex::new(pattern).map_err(|e| format!("label pattern `{pattern}`: {e}"))?;
        if re.captures_len() < 2 {
            return Err(format!(
                "label pattern `{pattern}` has no group to take the label from"
            ));
        }
        if !(0.0..1.0).contains(&valid_pct) {
            return Err(format!(
                "the validation share must be in [0, 1), not {valid_pct}"
            ));
        }
        let mut paths = Vec::new();
        walk(dir, &mut paths)?;
        paths.sort();
        if paths.is_empty() {
            return Err(format!("{}: no JPEG or PNG images", dir.display()));
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
            return Err(format!(
                "{}: none of the {} images matches the label pattern `{pattern}` (e.g. {})",
                dir.display(),
                unlabelled.len(),
                unlabelled[0].display()
            ));
        }
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
        Ok(ImageFolder {
            items,
            classes,
            train,
            valid,
            unlabelled,
        })
    }
}
