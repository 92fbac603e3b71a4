//! Start/stop stress (reliability suite, part 3): a child spec and a
//! three-level tree, each started and stopped many times with concurrent
//! `Stop`s at random moments (seeded), always reach `Stopped`, never hang,
//! leave no actor behind, and leave memory flat.
//!
//! In `cargo test`: 1,000 cycles of each. With `RELIABILITY_LONG=1`: 10,000
//! of each. Resident memory, compared after 1,000 and after 10,000 cycles of
//! the tree, is an ignored test run on its own:
//!
//! ```sh
//! RELIABILITY_LONG=1 cargo test --release --test it reliability_start_stop:: -- --nocapture
//! cargo test --release --test it reliability_start_stop:: -- --ignored --nocapture
//! ```

use crate::common;
use crate::reliability_support;

use std::time::Duration;

use actix_supervisor::testkit::{self, StressReport};
use actix_supervisor::{
    periodic::{Periodic, Tick, TickContext},
    worker::{Work, WorkContext},
    Backoff, ChildSpec, Grace, RestartPolicy, Strategy, SupervisorActor, SupervisorBuilder,
};
use common::*;
use reliability_support::long_run;

fn cycles() -> usize {
    if long_run() {
        10_000
    } else {
        1_000
    }
}

/// Ticks forever (each tick a little simulated work).
struct Sampler;

impl Tick for Sampler {
    type Error = String;

    async fn tick(&mut self, _cx: &TickContext) -> Result<(), String> {
        tokio::time::sleep(Duration::from_micros(100)).await;
        Ok(())
    }
}

/// Loops until cancelled.
struct Poller;

impl Work for Poller {
    type Error = String;

    async fn run(&mut self, cx: WorkContext) -> Result<(), String> {
        loop {
            tokio::select! {
                () = cx.token().cancelled() => return Ok(()),
                () = tokio::time::sleep(Duration::from_millis(1)) => {}
            }
        }
    }
}

/// Three levels: a root with an actor, a periodic and a nested supervisor,
/// which has a worker and a supervisor of two actors under rest-for-one.
fn three_levels() -> SupervisorBuilder {
    let (log, _) = recorder();
    let leaves = SupervisorActor::builder("leaves")
        .strategy(Strategy::RestForOne)
        .child(probe_spec("first", log.clone()))
        .child(probe_spec("second", log.clone()).depends_on("first"));
    let middle = SupervisorActor::builder("middle")
        .child(
            ChildSpec::worker("poller", |_| Poller).grace(Grace::Duration(Duration::from_secs(1))),
        )
        .child(leaves)
        .backoff(Backoff::new(
            Duration::from_millis(1),
            Duration::from_millis(10),
        ));
    SupervisorActor::builder("app")
        .child(probe_spec("api", log))
        .child(ChildSpec::periodic(
            "sampler",
            Periodic::every(Duration::from_millis(2)),
            |_| Sampler,
        ))
        .child(middle.depends_on("api"))
}

fn check(report: &StressReport, cycles: usize) {
    assert_eq!(report.cycles, cycles, "{report:?}");
    assert!(report.stops_issued >= cycles, "{report:?}");
    assert_eq!(report.live_actors_after, 0, "{report:?}");
}

#[actix_rt::test]
async fn a_child_spec_started_and_stopped_many_times_always_stops_and_leaves_nothing() {
    tokio::time::pause();
    let before = testkit::live_actors();
    let (log, _) = recorder();
    let report =
        testkit::stress_child(|| probe_spec("probe", log.clone()).restart(RestartPolicy::Always))
            .cycles(cycles())
            .seed(1)
            .max_stops(4)
            .await;
    check(&report, cycles());
    assert_eq!(testkit::live_actors(), before);
    println!("child spec: {report:?}");
}

#[actix_rt::test]
async fn a_three_level_tree_started_and_stopped_many_times_always_stops_and_leaves_nothing() {
    tokio::time::pause();
    let before = testkit::live_actors();
    let report = testkit::stress_tree(three_levels)
        .cycles(cycles())
        .seed(2)
        .max_stops(4)
        .await;
    check(&report, cycles());
    assert_eq!(testkit::live_actors(), before);
    println!("three-level tree: {report:?}");
}

/// The process's resident memory; the test fails where it cannot be read,
/// rather than measure nothing.
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm is readable");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|pages| pages.parse().ok())
        .expect("statm's second field is the resident page count");
    pages * 4096
}

/// Long run only, alone in its process (it reads the process's memory):
/// resident memory after 10,000 cycles is within 1 MiB of what it was after
/// 1,000, so a cycle leaks less than about 100 bytes, if anything.
#[test]
#[ignore = "long run: cargo test --release --test it reliability_start_stop:: -- --ignored"]
fn memory_is_flat_over_ten_thousand_cycles() {
    testkit::run_paused(async {
        let first = testkit::stress_tree(three_levels)
            .cycles(1_000)
            .seed(3)
            .await;
        check(&first, 1_000);
        let after_1k = resident_bytes();
        let rest = testkit::stress_tree(three_levels)
            .cycles(9_000)
            .seed(4)
            .await;
        check(&rest, 9_000);
        let after_10k = resident_bytes();
        let growth = after_10k.saturating_sub(after_1k);
        println!(
            "resident memory: {} KiB after 1,000 cycles, {} KiB after 10,000 (+{} KiB)",
            after_1k / 1024,
            after_10k / 1024,
            growth / 1024
        );
        assert!(
            growth < 1024 * 1024,
            "grew {growth} bytes over 9,000 cycles"
        );
    });
}
