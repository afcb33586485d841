//! The ledger on PostgreSQL, through tokio-postgres: a deadpool pool for the primitives, one
//! dedicated connection per campaign lock (a session advisory lock lives and dies with its
//! connection), rustls for TLS, and refinery for the embedded migrations.

use std::ffi::OsString;
use std::num::NonZeroU32;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
};
use jiff::Timestamp;
use percent_encoding::percent_decode_str;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_postgres::config::Host;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{
    Admit, CampaignHolder, Day, Lease, Origin, Renewal, STORE_URL_ENV, StartTurn, StoreError,
};
use crate::phone::Phone;

refinery::embed_migrations!("src/store/migrations");

/// refinery's record of the migrations applied, under a name that says whose it is.
const MIGRATION_TABLE: &str = "outdial_schema_history";
/// Held (as a session advisory lock) while migrating, so that processes starting together
/// apply each migration once.
const MIGRATION_LOCK: &str = "outdial/migrations";
/// Connections per process: enough for a run's call tasks to book starts and leases at once
/// without queueing, few enough that many processes stay within the server's `max_connections`.
const POOL_SIZE: usize = 16;
/// Whole days of a number's starts kept before its current day (and its cooldown before them).
const KEPT_DAYS: i64 = 2;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request waits for a free pooled connection before the store counts as unreachable.
const POOL_WAIT: Duration = Duration::from_secs(30);
/// The URL's parameter naming the file of the certificates that may sign the server's (libpq's
/// name): a private CA, as managed PostgreSQL services sign with one of their own.
const ROOT_CERT_PARAM: &str = "sslrootcert";
/// libpq's variable for the same file, read when the URL does not name one.
const ROOT_CERT_ENV: &str = "PGSSLROOTCERT";

/// The TLS files libpq reads from a URL's query, each else from its variable: outdial reads them
/// itself, as tokio-postgres knows none of them.
#[derive(Debug, Clone, Copy)]
enum TlsFile {
    /// What may sign the server's certificate.
    RootCert,
    /// The client's certificate (chain), for a server that asks for one.
    Cert,
    /// The client certificate's private key.
    Key,
}

impl TlsFile {
    const ALL: [TlsFile; 3] = [TlsFile::RootCert, TlsFile::Cert, TlsFile::Key];

    fn param(self) -> &'static str {
        match self {
            TlsFile::RootCert => ROOT_CERT_PARAM,
            TlsFile::Cert => "sslcert",
            TlsFile::Key => "sslkey",
        }
    }

    fn env(self) -> &'static str {
        match self {
            TlsFile::RootCert => ROOT_CERT_ENV,
            TlsFile::Cert => "PGSSLCERT",
            TlsFile::Key => "PGSSLKEY",
        }
    }
}

/// The files a URL's query names, by [`TlsFile`].
type TlsFiles = [Option<String>; 3];

/// A checked store URL. Its password, if any, came from the environment; it is never shown.
#[derive(Clone)]
pub struct StoreUrl {
    config: tokio_postgres::Config,
    /// rustls with what may sign the server's certificate, and the client's certificate if one
    /// is given.
    tls: MakeRustlsConnect,
    /// `user@host:port/database`, for messages.
    at: String,
}

impl std::fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoreUrl({})", self.at)
    }
}

impl StoreUrl {
    /// Reads a `postgres://` URL (or libpq's `key=value` form) written at `origin`. A password in
    /// a campaign file is refused: files are shared and committed, the environment is not. With no
    /// password in the URL, `PGPASSWORD` gives it, as for `psql`.
    pub fn parse(written: &str, origin: Origin<'_>) -> Result<StoreUrl, StoreError> {
        let origin_name = match origin {
            Origin::CampaignFile(file) => format!("{}: [store] url", file.display()),
            Origin::Environment => STORE_URL_ENV.to_owned(),
        };
        let bad = |why: String| StoreError::BadUrl {
            origin: origin_name.clone(),
            why,
        };
        let (written, named) = take_tls_files(written.trim()).map_err(bad)?;
        let file = |which: TlsFile| {
            let named = named[which as usize].clone().map(OsString::from);
            named.or_else(|| std::env::var_os(which.env()))
        };
        let roots = match file(TlsFile::RootCert) {
            Some(file) => read_roots(Path::new(&file)).map_err(|why| StoreError::RootCert {
                origin: origin_name.clone(),
                why,
            })?,
            None => mozilla_roots(),
        };
        let client_cert = |why: String| StoreError::ClientCert {
            origin: origin_name.clone(),
            why,
        };
        let identity = match (file(TlsFile::Cert), file(TlsFile::Key)) {
            (None, None) => None,
            (Some(cert), Some(key)) => {
                Some(read_identity(Path::new(&cert), Path::new(&key)).map_err(&client_cert)?)
            }
            (Some(cert), None) => {
                let cert = Path::new(&cert).display();
                return Err(client_cert(format!(
                    "the client certificate {cert} is given without its key"
                )));
            }
            (None, Some(key)) => {
                let key = Path::new(&key).display();
                return Err(client_cert(format!(
                    "the key {key} is given without its client certificate"
                )));
            }
        };
        let tls =
            tls(roots, identity).map_err(|e| client_cert(format!("rustls refuses it: {e}")))?;
        let mut config = tokio_postgres::Config::from_str(&written).map_err(|e| bad(chain(&e)))?;
        match (config.get_password().is_some(), origin) {
            (true, Origin::CampaignFile(file)) => {
                return Err(StoreError::PasswordInFile {
                    file: file.to_owned(),
                });
            }
            (true, Origin::Environment) => {}
            (false, _) => {
                if let Some(password) = std::env::var_os("PGPASSWORD") {
                    config.password(password.as_encoded_bytes());
                }
            }
        }
        if config.get_hosts().is_empty() {
            return Err(bad("it names no host".into()));
        }
        if config.get_user().is_none() {
            let user = std::env::var("PGUSER")
                .ok()
                .or_else(|| whoami::username().ok())
                .ok_or_else(|| {
                    bad("it names no user, and neither PGUSER nor the system does".into())
                })?;
            config.user(user);
        }
        if config.get_dbname().is_none() {
            let user = config.get_user().unwrap_or_default().to_owned();
            config.dbname(user);
        }
        config
            .application_name("outdial")
            .connect_timeout(CONNECT_TIMEOUT)
            .keepalives_idle(Duration::from_secs(30));
        let at = describe(&config);
        Ok(StoreUrl { config, tls, at })
    }

