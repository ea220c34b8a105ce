//! A run's output folder is one unit (`nn::run_dir`): a committed run replaces the previous
//! one whole, a failed one leaves it untouched, a folder that is not a run's is never
//! replaced, and what a dead run left beside `--out` is finished or cleaned by the next.
use nn::run_dir::{RunDir, MARKER};
use std::fs;
use std::path::{Path, PathBuf};

/// A fresh folder for one test, under the system's temporary folder.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lesson6-run-dir-{}-{test}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// A finished run's folder at `dir` holding `file`.
fn a_run(dir: &Path, file: &str) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(MARKER), "test\n").unwrap();
    fs::write(dir.join(file), file).unwrap();
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The id of a process that has ended.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn a_committed_run_replaces_the_old_one_whole() {
    let root = scratch("commit");
    let out = root.join("x");
    a_run(&out, "old.txt");
    let run = RunDir::open(&out, "test").unwrap();
    fs::write(run.join("new.txt"), "new").unwrap();
    assert_eq!(
        names(&out),
        [MARKER, "old.txt"],
        "untouched until the commit"
    );
    run.commit().unwrap();
    assert_eq!(names(&out), [MARKER, "new.txt"]);
    assert_eq!(names(&root), ["x"], "no staging or old folder left");
    fs::remove_dir_all(root).unwrap();
}

#[test]
fn a_failed_run_leaves_the_old_one_and_no_staging() {
    let root = scratch("failed");
    let out = root.join("x");
    a_run(&out, "old.txt");
    let run = RunDir::open(&out, "test").unwrap();
    fs::write(run.join("metrics.json"), "{}").unwrap();
    assert_eq!(names(&root).len(), 2, "the staging folder beside x");
    drop(run);
    assert_eq!(names(&out), [MARKER, "old.txt"]);
    assert_eq!(names(&root), ["x"]);
    fs::remove_dir_all(root).unwrap();
}

#[test]
fn a_folder_that_is_not_a_run_is_refused_and_a_new_one_is_made() {
    let root = scratch("foreign");
    let mine = root.join("mine");
    fs::create_dir_all(&mine).unwrap();
    fs::write(mine.join("thesis.tex"), "...").unwrap();
    let err = RunDir::open(&mine, "test").unwrap_err().to_string();
    assert!(err.contains("not a run's output"), "{err}");
    assert_eq!(names(&mine), ["thesis.tex"]);
    assert_eq!(names(&root), ["mine"]);
    // A file is not a folder; a missing folder (and its parents) is fine.
    fs::write(root.join("file"), "").unwrap();
    assert!(RunDir::open(&root.join("file"), "test")
        .unwrap_err()
        .to_string()
        .contains("not a folder"));
    let err = RunDir::open(&root.join("file/sub"), "test")
        .unwrap_err()
        .to_string();
    assert!(err.contains("a file is in the way"), "{err}");
    let run = RunDir::open(&root.join("a/b/new"), "test").unwrap();
    run.commit().unwrap();
    assert_eq!(names(&root.join("a/b/new")), [MARKER]);
    fs::remove_dir_all(root).unwrap();
}

#[test]
fn what_dead_runs_left_is_finished_or_cleaned() {
    let root = scratch("recover");
    let pid = dead_pid();
    let stage = |name: &str, kind: &str| root.join(format!(".{name}.{kind}-{pid}"));
    // Killed while training: the staging folder alone is deleted.
    a_run(&root.join("a"), "old.txt");
    a_run(&stage("a", "new"), "half.txt");
    // Killed between the commit's renames: the complete new folder is moved in.
    a_run(&stage("b", "old"), "old.txt");
    a_run(&stage("b", "new"), "new.txt");
    // Killed before deleting the old folder: it goes.
    a_run(&root.join("c"), "new.txt");
    a_run(&stage("c", "old"), "old.txt");
    // The old folder was moved aside and the new one is missing: the old one comes back.
    a_run(&stage("d", "old"), "old.txt");
    // Temporary files of a dead writer go; a live one's (this process) stay.
    fs::write(root.join("c/model.tmp-".to_string() + &pid.to_string()), "").unwrap();
    let live = format!("model.tmp-{}", std::process::id());
    fs::write(root.join("c").join(&live), "").unwrap();
    for name in ["a", "b", "c", "d"] {
        drop(RunDir::open(&root.join(name), "test").unwrap());
    }
    assert_eq!(names(&root), ["a", "b", "c", "d"]);
    assert_eq!(names(&root.join("a")), [MARKER, "old.txt"]);
    assert_eq!(names(&root.join("b")), [MARKER, "new.txt"]);
    assert_eq!(names(&root.join("c")), [MARKER, &live, "new.txt"]);
    assert_eq!(names(&root.join("d")), [MARKER, "old.txt"]);
    fs::remove_dir_all(root).unwrap();
}
