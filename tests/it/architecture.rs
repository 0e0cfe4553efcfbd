//! Dependencies point down (STYLE.md habit 14, issue 13): the domain modules
//! take a connection, the plant snapshot and config values, never the
//! application state or the web framework, and their types derive no
//! poem-openapi traits (the JSON views live in `src/http`). This test reads
//! their sources and fails on any upward reference, naming file and line.

use std::path::{Path, PathBuf};

/// The domain modules' source folders, relative to the workspace root.
const DOMAIN: &[&str] = &[
    "src/query",
    "src/kpi",
    "src/rollup",
    "src/detections",
    "src/dashboard",
    "src/reasons",
    "src/live",
    "src/notify",
    "crates/camet-analytics/src",
];

/// Domain folders held to every rule but one: their types may still derive
/// poem-openapi's traits. The plant module's request bodies (`inputs.rs`) and
/// partition listings are the API's schemas themselves; giving them views in
/// `src/http` is left for later. The application state and the web layer's
/// modules stay out of them like everywhere else.
const DOMAIN_WITH_API_SCHEMAS: &[&str] = &["src/plant"];

/// Text that only an upward dependency writes.
const FORBIDDEN: &[&str] = &[
    "crate::http",
    "crate::app",
    "AppState",
    "SharedState",
    "poem::",
    "poem_openapi",
];

/// Modules of `crate::{…}` groups that are above the domain.
const FORBIDDEN_IN_GROUP: &[&str] = &["app", "http"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// The code of a line without its `//` comment: prose may name what the
/// module must not use.
fn code_of(line: &str) -> &str {
    line.find("//").map_or(line, |at| &line[..at])
}

/// Each upward reference in `source` as `name:line: what`.
fn violations(name: &str, source: &str) -> Vec<String> {
    let mut found = Vec::new();
    let lines: Vec<&str> = source.lines().map(code_of).collect();
    for (i, code) in lines.iter().enumerate() {
        for needle in FORBIDDEN {
            if code.contains(needle) {
                found.push(format!("{name}:{}: `{needle}` in `{}`", i + 1, code.trim()));
            }
        }
    }
    // `use crate::{app::AppState, http::x}` names the module only inside the
    // group, which may span lines: read each group's top-level entries.
    let code = lines.join("\n");
    let mut from = 0;
    while let Some(at) = code[from..].find("crate::{") {
        let open = from + at + "crate::".len();
        let (mut depth, mut entry_start, mut end) = (0usize, open + 1, code.len());
        let mut entries = Vec::new();
        for (offset, c) in code[open..].char_indices() {
            let here = open + offset;
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        entries.push(entry_start..here);
                        end = here;
                        break;
                    }
                }
                ',' if depth == 1 => {
                    entries.push(entry_start..here);
                    entry_start = here + 1;
                }
                _ => {}
            }
        }
        for range in entries {
            let entry = code[range.clone()].trim_start();
            let head = entry
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next()
                .unwrap_or("");
            if FORBIDDEN_IN_GROUP.contains(&head) {
                let line = code[..range.start + (code[range.clone()].len() - entry.len())]
                    .lines()
                    .count()
                    .max(1);
                found.push(format!("{name}:{line}: `crate::{{{head}…}}` in a use group"));
            }
        }
        from = end;
    }
    found
}

#[test]
fn domain_modules_do_not_depend_on_the_web_layer_or_the_app_state() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in DOMAIN {
        rust_files(&root.join(dir), &mut files);
    }
    files.sort();
    assert!(files.len() >= 20, "the domain folders moved? found only {files:?}");
    let mut with_schemas = Vec::new();
    for dir in DOMAIN_WITH_API_SCHEMAS {
        rust_files(&root.join(dir), &mut with_schemas);
    }
    assert!(
        with_schemas.len() >= 5,
        "the plant folder moved? found only {with_schemas:?}"
    );
    let mut found = Vec::new();
    for path in &files {
        let source = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let name = path.strip_prefix(root).unwrap_or(path).display().to_string();
        found.extend(violations(&name, &source));
    }
    for path in &with_schemas {
        let source = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let name = path.strip_prefix(root).unwrap_or(path).display().to_string();
        found.extend(
            violations(&name, &source)
                .into_iter()
                .filter(|violation| !violation.contains("`poem_openapi`")),
        );
    }
    assert!(
        found.is_empty(),
        "domain modules must take a connection, the snapshot and config values, not the \
         application state or the web layer; move views to src/http (STYLE.md habit 14):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_sees_each_kind_of_upward_reference() {
    let source = "\
//! Does not take AppState (prose is fine).
use crate::analytics::interval::Interval;
use crate::app::AppState;
use crate::{
    db::DbConn,
    http::caller::Caller,
};
use crate::{app, error::AppResult};
#[derive(poem_openapi::Object)]
struct View;
fn f(_: &SharedState) -> poem::Result<()> { Ok(()) }
";
    let found = violations("src/kpi/x.rs", source);
    for expected in [
        "src/kpi/x.rs:3: `crate::app`",
        "src/kpi/x.rs:3: `AppState`",
        "src/kpi/x.rs:6: `crate::{http…}`",
        "src/kpi/x.rs:8: `crate::{app…}`",
        "src/kpi/x.rs:9: `poem_openapi`",
        "src/kpi/x.rs:11: `SharedState`",
        "src/kpi/x.rs:11: `poem::`",
    ] {
        assert!(
            found.iter().any(|f| f.starts_with(expected)),
            "missing {expected} in {found:#?}"
        );
    }
    assert_eq!(found.len(), 7, "{found:#?}");
    assert!(violations("src/kpi/y.rs", "use crate::{db::DbConn, error::AppResult};\n").is_empty());
}
