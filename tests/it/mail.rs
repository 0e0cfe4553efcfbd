//! Alert e-mail (issue 15, deliveries), on both backends, against a minimal
//! SMTP server on loopback started by the test: an alert queued in Spanish
//! and one in English reach it as multipart/alternative messages with a
//! plain-text and an HTML part, each with its language's subject, and only
//! to valid recipients; the outbox rows end `sent`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use camet::notify::mail::{self, AlertNotice};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::common::{TestApp, backends};

/// One message the SMTP server accepted.
#[derive(Debug, Clone, Default)]
struct Captured {
    from: String,
    to: Vec<String>,
    data: String,
}

type Inbox = Arc<Mutex<Vec<Captured>>>;

/// Speaks just enough SMTP (RFC 5321) on one connection: greeting, EHLO or
/// HELO, MAIL, RCPT, DATA up to the lone dot, RSET, NOOP, QUIT.
async fn session(stream: tokio::net::TcpStream, inbox: Inbox) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 camet-test ESMTP\r\n").await?;
    let mut message = Captured::default();
    // Bounded: a session sends a few messages at most.
    for _ in 0..10_000 {
        let Some(line) = lines.next_line().await? else {
            return Ok(());
        };
        let verb = line.get(..4).unwrap_or(&line).to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-camet-test\r\n250 8BITMIME\r\n",
            "HELO" | "NOOP" => b"250 ok\r\n",
            "RSET" => {
                message = Captured::default();
                b"250 ok\r\n"
            }
            "MAIL" => {
                message.from = line.clone();
                b"250 ok\r\n"
            }
            "RCPT" => {
                message.to.push(line.clone());
                b"250 ok\r\n"
            }
            "DATA" => {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                loop {
                    let Some(data) = lines.next_line().await? else {
                        return Ok(());
                    };
                    if data == "." {
                        break;
                    }
                    message.data.push_str(data.strip_prefix('.').unwrap_or(&data));
                    message.data.push('\n');
                }
                inbox.lock().expect("inbox").push(std::mem::take(&mut message));
                b"250 queued\r\n"
            }
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
    Ok(())
}

/// An SMTP server on 127.0.0.1; its port and what it received.
async fn smtp_server() -> (u16, Inbox) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind SMTP");
    let port = listener.local_addr().expect("address").port();
    let inbox: Inbox = Arc::default();
    let accepted = inbox.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(session(stream, accepted.clone()));
        }
    });
    (port, inbox)
}

fn notice(rule: &str) -> AlertNotice {
    AlertNotice {
        rule_name: rule.to_owned(),
        kind: "no_data_for".to_owned(),
        line_name: Some("Linea 1".to_owned()),
        message: "Linea 1 <sin datos> hace 15 min".to_owned(),
        fired_at_local: "02-12-2026 08:30".to_owned(),
        value: Some(900.0),
        threshold: Some(600.0),
    }
}

/// The headers of a message with folded lines joined.
fn unfolded(data: &str) -> String {
    data.replace("\n ", " ").replace("\n\t", " ")
}

/// Undoes quoted-printable soft line breaks and `=XX` escapes (anything
/// else is kept as it is).
fn quoted_printable_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            if bytes.get(i + 1) == Some(&b'\n') {
                i += 2;
                continue;
            }
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            if let Some(byte) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_mail_reaches_the_smtp_server_in_the_tenants_language_with_text_and_html() {
    for backend in backends() {
        let (port, inbox) = smtp_server().await;
        let url = format!("smtp://127.0.0.1:{port}");
        let app = TestApp::start_with(
            backend,
            &[
                ("CAMET_SMTP_URL", url.as_str()),
                ("CAMET_SMTP_FROM", "Camet <alerts@camet.example>"),
                ("CAMET_DELIVERY_JOB_SECS", "1"),
                ("CAMET_WEBHOOK_RETRY_BASE_MS", "100"),
            ],
        )
        .await;
        let f = app.tenant_fixture("Correo").await;
        let pool = app.state.databases.tenant(f.tenant_id).await.expect("pool");
        let mut conn = pool.get().await.expect("connection");
        let now = app.state.clock.now();
        let recipients = ["jefa@planta.example".to_owned(), "no es una dirección".to_owned()];
        mail::enqueue_alert(&mut conn, &recipients, "es", &notice("Sin datos L1"), now)
            .await
            .expect("queue Spanish");
        mail::enqueue_alert(
            &mut conn,
            &["boss@plant.example".to_owned()],
            "en",
            &notice("No data L1"),
            now,
        )
        .await
        .expect("queue English");
        // Nobody valid to write to: nothing queued.
        mail::enqueue_alert(&mut conn, &["bad\r\naddress@x.io".to_owned()], "es", &notice("x"), now)
            .await
            .expect("queue nothing");
        drop(conn);

        let started = Instant::now();
        let messages = loop {
            let messages = inbox.lock().expect("inbox").clone();
            if messages.len() >= 2 {
                break messages;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{backend:?}: two messages within 30 s, got {messages:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(messages.len(), 2, "{messages:?}");
        let spanish = messages
            .iter()
            .find(|m| m.to.iter().any(|r| r.contains("jefa@planta.example")))
            .expect("the Spanish mail");
        assert_eq!(spanish.to.len(), 1, "the invalid address is skipped: {:?}", spanish.to);
        assert!(spanish.from.contains("alerts@camet.example"), "{}", spanish.from);
        let english = messages
            .iter()
            .find(|m| m.to.iter().any(|r| r.contains("boss@plant.example")))
            .expect("the English mail");
        for (message, subject) in [
            (spanish, "Subject: [Camet] Alerta: Sin datos en Linea 1 (Sin datos L1)"),
            (english, "Subject: [Camet] Alert: No data on Linea 1 (No data L1)"),
        ] {
            let data = unfolded(&message.data);
            assert!(data.contains(subject), "{subject} in {data}");
            assert!(data.contains("multipart/alternative"), "{data}");
            assert!(data.contains("Content-Type: text/plain"), "{data}");
            assert!(data.contains("Content-Type: text/html"), "{data}");
        }
        // The English parts are ASCII: plain text and escaped HTML, readable
        // once quoted-printable soft breaks and escapes are undone.
        let english = quoted_printable_decoded(&english.data);
        assert!(english.contains("Rule: No data L1"), "{english}");
        assert!(english.contains("Threshold: 600"), "{english}");
        assert!(
            english.contains("&lt;sin datos&gt;"),
            "the HTML part escapes: {english}"
        );

        // The outbox rows end `sent`.
        {
            use camet::db::schema::tenant::mail_outbox;
            use diesel::QueryDsl;
            use diesel_async::RunQueryDsl;
            let started = Instant::now();
            loop {
                let mut conn = pool.get().await.expect("connection");
                let rows: Vec<(String, i32)> = camet::with_conn!(&mut conn, |c| mail_outbox::table
                    .select((mail_outbox::status, mail_outbox::attempts))
                    .load(c)
                    .await)
                .expect("outbox");
                if rows.iter().all(|(status, _)| status == "sent") {
                    assert_eq!(rows, vec![("sent".to_owned(), 1), ("sent".to_owned(), 1)]);
                    break;
                }
                assert!(started.elapsed() < Duration::from_secs(30), "{rows:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        app.stop().await;
    }
}
