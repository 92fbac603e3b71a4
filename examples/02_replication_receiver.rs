//! Replication receivers, one subtree per tenant. Stopping one tenant's
//! receiver waits for that subtree alone while the rest of the tree keeps
//! answering; stopping a tenant cancels the token at every level below it.
//!
//! ```text
//! app
//!  ├─ tenant-a [supervisor]
//!  │  ├─ uploader [actor]            the tenant's other work
//!  │  └─ walreceiver [supervisor]
//!  │     ├─ manager [actor]          the applied WAL position
//!  │     └─ connection [supervisor]  (depends on manager)
//!  │        ├─ handler [actor]       applies records, tells the manager
//!  │        └─ poller [worker]       streams records (depends on handler)
//!  └─ tenant-b [supervisor]          the same
//! ```
//!
//! Without the library a team hand-writes, per tenant, a task manager with a
//! tree of cancellation tokens wired by hand, a join set per level, and a
//! "stop the receiver" function that must find and await exactly that
//! subtree's tasks, poller before handler before manager, or records are
//! dropped. Each of those is a place to forget a token or await the wrong
//! set. Here the tree is the specs: every incarnation's token (from its
//! `StartContext`, or a worker's `WorkContext`) is a child of its
//! supervisor's, `depends_on` gives the stop order, and `StopChild` answers
//! when that subtree, and only it, has drained.
//!
//! Run it with `cargo run --example 02_replication_receiver`.

#[path = "common/bounded.rs"]
mod bounded;

use std::collections::BTreeMap;
use std::error::Error;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::prelude::*;
use actix_supervisor::{worker::WorkerActor, StartContext};
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;

/// Uploads the tenant's layer files; answers how many so far.
#[derive(Default)]
struct Uploader {
    uploaded: u64,
}
impl Actor for Uploader {
    type Context = Context<Self>;
}
actix_supervisor::supervised!(Uploader);

#[derive(Message)]
#[rtype(result = "u64")]
struct UploadLayer;

impl Handler<UploadLayer> for Uploader {
    type Result = u64;
    fn handle(&mut self, _: UploadLayer, _: &mut Context<Self>) -> u64 {
        self.uploaded += 1;
        self.uploaded
    }
}

/// Tracks the last applied WAL position (LSN) and publishes it.
struct Manager {
    applied: watch::Sender<u64>,
}
impl Actor for Manager {
    type Context = Context<Self>;
}
actix_supervisor::supervised!(Manager);

#[derive(Message)]
#[rtype(result = "()")]
struct Applied(u64);

impl Handler<Applied> for Manager {
    type Result = ();
    fn handle(&mut self, Applied(lsn): Applied, _: &mut Context<Self>) {
        self.applied.send_if_modified(|applied| {
            let advanced = lsn > *applied;
            *applied = (*applied).max(lsn);
            advanced
        });
    }
}

/// Applies WAL records from the poller and reports them to the manager.
struct WalHandler {
    manager: ChildHandle<Manager>,
}
impl Actor for WalHandler {
    type Context = Context<Self>;
}
actix_supervisor::supervised!(WalHandler);

#[derive(Message)]
#[rtype(result = "()")]
struct WalRecord(u64);

impl Handler<WalRecord> for WalHandler {
    type Result = ();
    fn handle(&mut self, WalRecord(lsn): WalRecord, ctx: &mut Context<Self>) {
        // The connection stops before the manager, so this is never refused;
        // if it were, the record would be lost: fail loudly.
        if let Err(refused) = self.manager.do_send(Applied(lsn)) {
            actix_supervisor::fail(ctx, refused);
        }
    }
}

/// Streams WAL records until its token is cancelled, then hangs up.
struct Poller {
    handler: ChildHandle<WalHandler>,
    next_lsn: u64,
    /// The server's confirmation of the hang-up, when it is slow to come.
    hangup_confirmed: Option<oneshot::Receiver<()>>,
}

impl Work for Poller {
    type Error = String;

