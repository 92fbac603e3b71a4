//! Counts the instructions one request/response costs, through a supervised
//! child and through a plain actix actor, under `valgrind --tool=callgrind`:
//! unlike wall-clock time, instruction counts do not move with the machine's
//! load.
//!
//! `BENCH_MODE` is `raw`, `supervised` (through the child's `Addr`) or
//! `supervised-handle` (through `ChildHandle::send`); `BENCH_REQUESTS` the
//! number of requests (0 gives the baseline to subtract). `restart-error` and
//! `restart-panic` count restarts instead, each with the round trip after
//! it. `spawn-raw`, `spawn-supervised`, `stop-raw` and `stop-supervised`
//! spawn `BENCH_REQUESTS` children until every `started` ran (and, for
//! `stop-*`, stop them as `bench_report` does), then exit at once, so the
//! runtime's teardown is not counted: a stop costs `stop-*` minus `spawn-*`.
//! `restart-actix` counts restarts in place by `actix::Supervisor` after
//! `ctx.stop()` (same value, no policy), each with its round trip: the
//! cost of actix's own restart.
//! `spawn-floor` spawns `BENCH_REQUESTS` raw actors with what any
//! supervised child needs besides (a name, one shared allocation, a table
//! slot and a name index): the floor of a supervised spawn. `stop-floor`
//! also stops them with a drain marker each and a report written: a stop's
//! floor is `stop-floor` minus `spawn-floor`.
//! `restart-floor` counts restarts of `scenarios::RestartFloor`: the same
//! restart in place plus what any supervisor with the library's promises
//! does at a restart (the reason, one clock read, the intensity window, the
//! record, a fresh value, a start barrier): the floor of a supervised restart.
//! `panic-floor` counts `BENCH_REQUESTS` panics caught by `catch_unwind`
//! right around them, with the hook silenced: what any restart after a
//! panic pays before the supervisor does anything.
//! The script `benches/instructions.sh` runs the combinations and prints the
//! counts per operation and the ratios.

use actix::prelude::*;
use actix_supervisor::prelude::*;

#[path = "../benches/common/counter.rs"]
mod counter;
#[path = "../benches/common/scenarios.rs"]
mod scenarios;
use counter::{Boom, Counter, ErrorExit, Inc};

fn main() {
    let mode = std::env::var("BENCH_MODE").unwrap_or_default();
    if let Some(what) = mode
        .strip_suffix("-floor")
        .filter(|w| *w == "spawn" || *w == "stop")
    {
        return floor(what == "stop");
    }
    if let Some((what, side)) = mode
        .split_once('-')
        .filter(|(w, _)| *w == "spawn" || *w == "stop")
    {
        return many(what == "stop", side == "raw");
    }
    if mode == "panic-floor" {
        return panic_floor();
    }
    if mode == "restart-actix" {
        return restarts_actix(false);
    }
    if mode == "restart-floor" {
        return restarts_actix(true);
    }
    if let Some(exit) = mode.strip_prefix("restart-") {
        return restarts(exit == "panic");
    }
    if mode == "supervised-handle" {
        return through_handle();
    }
    let supervised = mode == "supervised";
    let requests: u64 = std::env::var("BENCH_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    actix::System::new().block_on(async move {
        let addr = if supervised {
            let spec = ChildSpec::new("counter", Counter::default);
            let addr = spec.address();
            let _app = SupervisorActor::builder("bench")
                .child(spec)
                .start()
                .unwrap();
            addr
        } else {
            Counter::default().start()
        };
        addr.send(Inc).await.unwrap();
        for _ in 0..requests {
            addr.send(Inc).await.unwrap();
        }
    });
}

