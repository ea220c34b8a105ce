//! Reading Kaggle-format CSV: quoted fields with commas, empty fields, `StateHoliday` given as
//! 0 and "0", and the errors a user meets (missing file, empty file, missing column, a bad
//! number, a short line) naming file, line, column and value.
use nn::tabular::{read_csv, Column};

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
    let t = read_csv(&p, &["Store", "CompetitionDistance"], &["Store"]).unwrap();
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
    let err = read_csv(&bad, &["Store", "Sales"], &[]).unwrap_err();
    assert!(
        err.contains("bad.csv")
            && err.contains("line 3")
            && err.contains("`Sales`")
            && err.contains("`12x`"),
        "{err}"
    );
    let short = write("short.csv", "Store,Sales\n1\n");
    let err = read_csv(&short, &["Store"], &[]).unwrap_err();
    assert!(err.contains("line 2"), "{err}");
    let missing_col = write("nocol.csv", "Store\n1\n");
    let err = read_csv(&missing_col, &[], &["Sales"]).unwrap_err();
    assert!(err.contains("missing required column `Sales`"), "{err}");
    let empty = write("empty.csv", "");
    assert!(read_csv(&empty, &[], &[]).unwrap_err().contains("empty"));
    let err = read_csv(std::env::temp_dir().join("no-such-lesson6.csv"), &[], &[]).unwrap_err();
    assert!(err.contains("no-such-lesson6.csv"), "{err}");
    for p in [bad, short, missing_col, empty] {
        let _ = std::fs::remove_file(p);
    }
}
