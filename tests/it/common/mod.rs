//! Test harness: a real server on a free port over a fresh database per test.
//! SQLite always; MySQL/MariaDB too when `CAMET_TEST_MYSQL_URL` is set
//! (e.g. `mysql://camet:camet@127.0.0.1:3306`). Each test's databases are
//! created for it and dropped afterwards, so tests run in parallel.

#![allow(dead_code)]

pub mod rollup_check;

use std::collections::HashMap;
use std::time::Duration;

use camet::app::SharedState;
use camet::config::Config;
use camet::server::{self, RunningServer};

/// A JWT secret for tests (never used outside them).
pub const TEST_SECRET: &str = "test-secret-test-secret-test-secret-0123456789";

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Temp-dir SQLite files.
    Sqlite,
    /// A fresh database on the MySQL server of `CAMET_TEST_MYSQL_URL`.
    Mysql,
}

/// The server URL of the MySQL used by tests, if configured.
pub fn mysql_server_url() -> Option<String> {
    std::env::var("CAMET_TEST_MYSQL_URL")
        .ok()
        .map(|u| u.trim().trim_end_matches('/').to_owned())
        .filter(|u| !u.is_empty())
}

/// Whether the `CI` environment variable is set (any value): a backend that
/// is not configured is then a failure, not a skip.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some()
}

/// Reports that `what` did not run on MySQL, loudly: on the real stderr (the
/// test harness captures `eprintln!` of passing tests, so a skip printed that
/// way would be invisible), and as a panic when `CI` is set.
pub fn skipped_without_mysql(what: &str) {
    skipped_without("MySQL", what, "set CAMET_TEST_MYSQL_URL");
}

