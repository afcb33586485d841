//! `outdial pool fill-gaps`: from the plan's coverage gaps to local numbers in the agent's pool,
//! in one step. For the largest gaps first it finds the cheapest local number of the gap's area
//! code, shows what it would buy and what that costs, asks, then reserves, buys and attaches each.
//!
//! `--max` and `--budget` are hard limits: the choice is made before anything is bought, from
//! the listed prices (setup plus the first month, what the wallet is charged), and nothing
//! outside the choice is bought.

use std::fmt;
use std::num::NonZeroU32;
use std::path::PathBuf;

use clap::Args;

use super::super::numbers::purchase_key;
use super::super::output::{self, Table};
use super::super::{Global, connect};
use crate::api::{Attach, Feature, Flowyte, NumberType, Offer, SearchQuery, Synthflow};
use crate::campaign::Campaign;
use crate::dialer;
use crate::error::Error;
use crate::plan::{Gap, plan};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  outdial pool fill-gaps spring.toml --max 3 --budget 10
  outdial pool fill-gaps spring.toml --max 5 --budget 20 --yes   # in a script: no question")]
pub struct FillGapsArgs {
    /// The campaign file (TOML) whose plan shows the gaps
    campaign: PathBuf,
    /// Buy at most this many numbers
    #[arg(long, value_name = "N")]
    max: NonZeroU32,
    /// Spend at most this many US dollars (setup and first month of every number together)
    #[arg(long, value_name = "USD", value_parser = budget)]
    budget: Budget,
    /// Buy without asking (required when stdin is not a terminal)
    #[arg(long)]
    yes: bool,
}

/// A positive, finite amount of US dollars, in cents so that sums are exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Budget(u64);

fn budget(written: &str) -> Result<Budget, String> {
    match written.trim().trim_start_matches('$').parse::<f64>() {
        Ok(usd) if usd.is_finite() && usd > 0.0 && usd < 1e9 => {
            Ok(Budget((usd * 100.0).floor() as u64))
        }
        _ => Err(format!(
            "`{written}` is not an amount of dollars above zero, e.g. 10 or 12.50"
        )),
    }
}

impl Budget {
    /// What the wallet is charged for `offer`: setup and the first month, rounded up to a cent.
    fn of(offer: &Offer) -> Budget {
        let usd = offer.setup_cost.max(0.0) + offer.monthly_cost.max(0.0);
        Budget((usd * 100.0 - 1e-6).ceil().max(0.0) as u64)
    }
}

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${}.{:02}", self.0 / 100, self.0 % 100)
    }
}

/// One number to buy for one gap.
struct Pick {
    gap: Gap,
    offer: Offer,
    cost: Budget,
}

pub async fn run(args: FillGapsArgs, global: &Global) -> Result<u8, Error> {
    let campaign = super::super::load(&args.campaign, global)?;
    let synthflow = Synthflow::new(&campaign.api.base_url, campaign.api.key(&campaign.file)?)?;
    let flowyte = connect::flowyte(global)?;
    let gaps = gaps(&campaign, &synthflow).await?;
    if gaps.is_empty() {
        output::line("no coverage gaps: every area code with contacts has a number in the pool");
        return Ok(0);
    }
    let (picks, passed) = choose(&flowyte, gaps, &args).await?;
    if picks.is_empty() {
        output::line(format_args!(
            "nothing bought: no local number for sale in the gaps fits a budget of {}{}",
            args.budget,
            passed.describe()
        ));
        return Ok(0);
    }
    let total = Budget(picks.iter().map(|p| p.cost.0).sum());
    output::text(proposal(&picks));
    output::line(format_args!(
        "{} number(s) for {total} (budget {}){}",
        picks.len(),
        args.budget,
        passed.describe()
    ));
    let question = format!("buy and attach these for {total}? Type yes to confirm: ");
    let refusal = format!(
        "buying numbers for {total} cannot be undone and stdin is not a terminal to confirm it: pass --yes to buy them"
    );
    if !args.yes && !output::confirm(&question, refusal)? {
        eprintln!("nothing bought");
        return Ok(1);
    }
    buy_and_attach(&flowyte, &synthflow, &campaign, picks).await
}

/// The plan's coverage gaps over the pool a run would use, largest first.
async fn gaps(campaign: &Campaign, synthflow: &Synthflow) -> Result<Vec<Gap>, Error> {
    let pool = if campaign.rotation.numbers.is_empty() {
        dialer::resolve_pool(campaign, synthflow).await?
    } else {
        campaign.rotation.numbers.clone()
    };
    let campaign = campaign.clone();
    let planned =
        tokio::task::spawn_blocking(move || plan(&campaign, &pool, jiff::Timestamp::now()))
            .await
            .expect("planning does not panic")?;
    Ok(planned.gaps)
}

