//! Do-not-call lists (SPEC §2 `[suppress]`) fail closed: every phone a list holds is honoured
//! however it is spelled or encoded, each line that is not a phone is reported with its file and
//! line, a list that cannot be read holds everyone (and stops a run past its limit, contacts
//! pending), and a list caught mid-rewrite never lets anyone on it through. Watched lists are
//! looked at every few milliseconds here; tests wait on what the lists answer, never on a sleep.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{ALWAYS_OPEN, Notes, Scenario, agent_with, campaign_text, csv_of, numbers_in};
use outdial::dialer::Ending;
use outdial::phone::{Country, Phone};
use outdial::sandbox::SandboxConfig;
use outdial::suppression::{Check, DoNotCall, ListCount, SuppressionError};
use proptest::prelude::*;
use tempfile::TempDir;
use tracing_subscriber::fmt::MakeWriter;

// ---- helpers --------------------------------------------------------------------------------

fn phone(written: &str) -> Phone {
    Phone::parse(written, Country::default()).unwrap()
}

/// Writes `bytes` as `name` in `dir` and returns its path.
fn write(dir: &TempDir, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn load(path: &Path) -> DoNotCall {
    DoNotCall::load(&[path.to_owned()], Country::default()).unwrap()
}

/// Watches one file, looking at it every 5 ms.
fn watch(path: &Path) -> DoNotCall {
    DoNotCall::watch(
        &[path.to_owned()],
        Country::default(),
        Duration::from_millis(5),
    )
    .unwrap()
}

fn listed(dnc: &DoNotCall, written: &str) -> bool {
    matches!(dnc.check(&phone(written)), Check::Listed(_))
}

/// Waits (bounded) until `holds` is true of the lists, and returns the last answer for `who`.
fn eventually(dnc: &DoNotCall, who: &str, holds: impl Fn(&DoNotCall) -> bool) -> Check {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !holds(dnc) {
        assert!(
            std::time::Instant::now() < deadline,
            "the lists never changed as expected: {dnc:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    dnc.check(&phone(who))
}

fn numbers_read(dnc: &DoNotCall) -> usize {
    dnc.counts()[0].numbers
}

/// `text` in UTF-16 with a byte-order mark, each unit written by `unit` (LE or BE).
fn utf16(text: &str, unit: fn(u16) -> [u8; 2]) -> Vec<u8> {
    std::iter::once(0xFEFF)
        .chain(text.encode_utf16())
        .flat_map(unit)
        .collect()
}

/// Everything logged while `f` runs, as plain text.
fn logs_of<T>(f: impl FnOnce() -> T) -> (T, String) {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .without_time()
        .finish();
    let value = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    (value, text)
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

/// The warnings of a log, one per line.
fn warnings(logs: &str) -> Vec<&str> {
    logs.lines().filter(|l| l.contains("WARN")).collect()
}

// ---- spellings and formats ------------------------------------------------------------------

/// Every way lists spell a phone is honoured: international and national form, punctuation,
/// an extension (the whole number is suppressed), a name or other columns after a tab,
/// full-width digits and signs, and a number outside NANP; none of it is a skipped line.
#[test]
fn every_spelling_of_a_phone_is_honoured() {
    let spellings = [
        ("+1 415 234 5601", "+14152345601"),
        ("(415) 234-5602", "+14152345602"),
        ("415.234.5603", "+14152345603"),
        ("1-415-234-5604", "+14152345604"),
        ("4152345605", "+14152345605"),
        ("+1 (415) 234-5606 ext. 12", "+14152345606"),
        ("415-234-5607 x7", "+14152345607"),
        ("4152345608\tAnn Example", "+14152345608"),
        (
            "+1 415 234 5609\tAnn\t2026-11-30\topted out",
            "+14152345609",
        ),
        ("＋１ ４１５ ２３４ ５６１０", "+14152345610"),
        ("（４１５）２３４－５６１１", "+14152345611"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+49 30 901820", "+4930901820"),
    ];
    let dir = TempDir::new().unwrap();
    let text: String = spellings.iter().map(|(s, _)| format!("{s}\n")).collect();
    let path = write(&dir, "dnc.txt", text);
    let (dnc, logs) = logs_of(|| load(&path));
    for (written, e164) in spellings {
        assert_eq!(
            dnc.check(&phone(e164)),
            Check::Listed(path.clone()),
            "{written}"
        );
    }
    assert_eq!(dnc.check(&phone("+14152345699")), Check::Clear);
    assert_eq!(
        dnc.counts(),
        vec![ListCount {
            file: path,
            numbers: spellings.len(),
            skipped_lines: 0
        }]
    );
    assert!(warnings(&logs).is_empty(), "{logs}");
}

/// The same list in UTF-8 with a BOM and in UTF-16 LE and BE with a BOM, as a plain list and as
/// a CSV, gives the same numbers; bad lines keep their line numbers in every encoding.
#[test]
fn utf8_and_utf16_lists_with_a_byte_order_mark_read_alike() {
    let plain = "# opt-outs\r\n+1 415 234 5601\r\nnot a phone\r\n(415) 234-5602\tBo\r\n";
    let csv = "name,phone\r\nAnn,415-234-5601\r\nCy,nope\r\nBo,+14152345602\r\n";
    let dir = TempDir::new().unwrap();
    for (format, text, bad_line) in [("plain", plain, 3), ("csv", csv, 3)] {
        let encodings: [(&str, Vec<u8>); 4] = [
            ("utf-8", text.as_bytes().to_vec()),
            (
                "utf-8-bom",
                [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat(),
            ),
            ("utf-16le", utf16(text, u16::to_le_bytes)),
            ("utf-16be", utf16(text, u16::to_be_bytes)),
        ];
        for (encoding, bytes) in encodings {
            let path = write(&dir, &format!("{format}-{encoding}.txt"), bytes);
            let (dnc, logs) = logs_of(|| load(&path));
            let case = format!("{format} in {encoding}");
            assert!(listed(&dnc, "+14152345601"), "{case}");
            assert!(listed(&dnc, "+14152345602"), "{case}");
            assert_eq!(numbers_read(&dnc), 2, "{case}");
            let warned = warnings(&logs);
            assert_eq!(warned.len(), 1, "{case}: {logs}");
            assert!(
                warned[0].contains(&format!("line={bad_line}")),
                "{case}: {logs}"
            );
        }
    }
}

/// A file outdial cannot decode is refused at start, naming it and saying how to save it: text
/// that is not UTF-8 (Latin-1), UTF-16 without its byte-order mark, a broken UTF-16 body.
#[test]
fn a_list_that_cannot_be_decoded_is_an_error_naming_it() {
    let dir = TempDir::new().unwrap();
    let cases: [(&str, Vec<u8>); 3] = [
        ("latin1.txt", b"4152345601\tJos\xE9\n".to_vec()),
        (
            "utf16-no-bom.txt",
            "4152345601\n"
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect(),
        ),
        ("utf16-broken.txt", vec![0xFF, 0xFE, 0x00, 0xD8, b'4', 0]),
    ];
    for (name, bytes) in cases {
        let path = write(&dir, name, bytes);
        let error = DoNotCall::load(std::slice::from_ref(&path), Country::default()).unwrap_err();
        assert!(
            matches!(&error, SuppressionError::Undecodable { file, .. } if *file == path),
            "{name}: {error:?}"
        );
        let message = error.to_string();
        assert!(
            message.contains(&path.display().to_string()) && message.contains("UTF-8"),
            "{message}"
        );
    }
}

/// Blank lines, comment lines and comments after a number are ignored; a commented-out number is
/// not suppressed.
#[test]
fn comments_and_blank_lines_are_ignored() {
    let dir = TempDir::new().unwrap();
    let text = "# opt-outs, May\n\n+14152345601   # asked on 2025-05-02\n   \n# +14152345602\n";
    let path = write(&dir, "dnc.txt", text);
    let (dnc, logs) = logs_of(|| load(&path));
    assert!(listed(&dnc, "+14152345601"));
    assert!(!listed(&dnc, "+14152345602"));
    assert!(warnings(&logs).is_empty(), "nothing to warn about: {logs}");
}

/// A CSV is read by its phone column, whatever else it holds, comma- or tab-separated.
#[test]
fn a_csv_list_is_read_by_its_phone_column() {
    let dir = TempDir::new().unwrap();
    let comma = write(
        &dir,
        "dnc.csv",
        "name,Phone,note\r\nAnn,415-234-5601,\"moved, no calls\"\r\nBo,4152345602,\r\n",
    );
    let tab = write(
        &dir,
        "dnc.tsv",
        "name\tphone\nAnn\t415-234-5601\nBo\t+1 415 234 5602\n",
    );
    for path in [comma, tab] {
        let dnc = load(&path);
        assert!(listed(&dnc, "+14152345601"), "{}", path.display());
        assert!(listed(&dnc, "+14152345602"), "{}", path.display());
    }
}

/// `phone_number` and `number` name the phone column too, but `phone` wins over `number`, which
/// may be an account number.
#[test]
fn csv_phone_column_aliases() {
    let dir = TempDir::new().unwrap();
    let alias = write(&dir, "a.csv", "phone_number\n4152345601\n");
    assert!(listed(&load(&alias), "+14152345601"));
    let both = write(&dir, "b.csv", "number,phone\n4152345698,4152345602\n");
    let dnc = load(&both);
    assert!(listed(&dnc, "+14152345602"));
    assert!(!listed(&dnc, "+14152345698"));
}

/// With several files, the answer is the first file that lists the number, and each file's
/// count is its own.
#[test]
fn the_answer_names_the_file_that_lists_the_number() {
    let dir = TempDir::new().unwrap();
    let first = write(&dir, "first.txt", "+14152345601\nnope\n");
    let second = write(&dir, "second.csv", "phone\n+14152345602\n+14152345601\n");
    let dnc = DoNotCall::load(&[first.clone(), second.clone()], Country::default()).unwrap();
    assert_eq!(
        dnc.check(&phone("+14152345602")),
        Check::Listed(second.clone())
    );
    assert_eq!(
        dnc.check(&phone("+14152345601")),
        Check::Listed(first.clone())
    );
    let counts: Vec<(PathBuf, usize, usize)> = dnc
        .counts()
        .into_iter()
        .map(|c| (c.file, c.numbers, c.skipped_lines))
        .collect();
    assert_eq!(counts, vec![(first, 1, 1), (second, 2, 0)]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Every phone the phone parser reads from a line is on the list that holds the line,
    /// whichever way the line is spelled (fast reading or parser), in a list of many lines.
    #[test]
    fn every_phone_the_parser_reads_is_honoured(lines in prop::collection::vec(line(), 1..60)) {
        let dir = TempDir::new().unwrap();
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let path = write(&dir, "dnc.txt", text);
        let dnc = load(&path);
        for line in &lines {
            if let Ok(phone) = Phone::parse_listed(line, Country::default()) {
                prop_assert_eq!(dnc.check(&phone), Check::Listed(path.clone()), "{}", line);
            }
        }
    }
}

/// A list line: NANP digits spelled as people do, or an international number, with or without
/// an extension or a tab and a name.
fn line() -> impl Strategy<Value = String> {
    let prefix = prop::sample::select(vec![
        "", "+1 ", "1-", "+1", "(", "＋１ ", "+44 20 ", "+61 2 ",
    ]);
    let sep = prop::sample::select(vec!["", " ", "-", ".", ") ", "－"]);
    let tail = prop::sample::select(vec!["", " ext. 5", " x12", "\tAnn", "\tAnn\tx", "  "]);
    (
        prefix,
        "[2-9][0-9]{2}",
        sep.clone(),
        "[2-9][0-9]{2}",
        sep,
        "[0-9]{4}",
        tail,
    )
        .prop_map(|(p, a, s1, b, s2, c, t)| format!("{p}{a}{s1}{b}{s2}{c}{t}"))
}

// ---- lines that are not phones --------------------------------------------------------------

/// A line that is not a phone is skipped with a warning naming the file and its line number
/// (but not the digits), the numbers around it still count, and the list's count says how many
/// lines it skipped.
#[test]
fn each_bad_line_is_reported_with_file_and_line() {
    let dir = TempDir::new().unwrap();
    let path = write(
        &dir,
        "dnc.txt",
        "+14152345601\nnot a phone\n415-234-56\n\n+14152345602\nAnn\t4152345603\n",
    );
    let (dnc, logs) = logs_of(|| load(&path));
    assert!(listed(&dnc, "+14152345601"));
    assert!(listed(&dnc, "+14152345602"));
    let warned = warnings(&logs);
    assert_eq!(warned.len(), 3, "{logs}");
    for (warning, line) in warned.iter().zip([2, 3, 6]) {
        assert!(warning.contains(&format!("line={line}")), "{logs}");
        assert!(warning.contains(&path.display().to_string()), "{logs}");
    }
    assert!(
        !logs.contains("234-56"),
        "a near-miss number reached the log: {logs}"
    );
    assert_eq!(dnc.counts()[0].skipped_lines, 3);
}

/// In a CSV, warnings give the file's own line numbers, counting comment and blank lines.
#[test]
fn csv_warnings_count_lines_as_the_file_does() {
    let dir = TempDir::new().unwrap();
    let path = write(
        &dir,
        "dnc.csv",
        "# list\nphone,name\n\n# c\nnope,Ann\n4152345601,Bo\n,Cy\n",
    );
    let (dnc, logs) = logs_of(|| load(&path));
    assert!(listed(&dnc, "+14152345601"));
    let warned = warnings(&logs);
    assert_eq!(warned.len(), 2, "{logs}");
    assert!(
        warned[0].contains("line=5") && warned[1].contains("line=7"),
        "{logs}"
    );
}

// ---- changes while watched ------------------------------------------------------------------

/// A number appended after load is listed once the file has been looked at again.
#[test]
fn a_number_appended_is_listed() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "dnc.txt", "+14152345601\n");
    let dnc = watch(&path);
    assert!(!listed(&dnc, "+14152345602"));
    let mut file = std::fs::File::options().append(true).open(&path).unwrap();
    writeln!(file, "(415) 234-5602").unwrap();
    let check = eventually(&dnc, "+14152345602", |d| numbers_read(d) == 2);
    assert_eq!(check, Check::Listed(path));
}

/// A list rewritten in place (truncated, then written in pieces) never lets a number on it
/// through, not even while the file is empty or half written; a number taken off it is
/// released only once the file has settled.
#[test]
fn a_list_caught_mid_rewrite_lets_nobody_through() {
    let dir = TempDir::new().unwrap();
    let all = [
        "+14152345601",
        "+14152345602",
        "+14152345603",
        "+14152345604",
    ];
    let path = write(&dir, "dnc.txt", format!("{}\n", all.join("\n")));
    let dnc = watch(&path);
    let every_one_listed = |dnc: &DoNotCall| all.iter().all(|p| listed(dnc, p));

    let mut file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_len(0).unwrap();
    eventually(&dnc, all[0], |d| numbers_read(d) == 0);
    assert!(every_one_listed(&dnc), "the truncated file un-suppressed");
    writeln!(file, "{}\n{}", all[0], &all[1][..8]).unwrap();
    eventually(&dnc, all[0], |d| numbers_read(d) == 1);
    assert!(
        every_one_listed(&dnc),
        "the half-written file un-suppressed"
    );
    std::fs::write(&path, format!("{}\n{}\n{}\n", all[0], all[1], all[2])).unwrap();
    eventually(&dnc, all[0], |d| numbers_read(d) == 3);
    // Settled: the fourth, taken off the list, is released, and only it.
    let released = eventually(&dnc, all[3], |d| !listed(d, all[3]));
    assert_eq!(released, Check::Clear);
    assert!(all[..3].iter().all(|p| listed(&dnc, p)));
}

/// A list deleted mid-run holds everyone, listed or not, naming the file and since when; when
/// it comes back (even with its old length and modification time, as from a backup) it is
/// read again and the lists answer as before.
#[test]
fn a_deleted_list_holds_everyone_until_it_returns() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "dnc.txt", "+14152345601\n");
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    let dnc = watch(&path);
    let before = jiff::Timestamp::now();
    std::fs::remove_file(&path).unwrap();
    let unreadable =
        |d: &DoNotCall| matches!(d.check(&phone("+14152345699")), Check::Unreadable(_));
    let Check::Unreadable(trouble) = eventually(&dnc, "+14152345699", unreadable) else {
        unreachable!()
    };
    assert_eq!(trouble.file, path);
    assert!(
        trouble.why.contains(&path.display().to_string()),
        "{trouble}"
    );
    assert!(trouble.since >= before, "{trouble:?}");
    assert!(
        !matches!(dnc.check(&phone("+14152345602")), Check::Clear),
        "an unlisted number is clear while the list is missing"
    );

    std::fs::write(&path, "+14152345602\n").unwrap();
    let restored = std::fs::File::options().write(true).open(&path).unwrap();
    restored.set_modified(modified).unwrap();
    let check = eventually(&dnc, "+14152345699", |d| !unreadable(d));
    assert_eq!(check, Check::Clear);
    assert!(listed(&dnc, "+14152345602"));
}

/// Something done to a list file that makes it unusable.
type Breakage = dyn Fn(&Path);

/// Any way a watched list becomes unusable holds everyone: a CSV that loses its phone column,
/// a file rewritten in an encoding outdial cannot decode, a file that can no longer be opened.
#[test]
fn a_list_that_breaks_while_watched_holds_everyone() {
    let dir = TempDir::new().unwrap();
    let breakages: [(&str, &Breakage); 3] = [
        ("no phone column", &|p: &Path| {
            std::fs::write(p, "name,email\nAnn,ann@example.com\n").unwrap()
        }),
        ("latin-1", &|p: &Path| {
            std::fs::write(p, b"phone\n4152345601 Jos\xE9\n").unwrap()
        }),
        ("a directory now", &|p: &Path| {
            std::fs::remove_file(p).unwrap();
            std::fs::create_dir(p).unwrap();
        }),
    ];
    for (i, (how, breakage)) in breakages.into_iter().enumerate() {
        let path = write(&dir, &format!("dnc-{i}.csv"), "phone\n4152345601\n");
        let dnc = watch(&path);
        breakage(&path);
        let check = eventually(&dnc, "+14152345699", |d| {
            matches!(d.check(&phone("+14152345699")), Check::Unreadable(_))
        });
        let Check::Unreadable(trouble) = check else {
            unreachable!()
        };
        assert_eq!(trouble.file, path, "{how}");
    }
}

// ---- errors at start ------------------------------------------------------------------------

/// A missing file at start is an error that names it and says where to look.
#[test]
fn a_missing_file_at_start_is_an_error_naming_it() {
    let dir = TempDir::new().unwrap();
    let present = write(&dir, "dnc.txt", "+14152345601\n");
    let missing = dir.path().join("typo.txt");
    let error = DoNotCall::load(&[present, missing.clone()], Country::default()).unwrap_err();
    assert!(matches!(&error, SuppressionError::Read { file, .. } if *file == missing));
    let message = error.to_string();
    assert!(
        message.contains(&missing.display().to_string()),
        "{message}"
    );
    assert!(message.contains("suppress.files"), "{message}");
}

/// A CSV without a phone column at start is an error naming file and header line, not a list
/// that silently suppresses nobody.
#[test]
fn a_csv_without_a_phone_column_is_an_error_naming_file_and_line() {
    let dir = TempDir::new().unwrap();
    let path = write(
        &dir,
        "dnc.csv",
        "# exported\nname,email\nAnn,ann@example.com\n",
    );
    let error = DoNotCall::load(std::slice::from_ref(&path), Country::default()).unwrap_err();
    assert!(
        matches!(error, SuppressionError::NoPhoneColumn { line: 2, .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&path.display().to_string()) && message.contains("line 2"),
        "{message}"
    );
}

// ---- in a run -------------------------------------------------------------------------------

const A: &str = "+12125550101";

fn sandbox() -> SandboxConfig {
    SandboxConfig {
        agents: agent_with(&[A]),
        call_duration: Duration::ZERO.into(),
        ..SandboxConfig::default()
    }
}

/// A campaign at `calls_per_second` with one do-not-call list, `dnc.txt`.
fn campaign(calls_per_second: f64, suppress: &str) -> String {
    campaign_text(&format!(
        "[pacing]\ncalls_per_second = {calls_per_second}\nmax_live_calls = 1\n\n{ALWAYS_OPEN}\n\
         [suppress]\nfiles = [\"dnc.txt\"]\n{suppress}"
    ))
}

/// `outdial run` and `outdial plan` refuse to start on a list they cannot read (missing, or not
/// decodable), exit 2 naming the file, and call nobody.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_refuses_to_start_on_a_list_it_cannot_read() {
    let phones = numbers_in(212, 0, 3);
    let scenario = Scenario::start_with(sandbox(), &campaign(50.0, ""), &csv_of(&phones)).await;
    let file = scenario.campaign_file();
    let dnc = scenario.dir.path().join("dnc.txt");
    for bytes in [None, Some(b"4152345601 Jos\xE9\n".to_vec())] {
        if let Some(bytes) = &bytes {
            std::fs::write(&dnc, bytes).unwrap();
        }
        for command in ["run", "plan"] {
            let out = scenario
                .outdial(&[command, file.to_str().unwrap()])
                .output()
                .await
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
            assert!(stderr.contains(&dnc.display().to_string()), "{stderr}");
        }
    }
    assert!(scenario.sandbox.received().await.is_empty());
}

/// `plan` and `run` say how many numbers each list gave and how many of its lines they skipped.
#[tokio::test(flavor = "multi_thread")]
async fn plan_and_run_say_what_each_list_gave() {
    let phones = numbers_in(212, 0, 4);
    let scenario = Scenario::start_with(sandbox(), &campaign(50.0, ""), &csv_of(&phones)).await;
    let dnc = scenario.dir.path().join("dnc.txt");
    std::fs::write(&dnc, format!("{}\nnope\n{}\tAnn\n", phones[0], phones[1])).unwrap();
    let said = format!(
        "do-not-call list {}: 2 numbers (1 lines skipped",
        dnc.display()
    );
    let file = scenario.campaign_file();
    let plan = scenario
        .outdial(&["plan", file.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert!(plan.status.success());
    let stdout = String::from_utf8_lossy(&plan.stdout);
    assert!(stdout.contains(&said), "{stdout}");
    assert!(stdout.contains("2 on a do-not-call list"), "{stdout}");

    let notes = Notes::default();
    let finish = scenario.run_noting(&notes, std::future::pending()).await;
    assert!(matches!(finish.ending, Ending::Complete));
    assert!(
        notes.all().iter().any(|n| n.contains(&said)),
        "{:?}",
        notes.all()
    );
    scenario.assert_each_called_once(&phones[2..]).await;
}

/// A list deleted mid-run: from the moment the run sees it missing nobody is dialled (one call
/// at most was already on its way), it says so once, and past `unreadable_limit_seconds` the
/// run stops by itself, exit 2 naming the file, the contacts not called still pending; a
/// listed number is never called.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_whose_list_stays_missing_stops_with_contacts_pending() {
    let phones = numbers_in(212, 0, 200);
    let listed: Vec<String> = phones.iter().step_by(4).cloned().collect();
    let suppress = "unreadable_limit_seconds = 2\n";
    let scenario =
        Scenario::start_with(sandbox(), &campaign(20.0, suppress), &csv_of(&phones)).await;
    let dnc = scenario.dir.path().join("dnc.txt");
    std::fs::write(&dnc, listed.join("\n")).unwrap();
    let run = scenario
        .outdial(&["run", scenario.campaign_file().to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    scenario.wait_for_requests(5).await;
    std::fs::remove_file(&dnc).unwrap();
    let out = run.wait_with_output().await.unwrap();
    let exited_ms = jiff::Timestamp::now().as_millisecond();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let named = format!("do-not-call file {}", dnc.display());
    let held = "nobody is called while a do-not-call list cannot be read";
    assert_eq!(stderr.matches(held).count(), 1, "{stderr}");
    assert!(stderr.contains(&named), "{stderr}");
    assert!(stderr.contains("unreadable_limit_seconds"), "{stderr}");

    // The run held for the whole limit before it stopped: at 20 calls/s it would have made
    // about 40 calls in those 2 s; one at most was already on its way when the hold began.
    let received = scenario.sandbox.received().await;
    let during_hold = received
        .iter()
        .filter(|c| c.at_ms >= exited_ms - 2_000)
        .count();
    assert!(
        during_hold <= 1,
        "{during_hold} calls while the list was missing"
    );
    let called = scenario.calls_per_phone().await;
    assert!(
        listed.iter().all(|p| !called.contains_key(p)),
        "a listed number was called"
    );
    assert!(
        called.len() < 100,
        "dialling went on: {} calls",
        called.len()
    );
    // Taken up and held, or never taken up: either way the next run calls them.
    let rows = scenario.export_rows().await;
    for (phone, row) in &rows {
        // A listed number stays listed while its file is missing: its last numbers still hold.
        let state = if called.contains_key(phone) {
            "done"
        } else if listed.contains(phone) {
            "skipped"
        } else {
            "pending"
        };
        assert_eq!(row["state"], state, "{row:?}");
    }
    assert!(
        rows.values().any(|r| r["state"] == "pending"),
        "nobody was held"
    );
}

/// A list deleted mid-run holds dialling, and when it comes back the run resumes and completes:
/// everyone not listed called once, nobody listed called.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_whose_list_returns_resumes_dialling() {
    let phones = numbers_in(212, 0, 60);
    let listed: Vec<String> = phones.iter().step_by(3).cloned().collect();
    let scenario = Scenario::start_with(sandbox(), &campaign(20.0, ""), &csv_of(&phones)).await;
    let dnc = scenario.dir.path().join("dnc.txt");
    std::fs::write(&dnc, listed.join("\n")).unwrap();
    let notes = Notes::default();
    let outage = async {
        scenario.wait_for_requests(5).await;
        std::fs::remove_file(&dnc).unwrap();
        notes.wait_for("cannot be read").await;
        let at_hold = scenario.sandbox.received().await.len();
        std::fs::write(&dnc, listed.join("\n")).unwrap();
        at_hold
    };
    let (finish, at_hold) =
        tokio::join!(scenario.run_noting(&notes, std::future::pending()), outage);
    assert!(
        matches!(finish.ending, Ending::Complete),
        "{:?}",
        finish.ending
    );
    assert!(at_hold < 40, "the hold came after the run was nearly done");
    let others: Vec<String> = phones
        .iter()
        .filter(|p| !listed.contains(p))
        .cloned()
        .collect();
    scenario.assert_each_called_once(&others).await;
}

/// A list rewritten again and again while the run goes (truncated, left empty for longer than
/// the run takes to look at it, then written back) never lets a number on it be called.
#[tokio::test(flavor = "multi_thread")]
async fn a_list_rewritten_during_a_run_lets_nobody_on_it_be_called() {
    let phones = numbers_in(212, 0, 160);
    let listed: Vec<String> = phones.iter().skip(1).step_by(2).cloned().collect();
    let scenario = Scenario::start_with(sandbox(), &campaign(15.0, ""), &csv_of(&phones)).await;
    let dnc = scenario.dir.path().join("dnc.txt");
    let text = format!("{}\n", listed.join("\n"));
    std::fs::write(&dnc, &text).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    let rewrites = async {
        scenario.wait_for_requests(3).await;
        let mut rewrites = 0;
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            std::fs::File::create(&dnc).unwrap(); // truncates
            // A slow writer: the file stays empty past the run's next look at it.
            tokio::time::sleep(outdial::suppression::RECHECK.mul_f64(1.5)).await;
            std::fs::write(&dnc, &text).unwrap();
            rewrites += 1;
            // The whole list stays a while, then it is rewritten again.
            let calls = scenario.sandbox.received().await.len();
            while !done.load(std::sync::atomic::Ordering::Relaxed)
                && scenario.sandbox.received().await.len() < calls + 5
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        rewrites
    };
    let run = async {
        let finish = scenario
            .run_noting(&Notes::default(), std::future::pending())
            .await;
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        finish
    };
    let (finish, rewrites) = tokio::join!(run, rewrites);
    assert!(matches!(finish.ending, Ending::Complete));
    assert!(
        rewrites >= 2,
        "the run ended before the list was rewritten twice"
    );
    let others: Vec<String> = phones.iter().step_by(2).cloned().collect();
    scenario.assert_each_called_once(&others).await;
}

/// `suppress.unreadable_limit_seconds` is bounded (1 s to a day) and an out-of-range value is
/// refused naming the key and its line; without it the limit is five minutes.
#[test]
fn the_unreadable_limit_is_bounded() {
    use outdial::campaign::{Campaign, ConfigError, Overrides};
    let dir = TempDir::new().unwrap();
    let load = |suppress: &str| {
        let text = campaign_text(&format!("[suppress]\nfiles = []\n{suppress}"));
        let path = write(&dir, "campaign.toml", text);
        Campaign::load(&path, &Overrides::default())
    };
    let default = load("").unwrap();
    assert_eq!(default.suppress.unreadable_limit, Duration::from_secs(300));
    let day = load("unreadable_limit_seconds = 86400").unwrap();
    assert_eq!(day.suppress.unreadable_limit, Duration::from_secs(86_400));
    for bad in ["0", "-5", "86401", "99999999999999"] {
        let error = load(&format!("unreadable_limit_seconds = {bad}")).unwrap_err();
        assert!(
            matches!(
                error,
                ConfigError::Value {
                    key: "suppress.unreadable_limit_seconds",
                    line: 7,
                    ..
                }
            ),
            "{bad}: {error:?}"
        );
        assert!(error.to_string().contains("from 1 to 86400"), "{error}");
    }
}
