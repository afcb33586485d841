//! A database of a test's own on a real PostgreSQL server (`OUTDIAL_TEST_PG_URL`), for the
//! shared store's tests. Without a server they say they skipped, except under `CI=true`.

use std::io::Write;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use outdial::store::{Origin, Store, StoreUrl};

pub const HOW: &str = "run them with `OUTDIAL_TEST_PG_URL=postgres://USER@HOST:PORT/postgres PGPASSWORD=… cargo test --test pg_ledger --test pg_shared_account`, or through `.ci/run`, which starts a throwaway server with `.ci/pg start DIR`";

/// A database of the test's own on the test server, dropped when the test ends well.
pub struct TestDb {
    pub url: StoreUrl,
    pub name: String,
}

/// The test's database, or `None` (after saying so) when no server is configured outside CI.
pub async fn database(test: &str) -> Option<TestDb> {
    let Ok(written) = std::env::var("OUTDIAL_TEST_PG_URL") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "OUTDIAL_TEST_PG_URL is unset under CI=true, and CI never skips the PostgreSQL tests: {HOW}"
        );
        // Straight to stderr: the test harness captures `eprintln!` of a passing test.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: no PostgreSQL server (OUTDIAL_TEST_PG_URL is unset); {HOW}"
        );
        return None;
    };
    let server = StoreUrl::parse(&written, Origin::Environment)
        .expect("OUTDIAL_TEST_PG_URL is a PostgreSQL URL");
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "outdial_test_{}_{}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    );
    client(None)
        .await
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("the test user may create databases");
    Some(TestDb {
        url: server.with_database(&name),
        name,
    })
}

/// A plain connection to the test server, to `database` or to the one its URL names.
async fn client(database: Option<&str>) -> tokio_postgres::Client {
    let written = std::env::var("OUTDIAL_TEST_PG_URL").expect("set when a database exists");
    let mut config = tokio_postgres::Config::from_str(&written).expect("a PostgreSQL URL");
    if config.get_password().is_none()
        && let Ok(password) = std::env::var("PGPASSWORD")
    {
        config.password(password);
    }
    if let Some(database) = database {
        config.dbname(database);
    }
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test server at {written}: {e:?}"));
    tokio::spawn(connection);
    client
}

impl TestDb {
    pub async fn store(&self) -> Store {
        Store::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// One number from the test's database, to look at the tables themselves.
    pub async fn inspect(&self, sql: &str) -> i64 {
        self.connect()
            .await
            .query_one(sql, &[])
            .await
            .unwrap()
            .get(0)
    }

    /// A plain connection to the test's database, outside any store.
    pub async fn connect(&self) -> tokio_postgres::Client {
        client(Some(&self.name)).await
    }

    /// Drops the database, on a connection of its own (the server may have restarted).
    pub async fn drop(self) {
        client(None)
            .await
            .batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .await
            .unwrap();
    }
}

impl TestDb {
    /// The test's database as a URL for `OUTDIAL_STORE_URL` (the password stays in
    /// `PGPASSWORD`): the server's URL with the database's name for its path.
    pub fn url_text(&self) -> String {
        let server = std::env::var("OUTDIAL_TEST_PG_URL").expect("set when a database exists");
        let (before_query, query) = server.split_once('?').unwrap_or((&server, ""));
        let authority = before_query
            .rsplit_once('/')
            .filter(|(authority, _)| !authority.ends_with('/'))
            .map_or(before_query, |(authority, _)| authority);
        match query {
            "" => format!("{authority}/{}", self.name),
            query => format!("{authority}/{}?{query}", self.name),
        }
    }
}

/// `outdial VERB FILE ARGS…` on `scenario`'s sandbox, through the test's database.
pub fn through(
    scenario: &super::Scenario,
    db: &TestDb,
    verb: &str,
    file: &std::path::Path,
) -> tokio::process::Command {
    let mut command = scenario.outdial(&[verb, file.to_str().unwrap()]);
    command.env("OUTDIAL_STORE_URL", db.url_text());
    command
}

/// `outdial run FILE` as its own process on `scenario`'s sandbox, sharing the account through
/// the test's database; stdout and stderr piped.
pub fn spawn_sharing(
    scenario: &super::Scenario,
    db: &TestDb,
    file: &std::path::Path,
) -> tokio::process::Child {
    through(scenario, db, "run", file)
        // A test that gives up on it (a timeout) leaves no run behind.
        .kill_on_drop(true)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}
