//! Alert e-mail: rendered in the tenant's language (Spanish or English) as
//! plain text and HTML, queued in `mail_outbox` and sent over SMTP by the
//! delivery job ([`send_due`]), retried like webhooks (at most
//! [`MAX_ATTEMPTS`] attempts).
//!
//! Settings: `CAMET_SMTP_URL` (`smtp://host:port`, `smtp://…?tls=required`
//! for STARTTLS, `smtps://` for TLS from the start; user and password in
//! the URL) and `CAMET_SMTP_FROM`. Without `CAMET_SMTP_URL` no mail is sent
//! and [`enqueue_alert`] queues nothing (said once in the log).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::{ExpressionMethods, QueryDsl, Queryable, Selectable, SelectableHelper};
use diesel_async::RunQueryDsl;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::db::schema::tenant::mail_outbox;
use crate::db::{DbConn, DbPool};
use crate::error::{AppError, AppResult};
use crate::notify::{clip, retry};

/// Most attempts to send one mail.
pub const MAX_ATTEMPTS: i32 = 5;
/// Longest an SMTP exchange may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);
/// Mails one run sends per tenant.
const BATCH: i64 = 20;
/// Most recipients of one alert mail.
pub const MAX_RECIPIENTS: usize = 50;

/// Mail statuses.
pub mod status {
    /// Waiting for its next attempt.
    pub const PENDING: &str = "pending";
    /// Accepted by the SMTP server.
    pub const SENT: &str = "sent";
    /// Every attempt failed.
    pub const FAILED: &str = "failed";
}

/// An alert to mail, already in words the tenant reads.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertNotice {
    /// The rule's name.
    pub rule_name: String,
    /// `stop_longer_than`, `no_data_for`, `oee_below`, `availability_below`,
    /// `performance_below`, `quality_below`, `rejected_ratio_above` or `shift_ended`.
    pub kind: String,
    /// The line's name, when the rule is about one line.
    pub line_name: Option<String>,
    /// What happened, one sentence.
    pub message: String,
    /// When it fired, in the plant's time zone, as the tenant writes it.
    pub fired_at_local: String,
    /// The measured value, when there is one.
    pub value: Option<f64>,
    /// The rule's threshold or target, when there is one.
    pub threshold: Option<f64>,
}

/// A rendered alert mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// One line.
    pub subject: String,
    /// Plain text part.
    pub text: String,
    /// HTML part (every value escaped).
    pub html: String,
}

/// Words of one language.
struct Words {
    alert: &'static str,
    rule: &'static str,
    kind: &'static str,
    line: &'static str,
    all_lines: &'static str,
    at: &'static str,
    value: &'static str,
    threshold: &'static str,
    on: &'static str,
    footer: &'static str,
}

const ES: Words = Words {
    alert: "Alerta",
    rule: "Regla",
    kind: "Tipo",
    line: "Línea",
    all_lines: "todas las líneas",
    at: "Hora",
    value: "Valor",
    threshold: "Umbral",
    on: "en",
    footer: "Enviado por Camet Analytics.",
};

const EN: Words = Words {
    alert: "Alert",
    rule: "Rule",
    kind: "Kind",
    line: "Line",
    all_lines: "all lines",
    at: "Time",
    value: "Value",
    threshold: "Threshold",
    on: "on",
    footer: "Sent by Camet Analytics.",
};

fn kind_phrase(kind: &str, spanish: bool) -> String {
    let (es, en) = match kind {
        "stop_longer_than" => ("Parada más larga que el umbral", "Stop longer than the threshold"),
        "no_data_for" => ("Sin datos", "No data"),
        "oee_below" => ("OEE bajo el objetivo", "OEE below target"),
        "availability_below" => ("Disponibilidad bajo el objetivo", "Availability below target"),
        "performance_below" => ("Rendimiento bajo el objetivo", "Performance below target"),
        "quality_below" => ("Calidad bajo el objetivo", "Quality below target"),
        "rejected_ratio_above" => ("Rechazo sobre el límite", "Rejected ratio above the limit"),
        "shift_ended" => ("Turno terminado", "Shift ended"),
        other => return one_line(other),
    };
    (if spanish { es } else { en }).to_owned()
}

