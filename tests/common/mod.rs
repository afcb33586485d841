//! Test helpers: a sandbox on 127.0.0.1:0 with its own fresh state, a campaign written into a
//! temporary directory, and ways to run it in-process or as the real binary.
#![allow(dead_code)] // each test file uses its own subset

pub mod pg;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use outdial::campaign::{ApiKey, Campaign, Overrides};
use outdial::dialer::{self, Finish};
use outdial::journal::{Journal, Opening};
use outdial::phone::{Country, Phone};
use outdial::progress::Display;
use outdial::sandbox::{AgentSpec, Sandbox, SandboxConfig};
use outdial::store::StoreUrl;
use tempfile::TempDir;

pub const AGENT: &str = "agent-under-test";

/// A sandbox, and a campaign directory with `campaign.toml` and `contacts.csv`.
pub struct Scenario {
    pub dir: TempDir,
    pub sandbox: Sandbox,
}

/// The campaign file's tunables; everything else is fixed by [`Scenario::write_campaign`].
pub struct Settings {
    pub strategy: &'static str,
    pub calls_per_second: f64,
    pub max_live_calls: u32,
    pub reconcile_grace_seconds: u32,
    /// `pacing.reads_per_second`. Tests of other behaviours dial calls that end at once, so they
    /// follow them faster than the default budget (2/s) would; `follow_in_bulk.rs` holds that
    /// budget to its word.
    pub reads_per_second: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            strategy: "region",
            calls_per_second: 500.0,
            max_live_calls: 16,
            reconcile_grace_seconds: 1,
            reads_per_second: 50.0,
        }
    }
}

impl Scenario {
    /// A sandbox whose agent has `pool` attached, and a campaign over `csv`.
    pub async fn start(pool: &[&str], settings: Settings, csv: &str) -> Scenario {
        init_test_log();
        let numbers = pool.iter().map(|n| phone(n)).collect();
        // Calls end at once unless a test is about their lifecycle.
        let config = SandboxConfig {
            agents: vec![AgentSpec {
                id: AGENT.into(),
                numbers,
            }],
            call_duration: Duration::ZERO.into(),
            ..SandboxConfig::default()
        };
        let sandbox = Sandbox::start(config)
            .await
            .expect("the sandbox starts on 127.0.0.1:0");
        let scenario = Scenario {
            dir: TempDir::new().unwrap(),
            sandbox,
        };
        scenario.write_campaign(&settings);
        scenario.write_contacts(csv);
        scenario
    }

    pub fn campaign_file(&self) -> PathBuf {
        self.dir.path().join("campaign.toml")
    }

    pub fn write_campaign(&self, s: &Settings) {
        self.write_campaign_with(s, "");
    }

    /// [`Scenario::write_campaign`], with `tables` (such as `[journal]`) written after it,
    /// verbatim.
    pub fn write_campaign_with(&self, s: &Settings, tables: &str) {
        let mut text = format!(
            r#"name = "test-campaign"
agent = "{AGENT}"
contacts = "contacts.csv"

[pacing]
calls_per_second = {}
max_live_calls = {}
reads_per_second = {}

[rotation]
strategy = "{}"

[window]
start = "00:00"
end = "23:59"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

[retry]
reconcile_grace_seconds = {}
"#,
            s.calls_per_second,
            s.max_live_calls,
            s.reads_per_second,
            s.strategy,
            s.reconcile_grace_seconds
        );
        text.push_str(tables);
        std::fs::write(self.campaign_file(), text).unwrap();
    }

    pub fn write_contacts(&self, csv: &str) {
        std::fs::write(self.dir.path().join("contacts.csv"), csv).unwrap();
    }

    pub fn campaign(&self) -> Campaign {
        let overrides = Overrides {
            api_base: Some(self.sandbox.synthflow_base()),
        };
        Campaign::load(&self.campaign_file(), &overrides).expect("the test campaign is valid")
    }

    /// Runs the campaign in-process to its end, and closes the journal, so that the binary can
    /// open it at once.
    pub async fn run(&self) -> Finish {
        self.run_journalled_in(None).await
    }

    /// [`Scenario::run`] with the journal kept in `store` (a URL), or on disk without one.
    pub async fn run_journalled_in(&self, store: Option<&str>) -> Finish {
        let campaign = self.campaign();
        let journal = open_journal_in(&campaign, store).await;
        let finish = dialer::launch(
            &campaign,
            &journal,
            ApiKey::new("test-key"),
            Display::Quiet,
            std::future::pending(),
        )
        .await
        .expect("the run succeeds");
        journal.close().await;
        finish
    }

