//! `openclaw gateway run`: the daemon in the foreground, on `127.0.0.1:18789` by default.

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use openclaw_config::Secret;
use openclaw_gateway::{AuthSettings, Gateway};

use super::Ctx;

#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    /// Run the gateway in the foreground until interrupted.
    Run(RunArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Port (default: gateway.port, 18789; 0 picks a free one).
    #[arg(long)]
    port: Option<u16>,
    /// loopback (default), lan, or custom (gateway.customBindHost).
    #[arg(long)]
    bind: Option<String>,
    /// Shared token clients must present (default: gateway.auth.token or OPENCLAW_GATEWAY_TOKEN).
    #[arg(long)]
    token: Option<String>,
    /// Log at debug level.
    #[arg(long)]
    verbose: bool,
}

fn resolve(secret: &Option<Secret>, what: &str) -> anyhow::Result<Option<String>> {
    match secret {
        None => Ok(None),
        Some(Secret::Plain(text)) => match openclaw_config::unresolved_var(text) {
            Some(name) => bail!("gateway.auth.{what} reads {name}, which is not set (fix: export {name})"),
            None => Ok(Some(text.clone())),
        },
        Some(Secret::Ref { source, id, .. }) if source == "env" => super::env(id)
            .filter(|v| !v.is_empty())
            .map(Some)
            .with_context(|| format!("gateway.auth.{what} reads {id}, which is not set (fix: export {id})")),
        Some(Secret::Ref { source, .. }) => {
            bail!("gateway.auth.{what}: SecretRef source {source:?} is not supported yet")
        }
    }
}

pub async fn run(ctx: &Ctx, command: GatewayCommand) -> anyhow::Result<ExitCode> {
    let GatewayCommand::Run(args) = command;
    if args.verbose {
        tracing::info!("Verbose logging requested; set OPENCLAW_LOG_LEVEL=debug for more.");
    }
    let loaded = ctx.load()?;
    let gateway_config = loaded.config.gateway.clone();
    let token = args
        .token
        .clone()
        .or(resolve(&gateway_config.auth.token, "token")?)
        .or_else(|| super::env("OPENCLAW_GATEWAY_TOKEN").filter(|t| !t.is_empty()));
    let password = resolve(&gateway_config.auth.password, "password")?
        .or_else(|| super::env("OPENCLAW_GATEWAY_PASSWORD").filter(|p| !p.is_empty()));
    let auth = AuthSettings { token, password };
    let bind = args.bind.clone().unwrap_or(gateway_config.bind.clone());
    let host = match bind.as_str() {
        "loopback" => "127.0.0.1".to_owned(),
        "lan" | "auto" => "0.0.0.0".to_owned(),
        "custom" => gateway_config.custom_bind_host.clone().context(
            "--bind custom needs gateway.customBindHost (fix: openclaw config set gateway.customBindHost 10.0.0.5)",
        )?,
        other => bail!("--bind {other:?} is not supported (fix: use loopback, lan or custom)"),
    };
    let loopback = host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback && !auth.is_configured() {
        bail!(
            "refusing to listen on {host} without authentication (fix: set gateway.auth.token or OPENCLAW_GATEWAY_TOKEN, or use --bind loopback)"
        );
    }
    let port = args.port.unwrap_or(gateway_config.port);
    let store = ctx.store(&loaded.paths).await?;
    let runtime = super::build_runtime(&loaded, store.clone()).await?;
    let listener = tokio::net::TcpListener::bind((host.as_str(), port))
        .await
        .with_context(|| format!("cannot listen on {host}:{port} (fix: free the port or pass --port)"))?;
    let address = listener.local_addr()?;
    let gateway = Gateway::new(loaded, runtime, auth);
    println!("openclaw gateway listening on ws://{address} (health: http://{address}/healthz)");
    openclaw_gateway::serve(gateway, listener, shutdown_signal()).await?;
    store.close().await;
    eprintln!("openclaw gateway stopped");
    Ok(ExitCode::SUCCESS)
}

/// SIGINT or SIGTERM.
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