/// Gaps that got no number, and why: told to the user so a short list is not a mystery.
#[derive(Default)]
struct Passed {
    none_for_sale: u32,
    over_budget: u32,
}

impl Passed {
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.none_for_sale > 0 {
            parts.push(format!(
                "{} gap(s) with no local number for sale",
                self.none_for_sale
            ));
        }
        if self.over_budget > 0 {
            parts.push(format!("{} gap(s) past the budget", self.over_budget));
        }
        match parts.is_empty() {
            true => String::new(),
            false => format!("; passed over: {}", parts.join(", ")),
        }
    }
}

/// The cheapest local voice number of each gap's area code, largest gap first, while the
/// count stays within `--max` and the sum within `--budget`.
async fn choose(
    flowyte: &Flowyte,
    gaps: Vec<Gap>,
    args: &FillGapsArgs,
) -> Result<(Vec<Pick>, Passed), Error> {
    let mut picks: Vec<Pick> = Vec::new();
    let mut passed = Passed::default();
    let mut spent = 0;
    for gap in gaps {
        if picks.len() as u64 >= u64::from(args.max.get()) {
            break;
        }
        let Some(offer) = cheapest_local(flowyte, &gap).await? else {
            passed.none_for_sale += 1;
            continue;
        };
        let cost = Budget::of(&offer);
        if spent + cost.0 > args.budget.0 {
            passed.over_budget += 1;
            continue;
        }
        spent += cost.0;
        picks.push(Pick { gap, offer, cost });
    }
    Ok((picks, passed))
}

async fn cheapest_local(flowyte: &Flowyte, gap: &Gap) -> Result<Option<Offer>, Error> {
    let query = SearchQuery {
        area_code: Some(gap.area_code),
        locality: None,
        administrative_area: None,
        number_type: Some(NumberType::Local),
        features: vec![Feature::Voice],
        contains: None,
        starts_with: None,
        ends_with: None,
        best_effort: false,
        limit: 20,
    };
    let offers = flowyte.search(&query).await?;
    Ok(offers
        .into_iter()
        .filter(|offer| offer.reservable && query.is_exact(offer))
        .min_by_key(Budget::of))
}

fn proposal(picks: &[Pick]) -> Table {
    let mut table = Table::new(&["AREA CODE", "CONTACTS", "NUMBER", "PLACE", "COST"]);
    for pick in picks {
        let place = [pick.offer.locality.as_deref(), pick.offer.region.as_deref()];
        let place: Vec<&str> = place.into_iter().flatten().collect();
        table.push(vec![
            pick.gap.area_code.to_string(),
            pick.gap.contacts.to_string(),
            pick.offer.e164.to_string(),
            place.join(", "),
            pick.cost.to_string(),
        ]);
    }
    table
}

/// Reserves, buys and attaches each pick in turn. A failure stops there: what was done and
/// spent so far is said first, then the error.
async fn buy_and_attach(
    flowyte: &Flowyte,
    synthflow: &Synthflow,
    campaign: &Campaign,
    picks: Vec<Pick>,
) -> Result<u8, Error> {
    let mut bought = Vec::new();
    let mut spent = Budget(0);
    for pick in picks {
        let e164 = &pick.offer.e164;
        let step = async {
            let hold = flowyte.reserve(e164).await?;
            let key = purchase_key(e164, Some(&hold.id));
            flowyte.purchase(e164, Some(&hold.id), &key).await?;
            Ok::<_, Error>(())
        };
        if let Err(error) = step.await {
            say_done(&bought, spent, campaign);
            return Err(error);
        }
        spent = Budget(spent.0 + pick.cost.0);
        let attached = synthflow
            .attach(&campaign.agent, &Attach::Numbers(vec![e164.clone()]))
            .await;
        if let Err(source) = attached {
            say_done(&bought, spent, campaign);
            eprintln!(
                "{e164} was bought but not attached: attach it with `outdial pool attach --agent {} --number {e164}`",
                campaign.agent
            );
            return Err(Error::Pool {
                agent: campaign.agent.clone(),
                source,
            });
        }
        output::line(format_args!(
            "bought {e164} for {} and attached it to agent {} (area code {}, {} contacts)",
            pick.cost, campaign.agent, pick.gap.area_code, pick.gap.contacts
        ));
        bought.push(e164.to_string());
    }
    say_done(&bought, spent, campaign);
    Ok(0)
}

fn say_done(bought: &[String], spent: Budget, campaign: &Campaign) {
    output::line(format_args!(
        "bought and attached {} number(s), spent {spent}",
        bought.len()
    ));
    if !bought.is_empty() && !campaign.rotation.numbers.is_empty() {
        output::line(format_args!(
            "this campaign lists its pool in rotation.numbers: add {} there to call from them",
            bought.join(", ")
        ));
    }
}
