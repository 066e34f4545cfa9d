//! `cordon-loadgen`: the load generator behind `bench/intake.sh`.
//!
//! `cordon-loadgen load` POSTs PagerDuty Events API v2 triggers to a Cordon server's
//! `/v2/enqueue` over N keep-alive HTTP/1.1 connections, in one of two modes:
//!
//! - **closed loop** (no `--rate`): each connection sends its next event as soon as the
//!   previous one is answered, for the whole duration. This finds the most events per second
//!   the server accepts; its latencies are those of a saturated server.
//! - **open loop** (`--rate R`): event *i* is due at `start + i / R`, whatever happened to the
//!   events before it, and its latency is measured from that due time, not from when a
//!   connection got round to sending it. A server that stalls therefore delays every event due
//!   during the stall and each of them is counted late, instead of the stall silently lowering
//!   the send rate (the "coordinated omission" that makes closed-loop percentiles flattering).
//!
//! Every event has its own dedup key, so each opens a new alert, unless `--repeat-fraction`
//! asks for some to repeat an earlier key (which Cordon counts on the open alert instead).
//!
//! With `--notify-listen ADDR` the same process also receives the webhook pages the events
//! cause (the on-call person's contact method points there) and times each event from its 202
//! to the first page that names it. Both ends read one monotonic clock in one process.
//! `cordon-loadgen receive` is that receiver on its own: it answers 200 and counts.
//!
//! A human summary goes to stderr; one JSON line goes to stdout, for scripts.

mod load;
mod receive;
mod report;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "cordon-loadgen",
    about = "Load generator for Cordon's PagerDuty-compatible intake, and a webhook receiver that times pages."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send PagerDuty Events API v2 triggers to /v2/enqueue and report accepted events/s and latencies.
    Load(LoadArgs),
    /// Receive webhook pages: answer 200, count them, report on SIGINT or SIGTERM.
    Receive(ReceiveArgs),
}

#[derive(Debug, Args)]
struct LoadArgs {
    /// Cordon's base URL, e.g. http://127.0.0.1:8080 (events go to <url>/v2/enqueue).
    #[arg(long)]
    url: String,
    /// An integration (routing) key. Give several to spread events round-robin over services.
    #[arg(long = "key", value_name = "KEY")]
    keys: Vec<String>,
    /// A file of routing keys, one per line, used in addition to --key.
    #[arg(long, value_name = "FILE")]
    keys_file: Option<PathBuf>,
    /// Keep-alive connections to the server.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// How long to send, in seconds.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Events per second (open loop). Without it, closed loop at the server's pace.
    #[arg(long)]
    rate: Option<f64>,
    /// Fraction of events (0 to 1) that repeat an earlier event's dedup key.
    #[arg(long, default_value_t = 0.0)]
    repeat_fraction: f64,
    /// Also receive webhook pages here (e.g. 127.0.0.1:9001) and time each event to its page.
    #[arg(long, value_name = "ADDR")]
    notify_listen: Option<SocketAddr>,
    /// After sending, how long to wait for pages still outstanding, in seconds.
    #[arg(long, default_value_t = 30.0)]
    notify_wait: f64,
    /// A name for this run in the output.
    #[arg(long, default_value = "load")]
    label: String,
    /// Worker threads of the load generator itself (it shares the machine with the server).
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

#[derive(Debug, Args)]
struct ReceiveArgs {
    /// Address to listen on, e.g. 127.0.0.1:9000.
    #[arg(long)]
    listen: SocketAddr,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let threads = match &cli.command {
        Command::Load(args) => args.threads.max(1),
        Command::Receive(_) => 1,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Load(args) => run_load(args).await,
            Command::Receive(args) => run_receive(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run_load(args: LoadArgs) -> anyhow::Result<()> {
    let mut keys = args.keys.clone();
    if let Some(path) = &args.keys_file {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        keys.extend(
            text.lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(str::to_owned),
        );
    }
    anyhow::ensure!(!keys.is_empty(), "give at least one routing key (--key or --keys-file)");
    anyhow::ensure!(args.connections > 0, "--connections must be at least 1");
    anyhow::ensure!(
        args.duration.is_finite() && args.duration > 0.0,
        "--duration must be a positive number of seconds"
    );
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.repeat_fraction),
        "--repeat-fraction must be between 0 and 1"
    );
    let pacing = match args.rate {
        None => load::Pacing::Closed,
        Some(rate) if rate.is_finite() && rate > 0.0 => load::Pacing::Open { rate },
        Some(rate) => anyhow::bail!("--rate {rate} is not a positive number of events per second"),
    };
    let events = load::Events::new(keys, args.repeat_fraction);
    let pages = match args.notify_listen {
        Some(address) => {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("cannot listen on {address} for pages"))?;
            let pages = Arc::new(receive::Pages::new(Some(events.run().to_owned())));
            tokio::spawn(receive::serve(listener, Arc::clone(&pages)));
            Some(pages)
        }
        None => None,
    };
    let cpu_before = report::process_cpu_seconds();
    let plan = load::Plan {
        target: load::Target::parse(&args.url)?,
        events,
        pacing,
        duration: Duration::from_secs_f64(args.duration),
        connections: args.connections,
        record_acceptance: pages.is_some(),
    };
    let outcome = load::run(plan).await?;
    let cpu_sending = report::process_cpu_seconds()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    let notify = match &pages {
        Some(pages) => Some(
            receive::wait_for_pages(
                pages,
                &outcome.accepted,
                Duration::from_secs_f64(args.notify_wait.max(0.0)),
            )
            .await,
        ),
        None => None,
    };
    let summary = report::LoadSummary {
        label: &args.label,
        connections: args.connections,
        duration: args.duration,
        rate: args.rate,
        repeat_fraction: args.repeat_fraction,
        outcome: &outcome,
        notify: notify.as_ref(),
        cpu_seconds: cpu_sending,
    };
    eprint!("{}", summary.human());
    println!("{}", summary.json());
    Ok(())
}

async fn run_receive(args: ReceiveArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let pages = Arc::new(receive::Pages::new(None));
    eprintln!("receiving webhooks on {}", args.listen);
    let server = tokio::spawn(receive::serve(listener, Arc::clone(&pages)));
    shutdown_signal().await;
    server.abort();
    let webhooks = pages.webhooks();
    eprintln!("received {webhooks} webhooks");
    println!("{}", serde_json::json!({"webhooks": webhooks}));
    Ok(())
}

async fn shutdown_signal() {
    let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(signal) => signal,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
