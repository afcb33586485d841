//! The command line: clap types, and one module per command, each with its arguments and `run`.

mod agent;
mod connect;
mod demo;
mod docs;
mod export;
mod init;
mod numbers;
mod output;
mod plan;
mod pool;
mod repair;
mod report;
mod run;
mod sandbox;
mod simulate;
mod status;
mod wallet;

use std::path::Path;

use clap::{Args, Parser, Subcommand};

use crate::campaign::{Campaign, Overrides};
use crate::error::Error;
use crate::phone::{Country, Phone};

/// Outbound call campaigns for AI voice agents: local-presence caller IDs, pacing to the
/// account's limits, and a journal that makes every campaign resumable.
#[derive(Debug, Parser)]
#[command(
    name = "outdial",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("OUTDIAL_COMMIT"), ")"),
    about,
    long_about = None,
    after_help = "Examples:
  outdial init my-campaign                 # a campaign file and contacts to start from
  outdial demo                             # a whole campaign against a built-in sandbox
  outdial plan spring.toml                 # what a run would do, calling nobody
  outdial run spring.toml                  # call; run it again to resume"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: Global,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Synthflow API base URL (overrides the campaign's api.base_url)
    #[arg(long, global = true, env = "OUTDIAL_API_BASE", value_name = "URL")]
    pub api_base: Option<String>,
    /// Flowyte API base URL
    #[arg(
        long,
        global = true,
        env = "OUTDIAL_NUMBERS_API_BASE",
        value_name = "URL"
    )]
    pub numbers_api_base: Option<String>,
    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG works too
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors and the final result
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented campaign file and sample contacts that run against the sandbox
    #[command(after_help = "Examples:
  outdial init                 # campaign.toml and contacts.csv in this folder
  outdial init my-campaign     # in a new folder")]
    Init(init::InitArgs),
    /// Start a campaign, or resume it where its journal left off
    #[command(after_help = "Examples:
  SYNTHFLOW_API_KEY=... outdial run spring.toml
  outdial run spring.toml --api-base http://127.0.0.1:8700/v2   # against `outdial sandbox`")]
    Run(run::RunArgs),
    /// Like run, but refuse when the campaign has no journal yet
    #[command(after_help = "Example (cron, after a reboot):
  outdial resume /srv/campaigns/spring.toml || echo \"resume failed: $?\"")]
    Resume(run::RunArgs),
    /// Progress from the journal (works while a run is going)
    #[command(after_help = "Examples:
  outdial status spring.toml
  outdial status spring.toml --json | jq .tally.states")]
    Status(status::StatusArgs),
    /// Figures people look at: funnel, answer hours, caller IDs, local presence, gaps, pacing
    #[command(after_help = "Examples:
  outdial report spring.toml
  outdial report spring.toml --html spring-report.html   # one page, works offline
  outdial report spring.toml --json | jq .funnel")]
    Report(report::ReportArgs),
    /// What a run would do, calling nobody: load per number, coverage gaps, windows
    #[command(after_help = "Examples:
  outdial plan spring.toml
  outdial plan spring.toml --json | jq '.gaps[:3]'
  outdial pool fill-gaps spring.toml --max 3 --budget 10   # then fill the largest gaps")]
    Plan(plan::PlanArgs),
    /// Every row of the contacts file, in its order, with its own columns and its outcome
    #[command(after_help = "Examples:
  outdial export spring.toml -o spring-results.csv
  outdial export spring.toml --xlsx spring-results.xlsx
  outdial export spring.toml | grep ',failed,'")]
    Export(export::ExportArgs),
    /// Check a journal against the vendor's call records, or rebuild a damaged or lost one
    #[command(after_help = "Examples:
  outdial repair spring.toml --dry-run
  outdial repair spring.toml
  outdial repair spring.toml --since 2026-11-30T09:00:00Z   # the journal and its witness are gone")]
    Repair(repair::RepairArgs),
    /// Compare rotation strategies: play the campaign for days on a virtual clock, calling nobody
    #[command(after_help = "Examples:
  outdial simulate spring.toml                                   # region, round-robin, weighted
  outdial simulate spring.toml --strategy region,weighted --days 3 --seed 7
  outdial simulate spring.toml --json | jq '.strategies[] | {strategy, reached}'")]
    Simulate(simulate::SimulateArgs),
    /// Serve a local simulator of the Synthflow and Flowyte APIs
    #[command(after_help = "Examples:
  outdial sandbox                                     # 127.0.0.1:8700, the demo agent
  outdial sandbox --addr 127.0.0.1:0 --call-seconds 30..90 --time-scale 60
  outdial sandbox --outcomes completed=60,no-answer=30,busy=10 --dropped 0.05")]
    Sandbox(sandbox::SandboxArgs),
    /// Run the demo campaign against an in-process sandbox
    #[command(after_help = "Example:\n  outdial demo")]
    Demo,
    /// An agent's caller-ID pool on Synthflow: list, attach, detach, fill gaps
    #[command(after_help = "Examples:
  outdial pool list --agent AGENT_ID
  outdial pool fill-gaps spring.toml --max 3 --budget 10")]
    Pool(pool::PoolArgs),
    /// Find, hold, buy, assign and release phone numbers (Flowyte)
    #[command(after_help = "Examples:
  outdial numbers search --area-code 415
  outdial numbers list")]
    Numbers(numbers::NumbersArgs),
    /// The Flowyte prepaid wallet: balance and auto-reload
    #[command(after_help = "Examples:\n  outdial wallet\n  outdial wallet --json")]
    Wallet(wallet::WalletArgs),
    /// Flowyte agents: publish the version calls use
    #[command(after_help = "Example:\n  outdial agent publish AGENT_ID --note \"new greeting\"")]
    Agent(agent::AgentArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell)
    #[command(after_help = "Examples:
  outdial completions bash > ~/.local/share/bash-completion/completions/outdial
  outdial completions zsh > \"${fpath[1]}/_outdial\"")]
    Completions(docs::CompletionsArgs),
    /// Print the man page (roff)
    #[command(after_help = "Example:\n  outdial man > outdial.1 && man ./outdial.1")]
    Man,
}

