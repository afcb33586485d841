//! A local, stateful simulator of the vendor APIs, so the dialer can be developed, tested and
//! demonstrated without an account (SPEC §6).
//!
//! It serves the Synthflow `/v2` subset the dialer uses (`synthflow`) over the state kept in
//! `world`, and exposes what it received at `GET /sandbox/calls` so tests can check pacing,
//! rotation and duplicates from the vendor's side of the wire, with counters at
//! `GET /sandbox/stats`, every `/v2` request's time and route at `GET /sandbox/requests`, and the faults in effect at `GET`/`PUT /sandbox/faults`. Everything random
//! is drawn from a seed, so a run can be replayed.
//!
//! - `config`: what a sandbox starts with, parsed from the `outdial sandbox` flags.
//! - `world`: agents, calls and received requests; synchronous and free of HTTP and clocks.
//! - `lifecycle`: the plan a call gets at creation (length, outcome, time scale), and the
//!   sandbox clock.
//! - `answers`: how people answer (hour, weekday, locality, carrier labels); off by default,
//!   free of HTTP and clocks so a simulator can drive it too.
//! - `faults`: what goes wrong and how often, and the seeded dice that decide it.
//! - `limits`: the account's live-call and calls-per-second limits.
//! - `stats`: counters over what happened to create requests.
//! - `synthflow`: the `/v2` routes in the vendor's exact shapes, with the fault layers.
//! - `market`: the numbers vendor's state (inventory, holds, owned numbers, wallet, agent
//!   versions); synchronous and told the time, like `world`.
//! - `inventory`: the seeded numbers for sale, spread over every US and Canadian area code.
//! - `flowyte`: the Flowyte `/api/v1` routes over `market`.
//!
//! Later features come as values and layers, not restructuring: fault injection is a layer in
//! `synthflow`'s stack; outcome mixes and time scales change the plan a call gets in `world`; the
//! account's limits are checked by `world`'s create itself, since a separate layer would check
//! and create under two locks and let two requests take the last slot; the Flowyte `/api/v1` API
//! is another nested router.

pub mod answers;
mod config;
mod faults;
mod flowyte;
mod inventory;
mod lifecycle;
mod limits;
mod market;
mod stats;
mod synthflow;
mod world;

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

pub use config::{
    AgentSpec, AgentSpecError, DEFAULT_INVENTORY, DEFAULT_WALLET, DEMO_AGENT_ID, Latency,
    LatencyError, SandboxConfig, demo_pool,
};
pub use faults::{
    AccountRefusal, AccountRefusalError, Bursts, DurationShape, DurationShapeError, Fault, Faults,
    FaultsError, LatencyTail, RetryAfterForm, RetryAfterFormError, Share, ShareError, StuckStatus,
    StuckStatusError,
};
pub use lifecycle::{
    CallLength, CallLengthError, Disconnect, Outcome, OutcomeMix, OutcomeMixError, TimeScale,
    TimeScaleError,
};
pub use limits::Limits;
pub use market::{Usd, UsdError};
pub use stats::{Served, Stats, TooManyRequests};
pub use world::ReceivedCall;

use crate::clock::Clock;
use crate::phone::Phone;
use answers::{AnswerSettings, AnswerSettingsError};
use market::Market;
use world::World;

/// What every handler shares: the world and the clock.
#[derive(Clone)]
struct App {
    /// One lock for all state, taken once per request and never held across an `.await`, so
    /// each answer sees one consistent instant and a std mutex is enough.
    world: Arc<Mutex<World>>,
    /// The vendor's time: the machine's, or the runtime's virtual clock in a simulation.
    clock: Clock,
    /// Turns true when the server starts shutting down, so answers held back on purpose (a slow
    /// fault waits 20 s) end at once instead of holding up the graceful stop.
    stopping: Arc<watch::Sender<bool>>,
    /// The numbers vendor's state, behind its own lock: no request touches both vendors.
    market: Arc<Mutex<Market>>,
    /// Every request that reached the server, so tests can prove a command sent none.
    served: Arc<AtomicUsize>,
}

