//! The `camet` binary: commands, stdout JSON, exit codes (0 ok, 2 usage,
//! 1 anything else) and one-line errors, on both backends.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{TestDb, backends};

fn camet(db: &TestDb, args: &[&str], stdin: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_camet"));
    command
        .args(args)
        .envs(db.env())
        .current_dir(db.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn camet");
    if let (Some(mut pipe), Some(text)) = (child.stdin.take(), stdin) {
        pipe.write_all(text.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().expect("camet output")
}

fn stdout_json(output: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("stdout is JSON ({e}): {text}"))
}

fn one_line_stderr(output: &Output) -> String {
    let text = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    assert_eq!(text.lines().count(), 1, "one line on stderr: {text}");
    assert!(
        !text.contains("panicked") && !text.contains("RUST_BACKTRACE"),
        "no panic: {text}"
    );
    text
}

#[test]
fn tenant_and_user_creation_print_ids_as_json() {
    for backend in backends() {
        let db = TestDb::new(backend);
        let created = camet(
            &db,
            &[
                "tenant",
                "create",
                "--name",
                "Planta Norte",
                "--timezone",
                "America/Santiago",
            ],
            None,
        );
        assert!(
            created.status.success(),
            "{backend:?}: {}",
            String::from_utf8_lossy(&created.stderr)
        );
        let tenant_id = stdout_json(&created)["tenant_id"].as_i64().expect("tenant_id");

        let tid = tenant_id.to_string();
        let user_args = [
            "user",
            "create",
            "--tenant-id",
            &tid,
            "--username",
            "ana",
            "--email",
            "ana@norte.cl",
            "--role",
            "admin",
        ];
        let user = camet(&db, &user_args, Some("Harbour-lights-42\n"));
        assert!(user.status.success(), "{}", String::from_utf8_lossy(&user.stderr));
        assert!(stdout_json(&user)["user_id"].as_i64().is_some());

        let again = camet(&db, &user_args, Some("Harbour-lights-42\n"));
        assert_eq!(again.status.code(), Some(1));
        assert!(one_line_stderr(&again).contains("already taken"));
    }
}

#[test]
fn weak_passwords_are_refused_naming_the_rule() {
    let db = TestDb::new(crate::common::Backend::Sqlite);
    assert!(camet(&db, &["tenant", "create", "--name", "P"], None).status.success());
    let base = [
        "user",
        "create",
        "--tenant-id",
        "1",
        "--username",
        "bob",
        "--email",
        "bob@p.cl",
        "--role",
        "viewer",
    ];
    for (password, rule) in [
        ("short1A", "10 characters"),
        ("password123", "common"),
        ("abcdefghijkl", "two kinds"),
    ] {
        let output = camet(&db, &base, Some(&format!("{password}\n")));
        assert_eq!(output.status.code(), Some(1), "{password}");
        let message = one_line_stderr(&output);
        assert!(
            message.contains("password") && message.contains(rule),
            "{password}: {message}"
        );
    }
    let empty = camet(&db, &base, Some(""));
    assert_eq!(empty.status.code(), Some(1));
    assert!(one_line_stderr(&empty).contains("stdin"));
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let db = TestDb::new(crate::common::Backend::Sqlite);
    for args in [
        &["bogus"][..],
        &["tenant", "create"],
        &["user", "create", "--tenant-id", "x"],
        &[
            "user",
            "create",
            "--tenant-id",
            "1",
            "--username",
            "u",
            "--email",
            "e@x.cl",
            "--role",
            "boss",
        ],
    ] {
        let output = camet(&db, args, None);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(one_line_stderr(&output).contains("--help"), "{args:?}");
    }
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["migrate", "--help"],
        &["tenant", "create", "--help"],
        &["user", "create", "--help"],
        &["openapi", "--help"],
        &["demo", "--help"],
    ] {
        let output = camet(&db, args, None);
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        assert!(String::from_utf8_lossy(&output.stdout).contains("Usage:"), "{args:?}");
    }
}

#[test]
fn bad_configuration_fails_with_one_line_naming_the_problem() {
    let db = TestDb::new(crate::common::Backend::Sqlite);
    let cases: [(&str, &str, &str); 5] = [
        ("DATABASE_URL", "postgres://somewhere/db", "DATABASE_URL"),
        (
            "DATABASE_URL",
            "mysql://camet:camet@127.0.0.1:1/camet_x",
            "cannot reach MySQL",
        ),
        ("CAMET_BIND", "not-an-address", "CAMET_BIND"),
        ("CAMET_DB_POOL_SIZE", "zero", "CAMET_DB_POOL_SIZE"),
        ("CAMET_JWT_SECRET", "too-short", "CAMET_JWT_SECRET"),
    ];
    for (name, value, expected) in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_camet"))
            .arg("migrate")
            .envs(db.env())
            .env(name, value)
            .current_dir(db.dir.path())
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(1), "{name}={value}");
        let message = one_line_stderr(&output);
        assert!(message.contains(expected), "{name}={value}: {message}");
    }
}

