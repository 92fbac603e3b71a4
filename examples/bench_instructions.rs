//! Counts the instructions one request/response costs, through a supervised
//! child and through a plain actix actor, under `valgrind --tool=callgrind`:
//! unlike wall-clock time, instruction counts do not move with the machine's
//! load.
//!
//! `BENCH_MODE` is `raw` or `supervised`; `BENCH_REQUESTS` the number of
//! requests (0 gives the baseline to subtract). The script
//! `benches/instructions.sh` runs the four combinations and prints the ratio.

use actix::prelude::*;
use actix_supervisor::prelude::*;

#[path = "../benches/common/counter.rs"]
mod counter;
use counter::{Counter, Inc};

fn main() {
    let supervised = std::env::var("BENCH_MODE").as_deref() == Ok("supervised");
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
