//! Bad input gets exit 2 and a message naming the file and the line or key, before any call;
//! `status` reads the journal in both its forms.

mod common;

use std::process::Output;

use common::{Scenario, Settings, csv_of, numbers_in};

const POOL: &[&str] = &["+12125550101"];

async fn run_binary(scenario: &Scenario) -> Output {
    scenario
        .outdial(&["run", scenario.campaign_file().to_str().unwrap()])
        .output()
        .await
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A contacts file without a phone column stops the run before any request, naming file and line.
#[tokio::test(flavor = "multi_thread")]
async fn a_contacts_file_without_a_phone_column_exits_2() {
    let scenario = Scenario::start(
        POOL,
        Settings::default(),
        "name,email\nAda,ada@example.com\n",
    )
    .await;

    let out = run_binary(&scenario).await;

    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(
        message.contains("contacts.csv") && message.contains("line 1") && message.contains("phone"),
        "{message}"
    );
    assert!(scenario.sandbox.received().await.is_empty());
}

/// A file broken far down (bytes that are not UTF-8 on row 300) is found before the first call.
#[tokio::test(flavor = "multi_thread")]
async fn a_broken_row_late_in_the_file_stops_the_run_before_any_call() {
    let scenario = Scenario::start(POOL, Settings::default(), "").await;
    let mut csv = csv_of(&numbers_in(212, 0, 400)).into_bytes();
    let row_300 = csv
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(299)
        .unwrap()
        .0
        + 1;
    csv.splice(
        row_300..row_300,
        b"+12125559999,Caf\xe9,x\n".iter().copied(),
    );
    std::fs::write(scenario.dir.path().join("contacts.csv"), csv).unwrap();

    let out = run_binary(&scenario).await;

    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("line 301"), "{}", stderr(&out));
    assert!(scenario.sandbox.received().await.is_empty());
}

/// An unknown key in the campaign file is named with its line.
#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_campaign_key_exits_2_naming_key_and_line() {
    let scenario =
        Scenario::start(POOL, Settings::default(), &csv_of(&numbers_in(212, 0, 3))).await;
    let text = std::fs::read_to_string(scenario.campaign_file()).unwrap();
    std::fs::write(
        scenario.campaign_file(),
        text.replace("max_live_calls", "max_live_cals"),
    )
    .unwrap();

    let out = run_binary(&scenario).await;

    assert_eq!(out.status.code(), Some(2));
    let message = stderr(&out);
    assert!(
        message.contains("campaign.toml")
            && message.contains("max_live_cals")
            && message.contains("line 7"),
        "{message}"
    );
    assert!(scenario.sandbox.received().await.is_empty());
}

/// A rate of zero is refused with the key, its line and what to write instead.
#[tokio::test(flavor = "multi_thread")]
async fn a_zero_call_rate_exits_2_naming_the_key() {
    let settings = Settings {
        calls_per_second: 0.0,
        ..Settings::default()
    };
    let scenario = Scenario::start(POOL, settings, &csv_of(&numbers_in(212, 0, 3))).await;

    let out = run_binary(&scenario).await;

    assert_eq!(out.status.code(), Some(2));
    let message = stderr(&out);
    assert!(
        message.contains("pacing.calls_per_second")
            && message.contains("line 6")
            && message.contains("above zero"),
        "{message}"
    );
}

/// The key comes only from the environment; without it the run says which variable to set.
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_api_key_exits_2_naming_the_variable() {
    let scenario =
        Scenario::start(POOL, Settings::default(), &csv_of(&numbers_in(212, 0, 3))).await;

    let out = scenario
        .outdial(&["run", scenario.campaign_file().to_str().unwrap()])
        .env_remove("SYNTHFLOW_API_KEY")
        .output()
        .await
        .unwrap();

    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("SYNTHFLOW_API_KEY"),
        "{}",
        stderr(&out)
    );
    assert!(scenario.sandbox.received().await.is_empty());
}

