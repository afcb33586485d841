//! The PostgreSQL account ledger against a real server: the campaign lock, the account's
//! start-rate schedule, live-call leases and caller-ID caps hold when many tasks and two
//! processes' worth of connection pools race for them. Each test gets a database of its own.
//!
//! The server comes from `OUTDIAL_TEST_PG_URL` (its password from `PGPASSWORD`). Without it these
//! tests say they skipped and pass, except under `CI=true`, where they fail: CI never skips them.

use std::io::Write;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use outdial::phone::{Country, Phone};
use outdial::store::ledger::{KeptLock, LockState};
use outdial::store::{
    Admit, CampaignHolder, Day, Lease, Origin, Renewal, StartTurn, Store, StoreError, StoreUrl,
};
use tokio::sync::Barrier;

mod common;
use common::pg::TestDb;

/// The test's database, or `None` (after saying so) when no server is configured outside CI.
async fn database(test: &str) -> Option<TestDb> {
    common::pg::database(&format!("pg_ledger::{test}")).await
}

fn caller_id() -> Phone {
    Phone::parse("+12125550101", Country::default()).unwrap()
}

/// Polls `attempt` until it gives a value, for at most `limit`.
async fn eventually<T, F: Future<Output = Option<T>>>(
    limit: Duration,
    what: &str,
    mut attempt: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = attempt().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Two processes starting together against an empty database both find the schema, and each
/// migration is applied once.
#[tokio::test(flavor = "multi_thread")]
async fn migrations_apply_once_when_processes_start_together() {
    let Some(db) = database("migrations_apply_once_when_processes_start_together").await else {
        return;
    };
    let url = &db.url;
    let (a, b, c) = tokio::join!(
        Store::connect(url),
        Store::connect(url),
        Store::connect(url)
    );
    for store in [a, b, c] {
        store.unwrap_or_else(|e| panic!("{e}"));
    }
    let shipped = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/store/migrations"))
        .unwrap()
        .count();
    let applied = db
        .inspect("SELECT count(*) FROM outdial_schema_history")
        .await;
    assert_eq!(applied, i64::try_from(shipped).unwrap());
    db.drop().await;
}

/// 50 tasks over two pools race for 20 live-call slots: exactly 20 win; a released slot is
/// taken again by exactly one more.
#[tokio::test(flavor = "multi_thread")]
async fn leases_never_exceed_max_live_under_a_race() {
    let Some(db) = database("leases_never_exceed_max_live_under_a_race").await else {
        return;
    };
    let stores = Arc::new([db.store().await, db.store().await]);
    let max_live = NonZeroU32::new(20).unwrap();
    let ttl = Duration::from_secs(120);
    let start = Arc::new(Barrier::new(50));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let (stores, start) = (Arc::clone(&stores), Arc::clone(&start));
        tasks.spawn(async move {
            start.wait().await;
            stores[i % 2].lease("acct", max_live, ttl).await.unwrap()
        });
    }
    let leases: Vec<Lease> = tasks.join_all().await.into_iter().flatten().collect();
    assert_eq!(leases.len(), 20, "slots granted");
    assert_eq!(db.inspect("SELECT count(*) FROM leases").await, 20);
    let mut leases = leases.into_iter();
    for lease in leases.by_ref().take(3) {
        stores[0].release(lease).await.unwrap();
    }
    let mut again = Vec::new();
    for i in 0..10 {
        again.extend(stores[i % 2].lease("acct", max_live, ttl).await.unwrap());
    }
    assert_eq!(again.len(), 3, "exactly the released slots are taken again");
    assert!(
        stores[1]
            .lease("other-acct", max_live, ttl)
            .await
            .unwrap()
            .is_some(),
        "another account has slots of its own"
    );
    db.drop().await;
}