/// `text` on one line (no CR, LF or other control characters).
fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// A number as people write it: at most two decimals, no trailing zeros.
fn number(value: f64) -> String {
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" { "0".to_owned() } else { text.to_owned() }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Renders `notice` in `language` (`es`; anything else English). Pure.
pub fn render(language: &str, notice: &AlertNotice) -> Rendered {
    let spanish = language == "es";
    let words = if spanish { &ES } else { &EN };
    let phrase = kind_phrase(&notice.kind, spanish);
    let line = notice.line_name.as_deref().map(one_line);
    let subject = match &line {
        Some(line) => format!(
            "[Camet] {}: {} {} {} ({})",
            words.alert,
            phrase,
            words.on,
            line,
            one_line(&notice.rule_name)
        ),
        None => format!("[Camet] {}: {} ({})", words.alert, phrase, one_line(&notice.rule_name)),
    };
    let mut rows: Vec<(&str, String)> = vec![
        (words.rule, notice.rule_name.clone()),
        (words.kind, phrase.clone()),
        (words.line, line.clone().unwrap_or_else(|| words.all_lines.to_owned())),
        (words.at, notice.fired_at_local.clone()),
    ];
    if let Some(value) = notice.value {
        rows.push((words.value, number(value)));
    }
    if let Some(threshold) = notice.threshold {
        rows.push((words.threshold, number(threshold)));
    }
    let mut text = format!("{}\n\n", notice.message);
    for (label, value) in &rows {
        text.push_str(&format!("{label}: {value}\n"));
    }
    text.push_str(&format!("\n{}\n", words.footer));
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body style=\"font-family: sans-serif\">\n<h2>{}: {}</h2>\n<p>{}</p>\n<table>\n",
        if spanish { "es" } else { "en" },
        escape_html(&subject),
        escape_html(words.alert),
        escape_html(&phrase),
        escape_html(&notice.message),
    );
    for (label, value) in &rows {
        html.push_str(&format!(
            "<tr><th align=\"left\">{}</th><td>{}</td></tr>\n",
            escape_html(label),
            escape_html(value)
        ));
    }
    html.push_str(&format!(
        "</table>\n<p><small>{}</small></p>\n</body></html>\n",
        escape_html(words.footer)
    ));
    Rendered {
        subject: clip(&subject, 400),
        text,
        html,
    }
}

/// Checks an e-mail address (for rule validation): simple and strict: one
/// `@` between a non-empty local part (≤ 64) and a dotted domain, no spaces,
/// control characters, quotes, brackets, commas or semicolons, at most 254
/// characters, and readable by the mail library.
pub fn valid_address(address: &str) -> bool {
    if address.is_empty() || address.len() > 254 {
        return false;
    }
    if address
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "<>()[]\\,;:\"".contains(c))
    {
        return false;
    }
    let mut parts = address.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let labels_ok = domain
        .split('.')
        .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
    !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && domain.contains('.')
        && labels_ok
        && address.parse::<lettre::Address>().is_ok()
}

/// Mailers running in this process (one per server with `CAMET_SMTP_URL`).
static MAILERS: AtomicUsize = AtomicUsize::new(0);
/// Whether "mail is off" was logged already.
static SAID_OFF: AtomicBool = AtomicBool::new(false);

/// Renders the alert and queues it to `recipients` (invalid addresses are
/// skipped, at most [`MAX_RECIPIENTS`]). Queues nothing when this process
/// sends no mail (`CAMET_SMTP_URL` unset; logged once).
pub async fn enqueue_alert(
    conn: &mut DbConn,
    recipients: &[String],
    language: &str,
    notice: &AlertNotice,
    now: DateTime<Utc>,
) -> AppResult<()> {
    if AtomicUsize::load(&MAILERS, Ordering::SeqCst) == 0 {
        if !SAID_OFF.swap(true, Ordering::SeqCst) {
            tracing::info!("CAMET_SMTP_URL is not set: alert e-mail is not sent");
        }
        return Ok(());
    }
    let mut to: Vec<&str> = Vec::new();
    for address in recipients.iter().map(|a| a.trim()) {
        if valid_address(address) && !to.contains(&address) && to.len() < MAX_RECIPIENTS {
            to.push(address);
        }
    }
    if to.is_empty() {
        return Ok(());
    }
    let rendered = render(language, notice);
    let recipients_json = serde_json::to_string(&to).map_err(AppError::internal)?;
    let at = now.naive_utc();
    crate::with_conn!(conn, |c| diesel::insert_into(mail_outbox::table)
        .values((
            mail_outbox::recipients.eq(&recipients_json),
            mail_outbox::subject.eq(&rendered.subject),
            mail_outbox::text_body.eq(&rendered.text),
            mail_outbox::html_body.eq(&rendered.html),
            mail_outbox::status.eq(status::PENDING),
            mail_outbox::attempts.eq(0),
            mail_outbox::next_attempt_at.eq(at),
            mail_outbox::created_at.eq(at),
        ))
        .execute(c)
        .await)?;
    crate::notify::wake();
    Ok(())
}

