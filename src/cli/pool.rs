//! `outdial pool list|attach|detach`: the caller-ID pool of a Synthflow agent, with the region
//! and time zones each number's area code implies (what local-presence rotation will use);
//! `pool fill-gaps` buys numbers for a campaign's gaps; `pool health` shows how each number of
//! a campaign fares (number health).

mod fill_gaps;
mod health;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::output::{self, Table};
use super::{Global, connect};
use crate::api::{Agent, ApiError, Attach, Slug, Synthflow};
use crate::area_codes;
use crate::error::Error;
use crate::phone::Phone;

#[derive(Debug, Args)]
pub struct PoolArgs {
    #[command(subcommand)]
    command: PoolCommand,
}

#[derive(Debug, Subcommand)]
enum PoolCommand {
    /// The agent's attached numbers, with the region and time zones of each area code
    #[command(after_help = "Examples:
  outdial pool list --agent AGENT_ID
  outdial pool list --agent AGENT_ID --json")]
    List(ListArgs),
    /// Attach numbers to the agent's pool (adds to it; nothing already attached is removed)
    #[command(after_help = "Examples:
  outdial pool attach --agent AGENT_ID --number +14155550102,+12125550101
  outdial pool attach --agent AGENT_ID --slug 14155550102")]
    Attach(AttachArgs),
    /// Detach one number from the agent's pool (it stays in the workspace)
    #[command(after_help = "Examples:
  outdial pool detach --agent AGENT_ID --slug 14155550102
  outdial pool detach --agent AGENT_ID --slug +14155550102")]
    Detach(DetachArgs),
    /// Buy local numbers for a campaign's largest coverage gaps and attach them, in one step
    FillGaps(fill_gaps::FillGapsArgs),
    /// Each number's recent calls, connection rate, calls today, and whether it rests and why
    Health(health::HealthArgs),
}

#[derive(Debug, Args)]
struct ListArgs {
    /// The agent's model_id
    #[arg(long, value_parser = super::agent_id)]
    agent: String,
    /// Print the pool as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct AttachArgs {
    /// The agent's model_id
    #[arg(long, value_parser = super::agent_id)]
    agent: String,
    /// Numbers to attach, E.164 (repeat the flag or separate with commas)
    #[arg(long = "number", value_name = "E164", num_args = 1.., value_delimiter = ',',
          value_parser = super::phone)]
    numbers: Vec<Phone>,
    /// Slugs to attach: the digits without the + (repeat or separate with commas)
    #[arg(long = "slug", value_name = "SLUG", num_args = 1.., value_delimiter = ',')]
    slugs: Vec<Slug>,
    /// Print the resulting pool as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct DetachArgs {
    /// The agent's model_id
    #[arg(long, value_parser = super::agent_id)]
    agent: String,
    /// The number to detach: its slug (14155550102) or the number itself (+14155550102)
    #[arg(long, value_name = "SLUG|E164")]
    slug: Slug,
    /// Print the resulting pool as JSON
    #[arg(long)]
    json: bool,
}

/// The pool as `--json` prints it.
#[derive(Debug, Serialize)]
struct PoolView {
    agent: String,
    numbers: Vec<PoolNumber>,
}

#[derive(Debug, Serialize)]
struct PoolNumber {
    number: String,
    slug: String,
    sid: Option<String>,
    /// ISO 3166-2, e.g. `US-CA`; `None` outside the US and Canada or for an unknown area code.
    region: Option<String>,
    /// IANA zones the area code spans, the most frequent first.
    time_zones: Vec<String>,
}

pub async fn run(args: PoolArgs, global: &Global) -> Result<u8, Error> {
    match args.command {
        PoolCommand::List(args) => list(args, global).await,
        PoolCommand::Attach(args) => attach(args, global).await,
        PoolCommand::Detach(args) => detach(args, global).await,
        PoolCommand::FillGaps(args) => fill_gaps::run(args, global).await,
        PoolCommand::Health(args) => health::run(args, global),
    }
}

