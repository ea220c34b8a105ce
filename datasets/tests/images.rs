//! The image data sets: a labelled folder (labels from the pets pattern, sorted classes, a
//! seeded split, bad patterns and empty folders, and the hostile cases a review found: a
//! symlink loop, one class, no validation images), and the embedded shapes, reproducible and
//! labelled.
use datasets::image_folder::{ImageFolder, PETS_PATTERN};
use datasets::shapes::{draw_shape, write_shapes, SHAPES};
use nn::vision::save_png;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use tensor::random::Philox;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lesson6-folder-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes a small noise PNG under each name in `dir` (PNG bytes under a .jpg name: decoding
/// guesses the format from the content).
fn write_pngs(dir: &Path, names: &[&str]) {
    let img = Philox::new(1, 0).uniform(&[3, 6, 5], 0.0, 1.0).unwrap();
    for n in names {
        save_png(&img, dir.join(n)).unwrap();
    }
}

#[test]
fn a_labelled_folder_and_its_bad_names() {
    let dir = tmp("folder");
    write_pngs(
        &dir,
        &[
            "Abyssinian_1.jpg",
            "Abyssinian_2.jpg",
            "great_pyrenees_17.jpg",
            "great_pyrenees_3.jpg",
            "Bombay_10.jpg",
            "notes.png",
            "pug.jpg",
        ],
    );
    std::fs::write(dir.join("readme.txt"), "not an image").unwrap();
    let f = ImageFolder::from_folder(&dir, PETS_PATTERN, 0.4, 2).unwrap();
    let images = &f.images;
    assert_eq!(
        images.classes,
        ["Abyssinian", "Bombay", "great_pyrenees"],
        "sorted, capitals first"
    );
    assert_eq!(images.items.len(), 5);
    assert_eq!(f.unlabelled.len(), 2, "notes.png and pug.jpg do not match");
    assert_eq!(images.valid.len(), 2);
    assert_eq!(images.train.len() + images.valid.len(), 5);
    assert_eq!(
        images.valid,
        ImageFolder::from_folder(&dir, PETS_PATTERN, 0.4, 2)
            .unwrap()
            .images
            .valid,
        "seeded"
    );

    let err = |dir: &Path, pattern: &str| {
        ImageFolder::from_folder(dir, pattern, 0.2, 0)
            .err()
            .unwrap()
            .to_string()
    };
    let e = err(&dir, r"(\d+)_x.jpg$");
    assert!(e.contains("none of the 7 images matches"), "{e}");
    let e = err(&dir, r"[a-z]+");
    assert!(e.contains("no group"), "{e}");
    let e = err(&tmp("empty"), PETS_PATTERN);
    assert!(e.contains("no JPEG or PNG images"), "{e}");
}

const TWELVE: [&str; 12] = [
    "cat_1.jpg",
    "cat_2.jpg",
    "cat_3.jpg",
    "cat_4.jpg",
    "cat_5.jpg",
    "cat_6.jpg",
    "dog_1.jpg",
    "dog_2.jpg",
    "dog_3.jpg",
    "dog_4.jpg",
    "dog_5.jpg",
    "dog_6.jpg",
];

#[test]
fn a_symlink_loop_lists_each_real_file_once() {
    use std::os::unix::fs::symlink;
    let dir = tmp("loop");
    write_pngs(&dir, &TWELVE);
    // A link back to the root from a subfolder (followed until the system's limit of 40
    // links in a path, it made 492 images of 12), and a file's twin.
    std::fs::create_dir(dir.join("sub")).unwrap();
    symlink(&dir, dir.join("sub").join("loop")).unwrap();
    symlink(dir.join("cat_1.jpg"), dir.join("cat_7.jpg")).unwrap();
    let f = ImageFolder::from_folder(&dir, PETS_PATTERN, 0.25, 0)
        .unwrap()
        .images;
    let names: Vec<_> = f.items.iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(names, TWELVE.map(|n| dir.join(n)), "each real file once");
    let real = |set: &[usize]| -> HashSet<PathBuf> {
        set.iter()
            .map(|&i| std::fs::canonicalize(&f.items[i].0).unwrap())
            .collect()
    };
    assert!(real(&f.train).is_disjoint(&real(&f.valid)));
}

#[test]
fn one_class_or_no_validation_images_is_an_error_naming_the_counts() {
    let dir = tmp("one-class");
    write_pngs(&dir, &TWELVE[..6]);
    let err = ImageFolder::from_folder(&dir, PETS_PATTERN, 0.2, 0)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("1 class(es), 5 training and 1 validation images"),
        "{err}"
    );
    let dir = tmp("no-valid");
    write_pngs(&dir, &TWELVE);
    // 12 images at 5%: 0.6 of an image held out, so none.
    let err = ImageFolder::from_folder(&dir, PETS_PATTERN, 0.05, 0)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("2 class(es), 12 training and 0 validation images"),
        "{err}"
    );
}

