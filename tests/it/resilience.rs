//! The server stays up through a database outage (503 naming the failing
//! part) and recovers by itself; shutdown lets in-flight requests finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::common::{Backend, PASSWORD, TestApp, expect_problem, mysql_or_skip};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

/// A TCP proxy to MySQL that the test can cut and restore, to simulate an outage.
struct Proxy {
    addr: SocketAddr,
    upstream: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: &str, addr: SocketAddr) -> Proxy {
        let proxy = Proxy {
            addr,
            upstream: upstream.to_owned(),
            tasks: Arc::new(Mutex::new(Vec::new())),
        };
        proxy.listen().await;
        proxy
    }

    async fn listen(&self) {
        let listener = TcpListener::bind(self.addr).await.expect("bind proxy");
        let upstream = self.upstream.clone();
        let tasks = self.tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let pipe = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().await.push(pipe);
            }
        });
        self.tasks.lock().await.push(accept);
    }

    /// Drops the listener and every proxied connection.
    async fn cut(&self) {
        let tasks: Vec<JoinHandle<()>> = self.tasks.lock().await.drain(..).collect();
        for task in tasks {
            task.abort();
            // An aborted task has dropped its sockets once its handle resolves.
            let _ = task.await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_a_503_naming_the_part_and_the_server_recovers_by_itself() {
    let Some(server) =
        mysql_or_skip("resilience::a_database_outage_is_a_503... (the outage is simulated on MySQL only)")
    else {
        return;
    };
    let upstream = server.rsplit('@').next().unwrap_or("127.0.0.1:3306").to_owned();
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
    let addr = probe.local_addr().expect("addr");
    drop(probe);
    let proxy = Proxy::start(&upstream, addr).await;
    let credentials = server
        .trim_start_matches("mysql://")
        .split('@')
        .next()
        .unwrap_or("camet:camet")
        .to_owned();
    let proxied = format!("mysql://{credentials}@{addr}");

    let db = crate::common::TestDb::new(Backend::Mysql);
    let name = db.database_url.rsplit('/').next().expect("db name").to_owned();
    // mysql_async would otherwise switch to the server's Unix socket and bypass the proxy.
    let url = format!("{proxied}/{name}?prefer_socket=false");
    let app = TestApp::start_with(
        Backend::Mysql,
        &[("DATABASE_URL", url.as_str()), ("CAMET_DB_TIMEOUT_SECS", "2")],
    )
    .await;
    let tenant = camet::tenants::create(&app.state.databases, "Outage", "UTC")
        .await
        .expect("tenant");
    app.create_user(tenant, "ana", camet::auth::roles::Role::Viewer).await;
    let token = app.login_ok("ana").await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(app.get("/health/ready").await.status(), 200);

    proxy.cut().await;
    let ready = expect_problem(app.get("/health/ready").await, 503).await;
    assert_eq!(ready["checks"]["global_database"], "unavailable", "{ready}");
    let me = app
        .authed(reqwest::Method::GET, "/api/v1/auth/me", &token)
        .send()
        .await
        .expect("me");
    let body = expect_problem(me, 503).await;
    assert!(
        !body["detail"].as_str().unwrap_or_default().contains("camet:"),
        "no credentials leak: {body}"
    );
    assert_eq!(app.get("/health").await.status(), 200, "the process stays up");

    proxy.listen().await;
    let mut recovered = false;
    for _ in 0..50 {
        if app.get("/health/ready").await.status() == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(recovered, "readiness recovers when the database returns");
    assert_eq!(
        app.authed(reqwest::Method::GET, "/api/v1/auth/me", &token)
            .send()
            .await
            .expect("me")
            .status(),
        200
    );
    app.stop().await;
    proxy.cut().await;
    drop(db);
    let _ = PASSWORD;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_in_flight_requests_finish() {
    // A deliberately slow password hash keeps a login in flight for a while.
    let app = TestApp::start_with(
        Backend::Sqlite,
        &[("CAMET_ARGON2_MEMORY_KIB", "65536"), ("CAMET_ARGON2_ITERATIONS", "6")],
    )
    .await;
    let tenant = camet::tenants::create(&app.state.databases, "Drain", "UTC")
        .await
        .expect("tenant");
    app.create_user(tenant, "ana", camet::auth::roles::Role::Viewer).await;
    let request = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "ana", "password": PASSWORD}))
        .send();
    let in_flight = tokio::spawn(request);
    // Stop only once the login is inside the server (hashing its password),
    // so the test is about draining, whatever the machine's speed.
    let mut hashing = false;
    for _ in 0..2_000 {
        if app.state.hash_pool.in_use() > 0 {
            hashing = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(hashing, "the login reached the password hash within 10 s");
    app.stop().await;
    let response = in_flight
        .await
        .expect("join")
        .expect("the in-flight login got an answer");
    assert_eq!(response.status(), 200);
}
