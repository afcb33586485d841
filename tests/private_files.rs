//! Files that hold callees' phones and names outside the journal — the status snapshot and
//! `export -o FILE` — are readable by their owner only (0600), also when the export replaces a
//! file that was readable by everyone.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{Scenario, Settings, csv_of, numbers_in};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// After a run, `status.json` is 0600; a new export file and an existing 0644 one become 0600.
#[tokio::test(flavor = "multi_thread")]
async fn snapshots_and_exports_are_owner_only() {
    let phones = numbers_in(212, 0, 10);
    let scenario = Scenario::start(&["+12125550101"], Settings::default(), &csv_of(&phones)).await;
    let file = scenario.campaign_file();
    let file = file.to_str().unwrap();
    let run = scenario
        .outdial(&["run", file, "-q"])
        .output()
        .await
        .unwrap();
    assert_eq!(run.status.code(), Some(0));

    let snapshot = scenario
        .dir
        .path()
        .join(".outdial/test-campaign/status.json");
    assert!(snapshot.exists(), "the run leaves its snapshot");
    assert_eq!(mode(&snapshot), 0o600, "status.json");

    let fresh = scenario.dir.path().join("fresh.csv");
    let existing = scenario.dir.path().join("existing.csv");
    std::fs::write(&existing, "old").unwrap();
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o644)).unwrap();
    for out in [&fresh, &existing] {
        let export = scenario
            .outdial(&["export", file, "-o", out.to_str().unwrap()])
            .output()
            .await
            .unwrap();
        assert_eq!(export.status.code(), Some(0));
        assert_eq!(mode(out), 0o600, "{}", out.display());
        let text = std::fs::read_to_string(out).unwrap();
        assert_eq!(
            text.lines().count(),
            phones.len() + 1,
            "the whole export, nothing left of the old file"
        );
    }
}