    /// The store the environment names (`OUTDIAL_STORE_URL`), if any.
    pub fn from_environment() -> Result<Option<StoreUrl>, StoreError> {
        match std::env::var(STORE_URL_ENV) {
            Ok(url) if !url.trim().is_empty() => {
                StoreUrl::parse(&url, Origin::Environment).map(Some)
            }
            Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(StoreError::BadUrl {
                origin: STORE_URL_ENV.to_owned(),
                why: "it is not valid UTF-8".into(),
            }),
        }
    }

    /// The same server and user, another database (each test gets its own).
    pub fn with_database(&self, database: &str) -> StoreUrl {
        let mut config = self.config.clone();
        config.dbname(database);
        let at = describe(&config);
        StoreUrl {
            config,
            tls: self.tls.clone(),
            at,
        }
    }

    /// `user@host:port/database`, without the password.
    pub fn at(&self) -> &str {
        &self.at
    }
}

/// `user@host:port/database` for messages: never the password.
fn describe(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "?".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{}@{host}:{port}/{}",
        config.get_user().unwrap_or_default(),
        config.get_dbname().unwrap_or_default()
    )
}

/// Takes the TLS files ([`TlsFile`]) out of a `postgres://` URL's query (tokio-postgres does
/// not know them), and returns the URL without them and the files they name. libpq's
/// `key=value` form is read whole by tokio-postgres, so there they are refused with the two ways
/// to give them.
fn take_tls_files(written: &str) -> Result<(String, TlsFiles), String> {
    let mut files = TlsFiles::default();
    let is_url = ["postgres://", "postgresql://"]
        .iter()
        .any(|scheme| written.starts_with(scheme));
    if !is_url {
        let named = |which: &TlsFile| {
            let prefix = format!("{}=", which.param());
            written
                .split_whitespace()
                .any(|pair| pair.starts_with(&prefix))
        };
        if let Some(which) = TlsFile::ALL.iter().find(|which| named(which)) {
            let (param, env) = (which.param(), which.env());
            return Err(format!(
                "{param} is read from a postgres:// URL's query \
                 (postgres://USER@HOST/DB?{param}=/path/file.pem) or from {env}"
            ));
        }
        return Ok((written.to_owned(), files));
    }
    let Some((base, query)) = written.split_once('?') else {
        return Ok((written.to_owned(), files));
    };
    let mut kept = Vec::new();
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode_str(key).decode_utf8_lossy();
        match TlsFile::ALL.iter().find(|which| which.param() == key) {
            Some(which) => {
                files[*which as usize] = Some(percent_decode_str(value).decode_utf8_lossy().into())
            }
            None => kept.push(pair),
        }
    }
    let rest = match kept.is_empty() {
        true => base.to_owned(),
        false => format!("{base}?{}", kept.join("&")),
    };
    Ok((rest, files))
}

/// A client certificate (its chain, in the PEM file `cert`) and its private key (the PEM file
/// `key`), for a server that asks for one (`clientcert` in its `pg_hba.conf`, or `cert` auth).
fn read_identity(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let shown = cert.display();
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("the client certificate {shown} (sslcert) cannot be read: {e}"))?;
    if chain.is_empty() {
        return Err(format!(
            "the client certificate {shown} (sslcert) holds no PEM certificate"
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        format!(
            "the key {} (sslkey) cannot be read as a PEM private key: {e}",
            key.display()
        )
    })?;
    Ok((chain, key))
}

/// The certificates in the PEM file `file`, which alone may then sign the server's (as with
/// libpq); `system` (libpq's word for the platform's roots) stands for the Mozilla roots.
fn read_roots(file: &Path) -> Result<RootCertStore, String> {
    if file == Path::new("system") {
        return Ok(mozilla_roots());
    }
    let shown = file.display();
    let certificates = CertificateDer::pem_file_iter(file)
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("the CA file {shown} ({ROOT_CERT_PARAM}) cannot be read: {e}"))?;
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(certificates);
    match (added, ignored) {
        (0, 0) => Err(format!(
            "the CA file {shown} ({ROOT_CERT_PARAM}) holds no PEM certificate"
        )),
        (0, _) => Err(format!(
            "the CA file {shown} ({ROOT_CERT_PARAM}) holds no certificate that can sign a server's"
        )),
        _ => Ok(roots),
    }
}