/// Reports that `what` did not run for want of `service`, as
/// [`skipped_without_mysql`] does: loudly, and as a panic when `CI` is set.
pub fn skipped_without(service: &str, what: &str, hint: &str) {
    use std::io::Write;
    let line = format!("SKIPPED: {what} ({hint})");
    if in_ci() {
        panic!("CI must test {service} too: {line}");
    }
    // Written to the handle, not through `eprintln!`, so it is not captured.
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// The MySQL server URL for a test that only means something on MySQL; `None`
/// (after a loud SKIPPED line, or a panic in CI) when it is not configured.
pub fn mysql_or_skip(what: &str) -> Option<String> {
    let url = mysql_server_url();
    if url.is_none() {
        skipped_without_mysql(what);
    }
    url
}

/// Backends to run each test against. Without MySQL the run says so once per
/// test process (and fails in CI).
pub fn backends() -> Vec<Backend> {
    static ONCE: std::sync::Once = std::sync::Once::new();
    let mut all = vec![Backend::Sqlite];
    if mysql_server_url().is_some() {
        all.push(Backend::Mysql);
    } else if in_ci() {
        panic!("CI must test MySQL too: set CAMET_TEST_MYSQL_URL");
    } else {
        ONCE.call_once(|| skipped_without_mysql("every test ran on SQLite only, not on MySQL/MariaDB"));
    }
    all
}

/// A fresh, uniquely named place for one test's databases; removed on drop.
pub struct TestDb {
    /// Temp folder (SQLite files, data dir).
    pub dir: tempfile::TempDir,
    /// The `DATABASE_URL` to use.
    pub database_url: String,
    mysql: Option<(String, String)>,
}

impl TestDb {
    /// Creates the place (MySQL databases are created by the app itself).
    pub fn new(backend: Backend) -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => TestDb {
                database_url: format!("sqlite://{}", dir.path().join("camet.db").display()),
                dir,
                mysql: None,
            },
            Backend::Mysql => {
                let server = mysql_server_url().expect("CAMET_TEST_MYSQL_URL");
                let name = format!(
                    "camet_t_{}",
                    uuid::Uuid::new_v4().simple().to_string().get(..12).unwrap_or("x")
                );
                TestDb {
                    database_url: format!("{server}/{name}"),
                    dir,
                    mysql: Some((server, name)),
                }
            }
        }
    }

    /// Like [`TestDb::new`], but on SQLite the global database and the first
    /// [`TEMPLATE_TENANTS`] tenant databases start as copies of files migrated
    /// once per test process (as crates.io copies a template database), so
    /// the server's start and each tenant creation find no pending migration.
    /// On MySQL copying tables (`CREATE TABLE ... LIKE` + `INSERT ... SELECT`)
    /// measured no faster than the migrations (docs/testing.md): both are the
    /// same DDL. What helps there is not waiting for it: a background thread
    /// keeps [`MYSQL_READY_AHEAD`] freshly migrated databases (global and
    /// tenant 1) ready, and a test takes one. A template or a ready database
    /// that cannot be had is not fatal: the test then migrates from scratch.
    pub fn from_template(backend: Backend) -> TestDb {
        if backend == Backend::Mysql
            && let Some((server, name)) = take_ready_mysql_database()
        {
            return TestDb {
                database_url: format!("{server}/{name}"),
                dir: tempfile::tempdir().expect("temp dir"),
                mysql: Some((server, name)),
            };
        }
        let db = TestDb::new(backend);
        if backend == Backend::Sqlite {
            match sqlite_template() {
                Ok(template) => {
                    for file in template.files() {
                        let from = template.dir.join(&file);
                        if let Err(e) = std::fs::copy(&from, db.dir.path().join(&file)) {
                            panic!("copy the SQLite template {}: {e}", from.display());
                        }
                    }
                }
                Err(e) => eprintln!("warning: no SQLite template ({e}); migrating from scratch"),
            }
        }
        db
    }

    /// Environment variables for a server or CLI over this database.
    pub fn env(&self) -> HashMap<String, String> {
        HashMap::from([
            ("DATABASE_URL".to_owned(), self.database_url.clone()),
            ("CAMET_BIND".to_owned(), "127.0.0.1:0".to_owned()),
            ("CAMET_JWT_SECRET".to_owned(), TEST_SECRET.to_owned()),
            ("CAMET_DATA_DIR".to_owned(), self.dir.path().display().to_string()),
            ("CAMET_LOG".to_owned(), "warn".to_owned()),
            // Cheap hashing and generous limits keep tests fast; tests of
            // those features override them.
            ("CAMET_ARGON2_MEMORY_KIB".to_owned(), "1024".to_owned()),
            ("CAMET_ARGON2_ITERATIONS".to_owned(), "1".to_owned()),
            // Below OWASP's minimum, so the explicit test-only escape is needed.
            ("CAMET_ARGON2_ALLOW_WEAK".to_owned(), "true".to_owned()),
            ("CAMET_RATE_LIMIT_PER_MINUTE".to_owned(), "100000".to_owned()),
            ("CAMET_LOGIN_RATE_LIMIT_PER_MINUTE".to_owned(), "1000".to_owned()),
            ("CAMET_IP_RATE_LIMIT_PER_MINUTE".to_owned(), "100000".to_owned()),
            ("CAMET_AUTH_FAILURE_LIMIT_PER_MINUTE".to_owned(), "100000".to_owned()),
            // Live evaluation once a minute, not every 2 s, in tests that do
            // not watch it; the live tests set their own periods.
            ("CAMET_LIVE_TICK_SECS".to_owned(), "60".to_owned()),
            // The watermark job runs once at start, then not again: most
            // tests pin the clock after the start, and a tick on the real
            // clock in between (a loaded run takes a minute) set watermarks
            // days after the pinned "now" (a flaky rollups test).
            // Tests drive it with `advance_rollups` at their own instants.
            ("CAMET_ROLLUP_JOB_SECS".to_owned(), "86400".to_owned()),
        ])
    }

    /// A configuration over this database, with `overrides`.
    pub fn config(&self, overrides: &[(&str, &str)]) -> Config {
        let mut env = self.env();
        for (k, v) in overrides {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
        Config::from_lookup(&|k| env.get(k).cloned()).expect("valid test config")
    }
}

