//! Removed means removed (issue 8, point 9): a contact the contacts file no longer lists is never
//! called again, also when it was waiting in the journal's due queue (for its window, a cap, a
//! redial) and comes due while the new file is still being read. It is settled `skipped`, "no
//! longer in the contacts file"; the contacts still listed are called as before.

mod common;

use std::time::Duration;

use common::{ALWAYS_OPEN, Notes, Scenario, agent_with, campaign_text, csv_of, numbers_in};
use jiff::{SignedDuration, Timestamp};
use outdial::clock::Clock;
use outdial::dialer::Ending;
use outdial::journal::State;
use outdial::rules::REMOVED;
use outdial::sandbox::{SandboxConfig, TimeScale};

const A: &str = "+12125550101";

fn sandbox(outcomes: &str) -> SandboxConfig {
    SandboxConfig {
        agents: agent_with(&[A]),
        call_duration: Duration::from_secs(10).into(),
        time_scale: TimeScale::new(50.0).unwrap(),
        outcomes: outcomes.parse().unwrap(),
        ..SandboxConfig::default()
    }
}

fn campaign(tables: &str) -> String {
    campaign_text(&format!(
        "[pacing]\ncalls_per_second = 200.0\nmax_live_calls = 8\n\n{tables}"
    ))
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// Every phone of `removed` is skipped as removed and got exactly `calls_before` calls in all;
/// every phone of `kept` got one call more than `calls_before`.
async fn assert_removed_never_called(
    scenario: &Scenario,
    removed: &[String],
    kept: &[String],
    calls_before: usize,
) {
    let calls = scenario.calls_per_phone().await;
    let entries = scenario.journal_entries().await;
    for phone in removed {
        assert_eq!(
            calls.get(phone).copied().unwrap_or(0),
            calls_before,
            "{phone} called again"
        );
        let entry = &entries[phone];
        assert_eq!(
            entry.state,
            State::Skipped {
                reason: REMOVED.into()
            },
            "{entry:?}"
        );
    }
    for phone in kept {
        assert_eq!(
            calls.get(phone).copied().unwrap_or(0),
            calls_before + 1,
            "{phone}"
        );
    }
}

/// Ten contacts wait for their window (08:00 in New York, opening at 09:00); five are removed
/// from the file before the window opens. The next run, inside the window, calls the five still
/// listed and none of the removed, though all ten came due at once.
#[tokio::test(flavor = "multi_thread")]
async fn removed_contacts_waiting_for_their_window_are_never_called() {
    let phones = numbers_in(212, 0, 10);
    let window = "[window]\nstart = \"09:00\"\nend = \"17:00\"\n\
                  days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\n";
    let scenario =
        Scenario::start_with(sandbox("completed=1"), &campaign(window), &csv_of(&phones)).await;
    let notes = Notes::default();
    let early = at("2026-06-10T12:00:00Z"); // 08:00 EDT
    let first = scenario
        .run_noting_at(
            &notes,
            Clock::starting_at(early),
            notes.said("nobody can be called now"),
        )
        .await;
    assert!(matches!(first.ending, Ending::Interrupted));
    assert!(scenario.sandbox.received().await.is_empty());

    let (removed, kept) = phones.split_at(5);
    scenario.write_contacts(&csv_of(kept));
    let notes = Notes::default();
    let open = at("2026-06-10T13:00:01Z"); // 09:00:01 EDT
    let second = scenario
        .run_noting_at(&notes, Clock::starting_at(open), std::future::pending())
        .await;

    assert!(
        matches!(second.ending, Ending::Complete),
        "{:?}",
        notes.all()
    );
    assert_removed_never_called(&scenario, removed, kept, 0).await;
}

/// Contacts waiting for a number's daily cap (1 call a day from a pool of one): of the two left
/// waiting for the next UTC day, one is removed; the next day's run calls the other only.
#[tokio::test(flavor = "multi_thread")]
async fn removed_contacts_waiting_for_a_cap_are_never_called() {
    let phones = numbers_in(212, 0, 3);
    let rules = format!("[rotation]\nmax_calls_per_number_per_day = 1\n\n{ALWAYS_OPEN}");
    let scenario =
        Scenario::start_with(sandbox("completed=1"), &campaign(&rules), &csv_of(&phones)).await;
    let notes = Notes::default();
    let noon = at("2026-06-10T12:00:00Z");
    let first = scenario
        .run_noting_at(
            &notes,
            Clock::starting_at(noon),
            notes.said("nobody to call now"),
        )
        .await;
    assert!(matches!(first.ending, Ending::Interrupted));
    let called: Vec<String> = scenario.calls_per_phone().await.into_keys().collect();
    assert_eq!(called.len(), 1);
    let waiting: Vec<String> = phones
        .iter()
        .filter(|p| !called.contains(p))
        .cloned()
        .collect();

    let (removed, kept) = waiting.split_at(1);
    let mut listed = called.clone();
    listed.extend_from_slice(kept);
    scenario.write_contacts(&csv_of(&listed));
    let notes = Notes::default();
    let next_day = at("2026-06-11T00:00:01Z");
    let second = scenario
        .run_noting_at(&notes, Clock::starting_at(next_day), std::future::pending())
        .await;

    assert!(
        matches!(second.ending, Ending::Complete),
        "{:?}",
        notes.all()
    );
    assert_removed_never_called(&scenario, removed, kept, 0).await;
}

/// Contacts nobody answered wait for their redial (60 minutes); half are removed meanwhile. The
/// run after the hour redials the listed half only: the removed had their one call, no second.
#[tokio::test(flavor = "multi_thread")]
async fn removed_contacts_waiting_for_a_redial_are_never_called_again() {
    let phones = numbers_in(415, 0, 8);
    let rules = format!("{ALWAYS_OPEN}\n[retry]\nmax_attempts = 2\nredial_after_minutes = 60\n");
    let scenario =
        Scenario::start_with(sandbox("no-answer=1"), &campaign(&rules), &csv_of(&phones)).await;
    let notes = Notes::default();
    let noon = at("2026-06-10T12:00:00Z");
    let first = scenario
        .run_noting_at(
            &notes,
            Clock::starting_at(noon),
            notes.said("nobody to call now"),
        )
        .await;
    assert!(matches!(first.ending, Ending::Interrupted));
    assert_eq!(scenario.calls_per_phone().await.len(), 8);

    let (removed, kept) = phones.split_at(4);
    scenario.write_contacts(&csv_of(kept));
    let notes = Notes::default();
    let later = noon.checked_add(SignedDuration::from_mins(61)).unwrap();
    let second = scenario
        .run_noting_at(&notes, Clock::starting_at(later), std::future::pending())
        .await;

    assert!(
        matches!(second.ending, Ending::Complete),
        "{:?}",
        notes.all()
    );
    assert_removed_never_called(&scenario, removed, kept, 1).await;
}
