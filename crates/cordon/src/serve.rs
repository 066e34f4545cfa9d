//! `cordon serve`: loads the configuration, opens the store, arms the first-admin setup link
//! when there are no users yet, and serves until SIGINT or SIGTERM.

use std::process::ExitCode;

use anyhow::Context;
use cordon_app::{DataDir, Service};
use cordon_auth::secret::{self, TokenKind};
use cordon_server::{AppState, Overrides, ServerConfig};
use cordon_store::{PgStore, SqliteStore, Store};
use tokio::net::TcpListener;

use crate::cli::{Global, ServeArgs};

/// Resolves the configuration from the file, the environment and the flags.
pub fn load_config(global: &Global, args: &ServeArgs) -> anyhow::Result<ServerConfig> {
    let overrides = Overrides {
        listen: args.listen.clone(),
        metrics_listen: args.metrics_listen.clone(),
        data_dir: global.data_dir.clone(),
        database: global.database.clone(),
        public_url: args.public_url.clone(),
        log_format: args.log_format.clone(),
    };
    // Global flags already carry their environment variables; the rest are read here.
    Ok(ServerConfig::load(
        args.config.as_deref(),
        |name| std::env::var(name).ok(),
        overrides,
    )?)
}

pub async fn run(config: ServerConfig) -> anyhow::Result<ExitCode> {
    let data_dir = DataDir::open(&config.data_dir)?;
    match config.database.clone() {
        None => {
            let store = SqliteStore::open(&data_dir.database_path()).await?;
            serve(store, data_dir, config).await
        }
        Some(url) => {
            let store = PgStore::connect(&url).await?;
            serve(store, data_dir, config).await
        }
    }
}

async fn serve<S: Store>(store: S, data_dir: DataDir, config: ServerConfig) -> anyhow::Result<ExitCode> {
    let seed = data_dir.signing_key()?.to_bytes();
    let mut service = Service::new(store.clone(), data_dir)?;
    if let Ok(limit) = std::env::var("CORDON_EVIDENCE_MAX_BYTES") {
        let bytes = limit
            .parse()
            .with_context(|| format!("CORDON_EVIDENCE_MAX_BYTES={limit:?} is not a number of bytes"))?;
        service = service.with_max_evidence_bytes(bytes);
    }
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let metrics_listener = TcpListener::bind(config.metrics_listen)
        .await
        .with_context(|| format!("cannot listen on {} for metrics", config.metrics_listen))?;
    let public_url = config.public_url.clone();
    let state = AppState::new(service, store.clone(), config, &seed);
    if store.count_users().await? == 0 {
        let (token, digest) = secret::mint(TokenKind::Setup)?;
        state.set_setup_digest(Some(digest));
        // Printed, never logged: it is a credential, shown once to whoever started the server.
        eprintln!(
            "\nNo users yet. Create the first administrator within this run of the server:\n  open {public_url}/setup?token={}\n  or: curl -X POST {public_url}/api/v1/setup -H 'content-type: application/json' \\\n       -d '{{\"token\":\"{}\",\"name\":\"admin\",\"password\":\"...at least 12 characters...\"}}'\n",
            token.expose(),
            token.expose()
        );
    }
    let notifier = cordon_notify::Notifier::new(state.config().notifier()).context("cannot set up notifications")?;
    let engine = state.paging().start(notifier).await?;
    tracing::info!(listen = %public_url, "cordon serving");
    eprintln!("cordon serving on {public_url}");
    cordon_server::serve(state, listener, metrics_listener, shutdown_signal()).await?;
    engine.stop();
    tracing::info!("cordon stopped");
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
