//! Tabular preprocessing: `add_datepart` on dates whose answers are known (ISO weeks across a
//! year boundary, month, quarter and year ends, elapsed seconds), and the procs in fastai's
//! order on a small table: medians and `_na` columns, categories sorted numerically or as
//! text with `#na#` first, unseen values coded 0, normalisation with the sample std, a
//! missing value where training had none refused, and the state round-tripping as JSON.
use nn::tabular::{add_datepart, Column, Procs, Table};

fn cat(v: &[&str]) -> Column {
    Column::Cat(
        v.iter()
            .map(|s| {
                if s.is_empty() {
                    None
                } else {
                    Some(s.to_string())
                }
            })
            .collect(),
    )
}

#[test]
fn datepart_features() {
    let mut t = Table::new();
    t.set(
        "Date",
        cat(&[
            "2015-07-31",
            "2015-01-01",
            "2014-12-29",
            "2016-02-29",
            "2015-09-30",
        ]),
    )
    .unwrap();
    add_datepart(&mut t, "Date").unwrap();
    let col = |n: &str| t.num(n).unwrap().to_vec();
    assert_eq!(col("Year"), [2015.0, 2015.0, 2014.0, 2016.0, 2015.0]);
    assert_eq!(
        col("Week"),
        [31.0, 1.0, 1.0, 9.0, 40.0],
        "2014-12-29 is in ISO week 1 of 2015"
    );
    assert_eq!(col("Dayofweek"), [4.0, 3.0, 0.0, 0.0, 2.0], "Monday is 0");
    assert_eq!(col("Dayofyear"), [212.0, 1.0, 363.0, 60.0, 273.0]);
    assert_eq!(col("Is_month_end"), [1.0, 0.0, 0.0, 1.0, 1.0]);
    assert_eq!(col("Is_quarter_end"), [0.0, 0.0, 0.0, 0.0, 1.0]);
    assert_eq!(col("Is_year_start"), [0.0, 1.0, 0.0, 0.0, 0.0]);
    assert_eq!(col("Elapsed")[0], 1_438_300_800.0);
    let mut bad = Table::new();
    bad.set("SaleDate", cat(&["2015-13-01"])).unwrap();
    let err = add_datepart(&mut bad, "SaleDate").unwrap_err().to_string();
    assert!(err.contains("row 0") && err.contains("2015-13-01"), "{err}");
    let mut ok = Table::new();
    ok.set("SaleDate", cat(&["2015-03-01"])).unwrap();
    add_datepart(&mut ok, "SaleDate").unwrap();
    assert!(
        ok.num("SaleYear").is_ok(),
        "the prefix drops a trailing `Date`"
    );
}

fn train_table() -> Table {
    let mut t = Table::new();
    t.set("Store", cat(&["10", "2", "2", "1", ""])).unwrap();
    t.set("StoreType", cat(&["c", "a", "b", "a", "a"])).unwrap();
    t.set(
        "CompetitionDistance",
        Column::Num(vec![100.0, f64::NAN, 300.0, 500.0, 200.0]),
    )
    .unwrap();
    t.set("Temp", Column::Num(vec![1.0, 2.0, 3.0, 4.0, 5.0]))
        .unwrap();
    t
}

#[test]
fn procs_fit_and_apply_as_fastai() {
    let p = Procs::fit(
        &train_table(),
        &["Store", "StoreType"],
        &["CompetitionDistance", "Temp"],
    )
    .unwrap();
    assert_eq!(
        p.cat_names,
        ["Store", "StoreType", "CompetitionDistance_na"]
    );
    assert_eq!(
        p.fill,
        [("CompetitionDistance".to_string(), 250.0)],
        "median of 100, 200, 300, 500"
    );
    assert_eq!(
        p.classes[0].1,
        ["#na#", "1", "2", "10"],
        "numbers sort as numbers"
    );
    assert_eq!(p.classes[1].1, ["#na#", "a", "b", "c"]);
    assert_eq!(p.classes[2].1, ["#na#", "False", "True"]);
    assert_eq!(p.cardinalities(), [4, 4, 3]);
    let (mean, std) = (p.norm[1].1, p.norm[1].2);
    assert_eq!(mean, 3.0);
    assert!((std - 2.5f64.sqrt()).abs() < 1e-12, "sample std, ddof 1");

    let mut valid = Table::new();
    valid.set("Store", cat(&["2", "99"])).unwrap();
    valid.set("StoreType", cat(&["d", "c"])).unwrap();
    valid
        .set("CompetitionDistance", Column::Num(vec![f64::NAN, 250.0]))
        .unwrap();
    valid.set("Temp", Column::Num(vec![3.0, 5.0])).unwrap();
    let (codes, conts) = p.apply(&valid).unwrap();
    // Store 2 -> 2, unseen 99 -> 0; StoreType unseen d -> 0, c -> 3; the _na flag True -> 2.
    assert_eq!(codes.to_vec::<i64>().unwrap(), [2, 0, 2, 0, 3, 1]);
    let c = conts.to_vec::<f32>().unwrap();
    let cd = &p.norm[0];
    assert!(
        (c[0] as f64 - (250.0 - cd.1) / (1e-7 + cd.2)).abs() < 1e-6,
        "NaN filled with the training median"
    );
    assert!((c[3] as f64 - 2.0 / (1e-7 + std)).abs() < 1e-6);

    // A missing value where training had none is refused, naming the column.
    let mut broken = valid.clone();
    broken
        .set("Temp", Column::Num(vec![f64::NAN, 1.0]))
        .unwrap();
    let err = p.apply(&broken).unwrap_err().to_string();
    assert!(
        err.contains("`Temp`") && err.contains("had none in training"),
        "{err}"
    );
    // A missing column is an error naming it.
    let mut missing = Table::new();
    missing.set("Store", cat(&["1"])).unwrap();
    assert!(p
        .apply(&missing)
        .unwrap_err()
        .to_string()
        .contains("no column `CompetitionDistance`"));

    let path = std::env::temp_dir().join(format!("lesson6-procs-{}.json", std::process::id()));
    p.save(&path).unwrap();
    assert_eq!(Procs::load(&path).unwrap(), p);
    std::fs::write(&path, "{ not json").unwrap();
    assert!(Procs::load(&path)
        .unwrap_err()
        .to_string()
        .contains("not a procs file"));
    let _ = std::fs::remove_file(&path);
}

#[test]
fn columns_must_have_the_table_length() {
    let mut t = train_table();
    let err = t
        .set("Short", Column::Num(vec![1.0]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("`Short` has 1 rows, the table 5"), "{err}");
}

#[test]
fn embedding_sizes_by_rule_with_overrides() {
    let p = Procs::fit(
        &train_table(),
        &["Store", "StoreType"],
        &["CompetitionDistance"],
    )
    .unwrap();
    // Cardinalities 4, 4, 3 (with `#na#`): widths round(1.6 n^0.56) = 3, 3, 3.
    assert_eq!(p.emb_szs(&[]).unwrap(), [(4, 3), (4, 3), (3, 3)]);
    assert_eq!(
        p.emb_szs(&[("Store".to_string(), 50)]).unwrap(),
        [(4, 50), (4, 3), (3, 3)]
    );
    let err = p
        .emb_szs(&[("Stores".to_string(), 50)])
        .unwrap_err()
        .to_string();
    assert!(err.contains("no categorical column `Stores`"), "{err}");
}