/// How many tenant databases the SQLite template holds (tenant ids 1..=N,
/// the ids a fresh global database hands out first).
pub const TEMPLATE_TENANTS: i32 = 4;

/// The pre-migrated SQLite files of one test process.
struct SqliteTemplate {
    dir: std::path::PathBuf,
}

impl SqliteTemplate {
    /// The files to copy: `camet.db` and `camet_tenant_{id}.db`.
    fn files(&self) -> Vec<String> {
        std::iter::once("camet.db".to_owned())
            .chain((1..=TEMPLATE_TENANTS).map(|id| format!("camet_tenant_{id}.db")))
            .collect()
    }
}

/// Builds the template once per process: opens (so migrates) the global
/// database and prepares the first tenants' databases in a folder under
/// Cargo's target tmp dir, then closes every pool so the files are complete
/// (WAL checkpointed) before anyone copies them.
fn sqlite_template() -> Result<&'static SqliteTemplate, String> {
    static TEMPLATE: std::sync::OnceLock<Result<SqliteTemplate, String>> = std::sync::OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let root = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
            // Templates of earlier test processes are stale: remove them.
            if let Ok(entries) = std::fs::read_dir(root) {
                for entry in entries.flatten() {
                    if entry
                        .file_name()
                        .to_string_lossy()
                        .starts_with("camet-sqlite-template-")
                    {
                        let _ = std::fs::remove_dir_all(entry.path());
                    }
                }
            }
            let dir = root.join(format!("camet-sqlite-template-{}", std::process::id()));
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            let env = HashMap::from([
                (
                    "DATABASE_URL".to_owned(),
                    format!("sqlite://{}", dir.join("camet.db").display()),
                ),
                ("CAMET_JWT_SECRET".to_owned(), TEST_SECRET.to_owned()),
                ("CAMET_DATA_DIR".to_owned(), dir.display().to_string()),
                ("CAMET_LOG".to_owned(), "warn".to_owned()),
            ]);
            let config = Config::from_lookup(&|k| env.get(k).cloned()).map_err(|e| e.to_string())?;
            // The migration harness needs a multi-thread runtime of its own;
            // a separate thread keeps it apart from the caller's runtime.
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                runtime.block_on(async move {
                    let databases = camet::db::Databases::open(&config).await.map_err(|e| e.to_string())?;
                    for tenant_id in 1..=TEMPLATE_TENANTS {
                        databases.prepare_tenant(tenant_id).await.map_err(|e| e.to_string())?;
                    }
                    drop(databases);
                    Ok::<_, String>(())
                })
            })
            .join()
            .map_err(|_| "the template thread panicked".to_owned())??;
            let template = SqliteTemplate { dir };
            for file in template.files() {
                let wal = template.dir.join(format!("{file}-wal"));
                if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
                    return Err(format!("{} was not checkpointed", wal.display()));
                }
            }
            Ok(template)
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// How many migrated MySQL databases the background thread keeps ready.
pub const MYSQL_READY_AHEAD: usize = 2;

/// Prefix of the databases made ahead; the process id follows, so a later
/// process can drop those a finished one left unused.
const MYSQL_READY_PREFIX: &str = "camet_t_pre_";

/// A MySQL database migrated ahead of time (global and tenant 1, exactly as
/// a server and its first `tenants::create` would leave them, with no row
/// written), as (server URL, database name); `None` when MySQL is not
/// configured or none became ready within a bounded wait.
fn take_ready_mysql_database() -> Option<(String, String)> {
    static READY: std::sync::OnceLock<Option<std::sync::Mutex<std::sync::mpsc::Receiver<String>>>> =
        std::sync::OnceLock::new();
    let server = mysql_server_url()?;
    let receiver = READY
        .get_or_init(|| {
            let (sender, receiver) = std::sync::mpsc::sync_channel::<String>(MYSQL_READY_AHEAD);
            let url = server.clone();
            std::thread::Builder::new()
                .name("mysql-ready-ahead".to_owned())
                .spawn(move || make_mysql_databases_ahead(&url, &sender))
                .ok()?;
            Some(std::sync::Mutex::new(receiver))
        })
        .as_ref()?;
    let name = receiver.lock().ok()?.recv_timeout(Duration::from_secs(30)).ok()?;
    Some((server, name))
}

