//! Nobody is called twice and nobody is missed, across bad rows, duplicates, reruns and edits.

mod common;

use common::{Scenario, Settings, csv_of, numbers_in};
use outdial::dialer::Ending;

const POOL: &[&str] = &["+12125550101", "+14155550102", "+13125550104"];

/// Every valid contact gets exactly one call; bad phones and a duplicate row are skipped, not fatal.
#[tokio::test(flavor = "multi_thread")]
async fn every_valid_contact_is_called_exactly_once() {
    let mut phones = numbers_in(212, 0, 100);
    phones.extend(numbers_in(415, 0, 100));
    phones.extend(numbers_in(907, 0, 100));
    let mut csv = csv_of(&phones);
    csv.push_str("not a phone,Bad Row,x\n555-0199,Too Short,x\n");
    let duplicate = &phones[7];
    csv.push_str(&format!(
        "\"1 ({}) {}-{}\",Same Person,x\n",
        &duplicate[2..5],
        &duplicate[5..8],
        &duplicate[8..]
    ));
    let scenario = Scenario::start(POOL, Settings::default(), &csv).await;

    let finish = scenario.run().await;

    assert!(
        matches!(finish.ending, Ending::Complete),
        "{:?}",
        finish.ending
    );
    scenario.assert_each_called_once(&phones).await;
    assert_eq!(finish.report.tally.placed(), 300);
    assert_eq!(
        finish.report.tally.skipped_rows, 3,
        "two bad phones and one duplicate row"
    );
}

/// Run is idempotent: a finished campaign run again reports complete and calls nobody.
#[tokio::test(flavor = "multi_thread")]
async fn a_finished_campaign_run_again_calls_nobody() {
    let phones = numbers_in(312, 0, 50);
    let scenario = Scenario::start(POOL, Settings::default(), &csv_of(&phones)).await;
    scenario.run().await;
    let before = scenario.sandbox.received().await.len();

    let again = scenario.run().await;

    assert!(matches!(again.ending, Ending::Complete));
    assert_eq!(
        scenario.sandbox.received().await.len(),
        before,
        "no request on the second run"
    );
    assert_eq!(again.report.tally.placed(), 50);
}

/// The contact's identity is its phone: a CSV reordered, trimmed and extended between runs
/// gets calls only for its new contacts, and nobody already called is called again.
#[tokio::test(flavor = "multi_thread")]
async fn an_edited_contacts_file_calls_only_the_new_contacts() {
    let first = numbers_in(415, 0, 80);
    let scenario = Scenario::start(POOL, Settings::default(), &csv_of(&first)).await;
    scenario.run().await;

    let added = numbers_in(415, 1000, 20);
    let mut edited: Vec<String> = first.iter().rev().skip(10).cloned().collect();
    edited.extend(added.iter().cloned());
    scenario.write_contacts(&csv_of(&edited));
    let finish = scenario.run().await;

    let everyone: Vec<String> = first.iter().chain(&added).cloned().collect();
    scenario.assert_each_called_once(&everyone).await;
    assert!(matches!(finish.ending, Ending::Complete));
}

/// What the CSV says reaches the API: the name, extra columns as custom variables, a pool number.
#[tokio::test(flavor = "multi_thread")]
async fn name_and_custom_variables_reach_the_api() {
    let csv = "Phone,Name,plan,renewal date\n+12125550199,\"Doe, Jane\",pro,2026-12-01\n";
    let scenario = Scenario::start(POOL, Settings::default(), csv).await;

    scenario.run().await;

    let received = scenario.sandbox.received().await;
    assert_eq!(received.len(), 1);
    let body = &received[0].body;
    assert_eq!(body["name"], "Doe, Jane");
    assert_eq!(body["model_id"], common::AGENT);
    assert_eq!(
        body["from_phone_number"], "+12125550101",
        "the local number"
    );
    assert_eq!(
        body["custom_variables"],
        serde_json::json!([{"key": "plan", "value": "pro"}, {"key": "renewal date", "value": "2026-12-01"}])
    );
}
