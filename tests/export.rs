//! `outdial export` writes the campaign as CSV or a workbook: one row per row of the contacts
//! file, in its order, with its own columns and its outcome.

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

/// A CSV the way CRMs write them: rows not in phone order, a CRM id and a column named like one
/// of outdial's own (`state`), a bad phone and a duplicate among them. The export has one row
/// per data row, in the file's order; every row keeps its own columns (the colliding one as
/// `contact_state`), so it joins back to the source by `crm_id`; skipped rows keep their name
/// and say why; instants are whole seconds in UTC with a `Z`.
#[tokio::test(flavor = "multi_thread")]
async fn export_follows_the_file_order_and_keeps_each_row_s_own_columns() {
    let mut phones = numbers_in(212, 0, 12);
    phones.reverse();
    let mut csv = String::from("crm_id,name,phone,state\n");
    for (i, phone) in phones.iter().enumerate() {
        csv.push_str(&format!("CRM-{i:03},Person {i},{phone},NY\n"));
        if i == 4 {
            csv.push_str("CRM-BAD,Broken Row,not a phone,NJ\n");
        }
        if i == 8 {
            csv.push_str(&format!("CRM-DUP,Second Listing,{},CT\n", phones[2]));
        }
    }
    let scenario = Scenario::start(&["+12125550101"], Settings::default(), &csv).await;
    scenario.run().await;

    let out = scenario
        .outdial(&["export", scenario.campaign_file().to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name} in {headers:?}"))
    };
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let lines: Vec<u64> = rows
        .iter()
        .map(|r| r[column("line")].parse().unwrap())
        .collect();
    assert_eq!(
        lines,
        (2..=15).collect::<Vec<u64>>(),
        "one row per data row, in order"
    );

    let source: Vec<csv::StringRecord> = csv::Reader::from_reader(csv.as_bytes())
        .records()
        .map(Result::unwrap)
        .collect();
    let second = regex_free_utc_second;
    for (row, written) in rows.iter().zip(&source) {
        assert_eq!(&row[column("crm_id")], &written[0], "joins back by crm_id");
        assert_eq!(&row[column("name")], &written[1]);
        assert_eq!(&row[column("contact_state")], &written[3]);
        match &row[column("crm_id")] {
            "CRM-BAD" => {
                assert_eq!(&row[column("state")], "skipped");
                assert_eq!(&row[column("phone")], "not a phone");
                assert!(!row[column("reason")].is_empty());
            }
            "CRM-DUP" => {
                assert_eq!(&row[column("state")], "skipped");
                assert_eq!(&row[column("phone")], phones[2].as_str());
                assert_eq!(&row[column("reason")], "duplicate of line 4");
            }
            _ => {
                assert_eq!(&row[column("state")], "done");
                assert_eq!(&row[column("phone")], &written[2]);
                assert!(
                    second(&row[column("dialed_at")]),
                    "{:?}",
                    &row[column("dialed_at")]
                );
                assert!(second(&row[column("updated_at")]));
            }
        }
    }
}

/// `2026-12-01T15:04:05Z` and nothing finer.
fn regex_free_utc_second(text: &str) -> bool {
    text.len() == 20
        && text.ends_with('Z')
        && text.parse::<jiff::Timestamp>().is_ok()
        && text.as_bytes()[10] == b'T'
}

/// `--xlsx` writes a workbook a spreadsheet opens as intended, read back here with calamine:
/// the same rows as the CSV, phones (and every column from the file) as text, never numbers
/// that a spreadsheet would show as 1.21E+10, instants as date-times equal to the CSV's, counts
/// as numbers; the file is private (0600) like the CSV.
#[tokio::test(flavor = "multi_thread")]
async fn the_workbook_holds_phones_as_text_and_times_as_dates() {
    use calamine::{Data, Reader, Xlsx};
    use std::os::unix::fs::PermissionsExt;

    let phones = numbers_in(212, 0, 20);
    let mut csv = csv_of(&phones);
    csv.push_str("12065550,Short Number,plan-x\n");
    let scenario = Scenario::start(&["+12125550101"], Settings::default(), &csv).await;
    scenario.run().await;
    let file = scenario.campaign_file();
    let book = scenario.dir.path().join("results.xlsx");
    let out = scenario
        .outdial(&[
            "export",
            file.to_str().unwrap(),
            "--xlsx",
            book.to_str().unwrap(),
        ])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = std::fs::metadata(&book).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let csv_rows = scenario.export_rows().await;

    let mut workbook: Xlsx<_> = calamine::open_workbook(&book).unwrap();
    let sheet = workbook.worksheet_range("contacts").unwrap();
    let mut rows = sheet.rows();
    let header: Vec<String> = rows.next().unwrap().iter().map(|c| c.to_string()).collect();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let mut seen = 0;
    for row in rows {
        seen += 1;
        let Data::String(phone) = &row[column("phone")] else {
            panic!("a phone is text: {:?}", row[column("phone")]);
        };
        assert!(matches!(row[column("plan")], Data::String(_)));
        assert!(matches!(row[column("line")], Data::Float(_)));
        if phone == "12065550" {
            assert_eq!(row[column("state")], Data::String("skipped".into()));
            continue;
        }
        let Data::DateTime(dialed) = &row[column("dialed_at")] else {
            panic!("dialed_at is a date: {:?}", row[column("dialed_at")]);
        };
        let in_csv: jiff::Timestamp = csv_rows[phone]["dialed_at"].parse().unwrap();
        // Excel's serial date: days since 1899-12-30, 25,569 of them before the Unix epoch.
        let unix_seconds = ((dialed.as_f64() - 25_569.0) * 86_400.0).round() as i64;
        assert_eq!(unix_seconds, in_csv.as_second(), "{phone}");
    }
    assert_eq!(seen, 21, "every contact and the skipped row");
}
