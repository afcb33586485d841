//! Number health against carriers' labelling (issue 10, point 6): the sandbox's answer model
//! labels one caller ID partway through a campaign, the ground truth at `GET /sandbox/stats`;
//! outdial, which sees only its own calls' outcomes, rests that number within `min_calls` of
//! its calls after the label, never picks it again while it rests, and rests no healthy one.

mod common;

use common::{ALWAYS_OPEN, Notes, Scenario, agent_with, campaign_text, numbers_in, phone};
use outdial::sandbox::answers::{AnswerSettings, Factor, Labelling, TierLift};
use outdial::sandbox::{SandboxConfig, TimeScale};

const LABELLED: &str = "+12065550100";
const POOL: [&str; 4] = [LABELLED, "+14155550101", "+12125550102", "+13125550103"];
const MIN_CALLS: u64 = 20;
/// Calls live at once: a number's calls sent before the decision but still ringing then had no
/// outcome to judge, so they count beside `min_calls`.
const MAX_LIVE: u64 = 4;

/// The sandbox on a Tuesday evening on the US east coast (afternoon in the west), its clock at
/// 200×, with the answer model on, people answering well (every tier lifted 2.5×, so about
/// 80% answer a healthy number: a label's fall shows within a few calls at the judge's strict
/// level), and no number ever labelled by its own traffic: the test labels one.
fn sandbox() -> SandboxConfig {
    let labelling = Labelling {
        day_calls: u32::MAX,
        minute_calls: u32::MAX,
        ..Labelling::default()
    };
    let lift = Factor::new(2.5).expect("a valid factor");
    SandboxConfig {
        agents: agent_with(&POOL),
        seed: 10,
        call_duration: "20..60".parse().expect("a valid length"),
        time_scale: TimeScale::new(200.0).expect("a valid scale"),
        answers: Some(AnswerSettings {
            labelling,
            lift: TierLift {
                area_code: lift,
                region: lift,
                time_zone: lift,
                none: lift,
            },
            ..AnswerSettings::default()
        }),
        clock_start: Some("2026-12-01T22:30:00Z".parse().expect("an instant")),
        ..SandboxConfig::default()
    }
}

/// 240 contacts over four numbers in turn; after 100 calls the sandbox labels one number (its
/// answer chance falls to a quarter, 30% of its calls are blocked, most answered ones are
/// short). Its calls from the label to the rest decision are at most `min_calls` (beside those
/// still live at the decision, which had no outcome yet), it makes no
/// call after it, the rest lasts `rest_days`, the run says it, nobody else rests, and every
/// contact is still called once.
#[tokio::test(flavor = "multi_thread")]
async fn a_number_the_sandbox_labels_is_rested_within_min_calls_and_never_picked_again() {
    let phones: Vec<String> = [212, 415, 312, 206]
        .iter()
        .flat_map(|npa| numbers_in(*npa, 0, 60))
        .collect();
    let campaign = campaign_text(&format!(
        "[pacing]\ncalls_per_second = 100\nmax_live_calls = {MAX_LIVE}\nreads_per_second = 50\n\n\
         [rotation]\nstrategy = \"round-robin\"\n\n{ALWAYS_OPEN}\n\
         [retry]\nmax_attempts = 1\n\n\
         [health]\nwindow_calls = 30\nmin_calls = {MIN_CALLS}\nrest_days = 14\n\
         max_resting_share = 0.25\n"
    ));
    let scenario = Scenario::start_with(sandbox(), &campaign, &common::csv_of(&phones)).await;
    let notes = Notes::default();
    let labelled = phone(LABELLED);

    let label_after_calls = 100;
    let run = scenario.run_noting(&notes, std::future::pending());
    let label = async {
        scenario.wait_for_requests(label_after_calls).await;
        let before = scenario.sandbox.received().await.len();
        let label = scenario.sandbox.label(&labelled).expect("the model is on");
        (before, label)
    };
    let (_, (labelled_after, label)) = tokio::join!(run, label);

    let stats = scenario.sandbox.stats();
    let truth: Vec<&str> = stats.labelled.iter().map(|l| l.number.as_str()).collect();
    assert_eq!(
        truth,
        [LABELLED],
        "the sandbox labelled exactly that number"
    );
    assert_eq!(stats.labelled[0].since, label.since);

    let journal = common::open_journal(&scenario.campaign()).await;
    let rests: Vec<_> = journal
        .rests()
        .map(|r| r.expect("rests read back"))
        .collect();
    journal.close().await;
    let rested: Vec<&str> = rests.iter().map(|r| r.number.as_str()).collect();
    assert_eq!(
        rested,
        [LABELLED],
        "only the labelled number rests: {rests:?}"
    );
    let rest = &rests[0];

    // Its calls after the label, up to the decision, and any after it, by the sandbox's record.
    let received = scenario.sandbox.received().await;
    let from_it = |call: &&outdial::sandbox::ReceivedCall| {
        call.call_id.is_some() && call.from_phone_number.as_deref() == Some(LABELLED)
    };
    let decided_ms = rest.at.as_millisecond();
    let after_label: Vec<_> = received[labelled_after..].iter().filter(from_it).collect();
    let before_rest = after_label.iter().filter(|c| c.at_ms <= decided_ms).count() as u64;
    let after_rest = after_label.iter().filter(|c| c.at_ms > decided_ms).count();
    assert!(
        before_rest <= MIN_CALLS + MAX_LIVE,
        "rested after {before_rest} labelled calls, more than min_calls = {MIN_CALLS} and {MAX_LIVE} live"
    );
    assert_eq!(after_rest, 0, "never picked while it rests");
    assert!(rest.until > rest.at + jiff::SignedDuration::from_hours(24 * 13));
    assert!(
        notes
            .all()
            .iter()
            .any(|n| n.contains(LABELLED) && n.contains("rested")),
        "the run said so: {:?}",
        notes.all()
    );
    let others = received.iter().filter(|c| c.call_id.is_some()).count();
    assert_eq!(others, phones.len(), "everyone was still called, once");
}