/// A key must not cross a network in clear text: http:// is refused except to loopback.
#[tokio::test(flavor = "multi_thread")]
async fn plain_http_to_a_remote_host_is_refused() {
    let scenario =
        Scenario::start(POOL, Settings::default(), &csv_of(&numbers_in(212, 0, 3))).await;

    let file = scenario.campaign_file();
    let out = scenario
        .outdial(&["run", file.to_str().unwrap()])
        .env("OUTDIAL_API_BASE", "http://api.example.com/v2")
        .output()
        .await
        .unwrap();

    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("only https"), "{}", stderr(&out));
}

/// `status` reports the journal's counts, as text and as JSON that parses.
#[tokio::test(flavor = "multi_thread")]
async fn status_reports_counts_as_text_and_json() {
    let scenario =
        Scenario::start(POOL, Settings::default(), &csv_of(&numbers_in(212, 0, 25))).await;
    let file = scenario.campaign_file();
    let file = file.to_str().unwrap();
    let before = scenario.outdial(&["status", file]).output().await.unwrap();
    assert!(String::from_utf8_lossy(&before.stdout).contains("not started"));
    scenario.run().await;

    let text = scenario.outdial(&["status", file]).output().await.unwrap();
    let json = scenario
        .outdial(&["status", file, "--json"])
        .output()
        .await
        .unwrap();

    assert!(text.status.success() && json.status.success());
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("done 25"),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&json.stdout).expect("status --json is JSON");
    assert_eq!(report["tally"]["states"]["done"], 25);
    assert_eq!(report["tally"]["callers"]["+12125550101"]["calls"], 25);
}

/// Adds `lines` to the scenario's campaign file, right after the top-level `contacts` key (or,
/// for an `[api]` line, as that table at the end).
fn add_to_campaign(scenario: &Scenario, lines: &str) {
    let file = scenario.campaign_file();
    let text = std::fs::read_to_string(&file).unwrap();
    let text = if lines.starts_with("[api]") {
        format!("{text}\n{lines}\n")
    } else {
        text.replacen(
            "contacts = \"contacts.csv\"\n",
            &format!("contacts = \"contacts.csv\"\n{lines}\n"),
            1,
        )
    };
    std::fs::write(file, text).unwrap();
}

/// An Excel export from a European locale (`;`, Windows-1252 accents, CRLF) runs as saved once
/// `contacts_encoding` names its encoding: everyone is called once, with the name spelled right.
#[tokio::test(flavor = "multi_thread")]
async fn an_excel_semicolon_windows_1252_export_runs_with_the_encoding_key() {
    let scenario = Scenario::start(POOL, Settings::default(), "").await;
    add_to_campaign(&scenario, "contacts_encoding = \"windows-1252\"");
    let csv = b"Mobile;Name;Ville\r\n(212) 555-0150;Ren\xe9e Fran\xe7ois;Besan\xe7on\r\n2125550151;Zo\xeb;Orl\xe9ans\r\n";
    std::fs::write(scenario.dir.path().join("contacts.csv"), csv).unwrap();

    let out = run_binary(&scenario).await;

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let expected = ["+12125550150".to_owned(), "+12125550151".to_owned()];
    scenario.assert_each_called_once(&expected).await;
    let names: Vec<String> = scenario
        .sandbox
        .received()
        .await
        .iter()
        .filter_map(|call| call.body["name"].as_str().map(str::to_owned))
        .collect();
    assert!(names.contains(&"Renée François".to_owned()), "{names:?}");
    assert!(names.contains(&"Zoë".to_owned()), "{names:?}");
}

/// Bad `contacts_delimiter` / `contacts_encoding` values are exit 2 naming the key and its line,
/// before any request.
#[tokio::test(flavor = "multi_thread")]
async fn bad_contacts_format_keys_exit_2_naming_the_key() {
    for (line, key) in [
        ("contacts_delimiter = \"semicolon\"", "contacts_delimiter"),
        (
            "contacts_encoding = \"ebcdic-klingon\"",
            "contacts_encoding",
        ),
    ] {
        let scenario =
            Scenario::start(POOL, Settings::default(), &csv_of(&numbers_in(212, 0, 3))).await;
        add_to_campaign(&scenario, line);

        let out = run_binary(&scenario).await;

        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let message = stderr(&out);
        assert!(
            message.contains(key) && message.contains("line 4"),
            "{message}"
        );
        assert!(scenario.sandbox.received().await.is_empty());
    }
}