    /// Accepted create requests (a call was created) per callee phone: the sandbox is the judge.
    pub async fn calls_per_phone(&self) -> HashMap<String, usize> {
        let mut calls = HashMap::new();
        for call in self
            .sandbox
            .received()
            .await
            .into_iter()
            .filter(|c| c.call_id.is_some())
        {
            *calls.entry(call.phone.unwrap_or_default()).or_insert(0) += 1;
        }
        calls
    }

    /// Accepted create requests per caller ID.
    pub async fn calls_per_caller_id(&self) -> HashMap<String, usize> {
        let mut calls = HashMap::new();
        for call in self
            .sandbox
            .received()
            .await
            .into_iter()
            .filter(|c| c.call_id.is_some())
        {
            *calls
                .entry(call.from_phone_number.unwrap_or_default())
                .or_insert(0) += 1;
        }
        calls
    }

    /// When the sandbox received each create request, epoch ms, in arrival order.
    pub async fn create_arrivals(&self) -> Vec<i64> {
        self.sandbox
            .received()
            .await
            .iter()
            .map(|c| c.at_ms)
            .collect()
    }

    /// Waits (bounded) until the sandbox has received at least `n` create requests.
    pub async fn wait_for_requests(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while self.sandbox.received().await.len() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the sandbox never received {n} create requests"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// `outdial run` on the scenario's campaign, killed with SIGKILL once `requests` create
    /// requests have reached the sandbox (and checked killed, not finished).
    pub async fn run_killed_after(&self, requests: usize) {
        let file = self.campaign_file();
        let mut child = self
            .outdial(&["run", file.to_str().unwrap(), "-q"])
            .spawn()
            .unwrap();
        self.wait_for_requests(requests).await;
        child.start_kill().unwrap();
        let status = child.wait().await.unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "killed, not finished"
        );
    }

    /// `outdial COMMAND CAMPAIGN.toml -q` on the scenario's campaign, which must succeed.
    pub async fn outdial_succeeds(&self, command: &str) {
        let file = self.campaign_file();
        let out = self
            .outdial(&[command, file.to_str().unwrap(), "-q"])
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{command} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The real binary, pointed at this scenario's sandbox, with a key in the environment.
    pub fn outdial(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_outdial"));
        command
            .args(args)
            .env("OUTDIAL_API_BASE", self.sandbox.synthflow_base())
            .env("SYNTHFLOW_API_KEY", "test-key")
            .env("OUTDIAL_STATE_DIR", self.dir.path().join("state"))
            .env_remove("RUST_LOG")
            // A store named in the developer's shell would share every test's account.
            .env_remove("OUTDIAL_STORE_URL")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// Asserts the two guarantees on the sandbox's record: each phone of `expected` got exactly
    /// one call, and nobody else got one.
    pub async fn assert_each_called_once(&self, expected: &[String]) {
        let calls = self.calls_per_phone().await;
        let twice: Vec<_> = calls.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "called more than once: {twice:?}");
        let missed: Vec<_> = expected
            .iter()
            .filter(|p| !calls.contains_key(*p))
            .collect();
        assert!(
            missed.is_empty(),
            "never called: {} of {}, e.g. {:?}",
            missed.len(),
            expected.len(),
            missed.first()
        );
        assert_eq!(
            calls.len(),
            expected.len(),
            "calls to phones not in the list"
        );
    }
}

/// The snapshot files sled has written in the journal `dir` (a half-written one, still being
/// moved into place, left out).
pub fn sled_snapshots(dir: &std::path::Path) -> Vec<PathBuf> {
    let listing = std::fs::read_dir(dir.join("sled")).unwrap();
    let mut snapshots: Vec<PathBuf> = listing
        .flatten()
        .map(|item| item.path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.starts_with("snap.") && !name.ends_with(".in___motion")
        })
        .collect();
    snapshots.sort();
    snapshots
}

/// Opens the journal, waiting (bounded) while an aborted run in this process still holds it.
pub async fn open_journal(campaign: &Campaign) -> Journal {
    open_journal_in(campaign, None).await
}