async fn list(args: ListArgs, global: &Global) -> Result<u8, Error> {
    let api = connect::synthflow(global)?;
    show(&agent(&api, &args.agent).await?, args.json);
    Ok(0)
}

async fn attach(args: AttachArgs, global: &Global) -> Result<u8, Error> {
    // Checked before the key is read or anything is sent: the vendor refuses a mixed body.
    let numbers = args.request()?;
    let api = connect::synthflow(global)?;
    api.attach(&args.agent, &numbers)
        .await
        .map_err(refused(&args.agent))?;
    let agent = agent(&api, &args.agent).await?;
    let done = format!(
        "attached {} number(s) to agent {}; the pool now has {}",
        numbers.len(),
        args.agent,
        agent.attached.len()
    );
    output::advise(args.json, &done);
    show(&agent, args.json);
    Ok(0)
}

async fn detach(args: DetachArgs, global: &Global) -> Result<u8, Error> {
    let api = connect::synthflow(global)?;
    api.detach(&args.agent, &args.slug)
        .await
        .map_err(refused(&args.agent))?;
    let agent = agent(&api, &args.agent).await?;
    let done = format!(
        "detached {} from agent {}; it stays in the workspace, and the pool now has {}",
        args.slug,
        args.agent,
        agent.attached.len()
    );
    output::advise(args.json, &done);
    show(&agent, args.json);
    Ok(0)
}

impl AttachArgs {
    /// The one request the flags describe: numbers or slugs, never both.
    fn request(&self) -> Result<Attach, Error> {
        match (self.numbers.is_empty(), self.slugs.is_empty()) {
            (false, false) => Err(Error::Usage(
                "--number and --slug cannot be combined: Synthflow attaches numbers or slugs in one request, not both; run `outdial pool attach` once with each".into(),
            )),
            (true, true) => Err(Error::Usage(
                "name what to attach: --number +14155550102 (or --slug 14155550102)".into(),
            )),
            (false, true) => Ok(Attach::Numbers(self.numbers.clone())),
            (true, false) => Ok(Attach::Slugs(self.slugs.clone())),
        }
    }
}

async fn agent(api: &Synthflow, id: &str) -> Result<Agent, Error> {
    api.agent(id).await.map_err(refused(id))
}

fn refused(agent: &str) -> impl FnOnce(ApiError) -> Error + '_ {
    move |source| Error::Pool {
        agent: agent.to_owned(),
        source,
    }
}

fn show(agent: &Agent, json: bool) {
    let view = PoolView::of(agent);
    if json {
        output::json(&view);
    } else if view.numbers.is_empty() {
        output::line(format_args!(
            "agent {} has no attached numbers: attach some with `outdial pool attach --agent {} --number +1…`",
            view.agent, view.agent
        ));
    } else {
        output::line(format_args!(
            "agent {}: {} attached number(s)",
            view.agent,
            view.numbers.len()
        ));
        output::text(view.table());
    }
}

impl PoolView {
    fn of(agent: &Agent) -> PoolView {
        let numbers = agent
            .attached
            .iter()
            .map(|attached| {
                let place = Phone::try_from(attached.number.clone())
                    .ok()
                    .and_then(|phone| phone.area_code())
                    .and_then(area_codes::place);
                PoolNumber {
                    number: attached.number.clone(),
                    slug: attached.slug.clone(),
                    sid: attached.sid.clone(),
                    region: place.and_then(|p| p.region.as_ref()).map(|r| r.to_string()),
                    time_zones: place.map(|p| p.time_zones.clone()).unwrap_or_default(),
                }
            })
            .collect();
        PoolView {
            agent: agent.model_id.clone(),
            numbers,
        }
    }

    fn table(&self) -> Table {
        let mut table = Table::new(&["NUMBER", "SLUG", "SID", "REGION", "TIME ZONE"]);
        for number in &self.numbers {
            table.push(vec![
                number.number.clone(),
                number.slug.clone(),
                number.sid.clone().unwrap_or_else(|| "-".into()),
                number.region.clone().unwrap_or_else(|| "?".into()),
                number.time_zones.join(" "),
            ]);
        }
        table
    }
}
