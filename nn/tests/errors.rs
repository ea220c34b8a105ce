//! `nn::Error` carries what went wrong as data, not only as text: a caller can match on the
//! variant and read the file, line, column, value, column name or image format, and
//! `source()` leads to the error underneath (the system's, the JSON parser's, a tensor op's).
use nn::tabular::{read_csv, Column, Procs, Schema, Table};
use nn::user_file::FileError;
use nn::vision::decode_image;
use nn::Error;
use std::error::Error as _;

/// A file of the temporary folder, named for this process.
fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("lesson6-errors-{}-{name}", std::process::id()))
}

#[test]
fn a_bad_csv_field_is_a_csv_error_with_its_line_column_and_value() {
    let p = temp("bad.csv");
    std::fs::write(&p, "Store,Sales\n1,100\n2,12x\n").unwrap();
    let schema = Schema {
        numbers: &["Sales"],
        ..Schema::default()
    };
    let err = read_csv(&p, &schema).unwrap_err();
    let _ = std::fs::remove_file(&p);
    match &err {
        Error::Csv {
            path,
            line,
            column,
            value,
            msg,
        } => {
            assert_eq!(path, &p);
            assert_eq!(*line, Some(3));
            assert_eq!(column.as_deref(), Some("Sales"));
            assert_eq!(value.as_deref(), Some("12x"));
            assert_eq!(msg, "is not a number");
        }
        other => panic!("not a CSV error: {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!(
            "{}, line 3, column `Sales`: `12x` is not a number",
            p.display()
        )
    );
}

#[test]
fn a_missing_file_is_a_file_error_whose_source_is_the_systems() {
    let p = temp("no-such.csv");
    let err = read_csv(&p, &Schema::default()).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::File { path, source: FileError::Io(_), read_as: Some("CSV") } if path == &p
        ),
        "{err:?}"
    );
    assert!(err.source().is_some_and(|s| s.is::<FileError>()), "{err:?}");
    assert!(
        err.to_string().ends_with(": refusing to read it as CSV"),
        "{err}"
    );
}

#[test]
fn table_errors_name_the_column_and_its_kind() {
    let mut t = Table::new();
    t.set("Store", Column::Num(vec![1.0, 2.0])).unwrap();
    assert!(matches!(
        t.num("Sales"),
        Err(Error::MissingColumn { name }) if name == "Sales"
    ));
    assert!(matches!(
        t.cat("Store"),
        Err(Error::ColumnKind { name, is: "numeric", expected: "categorical" }) if name == "Store"
    ));
    assert!(matches!(
        t.set("Short", Column::Num(vec![1.0])),
        Err(Error::ColumnLength { name, rows: 1, table_rows: 2 }) if name == "Short"
    ));
}

#[test]
fn an_image_error_names_the_format_it_was_read_as() {
    let png_signature = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n'];
    let err = decode_image(&png_signature, "cut.png").unwrap_err();
    assert!(
        matches!(&err, Error::Image { name, format: Some("PNG"), .. } if name == "cut.png"),
        "{err:?}"
    );
    let err = decode_image(b"not an image", "text.png").unwrap_err();
    assert!(matches!(&err, Error::Image { format: None, .. }), "{err:?}");
}

#[test]
fn a_file_that_is_not_json_is_a_json_error_with_the_parsers_source() {
    let p = temp("procs.json");
    std::fs::write(&p, "{ not json").unwrap();
    let err = Procs::load(&p).unwrap_err();
    let _ = std::fs::remove_file(&p);
    assert!(
        matches!(
            &err,
            Error::Json {
                expected: Some("procs file"),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.source().is_some_and(|s| s.is::<serde_json::Error>()));
}

#[test]
fn a_tensor_error_converts_up_and_displays_as_it_is() {
    /// A tensor op's error, raised through `?` in a function of `nn::Result`.
    fn reshape_wrong() -> nn::Result<()> {
        tensor::Tensor::zeros(&[2, 3]).reshape(&[4])?;
        Ok(())
    }
    let err = reshape_wrong().unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Tensor(tensor::Error::ElementCount { op: "reshape", shape, elements: 6 })
                if shape == &[4]
        ),
        "{err:?}"
    );
    // A wrapper that adds nothing shows the error it wraps, and passes on its source (none).
    assert_eq!(
        err.to_string(),
        "reshape: 6 elements cannot fill shape [4] (4 elements)"
    );
    assert!(err.source().is_none());
}
