//! Do-not-call lists (SPEC §2 `[suppress]`): both file formats, comments, bad lines skipped with
//! a warning naming file and line, files re-read when they change while a campaign runs (no
//! sleeps: the recheck interval is zero and modification times are set explicitly), and files
//! that cannot be used at start are errors naming them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use outdial::phone::{Country, Phone};
use outdial::suppression::{DoNotCall, SuppressionError};
use tempfile::TempDir;
use tracing_subscriber::fmt::MakeWriter;

// ---- helpers --------------------------------------------------------------------------------

fn phone(written: &str) -> Phone {
    Phone::parse(written, Country::default()).unwrap()
}

/// Writes `text` as `name` in `dir` and returns its path.
fn write(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Moves a file's modification time forward explicitly, so that a rewrite within the file
/// system's timestamp granularity is still a change, without sleeping.
fn touch_later(path: &Path) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    let modified = file.metadata().unwrap().modified().unwrap();
    file.set_modified(modified + Duration::from_secs(10))
        .unwrap();
}

/// Loads one file with no recheck delay, so each `lists` call looks at the file first.
fn load(path: &Path) -> DoNotCall {
    DoNotCall::load(&[path.to_owned()], Country::default())
        .unwrap()
        .with_recheck(Duration::ZERO)
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

// ---- formats --------------------------------------------------------------------------------

/// One phone per line, written any way a person writes phones, is matched by E.164 identity,
/// and the answer names the file.
#[test]
fn a_plain_list_suppresses_its_numbers_however_written() {
    let dir = TempDir::new().unwrap();
    let path = write(
        &dir,
        "dnc.txt",
        "+1 415 234 5601\n(415) 234-5602\n4152345603\n",
    );
    let mut dnc = load(&path);
    for listed in ["+14152345601", "+14152345602", "+14152345603"] {
        assert_eq!(dnc.lists(&phone(listed)), Some(path.as_path()), "{listed}");
    }
    assert_eq!(dnc.lists(&phone("+14152345604")), None);
}

/// Blank lines, comment lines and comments after a number are ignored; a commented-out number is
/// not suppressed.
#[test]
fn comments_and_blank_lines_are_ignored() {
    let dir = TempDir::new().unwrap();
    let text = "# opt-outs, May\n\n+14152345601   # asked on 2025-05-02\n   \n# +14152345602\n";
    let path = write(&dir, "dnc.txt", text);
    let (mut dnc, logs) = logs_of(|| load(&path));
    assert!(dnc.lists(&phone("+14152345601")).is_some());
    assert!(dnc.lists(&phone("+14152345602")).is_none());
    assert!(!logs.contains("skipped"), "nothing to warn about: {logs}");
}

/// A CSV is read by its phone column, whatever else it holds, with a BOM and CRLF line ends.
#[test]
fn a_csv_list_is_read_by_its_phone_column() {
    let dir = TempDir::new().unwrap();
    let text =
        "\u{feff}name,Phone,note\r\nAnn,415-234-5601,\"moved, no calls\"\r\nBo,4152345602,\r\n";
    let path = write(&dir, "dnc.csv", text);
    let mut dnc = load(&path);
    assert!(dnc.lists(&phone("+14152345601")).is_some());
    assert!(dnc.lists(&phone("+14152345602")).is_some());
}

/// `phone_number` and `number` name the phone column too, but `phone` wins over `number`, which
/// may be an account number.
#[test]
fn csv_phone_column_aliases() {
    let dir = TempDir::new().unwrap();
    let alias = write(&dir, "a.csv", "phone_number\n4152345601\n");
    assert!(load(&alias).lists(&phone("+14152345601")).is_some());
    let both = write(&dir, "b.csv", "number,phone\n4152345698,4152345602\n");
    let mut dnc = load(&both);
    assert!(dnc.lists(&phone("+14152345602")).is_some());
    assert!(dnc.lists(&phone("+14152345698")).is_none());
}

/// With several files, the answer is the first file that lists the number.
#[test]
fn the_answer_names_the_file_that_lists_the_number() {
    let dir = TempDir::new().unwrap();
    let first = write(&dir, "first.txt", "+14152345601\n");
    let second = write(&dir, "second.csv", "phone\n+14152345602\n");
    let mut dnc = DoNotCall::load(&[first, second.clone()], Country::default()).unwrap();
    assert_eq!(dnc.lists(&phone("+14152345602")), Some(second.as_path()));
    assert_eq!(dnc.len(), 2);
}

// ---- bad lines ------------------------------------------------------------------------------

/// A line that is not a phone is skipped with a warning naming the file and line (but not the
/// digits), and the numbers around it still count.
#[test]
fn bad_lines_are_skipped_with_a_warning_naming_file_and_line() {
    let dir = TempDir::new().unwrap();
    let path = write(
        &dir,
        "dnc.txt",
        "+14152345601\nnot a phone\n415-234-56\n+14152345602\n",
    );
    let (mut dnc, logs) = logs_of(|| load(&path));
    assert!(dnc.lists(&phone("+14152345601")).is_some());
    assert!(dnc.lists(&phone("+14152345602")).is_some());
    let warnings: Vec<&str> = logs.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 2, "{logs}");
    assert!(
        warnings[0].contains("line=2") && warnings[1].contains("line=3"),
        "{logs}"
    );
    assert!(
        warnings
            .iter()
            .all(|w| w.contains(&path.display().to_string())),
        "{logs}"
    );
    assert!(
        !logs.contains("234-56"),
        "a near-miss number reached the log: {logs}"
    );
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
    let (mut dnc, logs) = logs_of(|| load(&path));
    assert!(dnc.lists(&phone("+14152345601")).is_some());
    let warnings: Vec<&str> = logs.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 2, "{logs}");
    assert!(
        warnings[0].contains("line=5") && warnings[1].contains("line=7"),
        "{logs}"
    );
}