/// Opens the journal kept in `store` (a URL), or on disk without one.
pub async fn open_journal_in(campaign: &Campaign, store: Option<&str>) -> Journal {
    let url = store
        .map(|url| StoreUrl::parse(url, outdial::store::Origin::Environment).expect("a store URL"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (dir, name) = (&campaign.journal_dir, campaign.name.as_str());
        let opened = match &url {
            Some(url) => Journal::open_in_store(dir, name, url, Opening::StartOrResume),
            None => Journal::open(dir, name),
        };
        match opened {
            Ok(journal) => return journal,
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::debug!("journal not free yet: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("the journal stays locked: {e}"),
        }
    }
}

pub fn phone(e164: &str) -> Phone {
    Phone::parse(e164, Country::default()).expect("test numbers are valid")
}

/// `n` distinct valid E.164 numbers in area code `npa`, the `offset`-th onwards.
pub fn numbers_in(npa: u16, offset: u32, n: u32) -> Vec<String> {
    (offset..offset + n)
        .map(|i| {
            let exchange = 234 + (i / 10_000) % 600;
            format!("+1{npa}{exchange}{:04}", i % 10_000)
        })
        .collect()
}

/// A contacts CSV with a name and one custom column.
pub fn csv_of(phones: &[String]) -> String {
    let mut csv = String::from("phone,name,plan\n");
    for (i, phone) in phones.iter().enumerate() {
        csv.push_str(&format!("{phone},Person {i},plan-{}\n", i % 3));
    }
    csv
}

/// Logs are silent unless TEST_LOG is set.
fn init_test_log() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("outdial=debug")
            .with_test_writer()
            .try_init();
    }
}

// ---- Runs that must be watched while they go (live_calls, redials, rules_in_a_run) ----------

/// A progress display that keeps every note the dialer makes ("nobody can be called now: …",
/// "caller ID … taken out of rotation"), so a test can wait on what the run itself says instead
/// of guessing how long to wait.
#[derive(Default)]
pub struct Notes(std::sync::Mutex<Vec<String>>);

impl outdial::progress::Progress for Notes {
    fn update(&self, _: &outdial::report::Report) {}

    fn note(&self, message: &str) {
        self.0.lock().unwrap().push(message.to_owned());
    }

    fn finish(&self) {}
}

