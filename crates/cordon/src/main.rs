//! `cordon`: the command line and (with `serve`) the server of the Cordon platform.
//!
//! Exit codes: 0 success; 1 the command ran but failed (refused by a rule, not found, audit
//! found problems, bad input); 2 the command line itself was wrong. `cordon hunt` has its own
//! (0 no detections, 1 detections, 2 error).

mod cli;
mod commands;
mod evidence;
mod hunt;
mod paging;
mod render;
mod serve;
mod target;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let cli::Command::Hunt(args) = cli.command {
        // The hunt is synchronous and parallel (rayon): it needs no async runtime.
        return match hunt::run(args) {
            Ok(code) => code,
            Err(err) => {
                eprintln!("error: {err:#}");
                ExitCode::from(2)
            }
        };
    }
    let serving = matches!(cli.command, cli::Command::Serve(_));
    let json_logs = match &cli.command {
        cli::Command::Serve(args) => {
            args.log_format
                .as_deref()
                .or(std::env::var("CORDON_LOG_FORMAT").ok().as_deref())
                == Some("json")
        }
        _ => false,
    };
    init_logging(serving, json_logs);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr so that stdout stays clean for tables and JSON. The CLI is quiet unless
/// RUST_LOG asks for more; the server logs at info, as JSON when asked.
fn init_logging(serving: bool, json: bool) {
    let default = if serving { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| LogWriter);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Writes logs to stderr and never fails: when stderr is gone (a closed pipe, a restarted log
/// collector), logs are dropped instead of taking the request that logged down with them.
struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}