/// The embedded image set: reproducible from its seed, in [0, 1], of the stated sizes, labelled
/// by the pets pattern into its six classes.
#[test]
fn the_embedded_shapes_are_reproducible_and_labelled() {
    for k in 0..SHAPES.len() {
        let a = draw_shape(k, 3, 5);
        assert_eq!(
            a.to_vec::<f32>().unwrap(),
            draw_shape(k, 3, 5).to_vec::<f32>().unwrap()
        );
        assert_ne!(
            a.to_vec::<f32>().unwrap(),
            draw_shape(k, 3, 6).to_vec::<f32>().unwrap()
        );
        let s = a.shape();
        assert!(
            s[0] == 3 && (64..=96).contains(&s[1]) && (64..=96).contains(&s[2]),
            "{s:?}"
        );
        assert!(a
            .to_vec::<f32>()
            .unwrap()
            .iter()
            .all(|v| (0.0..=1.0).contains(v)));
    }
    let dir = tmp("shapes");
    assert_eq!(write_shapes(&dir, 3, 1).unwrap(), 18);
    let f = ImageFolder::from_folder(&dir, PETS_PATTERN, 0.2, 1).unwrap();
    let mut sorted = SHAPES.map(String::from).to_vec();
    sorted.sort();
    assert_eq!(f.images.classes, sorted);
    assert!(f.unlabelled.is_empty() && f.images.items.len() == 18);
}

#[test]
fn labels_from_a_csv_as_the_explorer_writes_them() {
    let dir = tmp("csv");
    std::fs::create_dir(dir.join("sub")).unwrap();
    write_pngs(
        &dir,
        &["a_1.jpg", "b_2.jpg", "c_3.jpg", "sub/d.png", "e.jpg"],
    );
    let labels = dir.join("labels.csv");
    let write = |text: &str| std::fs::write(&labels, text).unwrap();
    write("file,label\na_1.jpg,round\nsub/d.png,round\nc_3.jpg,\"pointy, sharp\"\nb_2.jpg,round\n");
    let f = ImageFolder::from_csv(&dir, &labels, 0.25, 0).unwrap();
    let images = &f.images;
    assert_eq!(images.classes, ["pointy, sharp", "round"]);
    // The labelled files only (e.jpg is left out), sorted by path, with their classes.
    let items: Vec<(String, usize)> = images
        .items
        .iter()
        .map(|(p, c)| (p.strip_prefix(&dir).unwrap().display().to_string(), *c))
        .collect();
    assert_eq!(
        items,
        [
            ("a_1.jpg".into(), 1),
            ("b_2.jpg".into(), 1),
            ("c_3.jpg".into(), 0),
            ("sub/d.png".into(), 1)
        ]
    );
    assert_eq!((images.train.len(), images.valid.len()), (3, 1));

    // What a CSV can get wrong: each error names the file, the line and the value.
    for (text, words) in [
        (
            "name,label\na_1.jpg,x\n",
            vec!["labels.csv", "header `file,label`"],
        ),
        (
            "file,label\na_1.jpg,x\nzzz.jpg,y\n",
            vec!["line 3", "`zzz.jpg`", "not an image file"],
        ),
        (
            "file,label\n../csv/a_1.jpg,x\nb_2.jpg,y\n",
            vec!["line 2", "`../csv/a_1.jpg`"],
        ),
        (
            "file,label\nlabels.csv,x\nb_2.jpg,y\n",
            vec!["line 2", "not an image file"],
        ),
        (
            "file,label\na_1.jpg,x\nb_2.jpg,  \n",
            vec!["line 3", "column `label`", "empty"],
        ),
        (
            "file,label\na_1.jpg,x\na_1.jpg,y\n",
            vec!["line 3", "named twice"],
        ),
        ("file,label\n", vec!["no rows"]),
        ("file,label\na_1.jpg,x,extra\n", vec!["labels.csv"]),
    ] {
        write(text);
        let err = match ImageFolder::from_csv(&dir, &labels, 0.25, 0) {
            Ok(_) => panic!("{text:?} was accepted"),
            Err(e) => e.to_string(),
        };
        for w in words {
            assert!(err.contains(w), "{text:?}: no `{w}` in: {err}");
        }
    }
    let missing = dir.join("missing.csv");
    match ImageFolder::from_csv(&dir, &missing, 0.25, 0) {
        Ok(_) => panic!("a missing CSV was accepted"),
        Err(e) => assert!(e.to_string().contains("missing.csv"), "{e}"),
    }
}
