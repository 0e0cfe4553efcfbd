//! The `camet` command line. Every command has `--help`; exit codes are 0 on
//! success, 2 on usage errors, 1 on anything else, with a one-line message on
//! stderr.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};

use crate::audit::ClientInfo;
use crate::auth::admin;
use crate::auth::principal::Principal;
use crate::auth::rights::Right;
use crate::auth::roles::Role;
use crate::auth::users::{self, NewUser};
use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::progress::Progress;
use crate::{backup, demo, http, server, tenants};

/// Camet Analytics: production monitoring API (OEE, downtime, production charts).
#[derive(Debug, Parser)]
#[command(name = "camet", version, about, long_about = None)]
pub struct Cli {
    /// With no command, `camet` serves the API (same as `camet serve`).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// With no command: do not create the demo plant on an empty embedded database.
    #[arg(long, global = false)]
    pub no_demo: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API server (the default command).
    Serve(ServeArgs),
    /// Apply pending migrations to the global and every tenant database, then exit.
    Migrate,
    /// Manage tenants (plants).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API keys (machine clients).
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
    /// Maintain storage.
    #[command(subcommand)]
    Partitions(PartitionCommand),
    /// Print the OpenAPI document (JSON) on stdout.
    Openapi,
    /// Create the demo plant with synthetic detections in the configured database (any backend).
    Demo(DemoArgs),
    /// Write realistic synthetic detections for a configured line (its areas,
    /// products and shifts), for demos and benchmarks; prints {"detections": N}.
    Generate(GenerateArgs),
    /// Copy the embedded SQLite databases (global and every tenant) into one
    /// archive, consistently, while the server keeps serving. SQLite only: on
    /// MySQL/MariaDB use mariadb-dump (docs/deployment.md).
    Backup(BackupArgs),
    /// Replace the embedded SQLite databases with those of a `camet backup`
    /// archive. Refuses while a server has them open, unless --force.
    Restore(RestoreArgs),
}

/// Options of `camet backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The archive to write (a tar file); an existing file is refused.
    pub file: PathBuf,
}

/// Options of `camet restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// An archive written by `camet backup`.
    pub file: PathBuf,
    /// Restore even though another process has the databases open (stop the server instead).
    #[arg(long)]
    pub force: bool,
}

/// Options of `camet serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Do not create the demo plant on an empty embedded database.
    #[arg(long)]
    pub no_demo: bool,
}

/// Options of `camet demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Days of detections, ending now.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(i64).range(1..=400))]
    pub days: i64,
}

/// Options of `camet generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Tenant.
    #[arg(long)]
    pub tenant_id: i32,
    /// Line (must have input and output areas).
    #[arg(long)]
    pub line_id: i32,
    /// Days of detections, ending now.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(i64).range(1..=1000))]
    pub days: i64,
    /// Units per second entering the line while a shift runs (each passes every area).
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,
    /// Random seed: the same seed gives the same detections.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// `camet tenant ...`
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant and its database; prints {"tenant_id": N}.
    Create {
        /// Company (plant) name.
        #[arg(long)]
        name: String,
        /// IANA time zone of the plant (shifts, day buckets and labels use it).
        #[arg(long, default_value = "UTC")]
        timezone: String,
    },
}

/// `camet partitions ...`
#[derive(Debug, Subcommand)]
pub enum PartitionCommand {
    /// Create the next months' detection partitions (and drop old ones when
    /// CAMET_PARTITION_RETENTION_MONTHS is set); MySQL only, a no-op on SQLite.
    Maintain,
}

/// `camet user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; reads the password from stdin (one line); prints {"user_id": N}.
    Create {
        /// Tenant the user belongs to.
        #[arg(long)]
        tenant_id: i32,
        /// Login name (unique).
        #[arg(long)]
        username: String,
        /// E-mail address.
        #[arg(long)]
        email: String,
        /// Role: admin, manager or viewer.
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
    /// Set a user's password (read from stdin, one line), unlock the account
    /// and close its sessions; prints {"user_id": N}. Audited.
    ResetPassword {
        /// Tenant the user belongs to.
        #[arg(long)]
        tenant_id: i32,
        /// Login name.
        #[arg(long)]
        username: String,
    },
}

/// `camet api-key ...`
#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Issue a key acting on a user's authority (its role's rights must be
    /// ones that user holds); prints {"api_key_id": N, "key": "cmt_..."}: the
    /// key is shown only this once. Audited.
    Create {
        /// Tenant.
        #[arg(long)]
        tenant_id: i32,
        /// Login name of the user whose authority backs the key.
        #[arg(long)]
        owner: String,
        /// A label for the key (1-100 characters).
        #[arg(long)]
        name: String,
        /// Role of the key: admin, manager or viewer.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Requests per minute for this key (default: the server's).
        #[arg(long)]
        rate_limit_per_minute: Option<i32>,
    },
    /// List a tenant's keys (revoked ones too; never the secret); prints a JSON array.
    List {
        /// Tenant.
        #[arg(long)]
        tenant_id: i32,
    },
    /// Revoke a key: it stops working at once; prints {"api_key_id": N, "revoked": true}. Audited.
    Revoke {
        /// Tenant.
        #[arg(long)]
        tenant_id: i32,
        /// The key's id (see `camet api-key list`).
        #[arg(long)]
        key_id: i32,
    },
}