/// The background thread: drops what finished test processes left behind,
/// then migrates databases one after the other, blocking while
/// [`MYSQL_READY_AHEAD`] wait unused; stops after a bounded number, or when
/// a database cannot be made (tests then make their own).
fn make_mysql_databases_ahead(server: &str, sender: &std::sync::mpsc::SyncSender<String>) {
    let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    else {
        return;
    };
    runtime.block_on(async {
        drop_stale_ready_databases(server).await;
        for _ in 0..2000 {
            let name = format!(
                "{MYSQL_READY_PREFIX}{}_{}",
                std::process::id(),
                uuid::Uuid::new_v4().simple().to_string().get(..8).unwrap_or("x")
            );
            let env = HashMap::from([
                ("DATABASE_URL".to_owned(), format!("{server}/{name}")),
                ("CAMET_JWT_SECRET".to_owned(), TEST_SECRET.to_owned()),
                ("CAMET_DATA_DIR".to_owned(), std::env::temp_dir().display().to_string()),
                ("CAMET_LOG".to_owned(), "warn".to_owned()),
            ]);
            let made = async {
                let config = Config::from_lookup(&|k| env.get(k).cloned()).map_err(|e| e.to_string())?;
                let databases = camet::db::Databases::open(&config).await.map_err(|e| e.to_string())?;
                databases.prepare_tenant(1).await.map_err(|e| e.to_string())?;
                Ok::<_, String>(())
            }
            .await;
            if let Err(e) = made {
                eprintln!("warning: could not make MySQL database {name} ahead ({e}); tests make their own");
                drop_mysql_databases(server, &name);
                return;
            }
            if sender.send(name.clone()).is_err() {
                drop_mysql_databases(server, &name);
                return;
            }
        }
    });
}

/// Drops databases made ahead by test processes that are no longer running.
async fn drop_stale_ready_databases(server: &str) {
    use mysql_async::prelude::Queryable;
    let Ok(opts) = mysql_async::Opts::from_url(server) else {
        return;
    };
    let Ok(mut conn) = mysql_async::Conn::new(opts).await else {
        return;
    };
    let names: Vec<String> = conn
        .exec(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE ?",
            (format!("{}%", MYSQL_READY_PREFIX.replace('_', "\\_")),),
        )
        .await
        .unwrap_or_default();
    for db in names {
        let pid = db
            .trim_start_matches(MYSQL_READY_PREFIX)
            .split('_')
            .next()
            .and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            let _ = conn.query_drop(format!("DROP DATABASE IF EXISTS `{db}`")).await;
        }
    }
    let _ = conn.disconnect().await;
}

fn drop_mysql_databases(server: &str, name: &str) {
    use mysql_async::prelude::Queryable;
    let (server, label) = (server.to_owned(), name.to_owned());
    let name = label.clone();
    // Drop runs outside any runtime we can borrow: use a short-lived one.
    let result = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async move {
            let opts = mysql_async::Opts::from_url(&server)?;
            let mut conn = mysql_async::Conn::new(opts).await?;
            let names: Vec<String> = conn
                .exec(
                    "SELECT schema_name FROM information_schema.schemata WHERE schema_name = ? OR schema_name LIKE ?",
                    (name.clone(), format!("{name}\\_tenant\\_%")),
                )
                .await?;
            for db in names {
                conn.query_drop(format!("DROP DATABASE IF EXISTS `{db}`")).await?;
            }
            conn.disconnect().await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
    })
    .join();
    if let Ok(Err(e)) = result {
        eprintln!("warning: could not drop test databases {label}: {e}");
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((server, name)) = &self.mysql {
            drop_mysql_databases(server, name);
        }
    }
}