/// A lease not renewed frees its slot by itself once its time is up; a renewed lease's expiry
/// moves forward. A lease renewed after it expired (its process cut off from the store while its
/// call went on) is taken back even past the bound, and no new slot is given until calls end.
#[tokio::test(flavor = "multi_thread")]
async fn an_unrenewed_lease_expires_and_frees_its_slot() {
    let Some(db) = database("an_unrenewed_lease_expires_and_frees_its_slot").await else {
        return;
    };
    let store = db.store().await;
    let one = NonZeroU32::new(1).unwrap();
    let ttl = Duration::from_secs(1);
    let taken = Instant::now();
    let held = store
        .lease("acct", one, ttl)
        .await
        .unwrap()
        .expect("a free slot");
    assert!(
        store.lease("acct", one, ttl).await.unwrap().is_none(),
        "the only slot is held"
    );
    store.renew(&held, Duration::from_secs(600)).await.unwrap();
    let left = db
        .inspect("SELECT (extract(epoch FROM expires_at - clock_timestamp()))::bigint FROM leases")
        .await;
    assert!(
        left > 500,
        "renewing moved the expiry to ~600 s away, not {left} s"
    );
    store.renew(&held, ttl).await.unwrap();
    let renewed = Instant::now();
    let next = eventually(Duration::from_secs(20), "the lease's expiry", || async {
        store.lease("acct", one, ttl).await.unwrap()
    })
    .await;
    assert!(
        renewed.elapsed() >= ttl - Duration::from_millis(100),
        "the slot was free after {:?}, before the lease's time to live (taken {:?} ago)",
        renewed.elapsed(),
        taken.elapsed()
    );
    // The first holder's call is still live (its store was out of reach): its heartbeat takes
    // the lease back, past the bound, and then nobody gets a slot until the count is within it.
    assert_eq!(
        store.renew(&held, Duration::from_secs(600)).await.unwrap(),
        Renewal::TakenBack
    );
    assert_eq!(
        db.inspect("SELECT count(*) FROM leases").await,
        2,
        "both live calls are counted"
    );
    store.release(next).await.unwrap();
    assert!(
        store.lease("acct", one, ttl).await.unwrap().is_none(),
        "the taken-back lease alone fills the bound"
    );
    assert_eq!(
        store.renew(&held, Duration::from_secs(600)).await.unwrap(),
        Renewal::InTime
    );
    store.release(held).await.unwrap();
    let free = store.lease("acct", one, ttl).await.unwrap();
    assert!(free.is_some(), "free again once the call ended");
    store.release(free.unwrap()).await.unwrap();
    db.drop().await;
}

/// Two processes' pools, 40 tasks, one caller ID with a cap of 5 a day: exactly 5 starts are
/// admitted and recorded; the next day has its own 5.
#[tokio::test(flavor = "multi_thread")]
async fn a_caller_ids_daily_cap_holds_across_two_processes() {
    let Some(db) = database("a_caller_ids_daily_cap_holds_across_two_processes").await else {
        return;
    };
    let stores = Arc::new([db.store().await, db.store().await]);
    let noon: Timestamp = "2026-12-01T12:00:00Z".parse().unwrap();
    let cap = NonZeroU32::new(5);
    let start = Arc::new(Barrier::new(40));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let (stores, start) = (Arc::clone(&stores), Arc::clone(&start));
        tasks.spawn(async move {
            let at = noon + SignedDuration::from_millis(i);
            start.wait().await;
            stores[usize::try_from(i).unwrap() % 2]
                .record_start(&caller_id(), at, cap, Day::utc_of(at), Duration::ZERO)
                .await
                .unwrap()
        });
    }
    let answers = tasks.join_all().await;
    let admitted = answers.iter().filter(|a| **a == Admit::Admitted).count();
    assert_eq!(admitted, 5, "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|a| matches!(a, Admit::Admitted | Admit::CapReached { calls: 5, cap: 5 })),
        "{answers:?}"
    );
    assert_eq!(db.inspect("SELECT count(*) FROM caller_id_starts").await, 5);
    let tomorrow = noon + SignedDuration::from_hours(24);
    let answer = stores[1]
        .record_start(
            &caller_id(),
            tomorrow,
            cap,
            Day::utc_of(tomorrow),
            Duration::ZERO,
        )
        .await
        .unwrap();
    assert_eq!(answer, Admit::Admitted, "a new day, a new cap");
    assert_eq!(db.inspect("SELECT count(*) FROM caller_id_starts").await, 6);
    // Three days on, the first day's starts are forgotten; those of two days before are kept.
    let later = noon + SignedDuration::from_hours(24 * 3);
    let answer = stores[0]
        .record_start(&caller_id(), later, cap, Day::utc_of(later), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(answer, Admit::Admitted);
    assert_eq!(
        db.inspect("SELECT count(*) FROM caller_id_starts").await,
        2,
        "the start of two days before and the new one are kept"
    );
    db.drop().await;
}

