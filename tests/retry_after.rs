//! A 429's `Retry-After` is honoured in either form RFC 9110 allows, bounded, and never panics
//! or hangs the run, however absurd its value.

mod common;

use std::time::Duration;

use common::{ALWAYS_OPEN, Notes, Scenario, agent_with, campaign_text, csv_of, numbers_in};
use outdial::dialer::Ending;
use outdial::journal::State;
use outdial::sandbox::{Bursts, Faults, RetryAfterForm, SandboxConfig, Share};

const POOL: &[&str] = &["+12125550101"];

/// One call at a time, so the 429 is seen before any other create can leave.
fn campaign() -> String {
    campaign_text(&format!(
        "[pacing]\ncalls_per_second = 500.0\nmax_live_calls = 1\n\n{ALWAYS_OPEN}"
    ))
}

/// Every create answered 429 with `Retry-After` written in `form` for `seconds`.
fn every_create_refused(form: RetryAfterForm, seconds: Option<u32>) -> Faults {
    Faults {
        bursts: Bursts {
            chance: Share::ALWAYS,
            retry_after: seconds,
            ..Bursts::default()
        },
        retry_after_form: form,
        ..Faults::default()
    }
}

async fn scenario(faults: Faults, phones: &[String]) -> Scenario {
    let config = SandboxConfig {
        agents: agent_with(POOL),
        call_duration: Duration::ZERO.into(),
        faults,
        ..SandboxConfig::default()
    };
    Scenario::start_with(config, &campaign(), &csv_of(phones)).await
}

/// A `Retry-After` of twenty digits or of 120 s pauses every start (no create follows the 429
/// while the test watches), the run still stops cleanly at Ctrl-C with the contacts pending, and
/// the next run calls everyone once.
#[tokio::test(flavor = "multi_thread")]
async fn a_huge_or_long_retry_after_pauses_without_panic_and_the_run_finishes() {
    for (form, seconds) in [
        (RetryAfterForm::Huge, None),
        (RetryAfterForm::Seconds, Some(120)),
    ] {
        let phones = numbers_in(212, 0, 3);
        let scenario = scenario(every_create_refused(form, seconds), &phones).await;
        let notes = Notes::default();
        let watched = async {
            scenario.wait_for_requests(1).await;
            // The pause is what is under test: a second create within it would be a failure.
            tokio::time::sleep(Duration::from_millis(1500)).await;
        };

        let run = scenario.run_noting(&notes, watched);
        let finish = tokio::time::timeout(Duration::from_secs(30), run)
            .await
            .unwrap_or_else(|_| panic!("{form:?}: the run hung after the 429"));

        assert!(
            matches!(finish.ending, Ending::Interrupted),
            "{form:?}: {:?}",
            finish.ending
        );
        let received = scenario.sandbox.received().await;
        assert_eq!(
            received.len(),
            1,
            "{form:?}: a create was sent during the pause"
        );
        assert_eq!(received[0].status, 429);
        let requests = finish.report.requests.expect("a run counts its requests");
        assert_eq!(
            (
                requests.creates,
                requests.rate_limited,
                requests.calls_created
            ),
            (1, 1, 0),
            "{form:?}: the 429 is counted, as the summary, status and report show"
        );
        for (phone, entry) in scenario.journal_entries().await {
            assert_eq!(entry.state, State::Pending, "{form:?}: {phone}");
        }

        scenario.sandbox.set_faults(Faults::default()).unwrap();
        let finish = scenario.run().await;
        assert!(matches!(finish.ending, Ending::Complete), "{form:?}");
        scenario.assert_each_called_once(&phones).await;
    }
}

/// A `Retry-After` written as an HTTP date two seconds ahead is honoured: the next create
/// waits until that moment (the date has whole seconds: at least one second), then the run
/// completes.
#[tokio::test(flavor = "multi_thread")]
async fn a_retry_after_date_is_honoured() {
    let phones = numbers_in(212, 100, 3);
    let scenario = scenario(
        every_create_refused(RetryAfterForm::HttpDate, Some(2)),
        &phones,
    )
    .await;
    let lift_after_first = async {
        scenario.wait_for_requests(1).await;
        scenario.sandbox.set_faults(Faults::default()).unwrap();
    };

    let (finish, ()) = tokio::join!(scenario.run(), lift_after_first);

    assert!(matches!(finish.ending, Ending::Complete));
    scenario.assert_each_called_once(&phones).await;
    let received = scenario.sandbox.received().await;
    let refused: Vec<_> = received.iter().filter(|c| c.status == 429).collect();
    assert_eq!(refused.len(), 1, "only the first create met the burst");
    let next = received
        .iter()
        .find(|c| c.status != 429)
        .expect("the contacts were called");
    let waited = next.at_ms - refused[0].at_ms;
    assert!(
        (900..=3_000).contains(&waited),
        "the next create came {waited} ms after the 429 dated 2 s ahead"
    );
}