/// One queued mail.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = mail_outbox)]
pub struct MailRow {
    /// Id.
    pub mail_id: i64,
    /// JSON array of addresses.
    pub recipients: String,
    /// Subject.
    pub subject: String,
    /// Plain text part.
    pub text_body: String,
    /// HTML part.
    pub html_body: String,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    /// Attempts made.
    pub attempts: i32,
    /// When the next attempt is due.
    pub next_attempt_at: NaiveDateTime,
    /// What went wrong last.
    pub last_error: Option<String>,
    /// Queued.
    pub created_at: NaiveDateTime,
    /// Accepted by the SMTP server.
    pub sent_at: Option<NaiveDateTime>,
}

/// SMTP settings, from the configuration.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `CAMET_SMTP_URL` (may hold a password).
    pub url: String,
    /// `CAMET_SMTP_FROM`.
    pub from: String,
    /// `CAMET_WEBHOOK_RETRY_BASE_MS`: the first retry's longest wait.
    pub retry_base: Duration,
}

/// Sends queued mail over SMTP. While one exists, [`enqueue_alert`] queues.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    retry_base: Duration,
}

impl Mailer {
    /// A mailer for `settings` (checked at start; the error names the variable).
    pub fn new(settings: &MailSettings) -> AppResult<Mailer> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&settings.url)
            .map_err(|e| AppError::Config(format!("invalid CAMET_SMTP_URL: {e}")))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        let from = settings
            .from
            .parse::<Mailbox>()
            .map_err(|e| AppError::Config(format!("invalid CAMET_SMTP_FROM: {e}")))?;
        MAILERS.fetch_add(1, Ordering::SeqCst);
        Ok(Mailer {
            transport,
            from,
            retry_base: settings.retry_base,
        })
    }

    /// Builds and sends one mail.
    async fn send(&self, mail: &MailRow) -> Result<(), Attempted> {
        let recipients: Vec<String> =
            serde_json::from_str(&mail.recipients).map_err(|e| Attempted::Permanent(e.to_string()))?;
        let mut builder = Message::builder().from(self.from.clone()).subject(mail.subject.clone());
        for address in &recipients {
            let mailbox = address
                .parse::<Mailbox>()
                .map_err(|e| Attempted::Permanent(format!("recipient {address:?}: {e}")))?;
            builder = builder.to(mailbox);
        }
        let message = builder
            .multipart(MultiPart::alternative_plain_html(
                mail.text_body.clone(),
                mail.html_body.clone(),
            ))
            .map_err(|e| Attempted::Permanent(e.to_string()))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(error) if error.is_permanent() => Err(Attempted::Permanent(error.to_string())),
            Err(error) => Err(Attempted::Transient(error.to_string())),
        }
    }
}

