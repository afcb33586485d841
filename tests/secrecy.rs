//! The API key never leaves the environment and the Authorization header; logs mask phones.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Scenario, Settings, csv_of, numbers_in};

const POOL: &[&str] = &["+12125550101", "+14155550102"];
const KEY: &str = "sk-outdial-SECRET-7d1f09";

/// Everything a run writes or prints, at trace level, for every command, is free of the key,
/// and the logs hold no whole phone number.
#[tokio::test(flavor = "multi_thread")]
async fn the_key_appears_nowhere_and_logs_mask_phones_even_at_trace_level() {
    let phones: Vec<String> = numbers_in(212, 0, 20)
        .into_iter()
        .chain(numbers_in(907, 0, 20))
        .collect();
    let mut csv = csv_of(&phones);
    csv.push_str("+1 415 555 ,Broken,x\n");
    let scenario = Scenario::start(POOL, Settings::default(), &csv).await;
    let file = scenario.campaign_file();
    let file = file.to_str().unwrap();

    let mut printed = String::new();
    for args in [
        vec!["run", file, "-vvv"],
        vec!["status", file],
        vec!["status", file, "--json"],
        vec!["export", file],
        vec!["--help"],
        vec!["run", "--help"],
    ] {
        let out = scenario
            .outdial(&args)
            .env("SYNTHFLOW_API_KEY", KEY)
            .env("RUST_LOG", "trace")
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        printed.push_str(&String::from_utf8_lossy(&out.stdout));
        let logs = String::from_utf8_lossy(&out.stderr).into_owned();
        for phone in &phones {
            assert!(
                !logs.contains(&phone[2..]),
                "{args:?} logged the whole number {phone}"
            );
        }
        printed.push_str(&logs);
    }

    assert!(
        printed.contains("TRACE") || printed.contains("DEBUG"),
        "the run did log at trace level"
    );
    assert!(!printed.contains(KEY), "the key was printed");
    for file in walk(&scenario.campaign().journal_dir) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !contains(&bytes, KEY.as_bytes()),
            "the key is in {}",
            file.display()
        );
    }
    assert!(
        scenario
            .sandbox
            .received()
            .await
            .iter()
            .all(|c| !c.body.to_string().contains(KEY))
    );
}

/// A server that quotes the key back in its error bodies (500s, then a 402 that stops the run)
/// never gets it into the output, the journal or the export: every server text is scrubbed.
#[tokio::test(flavor = "multi_thread")]
async fn an_error_body_quoting_the_key_never_reaches_output_journal_or_export() {
    use outdial::sandbox::{AccountRefusal, Faults, Share};
    let phones = numbers_in(212, 100, 20);
    let scenario = Scenario::start(POOL, Settings::default(), &csv_of(&phones)).await;
    let file = scenario.campaign_file();
    let file = file.to_str().unwrap();
    let quoting = Faults {
        server_errors: Share::new(0.5).unwrap(),
        quote_key: true,
        ..Faults::default()
    };
    let refusing = Faults {
        refuse: Some(AccountRefusal::PaymentRequired),
        ..quoting
    };

    let mut printed = String::new();
    for (faults, args) in [
        (quoting, vec!["run", file, "-vvv"]),
        (refusing, vec!["run", file, "-vvv"]),
        (quoting, vec!["status", file]),
        (quoting, vec!["status", file, "--json"]),
        (quoting, vec!["export", file]),
    ] {
        scenario.sandbox.set_faults(faults).unwrap();
        let out = scenario
            .outdial(&args)
            .env("SYNTHFLOW_API_KEY", KEY)
            .env("RUST_LOG", "trace")
            .output()
            .await
            .unwrap();
        printed.push_str(&String::from_utf8_lossy(&out.stdout));
        printed.push_str(&String::from_utf8_lossy(&out.stderr));
    }

    assert!(
        printed.contains("[API key removed]"),
        "the server never quoted the key, so nothing was tested: {printed}"
    );
    assert!(printed.contains("402"), "the refusal was reported");
    assert!(!printed.contains(KEY), "the key was printed");
    for file in walk(&scenario.campaign().journal_dir) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !contains(&bytes, KEY.as_bytes()),
            "the key is in {}",
            file.display()
        );
    }
}

/// The journal directory is readable by its owner only.
#[tokio::test(flavor = "multi_thread")]
async fn the_journal_directory_is_private() {
    let scenario =
        Scenario::start(POOL, Settings::default(), &csv_of(&numbers_in(212, 0, 3))).await;

    scenario.run().await;

    let mode = std::fs::metadata(scenario.campaign().journal_dir)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path))
        } else {
            files.push(path)
        }
    }
    assert!(!files.is_empty() || dir.exists());
    files
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