/// `BENCH_MODE=restart-error` or `restart-panic`: `BENCH_REQUESTS` restarts
/// of a supervised child, each followed by the round trip that proves the
/// next incarnation answers.
fn restarts(panic: bool) {
    let restarts: u64 = std::env::var("BENCH_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    std::panic::set_hook(Box::new(|_| {}));
    actix::System::new().block_on(async move {
        let spec = ChildSpec::new("counter", Counter::default).restart(RestartPolicy::Always);
        let addr = spec.address();
        let _app = SupervisorActor::builder("bench")
            .intensity(actix_supervisor::RestartIntensity::new(
                u32::MAX,
                std::time::Duration::from_secs(1),
            ))
            .child(spec)
            .start()
            .unwrap();
        addr.send(Inc).await.unwrap();
        for _ in 0..restarts {
            if panic {
                addr.do_send(Boom);
            } else {
                addr.do_send(ErrorExit);
            }
            addr.send(Inc).await.unwrap();
        }
    });
}

/// `BENCH_MODE=spawn-raw`, `spawn-supervised`, `stop-raw` or
/// `stop-supervised`: `BENCH_REQUESTS` children spawned until every
/// `started` ran, and stopped with `stop`; then the process exits without
/// tearing the system down.
fn many(stop: bool, raw: bool) {
    let children: usize = std::env::var("BENCH_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    actix::System::new().block_on(async move {
        match (stop, raw) {
            (false, true) => std::mem::forget(scenarios::spawn_raw(children).await),
            (false, false) => std::mem::forget(scenarios::spawn_ours(children).await),
            (true, true) => drop(scenarios::stop_raw(children).await),
            (true, false) => drop(scenarios::stop_ours(children).await),
        }
        // Inside the system, so that dropping every task is not counted.
        std::process::exit(0);
    });
}

/// `BENCH_MODE=panic-floor`: `BENCH_REQUESTS` panics, each caught by a
/// `catch_unwind` one frame away, the panic hook silenced.
fn panic_floor() {
    let panics: u64 = std::env::var("BENCH_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    std::panic::set_hook(Box::new(|_| {}));
    for _ in 0..panics {
        let caught = std::panic::catch_unwind(|| {
            if std::hint::black_box(true) {
                panic!("boom");
            }
        });
        assert!(caught.is_err());
    }
}

/// `BENCH_MODE=restart-actix`: `BENCH_REQUESTS` restarts in place by
/// `actix::Supervisor`, each followed by a round trip; with `floor`
/// (`BENCH_MODE=restart-floor`), of `scenarios::RestartFloor`, which adds
/// what any supervisor must do at a restart.
fn restarts_actix(floor: bool) {
    let restarts: u64 = std::env::var("BENCH_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    actix::System::new().block_on(async move {
        if floor {
            let addr = actix::Supervisor::start(|_| scenarios::RestartFloor::default());
            addr.send(Inc).await.unwrap();
            for _ in 0..restarts {
                addr.do_send(ErrorExit);
                addr.send(Inc).await.unwrap();
            }
            return;
        }
        let addr = actix::Supervisor::start(|_| scenarios::RawRestarting::default());
        addr.send(Inc).await.unwrap();
        for _ in 0..restarts {
            addr.do_send(ErrorExit);
            addr.send(Inc).await.unwrap();
        }
    });
}

/// `BENCH_MODE=supervised-handle`: `BENCH_REQUESTS` round trips through
/// `ChildHandle::send`, which counts each message for the drain.
fn through_handle() {
    let requests: u64 = std::env::var("BENCH_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    actix::System::new().block_on(async move {
        let spec = ChildSpec::new("counter", Counter::default);
        let handle = spec.handle();
        let _app = SupervisorActor::builder("bench")
            .child(spec)
            .start()
            .unwrap();
        handle.send(Inc).await.unwrap();
        for _ in 0..requests {
            handle.send(Inc).await.unwrap();
        }
    });
}

/// `BENCH_MODE=spawn-floor` or `stop-floor`: the floor models of a
/// supervised spawn and stop (`scenarios::spawn_floor`, `stop_floor`);
/// exits inside the system.
fn floor(stop: bool) {
    let children: usize = std::env::var("BENCH_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    actix::System::new().block_on(async move {
        if stop {
            scenarios::stop_floor(children).await;
        } else {
            std::mem::forget(scenarios::spawn_floor(children).await);
        }
        std::process::exit(0);
    });
}
