//! The report's figures follow from the journal by their definitions (README, "Report"), for
//! every way an attempt can end and every reason a contact waits or is skipped: a journal is
//! written through the real `Journal` with each case, and every figure is checked against what
//! was written. Time is passed in, so the held-by-window case does not depend on the hour.

use jiff::Timestamp;
use outdial::api::CallState;
use outdial::campaign::{Campaign, Overrides};
use outdial::contacts::Contact;
use outdial::figures::{Figures, HeldReason, SkipReason, Source};
use outdial::history::LocalMoment;
use outdial::journal::{Entry, Journal, SkippedRow};
use outdial::phone::{Country, Phone};
use outdial::rotation::{Choice, Match};
use outdial::rules::REMOVED;

const CALLER: &str = "+12125550101";
const OTHER_CALLER: &str = "+13105550101";
/// A Monday: 14:00 in New York, 19:00 UTC.
const MONDAY_AFTERNOON: &str = "2026-11-30T19:00:00Z";
/// The same Monday, 03:00 in New York: outside 09:00–17:00.
const MONDAY_NIGHT: &str = "2026-11-30T08:00:00Z";

fn phone(e164: &str) -> Phone {
    Phone::parse(e164, Country::default()).unwrap()
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn end(status: &str, reason: Option<&str>, seconds: u64, ringing_ms: Option<u64>) -> CallState {
    CallState {
        status: status.into(),
        end_call_reason: reason.map(Into::into),
        duration: Some(seconds),
        ringing_ms,
        disconnect_reason: Some("callee_hangup".into()),
    }
}

/// Writes contacts and attempts through the journal, one `put` per transition, as a run does.
struct Writer<'a> {
    journal: &'a Journal,
    line: u64,
}

impl Writer<'_> {
    fn contact(&mut self, e164: &str) -> Entry {
        self.line += 1;
        let contact = Contact {
            phone: phone(e164),
            name: format!("Contact {}", self.line),
            line: self.line,
            time_zone: Some("America/New_York".into()),
            region: None,
            custom_variables: Vec::new(),
        };
        let entry = Entry::new(contact, 1, at(MONDAY_NIGHT));
        self.journal.put(&entry).unwrap();
        entry
    }

    /// One attempt from `caller`, sent at `sent` (Monday 09:00 callee-local unless told).
    fn dial(&self, entry: &mut Entry, caller: &str, sent: &str) {
        let choice = Choice {
            caller_id: phone(caller),
            local_match: Match::AreaCode,
            local: Some(LocalMoment {
                hour: 9,
                weekday: 1,
            }),
        };
        entry.dialing(&choice, at(sent));
        self.journal.put(entry).unwrap();
        entry.placed(
            format!("call-{}-{}", entry.contact.line, entry.attempts),
            at(sent),
        );
        self.journal.put(entry).unwrap();
    }

    fn ended(&self, e164: &str, call: CallState) {
        let mut entry = self.contact_dialled(e164);
        entry.done(call, at(MONDAY_AFTERNOON));
        self.journal.put(&entry).unwrap();
    }

    fn contact_dialled(&self, e164: &str) -> Entry {
        let mut entry = self.journal.get(&phone(e164)).unwrap().unwrap();
        self.dial(&mut entry, CALLER, "2026-11-30T14:00:00Z");
        entry
    }
}

fn campaign(dir: &std::path::Path) -> Campaign {
    let text = format!(
        "name = \"figures\"\nagent = \"a\"\ncontacts = \"contacts.csv\"\n\n\
         [rotation]\nnumbers = [\"{CALLER}\", \"{OTHER_CALLER}\"]\nmax_calls_per_number_per_day = 40\n\n\
         [window]\nstart = \"09:00\"\nend = \"17:00\"\n\
         days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\n"
    );
    let file = dir.join("figures.toml");
    std::fs::write(&file, &text).unwrap();
    std::fs::write(dir.join("contacts.csv"), "phone\n").unwrap();
    Campaign::load(&file, &Overrides::default()).expect("a valid campaign")
}