// ---- changes while running ------------------------------------------------------------------

/// A number appended after load is suppressed on the next check.
#[test]
fn a_number_added_after_load_is_listed_on_the_next_check() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "dnc.txt", "+14152345601\n");
    let mut dnc = load(&path);
    assert!(dnc.lists(&phone("+14152345602")).is_none());
    let mut file = std::fs::File::options().append(true).open(&path).unwrap();
    writeln!(file, "+14152345602").unwrap();
    touch_later(&path);
    assert_eq!(dnc.lists(&phone("+14152345602")), Some(path.as_path()));
}

/// A rewrite of the same length is still seen, through the modification time.
#[test]
fn a_change_of_the_same_length_is_seen_by_its_modification_time() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "dnc.txt", "+14152345601\n");
    let mut dnc = load(&path);
    std::fs::write(&path, "+14152345602\n").unwrap();
    touch_later(&path);
    assert!(dnc.lists(&phone("+14152345602")).is_some());
    assert!(
        dnc.lists(&phone("+14152345601")).is_none(),
        "removed numbers are released"
    );
}

/// Files are not looked at again before the recheck interval has passed.
#[test]
fn files_are_not_rechecked_before_the_interval() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "dnc.txt", "+14152345601\n");
    let mut dnc = DoNotCall::load(std::slice::from_ref(&path), Country::default())
        .unwrap()
        .with_recheck(Duration::from_secs(3600));
    std::fs::write(&path, "+14152345601\n+14152345602\n").unwrap();
    touch_later(&path);
    assert!(dnc.lists(&phone("+14152345602")).is_none());
}

/// A file deleted mid-run keeps its last numbers, with one warning, and is read again when it
/// comes back, even restored with its old length and modification time (as from a backup).
#[test]
fn a_file_that_disappears_keeps_its_last_numbers() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "dnc.txt", "+14152345601\n");
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    let mut dnc = load(&path);
    std::fs::remove_file(&path).unwrap();
    let (listed, logs) = logs_of(|| {
        let first = dnc.lists(&phone("+14152345601")).is_some();
        let second = dnc.lists(&phone("+14152345601")).is_some();
        first && second
    });
    assert!(listed);
    assert_eq!(logs.matches("WARN").count(), 1, "{logs}");
    assert!(logs.contains(&path.display().to_string()), "{logs}");
    std::fs::write(&path, "+14152345602\n").unwrap();
    let restored = std::fs::File::options().write(true).open(&path).unwrap();
    restored.set_modified(modified).unwrap();
    assert!(dnc.lists(&phone("+14152345602")).is_some());
}

/// A CSV that loses its phone column mid-run keeps the numbers it had, with a warning.
#[test]
fn a_file_broken_mid_run_keeps_its_last_numbers() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "dnc.csv", "phone\n4152345601\n");
    let mut dnc = load(&path);
    std::fs::write(&path, "name,email\nAnn,ann@example.com\n").unwrap();
    touch_later(&path);
    let (listed, logs) = logs_of(|| dnc.lists(&phone("+14152345601")).is_some());
    assert!(listed);
    assert!(
        logs.contains("WARN") && logs.contains("without a phone column"),
        "{logs}"
    );
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
