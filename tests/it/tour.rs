//! The README's five-minute tour, executed as written: the shell blocks
//! between `<!-- tour:start -->` and `<!-- tour:end -->` run in bash (with
//! curl) against a server holding the demo plant, on both backends, and
//! their answers must be the ones the README shows. If the README and the
//! API drift apart, this test fails.

use std::process::Command;

use serde_json::Value;

use crate::common::{TestApp, backends};

const README: &str = include_str!("../../README.md");

/// What the README's tour holds: the shell to run and the OEE it promises.
struct Tour {
    script: String,
    expected_oee: serde_json::Map<String, Value>,
}

/// The fenced blocks of `text` as (info string, body).
fn fenced_blocks(text: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in text.lines() {
        let fence = line.trim_start().strip_prefix("```");
        match (open.take(), fence) {
            (None, Some(info)) => open = Some((info.trim().to_owned(), String::new())),
            (Some(block), Some(_)) => blocks.push(block),
            (Some((info, mut body)), None) => {
                body.push_str(line);
                body.push('\n');
                open = Some((info, body));
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "an unclosed code block in the README tour");
    blocks
}

fn tour() -> Tour {
    let start = README
        .find("<!-- tour:start -->")
        .expect("README marks the start of the tour");
    let end = README
        .find("<!-- tour:end -->")
        .expect("README marks the end of the tour");
    assert!(start < end, "tour markers in order");
    let blocks = fenced_blocks(&README[start..end]);
    let script: String = blocks
        .iter()
        .filter(|(info, _)| info == "sh")
        .map(|(_, body)| body.as_str())
        .collect();
    let expected: Vec<&String> = blocks
        .iter()
        .filter(|(info, _)| info == "json")
        .map(|(_, body)| body)
        .collect();
    assert_eq!(expected.len(), 1, "one JSON block: the OEE the tour promises");
    let expected_oee = match serde_json::from_str(expected[0]) {
        Ok(Value::Object(map)) => map,
        other => panic!("the README's OEE block is a JSON object: {other:?}"),
    };
    assert!(script.contains("curl"), "the tour has shell blocks");
    Tour { script, expected_oee }
}

/// The printed lines of the tour that are JSON objects.
fn json_lines(stdout: &str) -> Vec<serde_json::Map<String, Value>> {
    stdout
        .lines()
        .filter_map(|line| match serde_json::from_str(line) {
            Ok(Value::Object(map)) => Some(map),
            _ => None,
        })
        .collect()
}

fn the_one_with<'a>(
    answers: &'a [serde_json::Map<String, Value>],
    key: &str,
    stdout: &str,
) -> &'a serde_json::Map<String, Value> {
    let found: Vec<_> = answers.iter().filter(|a| a.contains_key(key)).collect();
    assert_eq!(found.len(), 1, "one printed answer with `{key}` in:\n{stdout}");
    found[0]
}

/// Numbers compare by value (`70.0` and `70`), everything else exactly.
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

#[test]
fn the_readme_tour_blocks_are_found() {
    let tour = tour();
    assert!(tour.script.contains("/api/v1/auth/login"));
    assert!(tour.script.contains("/api/v1/metrics/oee"));
    assert!(tour.script.contains("/api/v1/dashboard/run"));
    assert_eq!(tour.expected_oee["oee"], 47.78);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_tour_runs_as_written_and_answers_what_it_promises() {
    let tour = tour();
    for backend in backends() {
        let app = TestApp::start(backend).await;
        // What a newcomer has after the first `cargo run`: the demo plant and its admin.
        let seed = camet::demo::seed(&app.state.databases, app.state.hashing, 1)
            .await
            .expect("demo plant");
        // The tour's day (2026-11-16) lies in the past of this pinned "now", whatever the date.
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z")
            .expect("fixture instant")
            .to_utc();
        app.state.clock.pin(now);

        let script = format!("set -euo pipefail\n{}", tour.script);
        let (base, user, password) = (app.base.clone(), seed.username.clone(), seed.password.clone());
        let output = tokio::task::spawn_blocking(move || {
            // `timeout` bounds the whole tour, whatever a command does.
            Command::new("timeout")
                .args(["120", "bash", "-c", &script])
                .env("CAMET", base)
                .env("CAMET_USER", user)
                .env("CAMET_PASSWORD", password)
                .output()
        })
        .await
        .expect("tour task")
        .expect("bash and timeout are installed");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "{backend:?}: the tour failed ({}).\nstdout:\n{stdout}\nstderr:\n{stderr}",
            output.status
        );

        let answers = json_lines(&stdout);
        // Step 1: logged in as the demo admin.
        assert_eq!(the_one_with(&answers, "username", &stdout)["username"], "admin");
        // Step 3: the batch the README describes, all of it stored.
        let ingest = the_one_with(&answers, "inserted", &stdout);
        assert_eq!(
            (&ingest["received"], &ingest["inserted"], &ingest["duplicates"]),
            (&Value::from(88), &Value::from(88), &Value::from(0)),
            "{stdout}"
        );
        // Step 4: every figure the README's JSON block shows (hand-derived there).
        let oee = the_one_with(&answers, "oee", &stdout);
        for (key, expected) in &tour.expected_oee {
            let actual = oee.get(key).unwrap_or(&Value::Null);
            assert!(
                same(actual, expected),
                "{backend:?}: README says {key} = {expected}, the API answered {actual}"
            );
        }
        // Step 5: the dashboard, in English, shows the same OEE.
        let run = the_one_with(&answers, "widgets", &stdout);
        let card = run["widgets"]
            .as_array()
            .and_then(|ws| ws.iter().find(|w| w["widget_id"] == 2))
            .unwrap_or_else(|| panic!("the admin layout's OEE card in {stdout}"));
        assert_eq!(card["widget_name"], "OEE KPI", "lang=en names the widget in English");
        assert_eq!(card["data"]["value"], tour.expected_oee["oee"]);
        app.stop().await;
    }
}