/// Runs the command; returns the process exit code.
pub async fn run(cli: Cli) -> Result<u8, Error> {
    match cli.command {
        Command::Init(args) => init::run(args),
        Command::Completions(args) => docs::completions(args),
        Command::Man => docs::man(),
        Command::Run(args) => run::run(args, &cli.global, run::Journaling::StartOrResume).await,
        Command::Resume(args) => run::run(args, &cli.global, run::Journaling::ResumeOnly).await,
        Command::Status(args) => status::run(args, &cli.global).await,
        Command::Export(args) => export::run(args, &cli.global).await,
        Command::Report(args) => report::run(args, &cli.global).await,
        Command::Plan(args) => plan::run(args, &cli.global).await,
        Command::Repair(args) => repair::run(args, &cli.global).await,
        Command::Simulate(args) => simulate::run(args, &cli.global).await,
        Command::Sandbox(args) => sandbox::run(args).await,
        Command::Demo => demo::run(&cli.global).await,
        Command::Pool(args) => pool::run(args, &cli.global).await,
        Command::Numbers(args) => numbers::run(args, &cli.global).await,
        Command::Wallet(args) => wallet::run(args, &cli.global).await,
        Command::Agent(args) => agent::run(args, &cli.global).await,
    }
}

fn load(file: &Path, global: &Global) -> Result<Campaign, Error> {
    Ok(Campaign::load(
        file,
        &Overrides {
            api_base: global.api_base.clone(),
        },
    )?)
}

/// Flag parser for a phone number as a person writes it (`+1 415 555 0102`, `(415) 555-0102`),
/// read as a US number when it has no `+country`.
fn phone(written: &str) -> Result<Phone, String> {
    Phone::parse(written, Country::default()).map_err(|error| format!("{written}: {error}"))
}

/// Flag parser for an agent id: anything but blank, since a blank id would address the
/// collection instead of the agent.
fn agent_id(written: &str) -> Result<String, String> {
    non_empty(written).map_err(|_| "an agent id cannot be blank".to_owned())
}

fn non_empty(written: &str) -> Result<String, String> {
    match written.trim() {
        "" => Err("cannot be blank".to_owned()),
        text => Ok(text.to_owned()),
    }
}
