//! Counts the instructions one request/response costs, through a supervised
//! child and through a plain actix actor, under `valgrind --tool=callgrind`:
//! unlike wall-clock time, instruction counts do not move with the machine's
//! load.
//!
//! `BENCH_MODE` is `raw` or `supervised`; `BENCH_REQUESTS` the number of
//! requests (0 gives the baseline to subtract). `restart-error` and
//! `restart-panic` count restarts instead, each with the round trip after
//! it. The script
//! `benches/instructions.sh` runs the four combinations and prints the ratio.

use actix::prelude::*;
use actix_supervisor::prelude::*;

#[path = "../benches/common/counter.rs"]
mod counter;
use counter::{Boom, Counter, ErrorExit, Inc};

fn main() {
    let mode = std::env::var("BENCH_MODE").unwrap_or_default();
    if let Some(exit) = mode.strip_prefix("restart-") {
        return restarts(exit == "panic");
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
