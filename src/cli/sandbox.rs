//! `outdial sandbox`: the vendor simulator as a standalone server.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

use crate::error::Error;
use crate::sandbox::{self, AgentSpec, DEFAULT_INVENTORY, Latency, SandboxConfig, Usd};

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
    /// Numbers for sale on the numbers API, spread over every US and Canadian area code
    #[arg(long, default_value_t = DEFAULT_INVENTORY as u32, value_name = "N",
          value_parser = clap::value_parser!(u32).range(..=MAX_INVENTORY))]
    pub inventory: u32,
    /// The numbers API's prepaid wallet at start-up, in US dollars
    #[arg(long, default_value = "50", value_name = "USD")]
    pub wallet: Usd,
}

/// Plenty for any test or demo; bounds the start-up time and memory of a typo like 10000000.
const MAX_INVENTORY: i64 = 100_000;

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
        inventory: args.inventory as usize,
        wallet: args.wallet,
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
