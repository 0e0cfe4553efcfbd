//! The `camet` binary: parses the command line and maps outcomes to exit
//! codes (0 success, 2 usage error, 1 anything else).

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

/// glibc's malloc spent about half of the server's CPU under ingest
/// (many short-lived allocations freed on other runtime threads); mimalloc
/// keeps per-thread heaps. Measured in docs/performance.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc marks its arenas for transparent huge pages, so every 2 MiB it
/// touches stays resident whole: about 20 MiB more at idle, and a flood of
/// logins (each Argon2 slot a 19 MiB block) past its memory bound
/// (docs/security.md, "Login memory"). Off unless the operator decides,
/// through mimalloc's own `MIMALLOC_ALLOW_THP`.
fn keep_heap_in_small_pages() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: the call takes plain integers and sets one flag of this
        // process; a kernel without it answers EINVAL, which changes nothing.
        let _ = unsafe {
            libc::prctl(
                libc::PR_SET_THP_DISABLE,
                1 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            )
        };
    }
}

fn main() -> ExitCode {
    keep_heap_in_small_pages();
    let cli = match camet::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            return match error.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    let _ = error.print();
                    ExitCode::SUCCESS
                }
                _ => {
                    // clap's message spans lines (the missing arguments come on the
                    // next ones); keep everything before its usage block, on one line.
                    let rendered = error.to_string();
                    let message: Vec<&str> = rendered
                        .lines()
                        .take_while(|line| !line.starts_with("Usage:") && !line.starts_with("For more information"))
                        .map(str::trim)
                        .filter(|line| !line.is_empty())
                        .collect();
                    eprintln!("{} (see `camet --help`)", message.join(" "));
                    ExitCode::from(2)
                }
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(camet::cli::execute(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", camet::cli::one_line(&error));
            ExitCode::from(1)
        }
    }
}
