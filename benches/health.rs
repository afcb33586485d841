//! Number health on and off (issue 10): the same seeded campaign, twice, against the in-process
//! sandbox's answer model with carriers' labelling, once with `[health] enabled = true` and once
//! with it off. Prints, for each, the people reached (contacts whose call reached a person), the
//! calls made, the numbers the carriers labelled and the numbers number health rested.
//!
//! The campaign leans on New York (half its contacts, all of them on Eastern time like the pool),
//! so its one New York number is overused:
//! past `LABEL_AFTER` calls in a sandbox day the carriers label it, and from then its calls are
//! answered a quarter as often, 30% blocked, most of the answered ones short. Health on rests it
//! and calls New Yorkers from other numbers; health off keeps burning it.
//!
//! Not a criterion bench: each campaign takes a while. `OUTDIAL_BENCH_CONTACTS` sets the
//! contacts (default 1,200); the sandbox plays calls at 200× speed.

use std::error::Error;

use outdial::campaign::{ApiKey, Campaign, Overrides};
use outdial::dialer::{self, Ending};
use outdial::history::Reach;
use outdial::journal::{Journal, State};
use outdial::phone::{Country, Phone};
use outdial::progress::Display;
use outdial::sandbox::answers::{AnswerSettings, Factor, Labelling, TierLift};
use outdial::sandbox::{AgentSpec, Sandbox, SandboxConfig, TimeScale};

const AGENT: &str = "health-bench-agent";
/// All on Eastern time, as are the contacts: every callee is at the same hour of the answer
/// curve, so the comparison is of the numbers, not of their callees' hours (see the README:
/// number health does not adjust for the callee's hour).
const POOL: [&str; 6] = [
    "+12125550101",
    "+13055550106",
    "+14045550109",
    "+16175550107",
    "+12025550103",
    "+17865550104",
];
/// Calls in a sandbox day past which the carriers label a number.
const LABEL_AFTER: u32 = 400;

fn campaign_text(health: bool) -> String {
    format!(
        r#"name = "health-bench"
agent = "{AGENT}"
contacts = "contacts.csv"

[pacing]
calls_per_second = 100.0
max_live_calls = 16

[rotation]
strategy = "region"

[window]
start = "00:00"
end = "23:59:59"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

[retry]
max_attempts = 2
redial_after_minutes = 0

[health]
enabled = {health}
window_calls = 60
min_calls = 30
"#
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let contacts = std::env::var("OUTDIAL_BENCH_CONTACTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_200u32);
    println!(
        "health: {contacts} contacts (half in New York), pool of {}, carriers label past \
         {LABEL_AFTER} calls a sandbox day, seed 11, calls at 200x",
        POOL.len()
    );
    println!("| health | people reached | calls | labelled by carriers | rested by health |");
    println!("| --- | --- | --- | --- | --- |");
    for health in [true, false] {
        let figures = run(health, contacts).await?;
        println!(
            "| {} | {} | {} | {} | {} |",
            if health { "on" } else { "off" },
            figures.reached,
            figures.calls,
            figures.labelled.join(", "),
            figures.rested.join(", ")
        );
    }
    Ok(())
}

struct Figures {
    reached: u64,
    calls: u64,
    labelled: Vec<String>,
    rested: Vec<String>,
}

async fn run(health: bool, contacts: u32) -> Result<Figures, Box<dyn Error>> {
    let lift = Factor::new(2.0)?;
    let sandbox = Sandbox::start(SandboxConfig {
        agents: vec![AgentSpec {
            id: AGENT.to_owned(),
            numbers: POOL.iter().map(|n| phone(n)).collect(),
        }],
        call_duration: "30..90".parse()?,
        time_scale: TimeScale::new(200.0)?,
        seed: 11,
        answers: Some(AnswerSettings {
            lift: TierLift {
                area_code: lift,
                region: lift,
                time_zone: lift,
                none: lift,
            },
            labelling: Labelling {
                day_calls: LABEL_AFTER,
                minute_calls: u32::MAX,
                ..Labelling::default()
            },
            ..AnswerSettings::default()
        }),
        // A Tuesday, 12:30 in New York.
        clock_start: Some("2026-12-01T17:30:00Z".parse()?),
        ..SandboxConfig::default()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("campaign.toml");
    std::fs::write(&file, campaign_text(health))?;
    let codes = [212, 212, 212, 212, 305, 404, 617, 202];
    let mut csv = String::from("phone,name\n");
    for i in 0..contacts {
        let npa = codes[i as usize % codes.len()];
        csv.push_str(&format!(
            "+1{npa}{}{:04},Person {i}\n",
            234 + i / 10_000,
            i % 10_000
        ));
    }
    std::fs::write(dir.path().join("contacts.csv"), csv)?;
    let overrides = Overrides {
        api_base: Some(sandbox.synthflow_base()),
    };
    let campaign = Campaign::load(&file, &overrides)?;
    let journal = Journal::open(&campaign.journal_dir, &campaign.name)?;
    let finish = dialer::launch(
        &campaign,
        &journal,
        ApiKey::new("bench"),
        Display::Quiet,
        std::future::pending(),
    )
    .await?;
    assert!(
        matches!(finish.ending, Ending::Complete),
        "{:?}",
        finish.ending
    );
    let mut reached = 0;
    for entry in journal.entries() {
        let entry = entry?;
        let person = entry.last_end.as_ref().map(Reach::of) == Some(Reach::Person);
        reached += u64::from(person && matches!(entry.state, State::Done { .. }));
    }
    let rested = journal
        .rests()
        .map(|rest| rest.map(|rest| rest.number.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    journal.close().await;
    let stats = sandbox.stats();
    let labelled = stats
        .labelled
        .iter()
        .map(|l| l.number.to_string())
        .collect();
    sandbox.stop().await;
    Ok(Figures {
        reached,
        calls: stats.creates_accepted,
        labelled,
        rested,
    })
}

fn phone(e164: &str) -> Phone {
    Phone::parse(e164, Country::default()).expect("bench numbers are valid")
}