/// A running server over a fresh database, with an HTTP client.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// HTTP client (no redirects followed, so tests see them).
    pub client: reqwest::Client,
    /// The server's state (direct access to databases for setup).
    pub state: SharedState,
    /// The backend under test.
    pub backend: Backend,
    server: Option<RunningServer>,
    /// Declared last: dropped after the server has stopped.
    pub db: TestDb,
}

impl TestApp {
    /// Starts a server over a fresh database, without the demo.
    pub async fn start(backend: Backend) -> TestApp {
        Self::start_with(backend, &[]).await
    }

    /// Starts a server with configuration overrides.
    pub async fn start_with(backend: Backend, overrides: &[(&str, &str)]) -> TestApp {
        let db = TestDb::from_template(backend);
        let config = db.config(overrides);
        let state = server::prepare(config).await.expect("prepare state");
        let running = server::start(
            state.clone(),
            "127.0.0.1:0".parse().expect("addr"),
            std::future::pending(),
        )
        .await
        .expect("start server");
        TestApp {
            base: format!("http://{}", running.addr),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            state,
            backend,
            server: Some(running),
            db,
        }
    }

    /// Full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// GET `path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request")
    }

    /// Stops the server gracefully, then removes the databases.
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await.expect("graceful stop");
        }
    }
}

/// The `field` of each entry of a 422 problem's `errors`, in order.
pub fn problem_fields(problem: &serde_json::Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect()
}

/// Asserts a problem+json response with `status`; returns the body.
pub async fn expect_problem(response: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status, "status of {}", response.url());
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/problem+json"),
        "content type {content_type}"
    );
    let body: serde_json::Value = response.json().await.expect("problem body is JSON");
    assert_eq!(body["status"], status);
    for field in ["type", "title", "detail"] {
        assert!(body[field].is_string(), "problem has {field}: {body}");
    }
    body
}

/// The password every fixture user gets.
pub const PASSWORD: &str = "Harbour-lights-42";

/// A tenant with one user per role, logged in.
pub struct TenantFixture {
    /// Tenant id.
    pub tenant_id: i32,
    /// Admin user id and access token.
    pub admin: (i32, String),
    /// Manager user id and access token.
    pub manager: (i32, String),
    /// Viewer user id and access token.
    pub viewer: (i32, String),
}

impl TestApp {
    /// Creates a user directly (as the CLI would).
    pub async fn create_user(&self, tenant_id: i32, username: &str, role: camet::auth::roles::Role) -> i32 {
        camet::auth::users::create(
            &self.state.databases,
            self.state.hashing,
            &camet::auth::users::NewUser {
                tenant_id,
                username: username.to_owned(),
                email: format!("{username}@example.com"),
                role,
                password: PASSWORD.to_owned(),
            },
        )
        .await
        .expect("create user")
    }

