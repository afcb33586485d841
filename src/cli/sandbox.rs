//! `outdial sandbox`: the vendor simulator as a standalone server.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

use crate::error::Error;
use crate::sandbox::{self, AgentSpec, Latency, SandboxConfig};

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Loopback address to listen on (port 0 picks a free one)
    #[arg(long, default_value = "127.0.0.1:8700")]
    pub addr: SocketAddr,
    /// An outbound agent and its attached pool: ID=E164,E164,… (repeatable; default: the demo agent)
    #[arg(long = "agent", value_name = "ID=E164,…")]
    pub agents: Vec<AgentSpec>,
    /// The only bearer key accepted (default: any non-empty key)
    #[arg(long, value_name = "KEY")]
    pub api_key: Option<String>,
    /// Seed for everything random (ids, latency)
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Latency added to every answer, in ms: "50" or "20..80"
    #[arg(long, default_value = "0", value_name = "MS")]
    pub latency_ms: Latency,
    /// Simulated length of every call, in seconds
    #[arg(long, default_value_t = 2.0, value_name = "SECONDS")]
    pub call_seconds: f64,
}

pub async fn run(args: SandboxArgs) -> Result<u8, Error> {
    if !args.addr.ip().is_loopback() {
        return Err(Error::Usage(format!(
            "--addr {}: the sandbox serves on loopback only, e.g. 127.0.0.1:0",
            args.addr
        )));
    }
    if !(args.call_seconds.is_finite() && args.call_seconds >= 0.0) {
        return Err(Error::Usage(format!(
            "--call-seconds {}: must be 0 or more",
            args.call_seconds
        )));
    }
    let io = |context: &str| {
        let context = context.to_owned();
        move |source| Error::Io { context, source }
    };
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(io(&format!("cannot listen on {}", args.addr)))?;
    let addr = listener
        .local_addr()
        .map_err(io("cannot read the bound address"))?;
    let config = SandboxConfig {
        agents: args.agents,
        api_key: args.api_key,
        seed: args.seed,
        latency: args.latency_ms,
        call_duration: Duration::from_secs_f64(args.call_seconds),
    };
    println!("listening on http://{addr}");
    let _ = std::io::stdout().flush();
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    sandbox::serve(listener, config, shutdown)
        .await
        .map_err(io("the sandbox stopped"))?;
    Ok(0)
}