/// 20 starts a second apart race for one caller ID with a 60 s cooldown: one is admitted, every
/// other is told when the number is free again; a start exactly a cooldown later is admitted.
#[tokio::test(flavor = "multi_thread")]
async fn a_cooldown_holds_across_two_processes() {
    let Some(db) = database("a_cooldown_holds_across_two_processes").await else {
        return;
    };
    let stores = Arc::new([db.store().await, db.store().await]);
    let noon: Timestamp = "2026-12-01T12:00:00Z".parse().unwrap();
    let cooldown = Duration::from_secs(60);
    let start = Arc::new(Barrier::new(20));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (stores, start) = (Arc::clone(&stores), Arc::clone(&start));
        tasks.spawn(async move {
            let at = noon + SignedDuration::from_secs(i);
            start.wait().await;
            let answer = stores[usize::try_from(i).unwrap() % 2]
                .record_start(&caller_id(), at, None, Day::utc_of(at), cooldown)
                .await
                .unwrap();
            (at, answer)
        });
    }
    let answers = tasks.join_all().await;
    let admitted: Vec<Timestamp> = answers
        .iter()
        .filter(|(_, a)| *a == Admit::Admitted)
        .map(|(at, _)| *at)
        .collect();
    assert_eq!(admitted.len(), 1, "{answers:?}");
    let free_at = admitted[0] + SignedDuration::from_secs(60);
    for (at, answer) in &answers {
        if *at != admitted[0] {
            assert_eq!(
                *answer,
                Admit::CoolingDown { until: free_at },
                "start at {at}"
            );
        }
    }
    let early = free_at - SignedDuration::from_secs(1);
    let store = &stores[0];
    let answer = store
        .record_start(&caller_id(), early, None, Day::utc_of(early), cooldown)
        .await
        .unwrap();
    assert_eq!(answer, Admit::CoolingDown { until: free_at });
    let answer = store
        .record_start(&caller_id(), free_at, None, Day::utc_of(free_at), cooldown)
        .await
        .unwrap();
    assert_eq!(answer, Admit::Admitted);
    db.drop().await;
}

/// The account's schedule at 5 starts a second, 10 callers over two pools for 3 s: at most
/// rate × time + 1 starts, and nearly that many (the schedule does not starve callers).
#[tokio::test(flavor = "multi_thread")]
async fn the_start_schedule_keeps_the_account_to_its_rate() {
    let Some(db) = database("the_start_schedule_keeps_the_account_to_its_rate").await else {
        return;
    };
    let stores = Arc::new([db.store().await, db.store().await]);
    let rate = 5.0;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let span = Duration::from_secs(3);
    let begin = Instant::now();
    let end = begin + span;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let stores = Arc::clone(&stores);
        tasks.spawn(async move {
            let mut starts = Vec::new();
            loop {
                match stores[i % 2].next_start("acct", interval).await.unwrap() {
                    StartTurn::Now => {}
                    StartTurn::WaitUntil(at) => {
                        tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
                    }
                }
                let now = Instant::now();
                if now > end {
                    return starts;
                }
                starts.push(now);
            }
        });
    }
    let mut starts: Vec<Instant> = tasks.join_all().await.into_iter().flatten().collect();
    starts.sort();
    let most = (rate * span.as_secs_f64()) as usize + 1;
    assert!(
        starts.len() <= most,
        "{} starts in {span:?} at {rate}/s",
        starts.len()
    );
    assert!(
        starts.len() + 3 >= most,
        "only {} starts in {span:?} at {rate}/s: the schedule starves its callers",
        starts.len()
    );
    db.drop().await;
}

