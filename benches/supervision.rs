//! Criterion benchmarks: each scenario runs for plain actix and for a
//! supervised child in the same group, in the same process; after the
//! groups, the ratio supervised/raw of the mean times per operation is
//! printed. A target of the `extras` crate (which builds criterion for it
//! alone): `cargo bench -p actix-supervisor-extras` runs them;
//! `cargo test -p actix-supervisor-extras --bench supervision` runs each
//! once, as a smoke test.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_supervisor::prelude::*;
use actix_supervisor::RestartIntensity;
use criterion::{criterion_group, Criterion};

mod common {
    pub mod counter;
}
use common::counter::{Counter, ErrorExit, Inc};

/// Time per operation measured in each scenario, by name, for the ratios.
static PER_OPERATION: Mutex<BTreeMap<String, (Duration, u64)>> = Mutex::new(BTreeMap::new());

fn record(name: &str, took: Duration, operations: u64) {
    let mut all = PER_OPERATION.lock().unwrap();
    let entry = all.entry(name.to_string()).or_default();
    entry.0 += took;
    entry.1 += operations;
}

/// A supervised counter (restarted however often), on the current system.
/// Runs one Criterion batch, `work`, on `system` and returns how long it
/// took; with `per_operation`, also records the time under that key for the
/// ratios printed at the end.
fn timed(
    system: &SystemRunner,
    per_operation: Option<(&str, u64)>,
    work: impl std::future::Future<Output = ()>,
) -> Duration {
    system.block_on(async {
        let began = Instant::now();
        work.await;
        let took = began.elapsed();
        if let Some((name, operations)) = per_operation {
            record(name, took, operations);
        }
        took
    })
}

fn supervised_counter() -> Addr<Counter> {
    let spec = ChildSpec::new("counter", Counter::default).restart(RestartPolicy::Always);
    let addr = spec.address();
    SupervisorActor::builder("bench")
        .intensity(RestartIntensity::new(u32::MAX, Duration::from_secs(1)))
        .child(spec)
        .start()
        .unwrap();
    addr
}

fn request_response(c: &mut Criterion) {
    let system = actix::System::new();
    let (raw, supervised) =
        system.block_on(async { (Counter::default().start(), supervised_counter()) });
    let mut group = c.benchmark_group("request_response");
    for (name, addr) in [("raw", raw), ("supervised", supervised)] {
        group.bench_function(name, |b| {
            let key = format!("request_response/{name}");
            b.iter_custom(|iterations| {
                timed(&system, Some((&key, iterations)), async {
                    for _ in 0..iterations {
                        addr.send(Inc).await.unwrap();
                    }
                })
            })
        });
    }
    group.finish();
}

fn fire_and_forget(c: &mut Criterion) {
    let system = actix::System::new();
    let (raw, supervised) =
        system.block_on(async { (Counter::default().start(), supervised_counter()) });
    let mut group = c.benchmark_group("fire_and_forget");
    for (name, addr) in [("raw", raw), ("supervised", supervised)] {
        group.bench_function(name, |b| {
            let key = format!("fire_and_forget/{name}");
            b.iter_custom(|iterations| {
                timed(&system, Some((&key, iterations)), async {
                    for _ in 0..iterations {
                        addr.do_send(Inc);
                    }
                    addr.send(Inc).await.unwrap();
                })
            })
        });
    }
    group.finish();
}

fn restart_after_error(c: &mut Criterion) {
    let system = actix::System::new();
    let supervised = system.block_on(async { supervised_counter() });
    c.bench_function("restart_after_error_exit/supervised", |b| {
        b.iter_custom(|iterations| {
            timed(&system, None, async {
                for _ in 0..iterations {
                    supervised.do_send(ErrorExit);
                    supervised.send(Inc).await.unwrap();
                }
            })
        })
    });
}

fn spawn(c: &mut Criterion) {
    const CHILDREN: u64 = 1000;
    let system = actix::System::new();
    let mut group = c.benchmark_group("spawn_1000");
    group.bench_function("raw", |b| {
        b.iter_custom(|iterations| {
            timed(
                &system,
                Some(("spawn_1000/raw", iterations * CHILDREN)),
                async {
                    for _ in 0..iterations {
                        let addrs: Vec<_> =
                            (0..CHILDREN).map(|_| Counter::default().start()).collect();
                        for addr in &addrs {
                            addr.send(Inc).await.unwrap();
                        }
                    }
                },
            )
        })
    });
    group.bench_function("supervised", |b| {
        b.iter_custom(|iterations| {
            let per_operation = Some(("spawn_1000/supervised", iterations * CHILDREN));
            timed(&system, per_operation, async {
                for _ in 0..iterations {
                    let mut builder = SupervisorActor::builder("many");
                    let mut addrs = Vec::new();
                    for i in 0..CHILDREN {
                        let spec = ChildSpec::new(format!("c{i}"), Counter::default);
                        addrs.push(spec.address());
                        builder = builder.child(spec);
                    }
                    let app = builder.start().unwrap();
                    for addr in &addrs {
                        addr.send(Inc).await.unwrap();
                    }
                    app.do_send(actix_supervisor::Kill);
                }
            })
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    request_response,
    fire_and_forget,
    restart_after_error,
    spawn
);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // `cargo bench` passes `--bench`; without it (`cargo test --bench`), or
    // with `--test`, each runs once: no ratio worth printing.
    let measured = std::env::args().any(|arg| arg == "--bench")
        && !std::env::args().any(|arg| arg == "--test");
    if !measured {
        return;
    }
    let all = PER_OPERATION.lock().unwrap();
    println!("\nsupervised / raw, mean time per operation (lower is better):");
    for scenario in ["request_response", "fire_and_forget", "spawn_1000"] {
        let per_op = |kind: &str| {
            all.get(&format!("{scenario}/{kind}"))
                .filter(|(_, n)| *n > 0)
                .map(|(took, n)| took.as_secs_f64() / *n as f64)
        };
        if let (Some(raw), Some(supervised)) = (per_op("raw"), per_op("supervised")) {
            println!("  {scenario}: {:.3}", supervised / raw);
        }
    }
}
