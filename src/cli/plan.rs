//! `outdial plan`: what a run would do, calling nobody.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;

use super::Global;
use super::output::{self, Table};
use crate::api::Synthflow;
use crate::clock::Clock;
use crate::dialer;
use crate::error::Error;
use crate::plan::{Plan, plan};
use crate::report::local_presence;

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The campaign file (TOML)
    pub campaign: PathBuf,
    /// Print the plan as JSON
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: PlanArgs, global: &Global) -> Result<u8, Error> {
    let campaign = super::load(&args.campaign, global)?;
    // The pool comes from the agent unless the campaign lists it: only then is a key needed.
    let pool = if campaign.rotation.numbers.is_empty() {
        let api = Synthflow::new(&campaign.api.base_url, campaign.api.key(&campaign.file)?)?;
        dialer::resolve_pool(&campaign, &api).await?
    } else {
        campaign.rotation.numbers.clone()
    };
    let planned = tokio::task::spawn_blocking(move || plan(&campaign, &pool, Clock::System.now()))
        .await
        .expect("planning does not panic")?;
    if args.json {
        output::json(&planned);
    } else {
        output::text(describe(&planned));
    }
    Ok(0)
}

fn describe(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "plan for campaign {}: {} contacts to call (calling nobody now)",
        plan.campaign, plan.contacts
    );
    if plan.skipped_rows > 0 || plan.do_not_call > 0 {
        let _ = writeln!(
            out,
            "  not dialled: {} CSV rows (bad or duplicate phone), {} on a do-not-call list",
            plan.skipped_rows, plan.do_not_call
        );
    }
    for list in &plan.do_not_call_lists {
        let _ = writeln!(out, "  do-not-call list {list}");
    }
    if let Some(shares) = local_presence(&plan.matches) {
        let _ = writeln!(
            out,
            "  local presence (caller ID shares the callee's …): {shares}"
        );
    }
    let _ = writeln!(out, "  planned load per caller ID:");
    indent(&load_table(plan), &mut out);
    describe_gaps(plan, &mut out);
    let w = &plan.window;
    let _ = write!(
        out,
        "  calling window: {} can be called now, {} wait",
        w.open_now, w.waiting
    );
    match &w.next_opening {
        Some(opening) => {
            let _ = writeln!(out, " (next window opens {opening})");
        }
        None => out.push('\n'),
    }
    if let Some(reason) = &w.zone_unknown_reason {
        let _ = writeln!(
            out,
            "  held, not called: {} contact(s), e.g. {reason}",
            w.zone_unknown
        );
    }
    if w.never > 0 {
        let _ = writeln!(
            out,
            "  outside every window (never callable as configured): {}",
            w.never
        );
    }
    if let Some(last) = plan.last_call_at {
        let _ = writeln!(
            out,
            "  first calls paced at the campaign's rate under caps and cooldowns: the last starts at {} (windows and call lengths not modelled)",
            last.strftime("%Y-%m-%dT%H:%M:%SZ")
        );
    }
    let _ = writeln!(out, "  planned in {:.1} s", plan.elapsed_seconds);
    out
}

/// Calls per caller ID, how many of them local, and the days a daily cap stretches them over.
fn load_table(plan: &Plan) -> Table {
    let mut table = Table::new(&["CALLER ID", "CALLS", "SAME AREA CODE", "DAYS AT CAP"]);
    for column in 1..=3 {
        table.align_right(column);
    }
    for (number, load) in &plan.load {
        let days = load.days_at_cap.map_or("-".to_owned(), |d| d.to_string());
        table.push(vec![
            number.clone(),
            load.calls.calls.to_string(),
            load.calls.local.to_string(),
            days,
        ]);
    }
    table
}

/// A table set four spaces in, under its heading line.
fn indent(table: &Table, out: &mut String) {
    for line in table.to_string().lines() {
        let _ = writeln!(out, "    {line}");
    }
}

fn describe_gaps(plan: &Plan, out: &mut String) {
    if plan.gaps.is_empty() {
        let _ = writeln!(
            out,
            "  coverage: every callee's area code has a number in the pool"
        );
        return;
    }
    let _ = writeln!(
        out,
        "  coverage gaps (area codes with contacts but no number of their own):"
    );
    let mut table = Table::new(&["AREA CODE", "REGION", "CONTACTS", "TO FILL IT"]);
    table.align_right(2);
    for gap in &plan.gaps {
        let region = gap
            .region
            .as_ref()
            .map_or("-".to_owned(), |r| r.to_string());
        let search = format!("→ {}", gap.search);
        table.push(vec![
            gap.area_code.to_string(),
            region,
            gap.contacts.to_string(),
            search,
        ]);
    }
    indent(&table, out);
    if !plan.regions_without_a_number.is_empty() {
        let regions: Vec<String> = plan
            .regions_without_a_number
            .iter()
            .map(|g| format!("{} {}", g.region, g.contacts))
            .collect();
        let _ = writeln!(
            out,
            "  states/provinces with no number at all: {}",
            regions.join(", ")
        );
    }
}