#[test]
fn openapi_command_prints_the_committed_document() {
    let db = TestDb::new(crate::common::Backend::Sqlite);
    let output = camet(&db, &["openapi"], None);
    assert!(output.status.success());
    let printed = stdout_json(&output);
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json")).expect("committed"),
    )
    .expect("json");
    assert_eq!(
        printed, committed,
        "regenerate with: cargo run -- openapi > openapi/openapi.json"
    );
}

#[test]
fn migrate_applies_to_global_and_every_tenant() {
    for backend in backends() {
        let db = TestDb::new(backend);
        assert!(camet(&db, &["tenant", "create", "--name", "A"], None).status.success());
        assert!(camet(&db, &["tenant", "create", "--name", "B"], None).status.success());
        let output = camet(&db, &["migrate"], None);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        assert_eq!(stdout_json(&output)["tenants"], 2);
    }
}

/// Reads stdout lines until `done` says so or the deadline passes.
fn read_until(reader: &mut impl BufRead, deadline: Instant, done: impl Fn(&str) -> bool) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    while Instant::now() < deadline {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                lines.push(line.trim_end().to_owned());
                if done(&line) {
                    break;
                }
            }
        }
    }
    lines
}

#[test]
fn first_serve_on_an_empty_embedded_database_prints_docs_url_and_demo_login_then_stops_on_sigterm() {
    let db = TestDb::new(crate::common::Backend::Sqlite);
    let mut child = Command::new(env!("CARGO_BIN_EXE_camet"))
        .envs(db.env())
        .current_dir(db.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut reader = BufReader::new(stdout);
    let lines = read_until(&mut reader, Instant::now() + Duration::from_secs(60), |l| {
        l.contains("password:")
    });
    let text = lines.join("\n");
    assert!(text.contains("/docs"), "{text}");
    let docs_url = lines
        .iter()
        .find_map(|l| {
            l.split_whitespace()
                .find(|w| w.starts_with("http://") && w.ends_with("/docs"))
        })
        .expect("docs URL printed")
        .to_owned();
    let username = lines
        .iter()
        .find_map(|l| l.split("username:").nth(1))
        .map(str::trim)
        .expect("username");
    let password = lines
        .iter()
        .find_map(|l| l.split("password:").nth(1))
        .map(str::trim)
        .expect("password");
    assert_eq!(username, "admin");
    assert!(
        camet::auth::password::check_policy(password).is_ok(),
        "random password meets the policy"
    );

    // The printed URL serves Swagger UI, and the printed login works.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let base = docs_url.trim_end_matches("/docs").to_owned();
    let (page, login) = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let page = client
            .get(&docs_url)
            .send()
            .await
            .expect("docs")
            .text()
            .await
            .expect("docs page");
        let login = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .expect("login");
        let status = login.status().as_u16();
        let body: serde_json::Value = login.json().await.expect("login json");
        (page, (status, body))
    });
    assert!(page.contains("swagger-ui"), "{page}");
    assert_eq!(login.0, 200, "the printed demo login works: {}", login.1);
    assert_eq!(login.1["user"]["username"], "admin", "{}", login.1);

    // SIGTERM: graceful shutdown, exit 0.
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "graceful exit on SIGTERM");

    // A second start does not seed again and prints no password.
    let mut again = Command::new(env!("CARGO_BIN_EXE_camet"))
        .envs(db.env())
        .current_dir(db.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut reader = BufReader::new(again.stdout.take().expect("stdout"));
    let lines = read_until(&mut reader, Instant::now() + Duration::from_secs(30), |l| {
        l.contains("OpenAPI document")
    });
    let _ = Command::new("kill").args(["-TERM", &again.id().to_string()]).status();
    let _ = again.wait();
    // The check means something only over the whole startup banner: it must
    // have reached the line read_until waited for (not timed out on nothing).
    assert!(
        lines.iter().any(|l| l.contains("OpenAPI document")) && lines.iter().any(|l| l.contains("/docs")),
        "the second start printed its banner: {lines:?}"
    );
    assert!(!lines.join("\n").contains("password"), "{lines:?}");
}

