//! `outdial numbers …`: find, hold, buy, assign and give up phone numbers through Flowyte.
//!
//! The order a person follows: `search` → `reserve` (a free ~30 minute hold) → `buy` (paid from
//! the prepaid wallet) → `pool attach` (into the agent's caller-ID rotation). `assign` sets the
//! agent that answers call-backs (then `agent publish` if the agent changed). `unassign` keeps
//! the number (and its bill); `release` gives it up for good. `list` shows what you own.

mod search;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::output::{self, Table};
use super::{Global, connect};
use crate::api::{Flowyte, FlowyteError, IdempotencyKey, Import, OwnedNumber};
use crate::error::Error;
use crate::phone::Phone;

#[derive(Debug, Args)]
pub struct NumbersArgs {
    #[command(subcommand)]
    command: NumbersCommand,
}

#[derive(Debug, Subcommand)]
enum NumbersCommand {
    /// The numbers you own, with the agent answering each
    #[command(after_help = "Examples:
  outdial numbers list
  outdial numbers list --json | jq '.numbers[] | select(.defaultAgentId == null)'")]
    List(ListArgs),
    /// Numbers for sale, by area code, city, state, type, features or digits
    #[command(after_help = "Examples:
  outdial numbers search --area-code 415
  outdial numbers search --state CA --type local --features voice,sms --limit 5
  outdial numbers search --area-code 212 --ends-with CALL --strict")]
    Search(search::SearchArgs),
    /// Hold a number for about 30 minutes, free of charge
    #[command(after_help = "Example:\n  outdial numbers reserve +14155550123")]
    Reserve(ReserveArgs),
    /// Buy a number from the prepaid wallet (setup cost and first month)
    #[command(
        after_help = "Examples:\n  outdial numbers buy +14155550123 --reservation res_123\n  outdial pool attach --agent AGENT_ID --number +14155550123   # then put it into rotation"
    )]
    Buy(BuyArgs),
    /// Make an agent answer a number you own
    #[command(after_help = "Example:\n  outdial numbers assign num_123 --agent AGENT_ID")]
    Assign(AssignArgs),
    /// Take the agent off a number (you keep it, and it is still billed)
    #[command(after_help = "Example:\n  outdial numbers unassign num_123")]
    Unassign(NumberIdArgs),
    /// Give a number back to the carrier, for good
    #[command(
        after_help = "Examples:\n  outdial numbers release num_123\n  outdial numbers release num_123 --yes   # in a script"
    )]
    Release(ReleaseArgs),
    /// Bring in a number you rent from your own carrier (no wallet charge)
    #[command(
        after_help = "Example:\n  outdial numbers import --number +14155550123 --provider twilio --agent AGENT_ID"
    )]
    Import(ImportArgs),
}

#[derive(Debug, Args)]
struct ListArgs {
    /// Print the numbers as JSON
    #[arg(long)]
    json: bool,
}

/// What `numbers list --json` prints.
#[derive(Debug, Serialize)]
struct Owned<'a> {
    numbers: &'a [OwnedNumber],
}

#[derive(Debug, Args)]
struct ReserveArgs {
    /// The number to hold, E.164
    #[arg(value_name = "E164", value_parser = super::phone)]
    e164: Phone,
    /// Print the reservation as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct BuyArgs {
    /// The number to buy, E.164
    #[arg(value_name = "E164", value_parser = super::phone)]
    e164: Phone,
    /// The reservation holding it (from `outdial numbers reserve`)
    #[arg(long, value_name = "ID", value_parser = super::non_empty)]
    reservation: Option<String>,
    /// Print the new number as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct AssignArgs {
    /// The number's id (from `outdial numbers buy` or `import`)
    #[arg(value_name = "ID", value_parser = super::non_empty)]
    id: String,
    /// The agent to answer it
    #[arg(long, value_parser = super::agent_id)]
    agent: String,
    /// Print the number as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct NumberIdArgs {
    /// The number's id
    #[arg(value_name = "ID", value_parser = super::non_empty)]
    id: String,
    /// Print the number as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ReleaseArgs {
    /// The number's id
    #[arg(value_name = "ID", value_parser = super::non_empty)]
    id: String,
    /// Release without asking (required when stdin is not a terminal)
    #[arg(long)]
    yes: bool,
    /// Print the released number as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// The number, E.164
    #[arg(long = "number", value_name = "E164", value_parser = super::phone)]
    e164: Phone,
    /// The carrier you rent it from, e.g. twilio or telnyx
    #[arg(long, value_name = "NAME", value_parser = super::non_empty)]
    provider: String,
    /// An agent to answer it right away
    #[arg(long, value_parser = super::agent_id)]
    agent: Option<String>,
    /// Print the number as JSON
    #[arg(long)]
    json: bool,
}

