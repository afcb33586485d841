//! Nobody is called twice and nobody is missed, across bad rows, duplicates, reruns and edits,
//! with the journal on disk (sled) and in the shared store (PostgreSQL, `OUTDIAL_TEST_PG_URL`;
//! skipped without it outside CI).

mod common;

/// Each test below, run twice: `journal_on_disk` and `journal_in_the_store`.
macro_rules! with_either_journal {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            #[tokio::test(flavor = "multi_thread")]
            async fn journal_on_disk() {
                super::$test(None).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn journal_in_the_store() {
                let name = concat!("exactly_once::", stringify!($test), "::journal_in_the_store");
                let Some(db) = crate::common::pg::database(name).await else {
                    return;
                };
                super::$test(Some(&db.url_text())).await;
                db.drop().await;
            }
        }
    )*};
}

with_either_journal!(
    every_valid_contact_is_called_exactly_once,
    a_finished_campaign_run_again_calls_nobody,
    an_edited_contacts_file_calls_only_the_new_contacts,
    name_and_custom_variables_reach_the_api,
);

use common::{Scenario, Settings, csv_of, numbers_in};
use outdial::dialer::Ending;

const POOL: &[&str] = &["+12125550101", "+14155550102", "+13125550104"];

/// Every valid contact gets exactly one call; bad phones and a duplicate row are skipped, not fatal.
async fn every_valid_contact_is_called_exactly_once(store: Option<&str>) {
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

    let finish = scenario.run_journalled_in(store).await;

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
async fn a_finished_campaign_run_again_calls_nobody(store: Option<&str>) {
    let phones = numbers_in(312, 0, 50);
    let scenario = Scenario::start(POOL, Settings::default(), &csv_of(&phones)).await;
    scenario.run_journalled_in(store).await;
    let before = scenario.sandbox.received().await.len();

    let again = scenario.run_journalled_in(store).await;

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
async fn an_edited_contacts_file_calls_only_the_new_contacts(store: Option<&str>) {
    let first = numbers_in(415, 0, 80);
    let scenario = Scenario::start(POOL, Settings::default(), &csv_of(&first)).await;
    scenario.run_journalled_in(store).await;

    let added = numbers_in(415, 1000, 20);
    let mut edited: Vec<String> = first.iter().rev().skip(10).cloned().collect();
    edited.extend(added.iter().cloned());
    scenario.write_contacts(&csv_of(&edited));
    let finish = scenario.run_journalled_in(store).await;

    let everyone: Vec<String> = first.iter().chain(&added).cloned().collect();
    scenario.assert_each_called_once(&everyone).await;
    assert!(matches!(finish.ending, Ending::Complete));
}

/// What the CSV says reaches the API: the name, extra columns as custom variables, a pool number.
async fn name_and_custom_variables_reach_the_api(store: Option<&str>) {
    let csv = "Phone,Name,plan,renewal date\n+12125550199,\"Doe, Jane\",pro,2026-12-01\n";
    let scenario = Scenario::start(POOL, Settings::default(), csv).await;

    scenario.run_journalled_in(store).await;

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
