//! `outdial export` writes the journal as CSV: one row per contact, then the skipped rows.

mod common;

use common::{Scenario, Settings, csv_of, numbers_in};

/// Every contact is one row with its state, call id and caller ID; skipped rows follow.
#[tokio::test(flavor = "multi_thread")]
async fn export_has_one_row_per_contact_and_the_skipped_rows() {
    let phones = numbers_in(212, 0, 30);
    let mut csv = csv_of(&phones);
    csv.push_str("not a phone,Broken,x\n");
    let scenario = Scenario::start(&["+12125550101"], Settings::default(), &csv).await;
    scenario.run().await;
    let output = scenario.dir.path().join("out.csv");

    let out = scenario
        .outdial(&[
            "export",
            scenario.campaign_file().to_str().unwrap(),
            "-o",
            output.to_str().unwrap(),
        ])
        .output()
        .await
        .unwrap();

    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut reader = csv::Reader::from_path(&output).unwrap();
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 31);
    let placed: Vec<_> = rows
        .iter()
        .filter(|r| &r[column("state")] == "done")
        .collect();
    assert_eq!(placed.len(), 30);
    assert!(
        placed.iter().all(|r| !r[column("call_id")].is_empty()
            && &r[column("from_phone_number")] == "+12125550101")
    );
    let skipped = rows
        .iter()
        .find(|r| &r[column("state")] == "skipped")
        .unwrap();
    assert_eq!(&skipped[column("phone")], "not a phone");
    assert_eq!(&skipped[column("line")], "32");
}