pub async fn run(args: NumbersArgs, global: &Global) -> Result<u8, Error> {
    match args.command {
        NumbersCommand::List(args) => list(args, global).await,
        NumbersCommand::Search(args) => search::run(args, global).await,
        NumbersCommand::Reserve(args) => reserve(args, global).await,
        NumbersCommand::Buy(args) => buy(args, global).await,
        NumbersCommand::Assign(args) => assign(args, global).await,
        NumbersCommand::Unassign(args) => unassign(args, global).await,
        NumbersCommand::Release(args) => release(args, global).await,
        NumbersCommand::Import(args) => import(args, global).await,
    }
}

async fn list(args: ListArgs, global: &Global) -> Result<u8, Error> {
    let numbers = connect::flowyte(global)?.owned().await?;
    if args.json {
        output::json(&Owned { numbers: &numbers });
    } else if numbers.is_empty() {
        output::line(
            "you own no numbers: find some with `outdial numbers search --area-code 415`, or fill a campaign's gaps with `outdial pool fill-gaps CAMPAIGN.toml`",
        );
    } else {
        output::text(owned_table(&numbers));
    }
    Ok(0)
}

fn owned_table(numbers: &[OwnedNumber]) -> Table {
    let mut table = Table::new(&["NUMBER", "ID", "AGENT", "STATUS", "MONTHLY"]);
    for number in numbers {
        table.push(vec![
            number.e164.to_string(),
            number.id.clone(),
            number
                .default_agent_id
                .clone()
                .unwrap_or_else(|| "-".into()),
            number.status.clone().unwrap_or_else(|| "?".into()),
            number
                .monthly_cost
                .map_or_else(|| "-".into(), output::dollars),
        ]);
    }
    table
}

async fn reserve(args: ReserveArgs, global: &Global) -> Result<u8, Error> {
    let api = connect::flowyte(global)?;
    let hold = api
        .reserve(&args.e164)
        .await
        .map_err(not_holdable(&args.e164))?;
    if args.json {
        output::json(&hold);
    } else {
        let until = hold.expires_at.map_or_else(
            || "for about 30 minutes".to_owned(),
            |t| format!("until {t} ({})", time_left(t)),
        );
        output::line(format_args!(
            "held {} as reservation {} {until}",
            hold.e164, hold.id
        ));
    }
    let next = format!(
        "buy it with `outdial numbers buy {} --reservation {}`",
        hold.e164, hold.id
    );
    output::advise(args.json, &next);
    Ok(0)
}

/// `29m 59s left`, in jiff's friendly duration format (`{:#}`), rounded to whole seconds.
fn time_left(until: jiff::Timestamp) -> String {
    let left = until.duration_since(jiff::Timestamp::now());
    let left = jiff::SignedDuration::from_secs(left.as_secs().max(0));
    format!("{left:#} left")
}

async fn buy(args: BuyArgs, global: &Global) -> Result<u8, Error> {
    let api = connect::flowyte(global)?;
    let key = purchase_key(&args.e164, args.reservation.as_deref());
    let bought = api
        .purchase(&args.e164, args.reservation.as_deref(), &key)
        .await;
    let number = match bought {
        Ok(number) => number,
        Err(error) => return Err(purchase_error(&api, &args, error).await),
    };
    if args.json {
        output::json(&number);
    } else {
        let monthly = number.monthly_cost.map(output::dollars);
        let monthly = monthly.map_or_else(String::new, |m| format!(" for {m}/month"));
        output::line(format_args!(
            "bought {} as number {}{monthly}",
            number.e164, number.id
        ));
    }
    let next = format!(
        "put it into an agent's caller-ID rotation with `outdial pool attach --agent AGENT_ID --number {}`",
        number.e164
    );
    output::advise(args.json, &next);
    Ok(0)
}