fn mozilla_roots() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// rustls with the URL's roots (the Mozilla roots unless `sslrootcert` names a CA file) and its
/// client certificate, if any: TLS is used whenever the server offers it (`sslmode=prefer`, the
/// default) or the URL requires it, and the server's certificate is always verified.
fn tls(
    roots: RootCertStore,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<MakeRustlsConnect, rustls::Error> {
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports TLS 1.2 and 1.3")
    .with_root_certificates(roots);
    let config = match identity {
        Some((chain, key)) => config.with_client_auth_cert(chain, key)?,
        None => config.with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(config))
}

/// The shared store: a pool of connections to one PostgreSQL database, its schema migrated.
pub struct Store {
    pool: Pool,
    url: StoreUrl,
    /// Also makes each campaign lock's dedicated connection.
    tls: MakeRustlsConnect,
    /// `host:pid` of this process, written beside each lease for whoever inspects the table.
    holder: String,
}

impl Store {
    /// Connects and applies the embedded migrations that the database lacks.
    pub async fn connect(url: &StoreUrl) -> Result<Store, StoreError> {
        let tls = url.tls.clone();
        let manager = Manager::from_config(
            url.config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(CONNECT_TIMEOUT))
            .wait_timeout(Some(POOL_WAIT))
            .build()
            .expect("a pool with timeouts and a runtime builds");
        let host = super::account::host_name().unwrap_or_else(|| "unknown-host".into());
        let store = Store {
            pool,
            url: url.clone(),
            tls,
            holder: format!("{host}:{}", std::process::id()),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Where this store is, for messages.
    pub fn at(&self) -> &str {
        &self.url.at
    }

    /// Applies the migrations under a session advisory lock, on a connection of its own that is
    /// closed afterwards (which frees the lock).
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.dedicated().await?;
        let migrate_error = |why: String| StoreError::Migrate {
            at: self.url.at.clone(),
            why,
        };
        client
            .execute(
                "SELECT pg_advisory_lock(hashtextextended($1, 0))",
                &[&MIGRATION_LOCK],
            )
            .await
            .map_err(|e| migrate_error(chain(&e)))?;
        migrations::runner()
            .set_migration_table_name(MIGRATION_TABLE)
            .run_async(&mut client)
            .await
            .map_err(|e| migrate_error(chain(&e)))?;
        Ok(())
    }

    /// A connection outside the pool, for what must hold a session: its driver task ends when
    /// the client is dropped, which closes the session.
    async fn dedicated(&self) -> Result<tokio_postgres::Client, StoreError> {
        let (client, connection) =
            self.url
                .config
                .connect(self.tls.clone())
                .await
                .map_err(|e| StoreError::Connect {
                    at: self.url.at.clone(),
                    why: chain(&e),
                })?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("a store connection ended: {}", chain(&e));
            }
        });
        Ok(client)
    }

    async fn pooled(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(|e| match e {
            PoolError::Backend(e) => StoreError::Connect {
                at: self.url.at.clone(),
                why: chain(&e),
            },
            other => StoreError::Connect {
                at: self.url.at.clone(),
                why: other.to_string(),
            },
        })
    }

    /// Maps a query's error, naming what was being done.
    fn failed(&self, what: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError + '_ {
        move |e| StoreError::Query {
            at: self.url.at.clone(),
            what,
            transient: transient(&e),
            why: chain(&e),
        }
    }

    /// Takes the campaign's lock for this process, on a connection of its own held until the
    /// returned lock is released or dropped; refuses, naming the holder, when another process
    /// holds it.
    ///
    /// Why an advisory lock on a session rather than a row with an expiry: the server frees it
    /// the moment the session ends — a process that exits, crashes or whose host dies (once
    /// TCP keepalives give up on it, about a minute) — so a campaign is never stuck behind a dead
    /// holder, and no clock or heartbeat decides who owns it. The row beside it only names the
    /// holder for the refusal, and counts only while its session still holds the lock.
    pub async fn lock_campaign(&self, campaign: &str) -> Result<CampaignLock, StoreError> {
        let client = self.dedicated().await?;
        let key = campaign_key(campaign);
        // The server notices a dead host through keepalives on its side of the connection.
        client
            .batch_execute(
                "SET tcp_keepalives_idle = 15; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 4",
            )
            .await
            .map_err(self.failed("setting keepalives on the campaign lock's connection"))?;
        let taken: bool = client
            .query_one(
                "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                &[&key],
            )
            .await
            .map_err(self.failed("taking the campaign lock"))?
            .get(0);
        if !taken {
            return Err(StoreError::CampaignLocked {
                campaign: campaign.to_owned(),
                at: self.url.at.clone(),
                holder: self.campaign_holder(&client, campaign).await?,
            });
        }
        let host = super::account::host_name().unwrap_or_else(|| "unknown-host".into());
        client
            .execute(
                "INSERT INTO campaign_locks (campaign, host, pid, since, backend_pid)
                 VALUES ($1, $2, $3, clock_timestamp(), pg_backend_pid())
                 ON CONFLICT (campaign) DO UPDATE SET host = excluded.host, pid = excluded.pid,
                     since = excluded.since, backend_pid = excluded.backend_pid",
                &[&campaign, &host, &i64::from(std::process::id())],
            )
            .await
            .map_err(self.failed("naming the campaign lock's holder"))?;
        Ok(CampaignLock {
            client,
            campaign: campaign.to_owned(),
            at: self.url.at.clone(),
        })
    }

    /// The holder named by the campaign's row, if the session that wrote it holds the lock now.
    async fn campaign_holder(
        &self,
        client: &tokio_postgres::Client,
        campaign: &str,
    ) -> Result<CampaignHolder, StoreError> {
        let row = client
            .query_opt(
                "SELECT c.host, c.pid, c.since FROM campaign_locks c
                 WHERE c.campaign = $1 AND EXISTS (
                     SELECT 1 FROM pg_locks l
                     WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                       AND l.pid = c.backend_pid
                       AND (l.classid::bigint << 32 | l.objid::bigint) = hashtextextended($2, 0))",
                &[&campaign, &campaign_key(campaign)],
            )
            .await
            .map_err(self.failed("reading who holds the campaign lock"))?;
        Ok(match row {
            Some(row) => CampaignHolder::Process {
                host: row.get(0),
                pid: row.get(1),
                since: row.get(2),
            },
            None => CampaignHolder::Starting,
        })
    }

    /// Books the account's next call start on its schedule, one start per `interval`.
    ///
    /// Why GCRA in one row: the schedule is a single instant, the theoretical arrival time
    /// (TAT) of the next start. One `INSERT … ON CONFLICT DO UPDATE … RETURNING` moves it by
    /// `interval` from whichever is later, itself or now, and returns the slot booked, all
    /// under the row's lock: no read-modify-write race between processes, one round trip, and
    /// starts never closer than `interval` whatever the number of hosts. "Now" is the server's
    /// `clock_timestamp()` and the answer is a wait, not an instant, so hosts' clocks never meet.
    /// Each booked slot is the caller's: it waits and starts without asking again. Campaigns
    /// that set different rates for one account each book their own interval.
    pub async fn next_start(
        &self,
        account: &str,
        interval: Duration,
    ) -> Result<StartTurn, StoreError> {
        let client = self.pooled().await?;
        let statement = client
            .prepare_cached(
                "INSERT INTO start_schedules AS s (account, tat)
                 VALUES ($1, clock_timestamp() + $2::bigint * interval '1 microsecond')
                 ON CONFLICT (account) DO UPDATE
                     SET tat = greatest(s.tat, excluded.tat - $2::bigint * interval '1 microsecond')
                             + $2::bigint * interval '1 microsecond'
                 RETURNING (extract(epoch FROM
                     s.tat - $2::bigint * interval '1 microsecond' - clock_timestamp()) * 1000000)::bigint",
            )
            .await
            .map_err(self.failed("booking a call start"))?;
        let wait: i64 = client
            .query_one(&statement, &[&account, &micros(interval)])
            .await
            .map_err(self.failed("booking a call start"))?
            .get(0);
        let answered = Instant::now();
        Ok(match u64::try_from(wait) {
            Ok(wait) if wait > 0 => StartTurn::WaitUntil(answered + Duration::from_micros(wait)),
            _ => StartTurn::Now,
        })
    }

    /// Takes one of the account's `max_live` live-call slots for `ttl`, or none when all are held.
    ///
    /// Why a row lock: two transactions racing for the last slot would each count `max_live - 1`
    /// and both insert. Locking the account's row (`FOR UPDATE`) first queues them; under READ
    /// COMMITTED the count that follows is a new snapshot taken after the lock, so it sees the
    /// winner's lease. A lease that is not renewed expires by itself, so a dead host's calls free
    /// their slots without anyone cleaning up after it.
    pub async fn lease(
        &self,
        account: &str,
        max_live: NonZeroU32,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let failed = self.failed("taking a live-call lease");
        let mut client = self.pooled().await?;
        let tx = client.transaction().await.map_err(&failed)?;
        tx.execute(
            "INSERT INTO lease_accounts (account) VALUES ($1) ON CONFLICT DO NOTHING",
            &[&account],
        )
        .await
        .map_err(&failed)?;
        lock_lease_account(&tx, account).await.map_err(&failed)?;
        let row = tx
            .query_opt(
                "WITH expired AS (
                     DELETE FROM leases WHERE account = $1 AND expires_at <= clock_timestamp()
                 ), live AS (
                     SELECT count(*) AS n FROM leases
                     WHERE account = $1 AND expires_at > clock_timestamp()
                 )
                 INSERT INTO leases (account, holder, taken_at, expires_at)
                 SELECT $1, $4, clock_timestamp(),
                        clock_timestamp() + $3::bigint * interval '1 microsecond'
                 FROM live WHERE live.n < $2
                 RETURNING id",
                &[
                    &account,
                    &i64::from(max_live.get()),
                    &micros(ttl),
                    &self.holder,
                ],
            )
            .await
            .map_err(&failed)?;
        tx.commit().await.map_err(&failed)?;
        Ok(row.map(|row| Lease {
            id: row.get(0),
            account: account.to_owned(),
        }))
    }

    /// The heartbeat: the lease now expires `ttl` from now. A lease that expired meanwhile (the
    /// store was out of reach for longer than its time to live) is taken back, whatever the
    /// count: its call is still live at the vendor, so the account's count of live calls is true
    /// again, and while it is past `max_live` nobody is given a new lease. Its slot may have gone
    /// to another call meanwhile; counting both again is what stops further starts.
    pub async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<Renewal, StoreError> {
        let failed = self.failed("renewing a live-call lease");
        let mut client = self.pooled().await?;
        let renewed = client
            .execute(
                "UPDATE leases SET expires_at = clock_timestamp() + $2::bigint * interval '1 microsecond'
                 WHERE id = $1 AND expires_at > clock_timestamp()",
                &[&lease.id, &micros(ttl)],
            )
            .await
            .map_err(&failed)?;
        if renewed > 0 {
            return Ok(Renewal::InTime);
        }
        // As in `lease`: the account's row lock orders this with every taker's count.
        let tx = client.transaction().await.map_err(&failed)?;
        lock_lease_account(&tx, &lease.account)
            .await
            .map_err(&failed)?;
        tx.execute(
            "INSERT INTO leases (id, account, holder, taken_at, expires_at)
             VALUES ($1, $3, $4, clock_timestamp(),
                     clock_timestamp() + $2::bigint * interval '1 microsecond')
             ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at",
            &[&lease.id, &micros(ttl), &lease.account, &self.holder],
        )
        .await
        .map_err(&failed)?;
        tx.commit().await.map_err(&failed)?;
        Ok(Renewal::TakenBack)
    }

    /// Gives back the leases of processes of this host that are gone (killed, crashed), so that
    /// a run resumed after a `kill -9` finds the account's slots free at once rather than after
    /// their time to live. Only this host's processes can be known dead (their pid is not
    /// running); a pid running again under another process keeps its leases until they expire,
    /// which errs on the safe side. Returns how many leases were given back.
    pub async fn release_leases_of_dead_processes(&self) -> Result<u64, StoreError> {
        let failed = self.failed("giving back the leases of dead processes");
        let Some((host, _)) = self.holder.rsplit_once(':') else {
            return Ok(0);
        };
        if !std::path::Path::new("/proc/self").exists() {
            // No way to see which pids run on this system: keep every lease.
            return Ok(0);
        }
        let client = self.pooled().await?;
        let prefix = format!("{host}:");
        let holders: Vec<String> = client
            .query(
                "SELECT DISTINCT holder FROM leases WHERE starts_with(holder, $1)",
                &[&prefix],
            )
            .await
            .map_err(&failed)?
            .iter()
            .map(|row| row.get(0))
            .collect();
        let dead: Vec<String> = holders
            .into_iter()
            .filter(|holder| {
                holder
                    .strip_prefix(&prefix)
                    .and_then(|pid| pid.parse::<u32>().ok())
                    .is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
            })
            .collect();
        if dead.is_empty() {
            return Ok(0);
        }
        client
            .execute("DELETE FROM leases WHERE holder = ANY($1)", &[&dead])
            .await
            .map_err(&failed)
    }

    /// Gives the slot back (the call ended).
    pub async fn release(&self, lease: Lease) -> Result<(), StoreError> {
        self.pooled()
            .await?
            .execute("DELETE FROM leases WHERE id = $1", &[&lease.id])
            .await
            .map_err(self.failed("releasing a live-call lease"))?;
        Ok(())
    }

    /// Checks a start from `number` at `at` against its daily cap (starts within `day`) and its
    /// cooldown (no other start closer than `cooldown`, before or after), and records it when
    /// admitted.
    ///
    /// Why one transaction with the number's row locked: a check and a record made apart let
    /// two processes both see 4 of 5 and both start, and a cap shared by campaigns on several
    /// hosts would be exceeded. With the row lock the second waits and then counts the first's
    /// start. `at` is the caller's clock (the dialer's, virtual in a simulation); caps count
    /// instants, so hosts agree within their clock skew.
    pub async fn record_start(
        &self,
        number: &Phone,
        at: Timestamp,
        cap_per_day: Option<NonZeroU32>,
        day: Day,
        cooldown: Duration,
    ) -> Result<Admit, StoreError> {
        let failed = self.failed("recording a caller ID's call start");
        let number = number.as_str();
        let mut client = self.pooled().await?;
        let tx = client.transaction().await.map_err(&failed)?;
        tx.execute(
            "INSERT INTO caller_ids (number) VALUES ($1) ON CONFLICT DO NOTHING",
            &[&number],
        )
        .await
        .map_err(&failed)?;
        tx.execute(
            "SELECT 1 FROM caller_ids WHERE number = $1 FOR UPDATE",
            &[&number],
        )
        .await
        .map_err(&failed)?;
        let cooldown_us = micros(cooldown);
        let row = tx
            .query_one(
                "WITH near AS (
                     SELECT $4::timestamptz - $5::bigint * interval '1 microsecond' AS after,
                            $4::timestamptz + $5::bigint * interval '1 microsecond' AS before
                 )
                 SELECT count(*) FILTER (WHERE at >= $2 AND at < $3),
                        max(at) FILTER (WHERE at > near.after AND at < near.before)
                 FROM caller_id_starts, near
                 WHERE number = $1
                   AND ((at >= $2 AND at < $3) OR (at > near.after AND at < near.before))",
                &[&number, &day.start, &day.end, &at, &cooldown_us],
            )
            .await
            .map_err(&failed)?;
        let calls = u32::try_from(row.get::<_, i64>(0)).unwrap_or(u32::MAX);
        let nearest: Option<Timestamp> = row.get(1);
        let admit = match (nearest, cap_per_day) {
            (Some(nearest), _) => Admit::CoolingDown {
                until: nearest
                    .checked_add(jiff::SignedDuration::from_micros(cooldown_us))
                    .unwrap_or(Timestamp::MAX),
            },
            (None, Some(cap)) if calls >= cap.get() => Admit::CapReached {
                calls,
                cap: cap.get(),
            },
            (None, _) => Admit::Admitted,
        };
        if admit == Admit::Admitted {
            tx.execute(
                "INSERT INTO caller_id_starts (number, at) VALUES ($1, $2)",
                &[&number, &at],
            )
            .await
            .map_err(&failed)?;
        }
        // What no check can ask about any more goes: a number keeps its starts of the last
        // few days, not one row per call for ever. Days, not the day: hosts whose clocks
        // disagree near midnight may still count the day before.
        let forgotten = day
            .start
            .checked_sub(jiff::SignedDuration::from_hours(24 * KEPT_DAYS))
            .and_then(|t| t.checked_sub(jiff::SignedDuration::from_micros(cooldown_us)))
            .unwrap_or(Timestamp::MIN);
        tx.execute(
            "DELETE FROM caller_id_starts WHERE number = $1 AND at < $2",
            &[&number, &forgotten],
        )
        .await
        .map_err(&failed)?;
        tx.commit().await.map_err(&failed)?;
        Ok(admit)
    }

    /// Takes back one start of `number` at `at` recorded by [`Store::record_start`], whose
    /// create request then made no call (a 429, a refusal): caps count calls, not refusals.
    /// Two processes may have started the number at the same instant; either row stands for
    /// the start taken back.
    pub async fn forget_start(&self, number: &Phone, at: Timestamp) -> Result<(), StoreError> {
        let client = self.pooled().await?;
        client
            .execute(
                "DELETE FROM caller_id_starts WHERE ctid = (
                     SELECT ctid FROM caller_id_starts WHERE number = $1 AND at = $2 LIMIT 1
                 )",
                &[&number.as_str(), &at],
            )
            .await
            .map_err(self.failed("taking back a caller ID's call start"))?;
        Ok(())
    }
}