/// Every end kind, every skip and hold reason, redials and an uncertain create, each counted
/// where its definition puts it, and nowhere else.
#[tokio::test(flavor = "multi_thread")]
async fn each_figure_follows_from_what_the_journal_holds() {
    let dir = tempfile::TempDir::new().unwrap();
    let campaign = campaign(dir.path());
    let journal = Journal::open(&campaign.journal_dir, &campaign.name).unwrap();
    let mut w = Writer {
        journal: &journal,
        line: 1,
    };
    let numbers: Vec<String> = (0..12).map(|i| format!("+1212234{i:04}")).collect();
    for n in &numbers {
        w.contact(n);
    }
    // A person, long enough to be completed; rang 7 s.
    w.ended(
        &numbers[0],
        end("completed", Some("human_ended_call"), 40, Some(7_000)),
    );
    // A person who hung up in 4 s: a contact, a short call, not completed; rang 2 s.
    w.ended(
        &numbers[1],
        end("completed", Some("human_ended_call"), 4, Some(2_000)),
    );
    // A machine: connected, not a contact; rang over a minute.
    w.ended(
        &numbers[2],
        end("left_voicemail", Some("voicemail"), 20, Some(70_000)),
    );
    // A status nobody knows: an unknown outcome; no ringing time.
    w.ended(&numbers[3], end("mystery", None, 0, None));
    // Unanswered, redialled the day before from the other caller ID, then busy.
    let mut redialled = journal.get(&phone(&numbers[4])).unwrap().unwrap();
    w.dial(&mut redialled, OTHER_CALLER, "2026-11-29T14:00:00Z");
    let unanswered = end("no-answer", Some("timeout"), 0, Some(30_000));
    redialled.redial_at(
        at("2026-11-30T13:00:00Z"),
        unanswered,
        at("2026-11-29T14:01:00Z"),
    );
    journal.put(&redialled).unwrap();
    w.dial(&mut redialled, CALLER, "2026-11-30T14:00:00Z");
    redialled.done(end("busy", None, 0, Some(3_000)), at(MONDAY_AFTERNOON));
    journal.put(&redialled).unwrap();
    // An uncertain create, to be looked up.
    let mut uncertain = w.contact_dialled(&numbers[5]);
    uncertain.uncertain(
        "timed out".into(),
        at("2030-01-01T00:00:00Z"),
        at(MONDAY_AFTERNOON),
    );
    journal.put(&uncertain).unwrap();
    // Waiting for a moment far ahead.
    let mut waiting = journal.get(&phone(&numbers[6])).unwrap().unwrap();
    waiting.wait_until(at("2030-01-01T00:00:00Z"), at(MONDAY_NIGHT));
    journal.put(&waiting).unwrap();
    // Skipped: do-not-call, removed, unknown zone, a window that never opens.
    for (n, reason) in [
        (7, "on the do-not-call list dnc.txt".to_owned()),
        (8, REMOVED.to_owned()),
        (
            9,
            "time zone unknown: AU (+61) and the contacts file gives no `timezone`".to_owned(),
        ),
        (
            10,
            "the calling window never opens in X within 400 days".to_owned(),
        ),
    ] {
        let mut entry = journal.get(&phone(&numbers[n])).unwrap().unwrap();
        entry.skip(reason, at(MONDAY_NIGHT));
        journal.put(&entry).unwrap();
    }
    for (line, reason) in [(50, "duplicate of line 3"), (51, "not a phone number")] {
        journal
            .skip_row(&SkippedRow {
                line,
                written: "x".into(),
                reason: reason.into(),
                name: String::new(),
                custom_variables: Vec::new(),
            })
            .unwrap();
    }

    let f = Figures::read(&campaign, &journal, Source::Journal, at(MONDAY_AFTERNOON)).unwrap();

    let u = &f.funnel;
    assert_eq!(
        (u.contacts, u.attempted, u.connected, u.contact, u.completed),
        (12, 6, 3, 2, 1),
        "{u:?}"
    );
    assert_eq!(u.attempts, 7);
    assert_eq!(u.penetration, Some(6.0 / 12.0));
    assert_eq!(u.saturation, Some(7.0 / 6.0));

    let caller = f.callers.iter().find(|c| c.caller_id == CALLER).unwrap();
    assert_eq!(caller.attempts, 6);
    assert_eq!(caller.connection.hits, 3);
    assert_eq!(caller.short_calls, 1);
    assert_eq!(caller.short_call_rate, Some(1.0 / 3.0));
    assert_eq!(caller.calls_today, 6);
    assert_eq!(caller.cap, Some(40));
    let other = f
        .callers
        .iter()
        .find(|c| c.caller_id == OTHER_CALLER)
        .unwrap();
    assert_eq!(
        (other.attempts, other.calls_today),
        (1, 0),
        "yesterday's call is not today's"
    );

    assert_eq!(f.heat_map.len(), 1);
    let cell = &f.heat_map[0];
    assert_eq!(
        (cell.weekday, cell.hour, cell.attempts, cell.connected),
        (1, 9, 7, 3)
    );
    assert_eq!(f.tiers.len(), 1);
    assert_eq!(
        (f.tiers[0].connection.trials, f.tiers[0].connection.hits),
        (7, 3)
    );

    let r = &f.ring_times;
    assert_eq!(r.calls[0], 2, "2 s and 3 s");
    assert_eq!(r.calls[1], 1, "7 s");
    assert_eq!(r.calls[6], 1, "30 s");
    assert_eq!(r.calls[11], 1, "70 s falls in the last bar");
    assert_eq!(r.unknown, 1, "the mystery call");
    assert_eq!(
        r.calls.iter().sum::<u64>() + r.unknown,
        6,
        "every ended attempt once"
    );
    assert_eq!(f.api.unknown_outcomes, 1);
    assert_eq!(f.api.uncertain, 1);

    assert_eq!(f.calls_over_time.calls.iter().sum::<u64>(), 7);
    assert!(f.calls_over_time.caps_limit.is_some());

    for reason in [
        SkipReason::DoNotCall,
        SkipReason::Removed,
        SkipReason::UnknownZone,
        SkipReason::Window,
        SkipReason::Duplicate,
        SkipReason::BadPhone,
    ] {
        assert_eq!(
            f.skipped.get(&reason),
            Some(&1),
            "{reason:?}: {:?}",
            f.skipped
        );
    }
    assert_eq!(f.skipped_examples.len(), 6);
    assert_eq!(
        f.held.get(&HeldReason::Redial),
        Some(&1),
        "open hours: {:?}",
        f.held
    );

    let night = Figures::read(&campaign, &journal, Source::Journal, at(MONDAY_NIGHT)).unwrap();
    assert_eq!(
        night.held.get(&HeldReason::Window),
        Some(&1),
        "{:?}",
        night.held
    );
    assert_eq!(night.held.get(&HeldReason::Redial), None);
    journal.close().await;
}