/// A FIFO as the contacts file is refused with exit 2 at once (nobody will ever write to it),
/// by `run` and by `plan`, instead of hanging.
#[tokio::test(flavor = "multi_thread")]
async fn a_fifo_as_the_contacts_file_exits_2_at_once() {
    let scenario = Scenario::start(POOL, Settings::default(), "").await;
    let fifo = scenario.dir.path().join("contacts.csv");
    std::fs::remove_file(&fifo).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let file = scenario.campaign_file();
    for command in ["run", "plan"] {
        let child = scenario
            .outdial(&[command, file.to_str().unwrap()])
            .output();
        let out = tokio::time::timeout(std::time::Duration::from_secs(60), child)
            .await
            .unwrap_or_else(|_| panic!("`outdial {command}` hangs on a FIFO"))
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{command}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("not a regular file"),
            "{}",
            stderr(&out)
        );
    }
    assert!(scenario.sandbox.received().await.is_empty());
}

fn campaign_with_api(api: &str) -> Result<outdial::campaign::Campaign, String> {
    let text = format!("agent = \"a\"\ncontacts = \"c.csv\"\n\n[api]\n{api}\n");
    outdial::campaign::Campaign::from_text(
        std::path::Path::new("/tmp/region.toml"),
        &text,
        &outdial::campaign::Overrides::default(),
    )
    .map_err(|error| error.to_string())
}

/// `[api] region` picks the cluster's host; without it the legacy global host is used, and
/// `base_url` overrides the region.
#[test]
fn the_api_region_picks_the_base_url_and_base_url_overrides_it() {
    let url = |api: &str| campaign_with_api(api).unwrap().api.base_url.to_string();
    assert_eq!(url("region = \"us\""), "https://api.us.synthflow.ai/v2");
    assert_eq!(url("region = \"EU\""), "https://api.eu.synthflow.ai/v2");
    assert_eq!(url("region = \"global\""), "https://api.synthflow.ai/v2");
    assert_eq!(url(""), "https://api.synthflow.ai/v2");
    assert_eq!(
        url("region = \"eu\"\nbase_url = \"https://proxy.example.com/v2\""),
        "https://proxy.example.com/v2"
    );
}

/// A region that is not one of the three is exit 2 naming `api.region`, its line and the choices,
/// even when `base_url` overrides it.
#[tokio::test(flavor = "multi_thread")]
async fn a_bad_api_region_exits_2_naming_the_key() {
    for bad in ["mars", "us-east-1", ""] {
        let error = campaign_with_api(&format!("region = \"{bad}\"")).unwrap_err();
        assert!(
            error.contains("`api.region`") && error.contains("line 5") && error.contains("\"eu\""),
            "{error}"
        );
    }
    let scenario =
        Scenario::start(POOL, Settings::default(), &csv_of(&numbers_in(212, 0, 3))).await;
    add_to_campaign(&scenario, "[api]\nregion = \"asia\"");

    let out = run_binary(&scenario).await;

    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("api.region"), "{}", stderr(&out));
    assert!(scenario.sandbox.received().await.is_empty());
}

