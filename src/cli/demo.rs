//! `outdial demo`: the demo campaign (`campaigns/demo/`, compiled in) against an in-process
//! sandbox, end to end, with a fresh journal each time.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use super::run::{self, Journaling};
use super::{Global, output};
use crate::campaign::{ApiKey, Campaign, Overrides};
use crate::dialer::Finish;
use crate::error::Error;
use crate::journal::{Journal, Opening};
use crate::progress::Display;
use crate::sandbox::answers::{AnswerSettings, Factor, Labelling, TierLift};
use crate::sandbox::{Latency, Sandbox, SandboxConfig, TimeScale};

const CAMPAIGN: &str = include_str!("../../campaigns/demo/demo.toml");
const CONTACTS: &str = include_str!("../../campaigns/demo/contacts.csv");

pub async fn run(global: &Global) -> Result<u8, Error> {
    let config = SandboxConfig {
        seed: 7,
        latency: Latency {
            min: Duration::from_millis(20),
            max: Duration::from_millis(120),
        },
        // Calls of 30–90 simulated seconds at 60× speed, a realistic share of them unanswered.
        call_duration: "30..90".parse().expect("a valid call length"),
        time_scale: TimeScale::new(60.0).expect("a valid time scale"),
        answers: Some(demo_answers()),
        // A Tuesday, 12:30 in New York: people answer by their own hour (the model's curve).
        clock_start: Some("2026-12-01T17:30:00Z".parse().expect("a valid instant")),
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::start(config).await.map_err(|source| Error::Io {
        context: "cannot start the sandbox".into(),
        source,
    })?;
    let workdir = Workdir::create()?;
    let overrides = Overrides {
        api_base: Some(sandbox.synthflow_base()),
    };
    let campaign = Campaign::load(&workdir.0.join("demo.toml"), &overrides)?;
    output::line(format_args!(
        "outdial demo: campaign {} against the sandbox at {}\n  (latency 20–120 ms; calls of 30–90 s played at 60x; people answer by their local hour, the unanswered are redialled;\n   carriers label a caller ID past 120 calls a day, and number health should rest it)\n",
        campaign.name,
        sandbox.synthflow_base()
    ));
    let mut stops = run::Stops::listen(None)?;
    let finish = run::launch(
        &campaign,
        ApiKey::new("sandbox-demo-key"),
        Journaling::StartOrResume,
        Display::chosen_by(global.quiet),
        stops.requested(),
    )
    .await?;
    let code = run::conclude(&campaign, &finish, stops.first());
    output::line(sandbox_verdict(&sandbox, &finish).await);
    output::line(health_verdict(&campaign, &sandbox).await);
    // Beside the demo's folder, which is removed when the demo ends.
    let page = workdir.0.with_extension("html");
    match super::report::write_html(&campaign, &page).await {
        Ok(()) => output::line(format_args!("report: {}", page.display())),
        Err(e) => output::warn(format_args!("the demo's report page failed: {e}")),
    }
    sandbox.stop().await;
    Ok(code)
}

/// How the demo's callees answer: the sandbox's answer model, people answering well (every
/// tier lifted 2×), and carriers labelling a caller ID after 120 calls in a sandbox day. The
/// demo's contacts lean on New York, so its one New York number is overused and labelled, and
/// number health rests it.
fn demo_answers() -> AnswerSettings {
    let lift = Factor::new(2.0).expect("a valid factor");
    AnswerSettings {
        lift: TierLift {
            area_code: lift,
            region: lift,
            time_zone: lift,
            none: lift,
        },
        labelling: Labelling {
            day_calls: 120,
            minute_calls: u32::MAX,
            ..Labelling::default()
        },
        ..AnswerSettings::default()
    }
}

/// What number health decided, from the journal: each rest, when, until when, and why; and
/// which numbers the sandbox's carriers labelled, the ground truth to hold it against.
async fn health_verdict(campaign: &Campaign, sandbox: &Sandbox) -> String {
    let labelled: Vec<String> = sandbox
        .stats()
        .labelled
        .iter()
        .map(|label| label.number.to_string())
        .collect();
    let rests = match Journal::open_campaign(campaign, Opening::Existing) {
        Ok(journal) => {
            let rests: Vec<_> = journal.rests().filter_map(Result::ok).collect();
            // Closed, not dropped: the report page opens the journal next.
            journal.close().await;
            Ok(rests)
        }
        Err(e) => Err(e),
    };
    let mut lines = vec![format!(
        "carriers labelled (sandbox): {}",
        match labelled.is_empty() {
            true => "none".to_owned(),
            false => labelled.join(", "),
        }
    )];
    match rests {
        Ok(rests) if rests.is_empty() => lines.push("number health rested no caller ID".into()),
        Ok(rests) => lines.extend(rests.iter().map(|rest| {
            format!(
                "number health rested {} at {} until {}: {}",
                rest.number,
                rest.at.strftime("%H:%M:%S UTC"),
                rest.until.strftime("%Y-%m-%d"),
                rest.why
            )
        })),
        Err(e) => lines.push(format!("number health: cannot read the journal: {e}")),
    }
    lines.join("\n")
}

/// The sandbox's own record is the judge: every call it created must be an attempt the journal
/// counted (first calls and the redials the retry policy asked for), and no more.
async fn sandbox_verdict(sandbox: &Sandbox, finish: &Finish) -> String {
    let received = sandbox.received().await;
    let created: Vec<&str> = received
        .iter()
        .filter(|c| c.call_id.is_some())
        .filter_map(|c| c.phone.as_deref())
        .collect();
    let phones: HashSet<&str> = created.iter().copied().collect();
    let attempts = finish.report.tally.attempts;
    let verdict = if created.len() as u64 == attempts {
        "every one an attempt the journal counted: nobody was called beyond the retry policy"
            .to_owned()
    } else {
        format!("but the journal counts {attempts} attempts: that is a bug, please report it")
    };
    format!(
        "sandbox: {} create requests made {} calls to {} phones ({} redials of unanswered calls), {verdict}",
        received.len(),
        created.len(),
        phones.len(),
        created.len() - phones.len()
    )
}

/// A scratch directory with the demo's files, removed when the demo ends.
struct Workdir(PathBuf);

impl Workdir {
    fn create() -> Result<Workdir, Error> {
        let dir = std::env::temp_dir().join(format!("outdial-demo-{}", std::process::id()));
        let io = |source| Error::Io {
            context: format!("cannot write the demo campaign to {}", dir.display()),
            source,
        };
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(io)?;
        std::fs::write(dir.join("demo.toml"), CAMPAIGN).map_err(io)?;
        std::fs::write(dir.join("contacts.csv"), CONTACTS).map_err(io)?;
        Ok(Workdir(dir))
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