#[test]
fn no_demo_flag_skips_the_demo() {
    let db = TestDb::new(crate::common::Backend::Sqlite);
    let mut child = Command::new(env!("CARGO_BIN_EXE_camet"))
        .args(["serve", "--no-demo"])
        .envs(db.env())
        .current_dir(db.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let lines = read_until(&mut reader, Instant::now() + Duration::from_secs(30), |l| {
        l.contains("OpenAPI document")
    });
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    assert!(lines.iter().any(|l| l.contains("/docs")), "{lines:?}");
    assert!(!lines.join("\n").contains("Demo plant"), "{lines:?}");
}

/// Runs `camet` on a blocking thread (servers of the same test keep serving).
async fn camet_async(env: std::collections::HashMap<String, String>, args: &[&str], stdin: Option<&str>) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let stdin = stdin.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_camet"))
            .args(&args)
            .envs(env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn camet");
        if let (Some(mut pipe), Some(text)) = (child.stdin.take(), stdin) {
            pipe.write_all(text.as_bytes()).expect("write stdin");
        }
        child.wait_with_output().expect("camet output")
    })
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_password_and_api_key_commands_act_on_a_running_server_and_are_audited() {
    use reqwest::Method;
    for backend in backends() {
        let app = crate::common::TestApp::start(backend).await;
        let tenant = app.tenant_fixture("Cli Ops").await;
        let tid = tenant.tenant_id.to_string();
        let env = app.db.env();

        // reset-password: the new password logs in, the old one no longer,
        // and the viewer's open session is closed.
        let reset = camet_async(
            env.clone(),
            &[
                "user",
                "reset-password",
                "--tenant-id",
                &tid,
                "--username",
                "cli_ops_viewer",
            ],
            Some("Fresh-harbour-77\n"),
        )
        .await;
        assert!(
            reset.status.success(),
            "{backend:?}: {}",
            String::from_utf8_lossy(&reset.stderr)
        );
        assert_eq!(stdout_json(&reset)["user_id"], tenant.viewer.0);
        assert_eq!(app.login("cli_ops_viewer", crate::common::PASSWORD).await.status(), 401);
        app.login_ok_with("cli_ops_viewer", "Fresh-harbour-77").await;
        let old_session = app
            .authed(Method::GET, "/api/v1/auth/me", &tenant.viewer.1)
            .send()
            .await
            .expect("me");
        assert_eq!(old_session.status(), 401, "the viewer's old session is closed");
        // A weak password or an unknown user: exit 1, one line.
        let weak = camet_async(
            env.clone(),
            &[
                "user",
                "reset-password",
                "--tenant-id",
                &tid,
                "--username",
                "cli_ops_viewer",
            ],
            Some("short\n"),
        )
        .await;
        assert_eq!(weak.status.code(), Some(1));
        assert!(one_line_stderr(&weak).contains("10 characters"));
        let unknown = camet_async(
            env.clone(),
            &["user", "reset-password", "--tenant-id", &tid, "--username", "nobody"],
            Some("Fresh-harbour-77\n"),
        )
        .await;
        assert_eq!(unknown.status.code(), Some(1));
        assert!(one_line_stderr(&unknown).contains("nobody"));

        // A key beyond its owner's rights is refused, naming the rights.
        let beyond = camet_async(
            env.clone(),
            &[
                "api-key",
                "create",
                "--tenant-id",
                &tid,
                "--owner",
                "cli_ops_manager",
                "--name",
                "too much",
                "--role",
                "admin",
            ],
            None,
        )
        .await;
        assert_eq!(beyond.status.code(), Some(1));
        let message = one_line_stderr(&beyond);
        assert!(message.contains("manage_users"), "{message}");

        // Within them: the key is printed once and works.
        let created = camet_async(
            env.clone(),
            &[
                "api-key",
                "create",
                "--tenant-id",
                &tid,
                "--owner",
                "cli_ops_manager",
                "--name",
                "erp",
                "--role",
                "viewer",
            ],
            None,
        )
        .await;
        assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
        let created = stdout_json(&created);
        let key = created["key"].as_str().expect("key").to_owned();
        let key_id = created["api_key_id"].as_i64().expect("id");
        assert!(key.starts_with("cmt_"), "{created}");
        let me = app
            .client
            .get(app.url("/api/v1/auth/me"))
            .header("x-api-key", &key)
            .send()
            .await
            .expect("me");
        assert_eq!(me.status(), 200);

        // list: the key's row, never its secret.
        let listed = camet_async(env.clone(), &["api-key", "list", "--tenant-id", &tid], None).await;
        assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
        let text = String::from_utf8_lossy(&listed.stdout).into_owned();
        let rows = stdout_json(&listed);
        let rows = rows.as_array().expect("array");
        assert_eq!(rows.len(), 1, "{text}");
        assert_eq!(rows[0]["api_key_id"], key_id);
        assert_eq!(rows[0]["name"], "erp");
        assert_eq!(rows[0]["role"], "viewer");
        assert_eq!(rows[0]["created_by"], tenant.manager.0);
        assert!(!text.contains(&key) && !text.contains("hash"), "{text}");

        // revoke: the key stops working.
        let kid = key_id.to_string();
        let revoked = camet_async(
            env.clone(),
            &["api-key", "revoke", "--tenant-id", &tid, "--key-id", &kid],
            None,
        )
        .await;
        assert!(revoked.status.success(), "{}", String::from_utf8_lossy(&revoked.stderr));
        let me = app
            .client
            .get(app.url("/api/v1/auth/me"))
            .header("x-api-key", &key)
            .send()
            .await
            .expect("me");
        assert_eq!(me.status(), 401);

        // Each change is in the tenant's audit log, by the command line (no user).
        let audit: serde_json::Value = app
            .authed(Method::GET, "/api/v1/audit?limit=500", &tenant.admin.1)
            .send()
            .await
            .expect("audit")
            .json()
            .await
            .expect("json");
        for action in ["user.password", "api_key.create", "api_key.revoke"] {
            let entries: Vec<&serde_json::Value> = audit["items"]
                .as_array()
                .expect("items")
                .iter()
                .filter(|item| item["action"] == action)
                .collect();
            assert_eq!(entries.len(), 1, "{action}: {audit}");
            assert_eq!(entries[0]["user_agent"], "camet-cli", "{action}");
            assert!(entries[0]["user_id"].is_null(), "{action}: {}", entries[0]);
        }
        app.stop().await;
    }
}