impl App {
    fn new(config: &SandboxConfig, clock: Clock) -> io::Result<App> {
        let world = World::new(config, clock.now().as_millisecond())
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
        Ok(App {
            world: Arc::new(Mutex::new(world)),
            clock,
            stopping: Arc::new(watch::Sender::new(false)),
            market: Arc::new(Mutex::new(Market::new(config))),
            served: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Waits `pause`, or less if the server is stopping; false when cut short.
    async fn hold(&self, pause: Duration) -> bool {
        let mut stopping = self.stopping.subscribe();
        tokio::select! {
            () = tokio::time::sleep(pause) => true,
            _ = stopping.wait_for(|stopping| *stopping) => false,
        }
    }

    /// The world, even after a handler panicked while holding it: the state is still the best
    /// record of what happened, and refusing every later request would hide the first failure.
    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now_ms(&self) -> i64 {
        self.clock.now().as_millisecond()
    }

    /// The market, even after a panic while holding it, for the same reason as [`App::world`].
    fn market(&self) -> MutexGuard<'_, Market> {
        self.market.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn router(app: App) -> Router {
    Router::new()
        .nest("/v2", synthflow::routes(&app))
        .route("/sandbox/calls", get(received_calls))
        .route("/sandbox/stats", get(stats))
        .route("/sandbox/requests", get(served_requests))
        .route("/sandbox/faults", get(faults).put(set_faults))
        .route("/sandbox/answers", get(answers).put(set_answers))
        .route("/sandbox/labels", post(give_label))
        .route("/sandbox/clock", get(clock))
        .nest("/api/v1", flowyte::routes(&app))
        .fallback(no_route)
        .layer(from_fn_with_state(app.clone(), count_request))
        .with_state(app)
}

async fn count_request(State(app): State<App>, request: Request, next: Next) -> Response {
    app.served.fetch_add(1, Ordering::SeqCst);
    next.run(request).await
}

/// `GET /sandbox/calls`: every create-call request so far. No key, as it is not a vendor API.
async fn received_calls(State(app): State<App>) -> Response {
    let calls = app.world().received().to_vec();
    Json(json!({ "calls": calls })).into_response()
}

/// `GET /sandbox/stats`: what happened to the create requests so far.
async fn stats(State(app): State<App>) -> Response {
    Json(app.world().stats()).into_response()
}

/// `GET /sandbox/requests`: every `/v2` request so far, with its time and route.
async fn served_requests(State(app): State<App>) -> Response {
    let requests = app.world().served_requests().to_vec();
    Json(json!({ "requests": requests })).into_response()
}

/// `GET /sandbox/faults`: the faults in effect.
async fn faults(State(app): State<App>) -> Response {
    Json(*app.world().faults()).into_response()
}

/// `PUT /sandbox/faults`: replaces the faults from the next request on. Fields left out take
/// their defaults (no fault), so `{}` turns everything off.
async fn set_faults(State(app): State<App>, body: Bytes) -> Response {
    let faults: Faults = match serde_json::from_slice(&body) {
        Ok(faults) => faults,
        Err(error) => return bad_request(format!("the faults are not valid JSON: {error}")),
    };
    match app.world().set_faults(faults) {
        Ok(()) => Json(faults).into_response(),
        Err(error) => bad_request(error.to_string()),
    }
}

/// `GET /sandbox/answers`: the answer model's settings, `null` when it is off.
async fn answers(State(app): State<App>) -> Response {
    Json(app.world().answers()).into_response()
}

/// `PUT /sandbox/answers`: turns the answer model on with these settings (fields left out take
/// their defaults, so `{}` is the default model) or off with `null`. Either way it starts
/// afresh from the next call: no calls counted, no labels.
async fn set_answers(State(app): State<App>, body: Bytes) -> Response {
    let settings = match answer_settings(&body) {
        Ok(settings) => settings,
        Err(message) => return bad_request(message),
    };
    match app.world().set_answers(settings) {
        Ok(()) => Json(settings).into_response(),
        Err(error) => bad_request(error.to_string()),
    }
}

/// The body of `PUT /sandbox/answers`: an object of settings, or `null`. Checked to be one of
/// the two first, since serde would also read a struct from an array of its fields in order.
fn answer_settings(body: &[u8]) -> Result<Option<AnswerSettings>, String> {
    let wrong = |error: String| {
        format!(
            "the answer settings must be a JSON object (or null to turn the model off): {error}"
        )
    };
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|error| wrong(error.to_string()))?;
    if !(value.is_object() || value.is_null()) {
        return Err(wrong(format!("got `{value}`")));
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        format!("the answer settings' `{path}`: {}", error.into_inner())
    })
}

/// `GET /sandbox/clock`: the sandbox's moment now, `{"now": "2026-12-01T16:00:00Z"}`, so a
/// test can tell which labels are in effect (`since <= now < until`).
async fn clock(State(app): State<App>) -> Response {
    let now_ms = app.now_ms();
    Json(json!({ "now": app.world().sandbox_now(now_ms) })).into_response()
}

/// `POST /sandbox/labels` with `{"number": "+1…"}`: carriers label that number from now, for
/// the answer model's `labelling.days`. 409 while the model is off, since nothing would act on
/// the label.
async fn give_label(State(app): State<App>, body: Bytes) -> Response {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Told {
        number: String,
    }
    let told: Told = match serde_json::from_slice(&body) {
        Ok(told) => told,
        Err(error) => {
            return bad_request(format!(
                "write the label as {{\"number\": \"+12125550101\"}}: {error}"
            ));
        }
    };
    let number = match Phone::try_from(told.number.clone()) {
        Ok(number) => number,
        Err(error) => {
            return bad_request(format!("number `{}` is not E.164: {error}", told.number));
        }
    };
    let now_ms = app.now_ms();
    match app.world().label(&number, now_ms) {
        Some(label) => Json(label).into_response(),
        None => {
            let message = "the answer model is off: turn it on with PUT /sandbox/answers first";
            let body = json!({ "error": "conflict", "message": message });
            (StatusCode::CONFLICT, Json(body)).into_response()
        }
    }
}

/// A 400 for a body the sandbox's own routes cannot use, with what is wrong in `message`.
fn bad_request(message: String) -> Response {
    let body = json!({ "error": "bad_request", "message": message });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// The vendor gateway's answer to an unknown path.
async fn no_route() -> Response {
    let body = json!({ "error": "not_found", "message": "No route matched" });
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

/// Serves until `shutdown` resolves. Tests pass 127.0.0.1:0 listeners.
///
/// Fails at once with `InvalidInput` when the configuration is inconsistent (an agent id given
/// twice), before serving anything.
pub async fn serve(
    listener: TcpListener,
    config: SandboxConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let app = App::new(&config, Clock::System)?;
    serve_app(listener, app, shutdown).await
}

async fn serve_app(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let stopping = Arc::clone(&app.stopping);
    let shutdown = async move {
        shutdown.await;
        stopping.send_replace(true);
    };
    axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown)
        .await
}

/// A sandbox answered in this process, through its router, on the caller's clock: the vendor
/// `outdial simulate` plays against (with the runtime's virtual clock, no socket, no real time).
#[derive(Clone)]
pub struct InProcess {
    app: App,
}

impl InProcess {
    /// Fails with `InvalidInput` when the configuration is inconsistent, as [`serve`] does.
    pub fn new(config: &SandboxConfig, clock: Clock) -> io::Result<InProcess> {
        Ok(InProcess {
            app: App::new(config, clock)?,
        })
    }

    /// Every route, as served on a port; requests handed to it are answered here.
    pub fn router(&self) -> Router {
        router(self.app.clone())
    }

    /// What happened to the create requests so far.
    pub fn stats(&self) -> Stats {
        self.app.world().stats()
    }

    /// Every create-call request so far.
    pub fn received(&self) -> Vec<ReceivedCall> {
        self.app.world().received().to_vec()
    }
}

/// An in-process sandbox on 127.0.0.1:0 (tests, `outdial demo`).
pub struct Sandbox {
    addr: SocketAddr,
    /// Shared with the server, so tests read what it received without a request.
    app: App,
    /// Sending or dropping it ends the server, so a sandbox dropped without [`Sandbox::stop`]
    /// does not outlive its owner.
    shutdown: oneshot::Sender<()>,
    server: JoinHandle<io::Result<()>>,
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox").field("addr", &self.addr).finish()
    }
}

impl Sandbox {
    /// Binds a free loopback port and serves on a spawned task.
    pub async fn start(config: SandboxConfig) -> io::Result<Sandbox> {
        let app = InProcess::new(&config, Clock::System)?.app;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let (shutdown, signal) = oneshot::channel::<()>();
        let ended = async {
            // An error only means the sender was dropped, which also means "stop".
            let _ = signal.await;
        };
        let server = tokio::spawn(serve_app(listener, app.clone(), ended));
        Ok(Sandbox {
            addr,
            app,
            shutdown,
            server,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/v2`, the Synthflow base URL to configure.
    pub fn synthflow_base(&self) -> String {
        format!("http://{}/v2", self.addr)
    }

    /// `http://127.0.0.1:PORT/api/v1`, the Flowyte base URL.
    pub fn numbers_base(&self) -> String {
        format!("http://{}/api/v1", self.addr)
    }

    /// Every create-call request so far, as `GET /sandbox/calls` lists them.
    pub async fn received(&self) -> Vec<ReceivedCall> {
        self.app.world().received().to_vec()
    }

    /// What happened to the create requests so far, as `GET /sandbox/stats` shows it.
    pub fn stats(&self) -> Stats {
        self.app.world().stats()
    }

    /// Every `/v2` request so far, with its time and route, as `GET /sandbox/requests` lists them.
    pub fn served(&self) -> Vec<Served> {
        self.app.world().served_requests().to_vec()
    }

    /// When call `call_id` reached its outcome, or will (epoch ms, the sandbox's own clock).
    pub fn call_ends_ms(&self, call_id: &str) -> Option<i64> {
        self.app.world().call(call_id).map(|call| call.ends_ms())
    }

    /// The faults in effect.
    pub fn faults(&self) -> Faults {
        *self.app.world().faults()
    }

    /// Replaces the faults from the next request on, as `PUT /sandbox/faults` does; a test
    /// lifts a refusal this way and checks that a later run completes.
    pub fn set_faults(&self, faults: Faults) -> Result<(), FaultsError> {
        self.app.world().set_faults(faults)
    }

    /// Turns the answer model on or off from the next call, as `PUT /sandbox/answers` does.
    pub fn set_answers(&self, settings: Option<AnswerSettings>) -> Result<(), AnswerSettingsError> {
        self.app.world().set_answers(settings)
    }

    /// The sandbox's moment now (its clock starts at `clock_start` and runs at the time scale),
    /// as `GET /sandbox/clock` gives it.
    pub fn now(&self) -> jiff::Timestamp {
        let now_ms = self.app.now_ms();
        self.app.world().sandbox_now(now_ms)
    }

    /// Labels `number` from the sandbox's now, as `POST /sandbox/labels` does; `None` while
    /// the answer model is off.
    pub fn label(&self, number: &Phone) -> Option<answers::Label> {
        let now_ms = self.app.now_ms();
        self.app.world().label(number, now_ms)
    }

    /// How many requests reached the server so far, on any route.
    pub fn requests_served(&self) -> usize {
        self.app.served.load(Ordering::SeqCst)
    }

    /// Stops accepting, lets requests in flight finish, and waits for the server task.
    pub async fn stop(self) {
        // The server may already have ended on its own; its result below says why.
        let _ = self.shutdown.send(());
        match self.server.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "sandbox server ended with an error"),
            Err(error) => tracing::warn!(%error, "sandbox server task failed"),
        }
    }
}