    async fn run(&mut self, cx: WorkContext) -> Result<(), String> {
        loop {
            tokio::select! {
                () = cx.token().cancelled() => break,
                () = tokio::time::sleep(Duration::from_millis(2)) => {
                    self.next_lsn += 8;
                    self.handler.do_send(WalRecord(self.next_lsn)).map_err(|e| e.to_string())?;
                }
            }
        }
        if let Some(confirmed) = self.hangup_confirmed.take() {
            let _ = confirmed.await;
        }
        Ok(())
    }
}

/// Every incarnation's cancellation token, by path, as its factory got it.
#[derive(Clone, Default)]
struct Tokens(Arc<Mutex<BTreeMap<String, CancellationToken>>>);

impl Tokens {
    /// Wraps a factory so that it keeps each incarnation's token.
    fn keeping<A>(
        &self,
        mut make: impl FnMut(&StartContext) -> A + Send + 'static,
    ) -> impl FnMut(&StartContext) -> A + Send + 'static {
        let tokens = self.clone();
        move |start| {
            let token = start.token().clone();
            tokens
                .0
                .lock()
                .unwrap()
                .insert(start.path().to_string(), token);
            make(start)
        }
    }

    fn get(&self, path: &str) -> CancellationToken {
        self.0.lock().unwrap()[path].clone()
    }

    /// Prints which tokens under `prefix` are cancelled; returns them all.
    fn show(&self, prefix: &str) -> BTreeMap<String, bool> {
        let tokens = self.0.lock().unwrap();
        let under = tokens.iter().filter(|(path, _)| path.starts_with(prefix));
        let states: BTreeMap<_, _> = under.map(|(p, t)| (p.clone(), t.is_cancelled())).collect();
        for (path, cancelled) in &states {
            let state = if *cancelled { "cancelled" } else { "live" };
            println!("  {path:<45} {state}");
        }
        states
    }
}

/// The handles of one tenant's subtree.
struct Tenant {
    supervisor: Addr<SupervisorActor>,
    uploader: ChildHandle<Uploader>,
    manager: ChildHandle<Manager>,
    poller: ChildHandle<WorkerActor<Poller>>,
    /// The applied position, as the manager publishes it.
    applied: watch::Receiver<u64>,
}

impl Tenant {
    /// Describes a tenant's subtree; `hangup_confirmed` slows its poller's stop.
    fn new(
        name: &str,
        tokens: &Tokens,
        mut hangup_confirmed: Option<oneshot::Receiver<()>>,
    ) -> (SupervisorBuilder, Tenant) {
        let (published, applied) = watch::channel(0);
        let uploader = ChildSpec::with_context("uploader", tokens.keeping(|_| Uploader::default()));
        let manager = ChildSpec::with_context(
            "manager",
            tokens.keeping(move |_| Manager {
                applied: published.clone(),
            }),
        );
        let to_manager = manager.handle();
        let handler = ChildSpec::with_context(
            "handler",
            tokens.keeping(move |_| WalHandler {
                manager: to_manager.clone(),
            }),
        );
        let to_handler = handler.handle();
        let poller = ChildSpec::worker(
            "poller",
            tokens.keeping(move |_| Poller {
                handler: to_handler.clone(),
                next_lsn: 0,
                hangup_confirmed: hangup_confirmed.take(),
            }),
        )
        .depends_on("handler");
        let handles = (uploader.handle(), manager.handle(), poller.handle());
        let connection = SupervisorActor::builder("connection")
            .child(handler)
            .child(poller)
            .depends_on("manager");
        let walreceiver = SupervisorActor::builder("walreceiver")
            .child(manager)
            .child(connection);
        let builder = SupervisorActor::builder(name)
            .child(uploader)
            .child(walreceiver);
        let tenant = Tenant {
            supervisor: builder.address(),
            uploader: handles.0,
            manager: handles.1,
            poller: handles.2,
            applied,
        };
        (builder, tenant)
    }

    /// Waits until every actor of the tenant has started.
    async fn started(&self) -> Result<(), StartError> {
        self.uploader.started().await?;
        self.manager.started().await?;
        self.poller.started().await?;
        Ok(())
    }