    /// POST /api/v1/auth/login.
    pub async fn login(&self, username: &str, password: &str) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .expect("request")
    }

    /// Logs in and returns the token response.
    pub async fn login_ok(&self, username: &str) -> serde_json::Value {
        self.login_ok_with(username, PASSWORD).await
    }

    /// Logs in with `password` and returns the token response.
    pub async fn login_ok_with(&self, username: &str, password: &str) -> serde_json::Value {
        let response = self.login(username, password).await;
        assert_eq!(response.status(), 200, "login {username}");
        response.json().await.expect("token json")
    }

    /// A tenant named `name` with admin, manager and viewer logged in.
    pub async fn tenant_fixture(&self, name: &str) -> TenantFixture {
        use camet::auth::roles::Role;
        let tenant_id = camet::tenants::create(&self.state.databases, name, "UTC")
            .await
            .expect("tenant");
        let prefix = name.to_lowercase().replace(' ', "_");
        let mut users = Vec::new();
        for (suffix, role) in [
            ("admin", Role::Admin),
            ("manager", Role::Manager),
            ("viewer", Role::Viewer),
        ] {
            let username = format!("{prefix}_{suffix}");
            let id = self.create_user(tenant_id, &username, role).await;
            let token = self.login_ok(&username).await["access_token"]
                .as_str()
                .expect("token")
                .to_owned();
            users.push((id, token));
        }
        let viewer = users.pop().expect("viewer");
        let manager = users.pop().expect("manager");
        let admin = users.pop().expect("admin");
        TenantFixture {
            tenant_id,
            admin,
            manager,
            viewer,
        }
    }

    /// POSTs `body` with a bearer token and returns the JSON answer, which
    /// must be a success (200 or 201).
    pub async fn post_ok(&self, token: &str, path: &str, body: serde_json::Value) -> serde_json::Value {
        let response = self
            .authed(reqwest::Method::POST, path, token)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.expect("json");
        assert!(status == 200 || status == 201, "{path}: {status} {body}");
        body
    }

    /// A request with a bearer token.
    pub fn authed(&self, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(token)
    }
}

/// A tenant with one line (input and output areas), some products and
/// shifts, created through the API as a client would.
pub struct LinePlant {
    /// The tenant and its users.
    pub tenant: TenantFixture,
    /// The line.
    pub line_id: i64,
    /// Its input area.
    pub input: i64,
    /// Its output area.
    pub output: i64,
    /// The products, in the order given.
    pub products: Vec<i64>,
}

impl LinePlant {
    /// The admin's access token.
    pub fn token(&self) -> String {
        self.tenant.admin.1.clone()
    }
}

impl TestApp {
    /// Creates a line from its body through the API, with an input area
    /// `In` and an output area `Out`; returns (line, input, output) ids.
    pub async fn line_with_areas(&self, token: &str, line: serde_json::Value) -> (i64, i64, i64) {
        let id = |v: serde_json::Value, key: &str| v[key].as_i64().unwrap_or_else(|| panic!("{key} in {v}"));
        let line_id = id(self.post_ok(token, "/api/v1/production/lines", line).await, "line_id");
        let area = |name: &str, kind: &str, order: i32| serde_json::json!({"line_id": line_id, "area_name": name, "area_type": kind, "area_order": order});
        let input = id(
            self.post_ok(token, "/api/v1/production/areas", area("In", "input", 1))
                .await,
            "area_id",
        );
        let output = id(
            self.post_ok(token, "/api/v1/production/areas", area("Out", "output", 2))
                .await,
            "area_id",
        );
        (line_id, input, output)
    }

    /// Builds a [`LinePlant`]: `line` is the line's body (name, code,
    /// threshold), `products` and `shifts` the bodies of their POSTs.
    pub async fn line_plant(
        &self,
        name: &str,
        line: serde_json::Value,
        products: &[serde_json::Value],
        shifts: &[serde_json::Value],
    ) -> LinePlant {
        let tenant = self.tenant_fixture(name).await;
        let token = tenant.admin.1.clone();
        let id = |v: serde_json::Value, key: &str| v[key].as_i64().unwrap_or_else(|| panic!("{key} in {v}"));
        let (line_id, input, output) = self.line_with_areas(&token, line).await;
        let mut ids = Vec::new();
        for product in products {
            ids.push(id(
                self.post_ok(&token, "/api/v1/production/products", product.clone())
                    .await,
                "product_id",
            ));
        }
        for shift in shifts {
            self.post_ok(&token, "/api/v1/production/shifts", shift.clone()).await;
        }
        LinePlant {
            tenant,
            line_id,
            input,
            output,
            products: ids,
        }
    }
}