/// A second process is refused a held campaign with the holder's host and pid; another campaign
/// is not; the lock is freed when its connection closes, and a terminated session (a dead host,
/// a restart) loses it, which its holder can see.
#[tokio::test(flavor = "multi_thread")]
async fn a_campaign_lock_names_its_holder_and_dies_with_its_connection() {
    let Some(db) = database("a_campaign_lock_names_its_holder_and_dies_with_its_connection").await
    else {
        return;
    };
    let (first, second) = (db.store().await, db.store().await);
    let held = first.lock_campaign("spring").await.unwrap();
    let refused = second.lock_campaign("spring").await.err().expect("refused");
    let StoreError::CampaignLocked { holder, .. } = &refused else {
        panic!("expected CampaignLocked, got {refused}");
    };
    let CampaignHolder::Process { pid, host, .. } = holder else {
        panic!("the holder is named: {holder}");
    };
    assert_eq!(*pid, i64::from(std::process::id()));
    assert!(!host.is_empty());
    assert!(
        refused.to_string().contains(&format!("pid {pid}")),
        "{refused}"
    );
    let autumn = second.lock_campaign("autumn").await.unwrap();
    held.check().await.unwrap();

    drop(held);
    let taken = eventually(
        Duration::from_secs(10),
        "the dropped lock's release",
        || async { second.lock_campaign("spring").await.ok() },
    )
    .await;

    let terminated = db
        .inspect(
            "SELECT count(pg_terminate_backend(backend_pid)) FROM campaign_locks
             WHERE campaign = 'spring'",
        )
        .await;
    assert_eq!(terminated, 1, "the holder's session was found by its row");
    eventually(
        Duration::from_secs(10),
        "the holder seeing its lock lost",
        || async { taken.check().await.err() },
    )
    .await;
    let again = eventually(
        Duration::from_secs(10),
        "the terminated lock's release",
        || async { first.lock_campaign("spring").await.ok() },
    )
    .await;
    again.release().await.unwrap();
    second
        .lock_campaign("spring")
        .await
        .expect("free at once after release");
    autumn.release().await.unwrap();
    db.drop().await;
}

/// Cuts the session that holds `campaign`'s lock (a restart, a dead connection); returns how
/// many sessions were cut.
async fn cut_lock_session(db: &TestDb, campaign: &str) -> i64 {
    db.inspect(&format!(
        "SELECT count(pg_terminate_backend(backend_pid)) FROM campaign_locks
         WHERE campaign = '{campaign}'"
    ))
    .await
}

/// A run's kept lock whose session is cut is taken again by its keeper: held once more, on a
/// new session, and refused to anyone else.
#[tokio::test(flavor = "multi_thread")]
async fn a_kept_lock_is_taken_again_after_its_session_is_cut() {
    let Some(db) = database("a_kept_lock_is_taken_again_after_its_session_is_cut").await else {
        return;
    };
    let store = Arc::new(db.store().await);
    let kept = KeptLock::take(Arc::clone(&store), "spring").await.unwrap();
    let first_session = db
        .inspect("SELECT backend_pid::bigint FROM campaign_locks WHERE campaign = 'spring'")
        .await;
    assert_eq!(cut_lock_session(&db, "spring").await, 1);
    eventually(Duration::from_secs(10), "the lock taken again", || async {
        let session = db
            .inspect("SELECT coalesce(max(backend_pid), 0)::bigint FROM campaign_locks")
            .await;
        let retaken = session != first_session && *kept.state().borrow() == LockState::Held;
        retaken.then_some(())
    })
    .await;
    let other = db.store().await;
    assert!(matches!(
        other.lock_campaign("spring").await,
        Err(StoreError::CampaignLocked { .. })
    ));
    assert!(kept.taken().is_none());
    kept.release().await;
    other.lock_campaign("spring").await.expect("released");
    db.drop().await;
}

