//! `outdial agent publish`: freeze an agent's current draft as the version its calls use.
//!
//! Phone calls are served by the last *published* version (CONTRACT B.1), so a change to an
//! agent, or to which numbers it answers, reaches callers only after a publish.

use clap::{Args, Subcommand};

use super::output;
use super::{Global, connect};
use crate::api::{IdempotencyKey, Published};
use crate::error::Error;

#[derive(Debug, Args)]
pub struct AgentArgs {
    #[command(subcommand)]
    command: AgentCommand,
}

#[derive(Debug, Subcommand)]
enum AgentCommand {
    /// Publish the agent's current draft: calls then use this version
    #[command(after_help = "Example:\n  outdial agent publish AGENT_ID --note \"new greeting\"")]
    Publish(PublishArgs),
}

#[derive(Debug, Args)]
struct PublishArgs {
    /// The agent's id
    #[arg(value_name = "ID", value_parser = super::agent_id)]
    agent: String,
    /// What changed, kept with the version
    #[arg(long, value_name = "TEXT")]
    note: Option<String>,
    /// Print the published version as JSON
    #[arg(long)]
    json: bool,
}

pub async fn run(args: AgentArgs, global: &Global) -> Result<u8, Error> {
    match args.command {
        AgentCommand::Publish(args) => publish(args, global).await,
    }
}

async fn publish(args: PublishArgs, global: &Global) -> Result<u8, Error> {
    let api = connect::flowyte(global)?;
    let key = publish_key(&args.agent, args.note.as_deref());
    let published = api.publish(&args.agent, args.note.as_deref(), &key).await?;
    if args.json {
        output::json(&published);
    } else {
        output::line(format_args!(
            "published agent {} as {}",
            args.agent,
            version(&published)
        ));
    }
    output::advise(
        args.json,
        "calls are served by the last published version, so they use this one from now on",
    );
    Ok(0)
}

/// Unlike a purchase, publishing the same agent twice is legitimate (the draft may have changed
/// in between), so the key is unique to this invocation: it dedupes retries of this request,
/// never a later publish.
fn publish_key(agent: &str, note: Option<&str>) -> IdempotencyKey {
    let now = jiff::Timestamp::now().as_nanosecond().to_string();
    let process = std::process::id().to_string();
    IdempotencyKey::derive("publish", &[agent, note.unwrap_or(""), &now, &process])
}

fn version(published: &Published) -> String {
    match published.version {
        Some(version) => format!("version {version}"),
        None => "a new version".to_owned(),
    }
}
