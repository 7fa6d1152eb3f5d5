//! docs/PARAMS.md's parameter rows, generated from the table in `params.rs` (the doc must not drift
//! from the code). The test prints the rows when the doc differs: paste them between the markers.

use ofx_bindings::{ParamDef, StringMode};

use super::params::{Page, DEFINITIONS, SPECS};

pub const BEGIN: &str = "<!-- BEGIN parameter rows: generated from plugin/src/ofx/params.rs (cargo test -p corridorkey --lib params_md) -->";
pub const END: &str = "<!-- END parameter rows -->";

fn ticked(options: &[&str]) -> String {
    let list: Vec<String> = options.iter().map(|o| format!("`{o}`")).collect();
    list.join(", ")
}

fn joined(first: String, doc: &str) -> String {
    match (first.is_empty(), doc.is_empty()) {
        (_, true) => first,
        (true, false) => doc.to_owned(),
        (false, false) => format!("{first}: {doc}"),
    }
}

/// One table row: name, type, default, range (display), choices / notes.
fn row(def: &ParamDef<'_>, doc: &str) -> String {
    let (kind, default, range, first) = match *def {
        ParamDef::Double {
            default,
            min,
            max,
            display_min,
            display_max,
            ..
        } => (
            "double".to_owned(),
            format!("{default:?}"),
            format!("{min}..{max} ({display_min}..{display_max})"),
            String::new(),
        ),
        ParamDef::Int {
            default,
            min,
            max,
            display_min,
            display_max,
            ..
        } => (
            "int".to_owned(),
            default.to_string(),
            format!("{min}..{max} ({display_min}..{display_max})"),
            String::new(),
        ),
        ParamDef::Bool { default, .. } => (
            "bool".to_owned(),
            default.to_string(),
            String::new(),
            String::new(),
        ),
        ParamDef::Choice {
            options, default, ..
        } => (
            "choice".to_owned(),
            default.to_string(),
            String::new(),
            ticked(options),
        ),
        ParamDef::String {
            default,
            mode,
            enabled,
            ..
        } => {
            let kind = match (mode, enabled) {
                (_, false) => "string, read-only (disabled)",
                (StringMode::DirectoryPath, true) => "string (directory path)",
                _ => "string",
            };
            (
                kind.to_owned(),
                format!("{default:?}"),
                String::new(),
                String::new(),
            )
        }
        _ => unreachable!("value rows only"),
    };
    let notes = joined(first, doc);
    format!(
        "| `{}` | {kind} | {default} | {range} | {notes} |",
        def.name()
    )
}

/// The rows between [`BEGIN`] and [`END`], in definition order.
pub fn rows() -> String {
    let mut out = vec![
        "| name | type | default | range (display) | choices / notes |".to_owned(),
        "|---|---|---|---|---|".to_owned(),
    ];
    let mut page = Page::Key;
    for (spec, def) in SPECS.iter().zip(DEFINITIONS) {
        if spec.page != page {
            page = spec.page;
            let after = spec
                .after
                .map(|a| format!(" (shown after `{a}`)"))
                .unwrap_or_default();
            out.push(format!("| page `{}`{after} | | | | |", page.name()));
        }
        match def {
            ParamDef::Group { common, .. } => out.push(format!(
                "| group `{}` \"{}\" | | | | |",
                common.name, common.label
            )),
            _ => out.push(row(def, spec.doc)),
        }
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_md_rows_match_the_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/PARAMS.md");
        let doc = std::fs::read_to_string(path).expect("docs/PARAMS.md");
        let start = doc.find(BEGIN).expect("PARAMS.md has the BEGIN marker") + BEGIN.len();
        let end = doc.find(END).expect("PARAMS.md has the END marker");
        let expected = rows();
        assert_eq!(
            doc[start..end].trim(),
            expected,
            "docs/PARAMS.md's parameter rows differ from params.rs; the rows are:\n{expected}\n"
        );
    }
}