fn parse_role(raw: &str) -> Result<Role, String> {
    raw.parse()
}

/// Reads one line (the password) from stdin, without its line ending.
fn read_password_line() -> AppResult<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| AppError::BadRequest(format!("cannot read the password from stdin: {e}")))?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        return Err(AppError::BadRequest(
            "no password on stdin: pipe it in, e.g. `echo \"$PASSWORD\" | camet user create ...`".into(),
        ));
    }
    Ok(password)
}

/// The operator at the command line: acts on one tenant with every right
/// (whoever runs `camet` holds the database anyway). Audit rows it causes
/// have no user and say `camet-cli` as their client.
fn operator(tenant_id: i32) -> Principal {
    Principal {
        tenant_id,
        user_id: None,
        username: None,
        api_key_id: None,
        session_id: None,
        owner_id: None,
        role: Role::Admin,
        rights: Right::ALL.into_iter().collect(),
        rate_limit_per_minute: None,
    }
}

/// The client of audit rows written by the command line.
fn cli_client() -> ClientInfo {
    ClientInfo {
        user_agent: Some("camet-cli".into()),
        ..ClientInfo::internal()
    }
}

/// A progress bar on a terminal; elsewhere nothing while it runs and one
/// summary line at the end.
struct CliProgress {
    bar: indicatif::ProgressBar,
    started: Instant,
}

impl CliProgress {
    fn new() -> CliProgress {
        let bar = if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg} (eta {eta})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        } else {
            indicatif::ProgressBar::hidden()
        };
        CliProgress {
            bar,
            started: Instant::now(),
        }
    }

    /// Clears the bar, then writes `summary` (one line) on stderr.
    fn finish(&self, summary: &str) {
        self.bar.finish_and_clear();
        eprintln!("{summary} in {:.1} s", self.started.elapsed().as_secs_f64());
    }
}

impl Progress for CliProgress {
    fn start(&self, total: u64, unit: &'static str) {
        self.bar.set_length(total);
        self.bar.set_message(unit);
    }

    fn advance(&self, steps: u64) {
        self.bar.inc(steps);
    }
}

/// Sets up logging: text or JSON lines on stderr, filtered by `CAMET_LOG`.
/// Commands other than `serve` log warnings only, keeping stdout for their JSON.
/// Text is coloured only when stderr is a terminal (never in files or journals).
pub fn init_tracing(config: &Config, serving: bool) {
    let filter = if serving {
        config.log_filter.clone()
    } else {
        "warn".to_owned()
    };
    let filter =
        tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let result = match config.log_format {
        crate::config::LogFormat::Json => builder.json().flatten_event(true).try_init(),
        crate::config::LogFormat::Text => builder.try_init(),
    };
    // Already initialised (tests): keep the existing subscriber.
    let _ = result;
}