/// Another process that takes the campaign while a run's lock is lost makes the run stop: its
/// kept lock says who took it, and never says held again.
#[tokio::test(flavor = "multi_thread")]
async fn a_lock_taken_by_another_while_lost_stops_the_run() {
    let Some(db) = database("a_lock_taken_by_another_while_lost_stops_the_run").await else {
        return;
    };
    let store = Arc::new(db.store().await);
    let kept = KeptLock::take(Arc::clone(&store), "spring").await.unwrap();
    let other = db.store().await;
    // The keeper looks once a second; the other process asks at once after the cut, so it wins
    // unless the keeper happened to look in between (then cut again).
    let mut taken = None;
    for _ in 0..5 {
        assert_eq!(cut_lock_session(&db, "spring").await, 1);
        if let Ok(lock) = other.lock_campaign("spring").await {
            taken = Some(lock);
            break;
        }
    }
    let _taken = taken.expect("the other process took the campaign");
    let mut state = kept.state();
    let said = state
        .wait_for(|s| matches!(s, LockState::TakenBy(_)))
        .await
        .map(|s| s.clone());
    let Ok(LockState::TakenBy(CampaignHolder::Process { pid, .. })) = said else {
        panic!("the run was not told: {said:?}");
    };
    assert_eq!(pid, i64::from(std::process::id()));
    let error = kept.taken().expect("the run must stop").to_string();
    assert!(
        error.contains("campaign `spring` is already running"),
        "{error}"
    );
    db.drop().await;
}

/// A wrong password from the environment is refused by the server, and the error names the
/// store (never the password) and where the password comes from.
#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_is_named_without_showing_it() {
    let Some(db) = database("a_wrong_password_is_named_without_showing_it").await else {
        return;
    };
    let written = std::env::var("OUTDIAL_TEST_PG_URL").unwrap();
    let config = tokio_postgres::Config::from_str(&written).unwrap();
    let host = match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(name) => name.clone(),
        tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
    };
    let url = format!(
        "host={host} port={} user={} dbname={} password=not-the-password sslmode=disable",
        config.get_ports().first().copied().unwrap_or(5432),
        config.get_user().unwrap(),
        db.name,
    );
    let url = StoreUrl::parse(&url, Origin::Environment).unwrap();
    let Err(error) = Store::connect(&url).await else {
        // A server on `trust` authentication takes any password: nothing to prove there, but
        // CI's server (.ci/pg) checks passwords.
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the CI server accepted a wrong password"
        );
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED pg_ledger::a_wrong_password_is_named_without_showing_it: the server at {} does not check passwords",
            url.at()
        );
        db.drop().await;
        return;
    };
    let message = error.to_string();
    assert!(matches!(error, StoreError::Connect { .. }), "{message}");
    assert!(
        message.contains(url.at()) && message.contains("PGPASSWORD"),
        "{message}"
    );
    assert!(!message.contains("not-the-password"), "{message}");
    db.drop().await;
}