/// The rows of one tree of one campaign's journal (see `journal/tree.rs`).
pub struct JournalTree<'a> {
    pub campaign: &'a str,
    pub tree: &'a str,
}

/// Which rows of a tree a page reads: keys from `from` (inclusive) to `to` (exclusive, or to
/// the end), in key order or backwards, at most `limit` of them.
pub struct JournalPage<'a> {
    pub from: &'a [u8],
    pub to: Option<&'a [u8]>,
    pub backwards: bool,
    pub limit: i64,
}

/// The journal's records (V2): a campaign's journal in the store rather than on one host's disk.
/// Each call is one statement or one transaction, committed before it returns, so a write the
/// caller saw succeed is durable: the journal needs no flush of its own here.
impl Store {
    pub async fn journal_get(
        &self,
        tree: &JournalTree<'_>,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let row = self
            .pooled()
            .await?
            .query_opt(
                "SELECT value FROM journal_records WHERE campaign = $1 AND tree = $2 AND key = $3",
                &[&tree.campaign, &tree.tree, &key],
            )
            .await
            .map_err(self.failed("reading the journal"))?;
        Ok(row.map(|row| row.get(0)))
    }

    /// Writes `writes` (a value to put, or `None` to delete the key) in one transaction: all of
    /// them or none. Writing the same batch twice leaves the same rows, so a batch whose commit
    /// was lost with its connection can be written again.
    pub async fn journal_write(
        &self,
        tree: &JournalTree<'_>,
        writes: &[(Vec<u8>, Option<Vec<u8>>)],
    ) -> Result<(), StoreError> {
        let failed = self.failed("writing the journal");
        let (mut keys, mut values, mut gone) = (Vec::new(), Vec::new(), Vec::new());
        for (key, value) in writes {
            match value {
                Some(value) => {
                    keys.push(key.as_slice());
                    values.push(value.as_slice());
                }
                None => gone.push(key.as_slice()),
            }
        }
        let mut client = self.pooled().await?;
        let tx = client.transaction().await.map_err(&failed)?;
        if !gone.is_empty() {
            tx.execute(
                "DELETE FROM journal_records
                 WHERE campaign = $1 AND tree = $2 AND key = ANY($3::bytea[])",
                &[&tree.campaign, &tree.tree, &gone],
            )
            .await
            .map_err(&failed)?;
        }
        if !keys.is_empty() {
            tx.execute(
                "INSERT INTO journal_records (campaign, tree, key, value)
                 SELECT $1, $2, k, v FROM unnest($3::bytea[], $4::bytea[]) AS w (k, v)
                 ON CONFLICT (campaign, tree, key) DO UPDATE SET value = EXCLUDED.value",
                &[&tree.campaign, &tree.tree, &keys, &values],
            )
            .await
            .map_err(&failed)?;
        }
        tx.commit().await.map_err(&failed)
    }

