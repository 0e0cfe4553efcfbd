//! The `camet` command line. Every command has `--help`; exit codes are 0 on
//! success, 2 on usage errors, 1 on anything else, with a one-line message on
//! stderr.

use std::io::BufRead;

use clap::{Args, Parser, Subcommand};

use crate::auth::roles::Role;
use crate::auth::users::{self, NewUser};
use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::{demo, http, server, tenants};

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

/// Sets up logging: text or JSON lines on stderr, filtered by `CAMET_LOG`.
/// Commands other than `serve` log warnings only, keeping stdout for their JSON.
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
        Some(Command::Partitions(PartitionCommand::Maintain)) => {
            let state = server::prepare(config).await?;
            let reports = crate::plant::partitions::maintain_all(&state).await?;
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
            let started = std::time::Instant::now();
            let written = crate::detections::generate::run(&state, &request).await?;
            println!(
                "{}",
                serde_json::json!({"detections": written, "seconds": started.elapsed().as_secs_f64()})
            );
            Ok(())
        }
        Some(Command::Demo(args)) => {
            let state = server::prepare(config).await?;
            let seed = demo::seed(&state.databases, state.hashing, args.days).await?;
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
        Some(Command::Openapi) => Ok(()),
    }
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
