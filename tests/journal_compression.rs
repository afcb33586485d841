//! `[journal] compress`: a new journal is plain unless its campaign asks for zstd, a journal keeps
//! what it was made with when the setting changes, and either way a run killed midway resumes
//! calling everyone exactly once.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Scenario, Settings, csv_of, numbers_in, sled_snapshots};
use outdial::campaign::{Campaign, ConfigError, Overrides};
use outdial::journal::Compression;

const POOL: &[&str] = &["+12125550101", "+14155550102"];

fn load(journal: &str) -> Result<Campaign, ConfigError> {
    let text = format!("agent = \"agent-1\"\ncontacts = \"contacts.csv\"\n\n{journal}\n");
    Campaign::from_text(Path::new("spring.toml"), &text, &Overrides::default())
}

#[test]
fn a_journal_is_plain_unless_the_campaign_asks_for_zstd() {
    for (written, expected) in [
        ("", Compression::Plain),
        ("[journal]", Compression::Plain),
        ("[journal]\ncompress = false", Compression::Plain),
        ("[journal]\ncompress = true", Compression::Zstd),
    ] {
        let campaign = load(written).expect(written);
        assert_eq!(campaign.journal_compression, expected, "{written:?}");
    }
}

#[test]
fn wrong_kinds_and_unknown_keys_are_refused() {
    for (written, named) in [
        ("[journal]\ncompress = \"yes\"", "compress"),
        ("[journal]\ncompress = 1", "compress"),
        ("[journal]\nlevel = 3", "level"),
    ] {
        let error = load(written).expect_err(written).to_string();
        assert!(error.contains("spring.toml"), "{written}: {error}");
        assert!(error.contains(named), "{written}: {error}");
    }
}

/// Writes `[journal] compress` into the scenario's campaign file.
fn set_compress(scenario: &Scenario, compress: bool) {
    let journal = format!("\n[journal]\ncompress = {compress}\n");
    scenario.write_campaign_with(&Settings::default(), &journal);
}

/// Whether sled made the journal in `dir` compressed: it refuses to open it the other way,
/// before reading anything. Retried (bounded) while a killed process's lock is let go.
fn made_compressed(dir: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let opened = sled::Config::new()
            .path(dir.join("sled"))
            .use_compression(true)
            .open();
        match opened {
            Ok(_) => return true,
            Err(sled::Error::Unsupported(why)) if why.contains("use_compression") => return false,
            Err(e) if Instant::now() < deadline => {
                tracing::debug!("sled not free yet: {e}");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("the journal's database cannot be opened: {e}"),
        }
    }
}

/// Made one way, killed midway, then run with the setting turned the other way and more
/// contacts: the journal stays as it was made, and everyone is called exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn a_journal_keeps_its_compression_when_the_setting_changes() {
    for (made, then) in [(true, false), (false, true)] {
        let phones = numbers_in(212, if made { 0 } else { 100 }, 40);
        let scenario = Scenario::start(POOL, Settings::default(), &csv_of(&phones[..30])).await;
        set_compress(&scenario, made);
        scenario.run_killed_after(10).await;
        let journal = scenario.dir.path().join(".outdial/test-campaign");
        assert_eq!(made_compressed(&journal), made, "made compress = {made}");

        set_compress(&scenario, then);
        scenario.write_contacts(&csv_of(&phones));
        scenario.outdial_succeeds("run").await;
        assert_eq!(
            made_compressed(&journal),
            made,
            "kept after a run with {then}"
        );
        scenario.assert_each_called_once(&phones).await;
    }
}

/// A plain snapshot's last twelve bytes hold a length sled reads only to decompress: damage
/// there is no damage to a plain journal, which the check for compressed snapshots must not
/// refuse. A byte flipped in its body is caught by sled's checksum and refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_plain_snapshot_is_checked_by_its_checksum_alone() {
    let phones = numbers_in(718, 0, 10);
    let scenario = Scenario::start(POOL, Settings::default(), &csv_of(&phones)).await;
    let journal = scenario.dir.path().join(".outdial/test-campaign");
    let run = || async {
        let file = scenario.campaign_file();
        scenario
            .outdial(&["run", file.to_str().unwrap()])
            .output()
            .await
            .unwrap()
    };
    // sled writes its snapshot when it opens a database it has closed: so, a second run.
    assert!(run().await.status.success());
    assert!(run().await.status.success());
    assert!(!made_compressed(&journal));
    let flip = |at_end: usize| {
        let found = sled_snapshots(&journal);
        assert!(!found.is_empty(), "sled left no snapshot");
        for snapshot in found {
            let mut bytes = std::fs::read(&snapshot).unwrap();
            let at = bytes.len() - at_end;
            bytes[at] ^= 6;
            std::fs::write(&snapshot, bytes).unwrap();
        }
    };

    flip(12 - 4); // inside the length
    let out = run().await;
    assert!(
        out.status.success(),
        "a plain journal refused for its unread length: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    scenario.assert_each_called_once(&phones).await;

    let before = scenario.sandbox.received().await.len();
    flip(20); // inside the body, which the checksum covers
    let out = run().await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("outdial repair"), "{stderr}");
    assert_eq!(scenario.sandbox.received().await.len(), before);
}