    /// Waits until the tenant has applied WAL past `lsn`; answers where it is.
    async fn applied_past(&self, lsn: u64) -> Result<u64, watch::error::RecvError> {
        Ok(*self.applied.clone().wait_for(|&at| at > lsn).await?)
    }
}

fn state(tree: &TreeSnapshot, path: &str) -> NodeState {
    tree.find(path).expect("the node is in the tree").state
}

async fn run() -> Result<(), Box<dyn Error>> {
    let tokens = Tokens::default();
    // Tenant-a's server confirms the hang-up when this example says so, to
    // look at the tree while tenant-a's receiver is still stopping.
    let (confirm_hangup, hangup_confirmed) = oneshot::channel();
    let (tenant_a_spec, tenant_a) = Tenant::new("tenant-a", &tokens, Some(hangup_confirmed));
    let (tenant_b_spec, tenant_b) = Tenant::new("tenant-b", &tokens, None);
    let app = SupervisorActor::builder("app")
        .child(tenant_a_spec)
        .child(tenant_b_spec)
        .start()?;
    tenant_a.started().await?;
    tenant_b.started().await?;
    let (lsn_a, lsn_b) = (
        tenant_a.applied_past(400).await?,
        tenant_b.applied_past(400).await?,
    );
    println!(
        "both tenants stream WAL (applied up to {lsn_a} and {lsn_b}):\n{}",
        app.send(Inspect).await?
    );

    println!("1. stopping tenant-a's walreceiver subtree alone (StopChild)");
    let receiver_stopped = tenant_a.supervisor.send(StopChild::new("walreceiver"));
    // The poller stops first; once its token is cancelled the stop is under way.
    tokens
        .get("/app/tenant-a/walreceiver/connection/poller")
        .cancelled()
        .await;
    let tree = app.send(Inspect).await?;
    println!("while its poller waits for the server to confirm the hang-up:\n{tree}");
    assert_eq!(
        state(&tree, "/app/tenant-a/walreceiver"),
        NodeState::Stopping
    );
    assert_eq!(state(&tree, "/app/tenant-a/uploader"), NodeState::Running);
    assert_eq!(
        state(&tree, "/app/tenant-b/walreceiver"),
        NodeState::Running
    );
    let layers = tenant_a.uploader.send(UploadLayer).await?;
    let before = *tenant_b.applied.borrow();
    let lsn_b = tenant_b.applied_past(before).await?;
    println!("meanwhile tenant-a's uploader answers ({layers} layer uploaded)");
    println!("and tenant-b streams on: applied from {before} to {lsn_b}");
    confirm_hangup.send(()).map_err(|()| "the poller is gone")?;
    let report = receiver_stopped.await??;
    println!("the walreceiver's own stop report:\n{report}");
    assert_eq!(report.path.as_str(), "/app/tenant-a/walreceiver");
    assert!(report.is_drained(), "the receiver subtree drained");
    println!("tokens after it:");
    for (path, cancelled) in tokens.show("/app/") {
        let in_receiver = path.starts_with("/app/tenant-a/walreceiver/");
        assert_eq!(
            cancelled, in_receiver,
            "{path}: only that subtree is cancelled"
        );
    }

    println!("\n2. stopping tenant-b as a whole (Stop to its supervisor)");
    let report = tenant_b.supervisor.send(Stop).await?;
    println!("{report}");
    assert!(report.is_drained(), "tenant-b drained");
    println!("tokens under tenant-b, one per level, each cancelled:");
    let under_b = tokens.show("/app/tenant-b/");
    assert_eq!(under_b.len(), 4, "uploader, manager, handler, poller");
    assert!(under_b.values().all(|&cancelled| cancelled));
    assert!(!tokens.get("/app/tenant-a/uploader").is_cancelled());
    let layers = tenant_a.uploader.send(UploadLayer).await?;
    println!("tenant-a's uploader still answers ({layers} layers uploaded)");

    println!("\nthe tree now:\n{}", app.send(Inspect).await?);
    let report = app.send(Stop).await?;
    println!("the app stopped:\n{report}");
    assert!(report.is_drained());
    Ok(())
}

#[actix::main]
async fn main() -> Result<(), Box<dyn Error>> {
    bounded::within_ten_seconds(run()).await
}