/// The same number under the same reservation on the same UTC day is one purchase: a repeat
/// (a retry after a lost answer, or the command run again) gets the first answer back instead
/// of a 409. The day keeps a buy after a later release from replaying a stale answer.
pub(super) fn purchase_key(e164: &Phone, reservation: Option<&str>) -> IdempotencyKey {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let day = today.to_string();
    IdempotencyKey::derive(
        "purchase",
        &[e164.as_str(), reservation.unwrap_or(""), &day],
    )
}

/// 402 and 409 get their own advice; a 402 also reads the balance to show it.
async fn purchase_error(api: &Flowyte, args: &BuyArgs, error: FlowyteError) -> Error {
    if let Some(problem) = error.problem(402) {
        return Error::WalletShort {
            e164: args.e164.clone(),
            detail: problem.detail.clone(),
            wallet: api.wallet().await.ok(),
        };
    }
    match not_holdable(&args.e164)(error) {
        Error::NotHoldable { e164, .. } if args.reservation.is_none() => {
            Error::HeldWithoutReservation { e164 }
        }
        other => other,
    }
}

/// A 409 on a hold or a purchase: the number is taken; anything else passes through.
fn not_holdable(e164: &Phone) -> impl FnOnce(FlowyteError) -> Error + '_ {
    move |error| match error.problem(409) {
        Some(problem) => Error::NotHoldable {
            e164: e164.clone(),
            detail: problem.detail.clone(),
        },
        None => error.into(),
    }
}

async fn assign(args: AssignArgs, global: &Global) -> Result<u8, Error> {
    let number = connect::flowyte(global)?
        .assign(&args.id, &args.agent)
        .await?;
    let what = format!("now answered by agent {}", args.agent);
    report(&number, args.json, &what);
    output::advise(args.json, &publish_reminder(&args.agent));
    Ok(0)
}

async fn unassign(args: NumberIdArgs, global: &Global) -> Result<u8, Error> {
    let number = connect::flowyte(global)?.unassign(&args.id).await?;
    report(&number, args.json, "unassigned");
    let billing = format!(
        "no agent answers it, but it is still yours and still billed; give it up with `outdial numbers release {}`",
        number.id
    );
    output::advise(args.json, &billing);
    Ok(0)
}

async fn release(args: ReleaseArgs, global: &Global) -> Result<u8, Error> {
    if !args.yes && !confirm_release(&args.id)? {
        eprintln!("not released: {} is still yours", args.id);
        return Ok(1);
    }
    let number = connect::flowyte(global)?.release(&args.id).await?;
    report(&number, args.json, "released to the carrier");
    output::advise(
        args.json,
        "this cannot be undone: the number is no longer yours",
    );
    Ok(0)
}

fn confirm_release(id: &str) -> Result<bool, Error> {
    output::confirm(
        &format!(
            "release number {id} back to the carrier? This cannot be undone. Type yes to confirm: "
        ),
        format!(
            "releasing number {id} cannot be undone and stdin is not a terminal to confirm it: pass --yes to release it"
        ),
    )
}

async fn import(args: ImportArgs, global: &Global) -> Result<u8, Error> {
    let import = Import {
        e164: args.e164,
        provider: args.provider,
        agent_id: args.agent,
    };
    let number = connect::flowyte(global)?.import(&import).await?;
    let answered = import.agent_id.as_ref();
    let answered = answered.map_or_else(String::new, |a| format!(", answered by agent {a}"));
    let what = format!(
        "imported from {} with no wallet charge{answered}",
        import.provider
    );
    report(&number, args.json, &what);
    if let Some(agent) = &import.agent_id {
        output::advise(args.json, &publish_reminder(agent));
    }
    Ok(0)
}

/// One line per changed number, or the number as JSON.
fn report(number: &OwnedNumber, json: bool, what: &str) {
    if json {
        output::json(number);
        return;
    }
    let status = number.status.as_deref().unwrap_or("unknown");
    output::line(format_args!(
        "{} ({}): {what} [status {status}]",
        number.e164, number.id
    ));
}

fn publish_reminder(agent: &str) -> String {
    format!(
        "calls are answered by the agent's last published version: if you changed agent {agent}, publish it with `outdial agent publish {agent}`"
    )
}