/// A store reached over TLS is verified against the CA file the URL names (`sslrootcert`, as
/// managed PostgreSQL services need: their certificates are signed by a CA of their own, not by
/// one of the Mozilla roots), and without it the same server's certificate is refused, naming
/// the reason. CI's server (.ci/pg) speaks TLS with a CA made for it.
#[tokio::test(flavor = "multi_thread")]
async fn a_store_over_tls_is_verified_against_the_ca_file_the_url_names() {
    let test = "a_store_over_tls_is_verified_against_the_ca_file_the_url_names";
    let Some(db) = database(test).await else {
        return;
    };
    let Ok(ca) = std::env::var("OUTDIAL_TEST_PG_CA") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "OUTDIAL_TEST_PG_CA is unset under CI=true: .ci/pg makes the server's CA"
        );
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED pg_ledger::{test}: OUTDIAL_TEST_PG_CA names no CA for the server's TLS \
             certificate (.ci/pg start makes one)"
        );
        db.drop().await;
        return;
    };
    let over_tls = db.url_text().replace("sslmode=disable", "sslmode=require");
    assert!(over_tls.contains("sslmode=require"), "{over_tls}");

    let verified = format!("{over_tls}&sslrootcert={ca}");
    let store = Store::connect(&StoreUrl::parse(&verified, Origin::Environment).unwrap())
        .await
        .unwrap_or_else(|e| panic!("the server's certificate did not verify against {ca}: {e}"));
    let now = Timestamp::now();
    let admitted = store
        .record_start(&caller_id(), now, None, Day::utc_of(now), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(admitted, Admit::Admitted, "the store answers over TLS");
    let tls_sessions = db
        .inspect("SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE ssl AND application_name = 'outdial'")
        .await;
    assert!(tls_sessions > 0, "no session of the store's uses TLS");

    let unknown = Store::connect(&StoreUrl::parse(&over_tls, Origin::Environment).unwrap()).await;
    let Err(refused) = unknown else {
        panic!("a certificate signed by a CA outside the Mozilla roots was accepted");
    };
    let message = refused.to_string();
    assert!(
        matches!(refused, StoreError::Connect { .. }) && message.contains("certificate"),
        "{message}"
    );
    db.drop().await;
}

/// A client certificate named by `sslcert` and `sslkey` in the URL is presented to a server that
/// trusts its CA: the server sees the store's sessions as the certificate's subject.
#[tokio::test]
async fn a_client_certificate_the_url_names_is_presented_to_the_server() {
    let test = "a_client_certificate_the_url_names_is_presented_to_the_server";
    let Some(db) = database(test).await else {
        return;
    };
    let files = [
        "OUTDIAL_TEST_PG_CA",
        "OUTDIAL_TEST_PG_CLIENT_CERT",
        "OUTDIAL_TEST_PG_CLIENT_KEY",
    ]
    .map(|name| std::env::var(name).ok());
    let [Some(ca), Some(cert), Some(key)] = files else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "OUTDIAL_TEST_PG_CLIENT_CERT is unset under CI=true: .ci/pg makes the client's certificate"
        );
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED pg_ledger::{test}: OUTDIAL_TEST_PG_CLIENT_CERT and OUTDIAL_TEST_PG_CLIENT_KEY \
             name no client certificate (.ci/pg start makes one)"
        );
        db.drop().await;
        return;
    };
    let over_tls = db.url_text().replace("sslmode=disable", "sslmode=require");
    let presented = format!("{over_tls}&sslrootcert={ca}&sslcert={cert}&sslkey={key}");
    let store = Store::connect(&StoreUrl::parse(&presented, Origin::Environment).unwrap())
        .await
        .unwrap_or_else(|e| panic!("the store did not connect with its client certificate: {e}"));
    let now = Timestamp::now();
    let admitted = store
        .record_start(&caller_id(), now, None, Day::utc_of(now), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(admitted, Admit::Admitted, "the store answers");
    let as_outdial = db
        .inspect("SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE client_dn = '/CN=outdial' AND application_name = 'outdial'")
        .await;
    assert!(
        as_outdial > 0,
        "no session of the store's presented the client certificate"
    );
    db.drop().await;
}