/// The real binary with no vendor configured: for commands that talk to nobody.
async fn offline(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_outdial"))
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("OUTDIAL_API_BASE")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `outdial init DIR` writes a campaign and contacts that run against the sandbox as written:
/// exit 0, every sample contact called once. The files are never overwritten afterwards.
#[tokio::test(flavor = "multi_thread")]
async fn init_writes_a_campaign_that_runs_against_the_sandbox_as_it_is() {
    let sandbox = outdial::sandbox::Sandbox::start(outdial::sandbox::SandboxConfig {
        call_duration: std::time::Duration::ZERO.into(),
        ..outdial::sandbox::SandboxConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("first");
    let target = target.to_str().unwrap();

    let init = offline(&["init", target]).await;

    assert_eq!(init.status.code(), Some(0), "{}", stderr(&init));
    let campaign = format!("{target}/campaign.toml");
    assert!(stdout(&init).contains(&format!("outdial run {campaign}")));
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_outdial"))
        .args(["run", &campaign])
        // Only the address: the file names `outdial sandbox`'s default one, taken by no test.
        .env("OUTDIAL_API_BASE", sandbox.synthflow_base())
        .env("SYNTHFLOW_API_KEY", "any")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let mut called: Vec<String> = sandbox
        .received()
        .await
        .into_iter()
        .filter(|call| call.call_id.is_some())
        .filter_map(|call| call.phone)
        .collect();
    called.sort();
    assert_eq!(
        called,
        [
            "+12125550178",
            "+13055550127",
            "+13125550119",
            "+14155550142",
            "+17135550163"
        ]
    );

    // Again into the same folder: refused, exit 2, and the files are as they were.
    std::fs::write(format!("{target}/contacts.csv"), "phone\n+12125550101\n").unwrap();
    let again = offline(&["init", target]).await;
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    assert_eq!(
        std::fs::read_to_string(format!("{target}/contacts.csv")).unwrap(),
        "phone\n+12125550101\n"
    );
}

/// `init` refuses when either file exists, writing neither (not half a project).
#[tokio::test(flavor = "multi_thread")]
async fn init_never_overwrites_either_file() {
    for existing in ["campaign.toml", "contacts.csv"] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(existing), "mine").unwrap();

        let out = offline(&["init", dir.path().to_str().unwrap()]).await;

        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(existing), "{}", stderr(&out));
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [existing], "nothing else was written");
        assert_eq!(
            std::fs::read_to_string(dir.path().join(existing)).unwrap(),
            "mine"
        );
    }
}

/// Every command and subcommand, all the way down, has examples in its `--help`.
#[test]
fn every_command_has_examples_in_its_help() {
    use clap::CommandFactory;
    fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
        let has_examples = command
            .get_after_help()
            .is_some_and(|text| text.to_string().contains("Example"));
        if !has_examples {
            missing.push(path.to_owned());
        }
        for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
            walk(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }
    let mut missing = Vec::new();
    walk(&outdial::cli::Cli::command(), "outdial", &mut missing);
    assert!(missing.is_empty(), "no examples in --help of: {missing:?}");
}

/// `--help` shows the examples through the real binary, e.g. for `pool fill-gaps`.
#[tokio::test(flavor = "multi_thread")]
async fn help_prints_the_examples() {
    let out = offline(&["pool", "fill-gaps", "--help"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).contains("Examples:\n  outdial pool fill-gaps"),
        "{}",
        stdout(&out)
    );
}

/// `--version` names the commit it was built from (`unknown` outside a git checkout).
#[tokio::test(flavor = "multi_thread")]
async fn version_names_the_commit() {
    let out = offline(&["--version"]).await;
    assert_eq!(out.status.code(), Some(0));
    let git = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|out| out.status.success());
    let commit = git.map_or("unknown".to_owned(), |out| {
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    });
    assert_eq!(
        stdout(&out),
        format!("outdial {} (commit {commit})\n", env!("CARGO_PKG_VERSION"))
    );
}

/// `completions SHELL` prints a script for each shell that completes our subcommands, and
/// `man` a roff page naming them; an unknown shell is exit 2.
#[tokio::test(flavor = "multi_thread")]
async fn completions_and_man_page_are_printed() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = offline(&["completions", shell]).await;
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        assert!(
            script.contains("fill-gaps") && script.contains("outdial"),
            "{shell}"
        );
    }
    let bad = offline(&["completions", "tcsh"]).await;
    assert_eq!(bad.status.code(), Some(2));

    let man = offline(&["man"]).await;
    assert_eq!(man.status.code(), Some(0), "{}", stderr(&man));
    let page = stdout(&man);
    assert!(
        page.starts_with(".ie") || page.contains(".TH outdial"),
        "{page}"
    );
    for section in [".SH NAME", ".SH SYNOPSIS", "init", "completions"] {
        assert!(page.contains(section), "{section} missing");
    }
}