impl Notes {
    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// Waits (bounded) until a note contains `needle`, and returns that note.
    pub async fn wait_for(&self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(note) = self.all().into_iter().find(|n| n.contains(needle)) {
                return note;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the run never said {needle:?}; it said {:?}",
                self.all()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Resolves once a note contains `needle`: a shutdown signal for [`Scenario::run_noting`].
    pub async fn said(&self, needle: &str) {
        self.wait_for(needle).await;
    }
}

/// The test agent with `pool` attached, for sandboxes configured by hand.
pub fn agent_with(pool: &[&str]) -> Vec<AgentSpec> {
    vec![AgentSpec {
        id: AGENT.into(),
        numbers: pool.iter().map(|n| phone(n)).collect(),
    }]
}

/// A campaign file over `contacts.csv` for the test agent; `tables` is written after the
/// top-level keys, verbatim (`[pacing]`, `[rotation]`, `[window]`, `[retry]`, `[suppress]`).
pub fn campaign_text(tables: &str) -> String {
    format!(
        "name = \"test-campaign\"\nagent = \"{AGENT}\"\ncontacts = \"contacts.csv\"\n\n{tables}"
    )
}

/// A calling window that is open at every instant of every day.
pub const ALWAYS_OPEN: &str = r#"[window]
start = "00:00"
end = "23:59:59"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
"#;

impl Scenario {
    /// A sandbox started from `config` and a campaign file written verbatim (see [`campaign_text`]).
    pub async fn start_with(config: SandboxConfig, campaign: &str, csv: &str) -> Scenario {
        init_test_log();
        let sandbox = Sandbox::start(config)
            .await
            .expect("the sandbox starts on 127.0.0.1:0");
        let scenario = Scenario {
            dir: TempDir::new().unwrap(),
            sandbox,
        };
        std::fs::write(scenario.campaign_file(), campaign).unwrap();
        scenario.write_contacts(csv);
        scenario
    }

    /// Runs the campaign in-process as `launch` does, telling `notes` what the dialer says,
    /// until every contact is settled or `shutdown` resolves.
    pub async fn run_noting(&self, notes: &Notes, shutdown: impl Future<Output = ()>) -> Finish {
        self.run_noting_at(notes, outdial::clock::Clock::System, shutdown)
            .await
    }

    /// [`Scenario::run_noting`] with the dialer reading `clock` (e.g. one that starts at noon
    /// UTC, so a test about daily caps never meets a UTC midnight).
    pub async fn run_noting_at(
        &self,
        notes: &Notes,
        clock: outdial::clock::Clock,
        shutdown: impl Future<Output = ()>,
    ) -> Finish {
        let campaign = self.campaign();
        let journal = open_journal(&campaign).await;
        dialer::survey(&campaign, &journal)
            .await
            .expect("the contacts file is valid");
        let api = outdial::api::Synthflow::new(&campaign.api.base_url, ApiKey::new("test-key"))
            .expect("the sandbox URL is valid");
        let pool = dialer::resolve_pool(&campaign, &api)
            .await
            .expect("the pool resolves");
        dialer::Dialer::new(
            &campaign,
            api,
            &journal,
            &pool,
            outdial::budget::Share::alone(&campaign.pacing),
            notes,
        )
        .expect("the dialer starts")
        .with_clock(clock)
        .run(shutdown)
        .await
        .expect("the run succeeds")
    }

    /// The journal's entries, by E.164 phone (no run may be holding the journal).
    pub async fn journal_entries(&self) -> HashMap<String, outdial::journal::Entry> {
        let journal = open_journal(&self.campaign()).await;
        journal
            .entries()
            .map(|entry| {
                let entry = entry.expect("the journal reads");
                (entry.phone().to_string(), entry)
            })
            .collect()
    }

    /// `outdial export` of this campaign: one map of column → value per contact, by phone.
    pub async fn export_rows(&self) -> HashMap<String, HashMap<String, String>> {
        // Retried (bounded) while a run that ended in this process still holds the journal: its
        // group-commit task lets go of the store only once it is scheduled again.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let out = loop {
            let out = self
                .outdial(&["export", self.campaign_file().to_str().unwrap()])
                .output()
                .await
                .unwrap();
            if out.status.success() || tokio::time::Instant::now() >= deadline {
                break out;
            }
            tracing::debug!("export again: {}", String::from_utf8_lossy(&out.stderr));
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(
            out.status.success(),
            "export failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
        let header = reader.headers().unwrap().clone();
        let mut rows = HashMap::new();
        for record in reader.records() {
            let record = record.unwrap();
            let row: HashMap<String, String> = header
                .iter()
                .zip(record.iter())
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            let phone = row["phone"].clone();
            assert!(
                rows.insert(phone.clone(), row).is_none(),
                "{phone} exported twice"
            );
        }
        rows
    }
}

// ---- Several campaigns, several processes (several_campaigns, pg_shared_account, pg_restart) --

/// A campaign file `NAME.toml` in `dir` over `NAME.csv` (written from `phones`), for the test
/// agent, with `tables` after the top-level keys and a window always open.
pub fn named_campaign(
    dir: &std::path::Path,
    name: &str,
    phones: &[String],
    tables: &str,
) -> PathBuf {
    std::fs::write(dir.join(format!("{name}.csv")), csv_of(phones)).unwrap();
    let text = format!(
        "name = \"{name}\"\nagent = \"{AGENT}\"\ncontacts = \"{name}.csv\"\n\n{tables}\n{ALWAYS_OPEN}"
    );
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, text).unwrap();
    file
}

/// A sandbox whose account allows `per_second` starts a second and `live` calls at once, with
/// calls of 1–2 s (60–120 simulated seconds at 60×), so that both limits are pressed.
pub fn limited_account(pool: &[&str], per_second: u32, live: u32) -> SandboxConfig {
    SandboxConfig {
        agents: agent_with(pool),
        call_duration: "60..120".parse().unwrap(),
        time_scale: outdial::sandbox::TimeScale::new(60.0).unwrap(),
        limits: outdial::sandbox::Limits {
            max_live: std::num::NonZeroU32::new(live),
            max_cps: std::num::NonZeroU32::new(per_second),
        },
        ..SandboxConfig::default()
    }
}

/// A child's stderr, read line by line as it comes, kept for the messages of failed assertions.
pub struct Said {
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>,
    pub all: String,
}

impl Said {
    /// Takes the child's stderr, which must be piped.
    pub fn of(child: &mut tokio::process::Child) -> Said {
        use tokio::io::AsyncBufReadExt;
        let stderr = child.stderr.take().expect("stderr is piped");
        Said {
            lines: tokio::io::BufReader::new(stderr).lines(),
            all: String::new(),
        }
    }

    /// Reads until every one of `needles` has been said (bounded).
    pub async fn until_all(&mut self, needles: &[&str]) {
        let mut missing: Vec<&str> = needles.to_vec();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !missing.is_empty() {
            let line = tokio::time::timeout_at(deadline, self.lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("never said {missing:?}: {}", self.all))
                .unwrap()
                .unwrap_or_else(|| panic!("ended without saying {missing:?}: {}", self.all));
            missing.retain(|needle| !line.contains(needle));
            self.all.push_str(&line);
            self.all.push('\n');
        }
    }
}