/// Waits for `child` to exit, at most `guard` (a hang guard, not a timing
/// assertion); `None` when it did not.
fn wait_with_guard(child: std::process::Child, guard: Duration) -> Option<std::process::ExitStatus> {
    let (tx, rx) = std::sync::mpsc::channel();
    let pid = child.id();
    let waiter = std::thread::spawn(move || {
        let mut child = child;
        let _ = tx.send(child.wait());
    });
    match rx.recv_timeout(guard) {
        Ok(status) => {
            let _ = waiter.join();
            status.ok()
        }
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            let _ = waiter.join();
            None
        }
    }
}

#[test]
fn an_idle_server_exits_on_sigterm_and_logs_without_colours_into_a_pipe() {
    let db = TestDb::new(crate::common::Backend::Sqlite);
    let mut child = Command::new(env!("CARGO_BIN_EXE_camet"))
        .args(["serve", "--no-demo"])
        .envs(db.env())
        .env("CAMET_LOG", "info")
        .current_dir(db.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let lines = read_until(&mut reader, Instant::now() + Duration::from_secs(60), |l| {
        l.contains("OpenAPI document")
    });
    assert!(lines.iter().any(|l| l.contains("OpenAPI document")), "{lines:?}");
    let stderr = child.stderr.take().expect("stderr");
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let status = wait_with_guard(child, Duration::from_secs(10)).expect("exits after SIGTERM (10 s hang guard)");
    assert_eq!(status.code(), Some(0), "graceful exit");
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut logs).expect("logs");
    assert!(logs.contains("listening"), "{logs}");
    assert!(
        !logs.contains('\u{1b}'),
        "no ANSI escapes in logs written to a pipe: {logs:?}"
    );
}

#[test]
fn generate_prints_only_what_its_help_says_and_one_summary_line() {
    let db = TestDb::new(crate::common::Backend::Sqlite);
    let demo = camet(&db, &["demo", "--days", "2"], None);
    assert!(demo.status.success(), "{}", String::from_utf8_lossy(&demo.stderr));
    let summary = one_line_stderr(&demo);
    assert!(
        summary.contains("demo plant") && summary.contains("detections"),
        "{summary}"
    );
    let seed = stdout_json(&demo);
    let (tenant, line) = (seed["tenant_id"].to_string(), seed["line_id"].to_string());
    let output = camet(
        &db,
        &[
            "generate",
            "--tenant-id",
            &tenant,
            "--line-id",
            &line,
            "--days",
            "2",
            "--rate",
            "0.05",
        ],
        None,
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed = stdout_json(&output);
    let keys: Vec<&String> = printed.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["detections"], "{printed}");
    let written = printed["detections"].as_u64().expect("count");
    let summary = one_line_stderr(&output);
    assert!(summary.contains(&format!("wrote {written} detections")), "{summary}");
    assert!(!summary.contains('\u{1b}'), "no terminal codes: {summary:?}");
    let help = camet(&db, &["generate", "--help"], None);
    assert!(String::from_utf8_lossy(&help.stdout).contains(r#"{"detections": N}"#));
}