    /// One page of a tree's records, in key order (or backwards).
    pub async fn journal_page(
        &self,
        tree: &JournalTree<'_>,
        page: &JournalPage<'_>,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        let order = if page.backwards { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT key, value FROM journal_records
             WHERE campaign = $1 AND tree = $2 AND key >= $3 AND ($4::bytea IS NULL OR key < $4)
             ORDER BY key {order} LIMIT $5"
        );
        let rows = self
            .pooled()
            .await?
            .query(
                &sql,
                &[
                    &tree.campaign,
                    &tree.tree,
                    &page.from,
                    &page.to,
                    &page.limit,
                ],
            )
            .await
            .map_err(self.failed("reading the journal"))?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// Deletes every record of one tree.
    pub async fn journal_clear(&self, tree: &JournalTree<'_>) -> Result<(), StoreError> {
        self.pooled()
            .await?
            .execute(
                "DELETE FROM journal_records WHERE campaign = $1 AND tree = $2",
                &[&tree.campaign, &tree.tree],
            )
            .await
            .map_err(self.failed("clearing part of the journal"))?;
        Ok(())
    }
}

/// A campaign held by this process through the store, on a connection of its own. Dropping it
/// closes that connection, which frees the lock on the server.
pub struct CampaignLock {
    client: tokio_postgres::Client,
    campaign: String,
    at: String,
}