impl TestApp {
    /// The hand-checked day's plant (line `L1`, threshold 300 s, products
    /// A at 100 u/h and B at 60 u/h, shift Monday 08:00-10:00) in a new
    /// tenant `name`, with [`known_day_detections`] ingested.
    pub async fn known_day_plant(&self, name: &str) -> LinePlant {
        let plant = self
            .line_plant(
                name,
                serde_json::json!({"line_name": "L", "line_code": "L1", "downtime_threshold": 300}),
                &[
                    serde_json::json!({"product_name": "Producto A", "product_code": "A", "production_std": 100, "product_weight": "2.5"}),
                    serde_json::json!({"product_name": "Producto B", "product_code": "B", "production_std": 60, "product_weight": "1.25"}),
                ],
                &[serde_json::json!({"shift_name": "Mañana", "days_implemented": ["Monday"], "start_time": "08:00", "end_time": "10:00", "is_overnight": false})],
            )
            .await;
        self.post_ok(
            &plant.token(),
            &format!("/api/v1/lines/{}/detections", plant.line_id),
            known_day_detections(plant.input, plant.output, plant.products[0], plant.products[1]),
        )
        .await;
        plant
    }
}

/// Σ of the parts of a `/metrics/losses` answer in whole microseconds
/// (each part is whole microseconds, so the JSON seconds convert back
/// exactly): fully productive + quality + speed + micro-stops + stops.
pub fn loss_parts_micros(answer: &serde_json::Value) -> i64 {
    let micros = |v: &serde_json::Value| (v.as_f64().expect("a number") * 1e6).round() as i64;
    let stops: i64 = answer["losses"]
        .as_array()
        .expect("losses")
        .iter()
        .map(|entry| micros(&entry["seconds"]))
        .sum();
    micros(&answer["fully_productive_seconds"])
        + micros(&answer["quality_loss_seconds"])
        + micros(&answer["speed_loss_seconds"])
        + micros(&answer["micro_stops"]["seconds"])
        + stops
}

/// The hand-checked day of `tests/kpi.rs` (Monday 2026-11-16, UTC), products
/// `a` and `b`. Input: A 08:00:10, A 08:10, A 08:20, B 08:30, A 11:00.
/// Output: A 08:00:30, A 08:10:30, B 08:30:30, A 12:00.
pub fn known_day_detections(input: i64, output: i64, a: i64, b: i64) -> serde_json::Value {
    let d = |t: &str, area: i64, product: i64| serde_json::json!({"detected_at": format!("2026-11-16T{t}Z"), "area_id": area, "product_id": product});
    serde_json::json!([
        d("08:00:10", input, a),
        d("08:10:00", input, a),
        d("08:20:00", input, a),
        d("08:30:00", input, b),
        d("11:00:00", input, a),
        d("08:00:30", output, a),
        d("08:10:30", output, a),
        d("08:30:30", output, b),
        d("12:00:00", output, a),
    ])
}

/// The rollup watermark job over every tenant of `state`, with the server's
/// configured settings, as `src/jobs.rs` runs it.
pub async fn advance_rollups(
    state: &SharedState,
    now: chrono::DateTime<chrono::Utc>,
) -> camet::error::AppResult<usize> {
    let settings = camet::rollup::store::RollupSettings::from_config(&state.config)?;
    camet::rollup::store::advance_all(&state.databases, &state.cache, settings, now).await
}

/// The downtime recalculation job over every tenant of `state`, as `src/jobs.rs` runs it.
pub async fn recalculate_downtime(
    state: &SharedState,
    window: chrono::Duration,
    now: chrono::DateTime<chrono::Utc>,
) -> camet::error::AppResult<usize> {
    camet::kpi::persisted::recalculate_recent(&state.databases, &state.cache, window, now).await
}

/// Where `camet generate` writes, for the server of `state`.
pub fn generate_sink(state: &SharedState) -> camet::detections::generate::Sink<'_> {
    camet::detections::generate::Sink {
        databases: &state.databases,
        cache: &state.cache,
        clock: &state.clock,
        gap_floor: state.config.gap_floor(),
    }
}
