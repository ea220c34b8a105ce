//! Reading Kaggle-format CSV: quoted fields with commas, empty fields, `StateHoliday` given as
//! 0 and "0", and the errors a user meets (missing file, empty file, missing column, a bad
//! number, a short line, a number that is not finite or beyond f32, a fractional id, a column
//! named twice, a file that is not a regular one) naming file, line, column and value.
use nn::tabular::{read_csv, Column, Schema};
use std::error::Error as _;

fn write(name: &str, text: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("lesson6-csv-{}-{name}", std::process::id()));
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn reads_quoted_and_empty_fields() {
    let p = write(
        "store.csv",
        "Store,StoreType,CompetitionDistance,PromoInterval,StateHoliday\n1,c,1270,,0\n2,a,,\"Jan,Apr,Jul,Oct\",\"0\"\n",
    );
    let schema = Schema {
        numbers: &["CompetitionDistance"],
        whole: &["Store"],
        required: &["Store"],
    };
    let t = read_csv(&p, &schema).unwrap();
    assert_eq!(t.rows(), 2);
    assert_eq!(t.num("Store").unwrap(), [1.0, 2.0]);
    let cd = t.num("CompetitionDistance").unwrap();
    assert!(cd[0] == 1270.0 && cd[1].is_nan());
    assert_eq!(
        t.get("PromoInterval"),
        Some(&Column::Cat(vec![None, Some("Jan,Apr,Jul,Oct".into())]))
    );
    assert_eq!(
        t.cat("StateHoliday").unwrap(),
        [Some("0".to_string()), Some("0".to_string())]
    );
    let _ = std::fs::remove_file(p);
}

#[test]
fn errors_name_file_line_column_and_value() {
    let bad = write("bad.csv", "Store,Sales\n1,5263\n2,12x\n");
    let numbers = |numbers| Schema {
        numbers,
        ..Schema::default()
    };
    let err = read_csv(&bad, &numbers(&["Store", "Sales"]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bad.csv")
            && err.contains("line 3")
            && err.contains("`Sales`")
            && err.contains("`12x`"),
        "{err}"
    );
    let short = write("short.csv", "Store,Sales\n1\n");
    let err = read_csv(&short, &numbers(&["Store"]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 2"), "{err}");
    let missing_col = write("nocol.csv", "Store\n1\n");
    let required = Schema {
        required: &["Sales"],
        ..Schema::default()
    };
    let err = read_csv(&missing_col, &required).unwrap_err().to_string();
    assert!(err.contains("missing required column `Sales`"), "{err}");
    let empty = write("empty.csv", "");
    let any = Schema::default();
    assert!(read_csv(&empty, &any)
        .unwrap_err()
        .to_string()
        .contains("empty"));
    let err = read_csv(std::env::temp_dir().join("no-such-lesson6.csv"), &any)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no-such-lesson6.csv"), "{err}");
    for p in [bad, short, missing_col, empty] {
        let _ = std::fs::remove_file(p);
    }
}

/// The error for a file whose only row is `store,value` (store a whole number, value a
/// number) with `value` as given.
fn refusal(name: &str, value: &str) -> String {
    let p = write(name, &format!("Store,Sales\n1,100\n2,{value}\n"));
    let schema = Schema {
        numbers: &["Sales"],
        whole: &["Store"],
        required: &[],
    };
    let err = read_csv(&p, &schema).expect_err(value);
    let _ = std::fs::remove_file(p);
    err.to_string()
}

#[test]
fn numbers_must_be_finite_and_within_f32() {
    // A literal NaN is no number, not an empty field; inf and 1e400 (inf once parsed) are
    // not finite; 1e300 and 3.5e38 would be infinite in the model's f32.
    for v in ["NaN", "nan", "inf", "-inf", "Infinity", "1e400"] {
        let err = refusal("finite.csv", v);
        assert!(
            err.contains("finite.csv, line 3, column `Sales`")
                && err.contains(&format!("`{v}` is not a finite number")),
            "{err}"
        );
    }
    for v in ["1e300", "-3.5e38"] {
        let err = refusal("f32.csv", v);
        assert!(
            err.contains(&format!(
                "line 3, column `Sales`: `{v}` is beyond f32's range"
            )),
            "{err}"
        );
    }
    // The largest f32 (as printed, which rounds to it) is a number.
    let p = write("max.csv", "Sales\n3.4028235e38\n-1e-300\n");
    let t = read_csv(
        &p,
        &Schema {
            numbers: &["Sales"],
            ..Schema::default()
        },
    )
    .unwrap();
    assert_eq!(t.num("Sales").unwrap(), [3.4028235e38, -1e-300]);
    let _ = std::fs::remove_file(p);
}

#[test]
fn whole_number_columns_refuse_fractions() {
    let p = write("whole.csv", "Store,Sales\n1.7,100\n");
    let schema = Schema {
        numbers: &["Sales"],
        whole: &["Store"],
        required: &[],
    };
    let err = read_csv(&p, &schema).unwrap_err().to_string();
    assert!(
        err.contains("whole.csv, line 2, column `Store`: `1.7` is not a whole number"),
        "{err}"
    );
    // Whole numbers from 2^53 on are not all exact in f64 (2^53 + 1 reads as 2^53).
    std::fs::write(&p, "Store,Sales\n9007199254740993,100\n").unwrap();
    let err = read_csv(&p, &schema).unwrap_err().to_string();
    assert!(
        err.contains("`9007199254740993` is too large: whole numbers must be below 2^53"),
        "{err}"
    );
    // A whole number may be written with a point, and a number column may hold fractions.
    std::fs::write(&p, "Store,Sales\n2.0,100.5\n").unwrap();
    let t = read_csv(&p, &schema).unwrap();
    assert_eq!(t.num("Store").unwrap(), [2.0]);
    assert_eq!(t.num("Sales").unwrap(), [100.5]);
    let _ = std::fs::remove_file(p);
}

#[test]
fn a_column_named_twice_is_an_error() {
    let p = write("twice.csv", "Store,Sales,Customers, Sales\n1,100,10,999\n");
    let err = read_csv(&p, &Schema::default()).unwrap_err().to_string();
    assert!(
        err.contains("twice.csv: column `Sales` appears twice in the header (columns 2 and 4)"),
        "{err}"
    );
    let _ = std::fs::remove_file(p);
}

#[test]
fn only_regular_files_are_read() {
    let fifo = std::env::temp_dir().join(format!("lesson6-csv-{}-fifo.csv", std::process::id()));
    let _ = std::fs::remove_file(&fifo);
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    // Reading a FIFO with no writer would block forever: it must be refused unopened.
    for p in [
        fifo.as_path(),
        "/dev/zero".as_ref(),
        std::env::temp_dir().as_path(),
    ] {
        let err = read_csv(p, &Schema::default()).unwrap_err();
        // The reason is the error's source, the next line of a printed chain.
        let why = err.source().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            err.to_string().starts_with(&format!("{}: ", p.display()))
                && why.starts_with("not a regular file"),
            "{err}: {why}"
        );
    }
    let _ = std::fs::remove_file(fifo);
}