/// Runs a parsed command line.
pub async fn execute(cli: Cli) -> AppResult<()> {
    if let Some(Command::Openapi) = cli.command {
        // Needs no configuration or database.
        println!("{}", http::openapi_json());
        return Ok(());
    }
    let config = Config::from_env()?;
    let serving = matches!(cli.command, None | Some(Command::Serve(_)));
    init_tracing(&config, serving);
    match &cli.command {
        // Files only: no pool, no migration, and a clear word on MySQL.
        Some(Command::Backup(args)) => {
            let report = backup::backup(&config, &args.file).await?;
            println!("{}", serde_json::to_string(&report).map_err(AppError::internal)?);
            return Ok(());
        }
        Some(Command::Restore(args)) => {
            let report = backup::restore(&config, &args.file, args.force)?;
            println!("{}", serde_json::to_string(&report).map_err(AppError::internal)?);
            return Ok(());
        }
        _ => {}
    }
    match cli.command {
        None => server::serve(config, !cli.no_demo).await,
        Some(Command::Serve(args)) => server::serve(config, !(args.no_demo || cli.no_demo)).await,
        Some(Command::Migrate) => {
            let state = server::prepare(config).await?;
            let tenants = tenants::all_ids(&state.databases).await?.len();
            println!("{}", serde_json::json!({"migrated": true, "tenants": tenants}));
            Ok(())
        }
        Some(Command::Tenant(TenantCommand::Create { name, timezone })) => {
            let state = server::prepare(config).await?;
            let tenant_id = tenants::create(&state.databases, &name, &timezone).await?;
            println!("{}", serde_json::json!({ "tenant_id": tenant_id }));
            Ok(())
        }
        Some(Command::User(UserCommand::Create {
            tenant_id,
            username,
            email,
            role,
        })) => {
            let password = read_password_line()?;
            let state = server::prepare(config).await?;
            let new = NewUser {
                tenant_id,
                username,
                email,
                role,
                password,
            };
            let user_id = users::create(&state.databases, state.hashing, &new).await?;
            println!("{}", serde_json::json!({ "user_id": user_id }));
            Ok(())
        }
        Some(Command::User(UserCommand::ResetPassword { tenant_id, username })) => {
            let password = read_password_line()?;
            let state = server::prepare(config).await?;
            let user = admin::user_by_username(&state, tenant_id, &username).await?;
            admin::change_password(
                &state,
                &operator(tenant_id),
                user.user_id,
                None,
                &password,
                &cli_client(),
            )
            .await?;
            println!("{}", serde_json::json!({ "user_id": user.user_id }));
            Ok(())
        }
        Some(Command::ApiKey(command)) => api_key(config, command).await,
        Some(Command::Partitions(PartitionCommand::Maintain)) => {
            let state = server::prepare(config).await?;
            let reports = crate::plant::partitions::maintain_all(&state.plant()).await?;
            println!("{}", serde_json::to_string(&reports).map_err(AppError::internal)?);
            Ok(())
        }
        Some(Command::Generate(args)) => {
            let state = server::prepare(config).await?;
            let request = crate::detections::generate::GenerateRequest {
                tenant_id: args.tenant_id,
                line_id: args.line_id,
                days: args.days,
                units_per_second: args.rate,
                seed: args.seed,
                until: crate::clock::now_utc(),
            };
            let progress = CliProgress::new();
            let sink = crate::detections::generate::Sink {
                databases: &state.databases,
                cache: &state.cache,
                clock: &state.clock,
                gap_floor: state.config.gap_floor(),
            };
            let written = crate::detections::generate::run_with_progress(sink, &request, &progress).await?;
            progress.finish(&format!("wrote {written} detections over {} days", args.days));
            println!("{}", serde_json::json!({ "detections": written }));
            Ok(())
        }
        Some(Command::Demo(args)) => {
            let state = server::prepare(config).await?;
            let progress = CliProgress::new();
            let seed = demo::seed_with_progress(&state.databases, state.hashing, args.days, &progress).await?;
            progress.finish(&format!(
                "created the demo plant with {} detections over {} days",
                seed.detections, args.days
            ));
            println!(
                "{}",
                serde_json::json!({
                    "tenant_id": seed.tenant_id,
                    "line_id": seed.line_id,
                    "detections": seed.detections,
                    "username": seed.username,
                    "password": seed.password,
                })
            );
            Ok(())
        }
        Some(Command::Openapi | Command::Backup(_) | Command::Restore(_)) => Ok(()),
    }
}

/// `camet api-key ...`
async fn api_key(config: Config, command: ApiKeyCommand) -> AppResult<()> {
    let state = server::prepare(config).await?;
    let client = cli_client();
    match command {
        ApiKeyCommand::Create {
            tenant_id,
            owner,
            name,
            role,
            rate_limit_per_minute,
        } => {
            let owner = admin::user_by_username(&state, tenant_id, &owner).await?;
            if !owner.is_active {
                return Err(AppError::BadRequest(format!(
                    "user {:?} is deactivated: a key needs an active user's authority",
                    owner.username
                )));
            }
            // The operator issues the key; its owner's rights bound it, as
            // when that user creates it through the API.
            let backer = Principal {
                user_id: None,
                username: None,
                ..owner.principal(None)
            };
            let (row, key) =
                admin::create_api_key(&state, &backer, &name, role, rate_limit_per_minute, &client).await?;
            println!(
                "{}",
                serde_json::json!({
                    "api_key_id": row.api_key_id,
                    "key": key,
                    "key_prefix": row.key_prefix,
                    "name": row.name,
                    "role": row.role,
                    "owner": owner.username,
                })
            );
        }
        ApiKeyCommand::List { tenant_id } => {
            if tenants::find(&state.databases, tenant_id).await?.is_none() {
                return Err(AppError::NotFound(format!("tenant {tenant_id} does not exist")));
            }
            let keys = admin::list_api_keys(&state, tenant_id).await?;
            println!("{}", serde_json::to_string(&keys).map_err(AppError::internal)?);
        }
        ApiKeyCommand::Revoke { tenant_id, key_id } => {
            admin::revoke_api_key(&state, &operator(tenant_id), key_id, &client, state.clock.now()).await?;
            println!("{}", serde_json::json!({ "api_key_id": key_id, "revoked": true }));
        }
    }
    Ok(())
}

/// The one-line form of an error for stderr.
pub fn one_line(error: &AppError) -> String {
    let text = match error {
        AppError::Validation { errors, .. } if !errors.is_empty() => errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    };
    text.replace(['\n', '\r'], " ")
}