impl CampaignLock {
    /// Whether the lock is still held: its connection may have died with a server restart or a
    /// network cut, and the server then freed the lock. A run checks this on its heartbeat and
    /// stops dispatching on [`StoreError::LockLost`].
    pub async fn check(&self) -> Result<(), StoreError> {
        let held: Result<bool, _> = self
            .client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_locks l
                 WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                   AND l.pid = pg_backend_pid()
                   AND (l.classid::bigint << 32 | l.objid::bigint) = hashtextextended($1, 0))",
                &[&campaign_key(&self.campaign)],
            )
            .await
            .map(|row| row.get(0));
        match held {
            Ok(true) => Ok(()),
            Ok(false) | Err(_) => Err(StoreError::LockLost {
                campaign: self.campaign.clone(),
                at: self.at.clone(),
            }),
        }
    }

    /// Frees the lock and its row at once (rather than when the server notices the closed
    /// connection).
    pub async fn release(self) -> Result<(), StoreError> {
        let failed = |e: tokio_postgres::Error| StoreError::Query {
            at: self.at.clone(),
            what: "releasing the campaign lock",
            transient: transient(&e),
            why: chain(&e),
        };
        self.client
            .execute(
                "DELETE FROM campaign_locks WHERE campaign = $1 AND backend_pid = pg_backend_pid()",
                &[&self.campaign],
            )
            .await
            .map_err(failed)?;
        self.client
            .execute(
                "SELECT pg_advisory_unlock(hashtextextended($1, 0))",
                &[&campaign_key(&self.campaign)],
            )
            .await
            .map_err(failed)?;
        Ok(())
    }
}

