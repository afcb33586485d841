//! A local, stateful simulator of the vendor APIs, so the dialer can be developed, tested and
//! demonstrated without an account (SPEC §6).
//!
//! It serves the Synthflow `/v2` subset the dialer uses (`synthflow`) over the state kept in
//! `world`, and exposes what it received at `GET /sandbox/calls` so tests can check pacing,
//! rotation and duplicates from the vendor's side of the wire. Everything random is drawn from a
//! seed, so a run can be replayed.
//!
//! - `config`: what a sandbox starts with, parsed from the `outdial sandbox` flags.
//! - `world`: agents, calls and received requests; synchronous and free of HTTP and clocks.
//! - `synthflow`: the `/v2` routes in the vendor's exact shapes.
//! - `market`: the numbers vendor's state (inventory, holds, owned numbers, wallet, agent
//!   versions); synchronous and told the time, like `world`.
//! - `inventory`: the seeded numbers for sale, spread over every US and Canadian area code.
//! - `flowyte`: the Flowyte `/api/v1` routes over `market`.
//!
//! Room is left for later features as values and layers, not restructuring: fault injection and
//! rate limits are further layers in `synthflow`'s stack, outcome mixes and time scales change
//! the plan a call gets in `world`, and the Flowyte `/api/v1` API is another nested router.

mod config;
mod flowyte;
mod inventory;
mod market;
mod synthflow;
mod world;

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{
    AgentSpec, AgentSpecError, DEFAULT_INVENTORY, DEFAULT_WALLET, DEMO_AGENT_ID, Latency,
    LatencyError, SandboxConfig, demo_pool,
};
pub use market::{Usd, UsdError};
pub use world::ReceivedCall;

use market::Market;
use world::World;

/// What every handler shares: the world and the clock.
#[derive(Clone)]
struct App {
    /// One lock for all state, taken once per request and never held across an `.await`, so
    /// each answer sees one consistent instant and a std mutex is enough.
    world: Arc<Mutex<World>>,
    /// Epoch milliseconds; a plain function so a test inside the crate could pin the time.
    now_ms: fn() -> i64,
    /// The numbers vendor's state, behind its own lock: no request touches both vendors.
    market: Arc<Mutex<Market>>,
    /// Every request that reached the server, so tests can prove a command sent none.
    served: Arc<AtomicUsize>,
}

impl App {
    fn new(config: &SandboxConfig) -> io::Result<App> {
        let world = World::new(config)
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
        Ok(App {
            world: Arc::new(Mutex::new(world)),
            now_ms: system_now_ms,
            market: Arc::new(Mutex::new(Market::new(config))),
            served: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// The world, even after a handler panicked while holding it: the state is still the best
    /// record of what happened, and refusing every later request would hide the first failure.
    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now_ms(&self) -> i64 {
        (self.now_ms)()
    }

    /// The market, even after a panic while holding it, for the same reason as [`App::world`].
    fn market(&self) -> MutexGuard<'_, Market> {
        self.market.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn system_now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn router(app: App) -> Router {
    Router::new()
        .nest("/v2", synthflow::routes(&app))
        .route("/sandbox/calls", get(received_calls))
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
    let app = App::new(&config)?;
    serve_app(listener, app, shutdown).await
}

async fn serve_app(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown)
        .await
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
        let app = App::new(&config)?;
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
