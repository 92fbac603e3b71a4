//! A tree loaded from a configuration file. `examples/config/tree.toml` sets
//! the shape and every policy (graces, intensities, strategies, restart
//! policies, backoffs, tick intervals, all with durations like "250ms");
//! the code behind each node is a factory registered by key. The tree runs:
//! a fetcher appends batches of records to a store while two exporters read
//! it, until the store holds 200 records; then a graceful stop prints its
//! report. Last, `examples/config/broken.toml` is loaded to show the error a
//! bad file gets: refused before anything starts, naming the node and field.
//!
//! Without this, a service hard-codes these values or parses them by hand,
//! and a typo such as `intervall` or a zero interval turns into a busy loop
//! at run time instead of an error at start.
//!
//! Run it with `cargo run --example 07_configuration`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use actix::prelude::*;
use actix_supervisor::config::{Registry, TreeConfig};
use actix_supervisor::prelude::*;

/// Keeps records; tells `full` once it holds `target` of them.
struct Store {
    records: Vec<String>,
    target: usize,
    full: Arc<tokio::sync::Notify>,
}

impl Actor for Store {
    type Context = Context<Self>;
}
actix_supervisor::supervised!(Store);

/// Appends a batch; answers how many records the store holds.
#[derive(Message)]
#[rtype(result = "usize")]
struct Append(Vec<String>);

impl Handler<Append> for Store {
    type Result = usize;
    fn handle(&mut self, msg: Append, _: &mut Context<Self>) -> usize {
        self.records.extend(msg.0);
        if self.records.len() >= self.target {
            self.full.notify_one();
        }
        self.records.len()
    }
}

/// Answers how many records the store holds.
#[derive(Message)]
#[rtype(result = "usize")]
struct Len;

impl Handler<Len> for Store {
    type Result = usize;
    fn handle(&mut self, _: Len, _: &mut Context<Self>) -> usize {
        self.records.len()
    }
}

/// The store's handle, set when the registry makes the store.
type StoreSlot = Arc<OnceLock<ChildHandle<Store>>>;

/// Fetches the next batch of (made-up) records on each tick.
struct Fetcher {
    store: StoreSlot,
    next: Arc<AtomicU64>,
}

impl Tick for Fetcher {
    type Error = String;

    async fn tick(&mut self, _cx: &TickContext) -> Result<(), String> {
        let first = self.next.fetch_add(10, Ordering::SeqCst);
        let batch = (first..first + 10).map(|n| format!("record {n}")).collect();
        let store = self.store.get().ok_or("no store")?;
        store.send(Append(batch)).await.map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// Exports what the store holds (here: notes the highest count it saw).
struct Exporter {
    store: StoreSlot,
    exported: usize,
}

impl Tick for Exporter {
    type Error = String;

    async fn tick(&mut self, _cx: &TickContext) -> Result<(), String> {
        let store = self.store.get().ok_or("no store")?;
        self.exported = store.send(Len).await.map_err(|e| e.to_string())?;
        Ok(())
    }
}

fn config_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples/config")
        .join(name)
}

#[actix::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = TreeConfig::from_file(config_file("tree.toml"))?;

    // The code behind each `factory` key. The file's policies are applied on
    // top of what each factory sets.
    let store_slot: StoreSlot = Arc::default();
    let full = Arc::new(tokio::sync::Notify::new());
    let next_record = Arc::new(AtomicU64::new(0));
    let (slot, notify) = (store_slot.clone(), full.clone());
    let (fetcher_slot, exporter_slot) = (store_slot.clone(), store_slot.clone());
    let mut registry = Registry::new()
        .actor("store", move |name| {
            let notify = notify.clone();
            let spec = ChildSpec::new(name, move || Store {
                records: Vec::new(),
                target: 200,
                full: notify.clone(),
            });
            let _ = slot.set(spec.handle());
            spec
        })
        .periodic("fetcher", move |name, schedule| {
            let (store, next) = (fetcher_slot.clone(), next_record.clone());
            ChildSpec::periodic(name, schedule, move |_| Fetcher {
                store: store.clone(),
                next: next.clone(),
            })
        })
        .periodic("exporter", move |name, schedule| {
            let store = exporter_slot.clone();
            ChildSpec::periodic(name, schedule, move |_| Exporter {
                store: store.clone(),
                exported: 0,
            })
        });

    let app = config.build(&mut registry)?.start()?;
    println!(
        "started from examples/config/tree.toml:\n{}",
        app.send(Inspect).await?
    );

    full.notified().await;
    let store = store_slot.get().ok_or("the registry made no store")?;
    println!("the store holds {} records", store.send(Len).await?);
    println!("\nthe tree now:\n{}", app.send(Inspect).await?);

    let report = app.send(Stop).await?;
    println!("stopped:\n{report}");
    if !report.is_drained() {
        return Err("the tree did not stop cleanly".into());
    }

    println!("\nloading examples/config/broken.toml:");
    match TreeConfig::from_file(config_file("broken.toml")).and_then(|c| c.validate()) {
        Ok(()) => return Err("the broken file was accepted".into()),
        Err(error) => {
            println!("  refused: {error}");
            if error.node() != Some("/ingest/exporters/audit")
                || error.field() != Some("periodic.interval")
            {
                return Err("the error names the wrong place".into());
            }
        }
    }
    Ok(())
}
