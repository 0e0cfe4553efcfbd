//! Dashboards: the filter and widget registries, the catalog and layouts,
//! and the orchestrator that runs a layout. Three rules from the original
//! design shape it:
//! 1. Registry: the database stores a filter's or widget's class name; the
//!    server looks it up ([`filters::lookup`], [`widgets::lookup`]).
//! 2. Data scoping: a widget declares what it needs and receives only that.
//! 3. Data broker: widgets never fetch; the [`orchestrator`] computes or
//!    fetches (through [`crate::broker`]) each distinct need once per run.

pub mod catalog;
pub mod filters;
pub mod i18n;
pub mod orchestrator;
pub mod widgets;

#[cfg(test)]
mod tests {
    /// Dependencies point down (STYLE.md §14, issue 13): the dashboard takes
    /// its sources from its caller and leaves the API views to `http`, so no
    /// file of it may name the web layer or the application state. The names
    /// are spelled in pieces so that this file passes its own check.
    #[test]
    fn no_dashboard_file_reaches_up_to_the_web_layer_or_the_app_state() {
        let forbidden = [
            ["crate::", "app"],
            ["crate::", "http"],
            ["App", "State"],
            ["Shared", "State"],
            ["poem", "::"],
            ["poem", "_openapi"],
        ]
        .map(|pieces| pieces.concat());
        let mut dirs = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/dashboard")];
        let mut files = 0;
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("src/dashboard is readable") {
                let path = entry.expect("a directory entry").path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|ext| ext == "rs") {
                    let text = std::fs::read_to_string(&path).expect("a source file");
                    for word in &forbidden {
                        assert!(!text.contains(word.as_str()), "{} mentions {word}", path.display());
                    }
                    files += 1;
                }
            }
        }
        assert!(files >= 10, "the check saw the dashboard's files ({files})");
    }
}