/// The advisory lock's key text: namespaced, so other users of the database never collide.
fn campaign_key(campaign: &str) -> String {
    format!("outdial/campaign/{campaign}")
}

/// Locks `account`'s row in `lease_accounts` until `tx` ends. Whoever counts or adds leases
/// takes it first, so two transactions never count the same snapshot and both insert.
async fn lock_lease_account(
    tx: &deadpool_postgres::Transaction<'_>,
    account: &str,
) -> Result<u64, tokio_postgres::Error> {
    tx.execute(
        "SELECT 1 FROM lease_accounts WHERE account = $1 FOR UPDATE",
        &[&account],
    )
    .await
}

/// A duration in whole microseconds, at most a century: longer means "never" to every use here,
/// and PostgreSQL's intervals and timestamps stay in range.
fn micros(duration: Duration) -> i64 {
    const CENTURY_US: i64 = 100 * 366 * 24 * 3600 * 1_000_000;
    i64::try_from(duration.as_micros()).map_or(CENTURY_US, |us| us.min(CENTURY_US))
}

/// An error with its causes: tokio-postgres says "db error" and keeps the server's words in the
/// source.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Whether the request may succeed once the server is back: a lost connection, an I/O error,
/// or the server shutting down or starting (SQLSTATE class 08, 57P01–57P03).
fn transient(error: &tokio_postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    if let Some(code) = error.code() {
        let code = code.code();
        return code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03");
    }
    std::error::Error::source(error).is_some_and(|s| s.is::<std::io::Error>())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A password in a campaign file is refused, with the way to give it instead; the same URL
    /// from the environment is accepted and its password is never shown.
    #[test]
    fn a_password_belongs_in_the_environment_not_the_file() {
        let file = std::path::Path::new("/campaigns/spring.toml");
        let written = "postgres://dialer:hunter2@db.example.com:5433/outdial";
        let refused = StoreUrl::parse(written, Origin::CampaignFile(file)).unwrap_err();
        let message = refused.to_string();
        assert!(matches!(refused, StoreError::PasswordInFile { .. }));
        assert!(
            message.contains("spring.toml") && message.contains("PGPASSWORD"),
            "{message}"
        );
        assert!(!message.contains("hunter2"));
        let url = StoreUrl::parse(written, Origin::Environment).unwrap();
        assert_eq!(url.at(), "dialer@db.example.com:5433/outdial");
        assert!(!format!("{url:?}").contains("hunter2"));
        let keyword = "host=db.example.com user=dialer password=hunter2";
        assert!(StoreUrl::parse(keyword, Origin::CampaignFile(file)).is_err());
    }

    /// A URL without a password in the file is accepted; a malformed one names where it was.
    #[test]
    fn a_url_without_a_password_is_read_and_a_bad_one_named() {
        let file = std::path::Path::new("spring.toml");
        let url = StoreUrl::parse(
            "postgres://dialer@db.example.com/outdial",
            Origin::CampaignFile(file),
        )
        .unwrap();
        assert_eq!(url.at(), "dialer@db.example.com:5432/outdial");
        assert_eq!(
            url.with_database("other").at(),
            "dialer@db.example.com:5432/other"
        );
        let bad = StoreUrl::parse(
            "postgres://db.example.com:notaport/x",
            Origin::CampaignFile(file),
        )
        .unwrap_err()
        .to_string();
        assert!(
            bad.contains("spring.toml: [store] url") && bad.contains("postgres://"),
            "{bad}"
        );
    }

    /// `sslrootcert` is taken out of a URL's query whatever its place, the other parameters
    /// kept as written; the key=value form refuses it with the two ways to give it.
    #[test]
    fn sslrootcert_is_taken_from_the_query_and_the_rest_kept() {
        let cases = [
            ("postgres://u@h/db", "postgres://u@h/db", None),
            (
                "postgres://u@h/db?sslrootcert=%2Fetc%2Fca.pem",
                "postgres://u@h/db",
                Some("/etc/ca.pem"),
            ),
            (
                "postgresql://u@h/db?sslmode=require&sslrootcert=/ca.pem&application_name=x",
                "postgresql://u@h/db?sslmode=require&application_name=x",
                Some("/ca.pem"),
            ),
            ("host=h user=u", "host=h user=u", None),
        ];
        for (written, rest, file) in cases {
            let (kept, named) = take_tls_files(written).unwrap();
            let named = named[TlsFile::RootCert as usize].as_deref();
            assert_eq!((kept.as_str(), named), (rest, file), "{written}");
        }
        let keyword = take_tls_files("host=h sslrootcert=/ca.pem").unwrap_err();
        assert!(
            keyword.contains("postgres://") && keyword.contains("PGSSLROOTCERT"),
            "{keyword}"
        );
    }

    /// A CA file that is missing or holds no certificate is refused at once, naming the file
    /// and where it was given, rather than failing every connection later.
    #[test]
    fn a_ca_file_without_certificates_is_refused_naming_it() {
        let dir = tempfile::TempDir::new().unwrap();
        let empty = dir.path().join("ca.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let missing = dir.path().join("gone.pem");
        let file = std::path::Path::new("spring.toml");
        for (path, says) in [
            (&empty, "holds no PEM certificate"),
            (&missing, "cannot be read"),
        ] {
            let written = format!("postgres://u@h/db?sslrootcert={}", path.display());
            let refused = StoreUrl::parse(&written, Origin::CampaignFile(file)).unwrap_err();
            let message = refused.to_string();
            assert!(matches!(refused, StoreError::RootCert { .. }), "{message}");
            assert!(
                message.contains("spring.toml: [store] url")
                    && message.contains(&path.display().to_string())
                    && message.contains(says),
                "{message}"
            );
        }
        StoreUrl::parse("postgres://u@h/db?sslrootcert=system", Origin::Environment).unwrap();
        let system = read_roots(std::path::Path::new("system")).unwrap();
        assert_eq!(system.roots.len(), mozilla_roots().roots.len());
    }

    /// A client certificate needs its key and the key its certificate; a file that cannot be
    /// read is refused at once, naming it and where it was given.
    #[test]
    fn a_client_certificate_and_its_key_are_given_together() {
        let dir = tempfile::TempDir::new().unwrap();
        let cert = dir.path().join("client.pem");
        std::fs::write(&cert, "not a certificate\n").unwrap();
        let file = std::path::Path::new("spring.toml");
        let refused = |query: String| {
            let written = format!("postgres://u@h/db?{query}");
            let refused = StoreUrl::parse(&written, Origin::CampaignFile(file)).unwrap_err();
            assert!(
                matches!(refused, StoreError::ClientCert { .. }),
                "{refused}"
            );
            refused.to_string()
        };
        let shown = cert.display().to_string();
        let alone = refused(format!("sslcert={shown}"));
        assert!(
            alone.contains("without its key") && alone.contains(&shown),
            "{alone}"
        );
        let key_alone = refused(format!("sslkey={shown}"));
        assert!(
            key_alone.contains("without its client certificate"),
            "{key_alone}"
        );
        let unreadable = refused(format!("sslcert={shown}&sslkey={shown}"));
        assert!(
            unreadable.contains("spring.toml: [store] url")
                && unreadable.contains("holds no PEM certificate")
                && unreadable.contains("PGSSLCERT"),
            "{unreadable}"
        );
        let keyword = take_tls_files("host=h sslkey=/k.pem").unwrap_err();
        assert!(
            keyword.contains("sslkey") && keyword.contains("PGSSLKEY"),
            "{keyword}"
        );
    }
}