impl Drop for Mailer {
    fn drop(&mut self) {
        MAILERS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Why an attempt failed.
enum Attempted {
    /// Worth another attempt (connection, timeout, 4xx).
    Transient(String),
    /// Will fail again (5xx, unreadable row).
    Permanent(String),
}

/// Sends the tenant's due mail (a batch per run, one at a time) and records
/// each attempt when it ends; returns how many were attempted.
pub async fn send_due(pool: &DbPool, mailer: &Mailer) -> AppResult<usize> {
    let now = crate::clock::now_naive();
    let due: Vec<MailRow> = {
        let mut conn = pool.get().await?;
        crate::with_conn!(&mut conn, |c| mail_outbox::table
            .filter(mail_outbox::status.eq(status::PENDING))
            .filter(mail_outbox::next_attempt_at.le(now))
            .order((mail_outbox::next_attempt_at.asc(), mail_outbox::mail_id.asc()))
            .limit(BATCH)
            .select(MailRow::as_select())
            .load(c)
            .await)?
    };
    let attempted = due.len();
    for mail in due {
        let outcome = mailer.send(&mail).await;
        let attempts = mail.attempts.saturating_add(1);
        let now = crate::clock::now_naive();
        let (state, error, next_at) = match outcome {
            Ok(()) => (status::SENT, None, mail.next_attempt_at),
            Err(Attempted::Transient(error)) if attempts < MAX_ATTEMPTS => {
                let wait = retry::backoff_now(attempts.unsigned_abs(), mailer.retry_base);
                let next_at = now + chrono::Duration::from_std(wait).map_err(AppError::internal)?;
                (status::PENDING, Some(error), next_at)
            }
            Err(Attempted::Transient(error) | Attempted::Permanent(error)) => {
                (status::FAILED, Some(error), mail.next_attempt_at)
            }
        };
        if let Some(error) = &error {
            tracing::warn!(mail_id = mail.mail_id, attempts, %error, "alert mail not sent");
        }
        let mut conn = pool.get().await?;
        crate::with_conn!(&mut conn, |c| diesel::update(mail_outbox::table.find(mail.mail_id))
            .set((
                mail_outbox::status.eq(state),
                mail_outbox::attempts.eq(attempts),
                mail_outbox::next_attempt_at.eq(next_at),
                mail_outbox::last_error.eq(error.as_deref().map(|e| clip(e, 480))),
                mail_outbox::sent_at.eq((state == status::SENT).then_some(now)),
            ))
            .execute(c)
            .await)?;
    }
    Ok(attempted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn notice() -> AlertNotice {
        AlertNotice {
            rule_name: "Paro largo <L1>".into(),
            kind: "stop_longer_than".into(),
            line_name: Some("Línea Principal".into()),
            message: "La línea lleva 12 min detenida & sin motivo".into(),
            fired_at_local: "02-12-2026 08:30".into(),
            value: Some(720.0),
            threshold: Some(600.0),
        }
    }

    #[test]
    fn spanish_and_english_subjects_and_bodies() {
        let es = render("es", &notice());
        assert_eq!(
            es.subject,
            "[Camet] Alerta: Parada más larga que el umbral en Línea Principal (Paro largo <L1>)"
        );
        assert!(es.text.contains("Regla: Paro largo <L1>"), "{}", es.text);
        assert!(es.text.contains("Valor: 720\nUmbral: 600"), "{}", es.text);
        let en = render("en", &notice());
        assert!(
            en.subject
                .starts_with("[Camet] Alert: Stop longer than the threshold on Línea Principal")
        );
        assert!(en.text.contains("Threshold: 600"), "{}", en.text);
        assert_eq!(render("fr", &notice()), en, "anything else is English");
    }

    #[test]
    fn the_html_part_escapes_every_value() {
        let mut n = notice();
        n.message = "<script>alert('x')</script>".into();
        let html = render("en", &n).html;
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"),
            "{html}"
        );
        assert!(html.contains("Paro largo &lt;L1&gt;"), "{html}");
    }

    #[test]
    fn a_subject_stays_on_one_line() {
        let mut n = notice();
        n.rule_name = "a\r\nBcc: victim@example.com".into();
        let subject = render("en", &n).subject;
        assert!(!subject.contains('\n') && !subject.contains('\r'), "{subject:?}");
    }

    #[test]
    fn addresses_are_checked_strictly() {
        for good in ["ana@example.com", "j.doe+alerts@plant.example.cl", "x@a.io"] {
            assert!(valid_address(good), "{good}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in [
            "",
            "ana",
            "ana@",
            "@example.com",
            "ana@@example.com",
            "ana@example",
            "ana @example.com",
            "ana@example.com\r\nBcc: x@y.z",
            "ana@example.com\n",
            "a@b@example.com",
            "Ana <ana@example.com>",
            "ana@example..com",
            ".ana@example.com",
            long.as_str(),
        ] {
            assert!(!valid_address(bad), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn an_address_with_a_line_break_is_never_valid(a in "[a-z]{1,10}", b in "[a-z]{1,10}", brk in "[\r\n]") {
            let at_end = format!("{a}@{b}.com{brk}");
            let inside = format!("{a}{brk}@{b}.com");
            prop_assert!(!valid_address(&at_end));
            prop_assert!(!valid_address(&inside));
        }

        #[test]
        fn escaped_html_has_no_markup(text in ".{0,80}") {
            let escaped = escape_html(&text);
            prop_assert!(!escaped.contains('<') && !escaped.contains('>') && !escaped.contains('"'));
        }
    }
}
