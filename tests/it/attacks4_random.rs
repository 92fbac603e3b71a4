//! Random interleavings, from fixed seeds, of what a user does to a child
//! that restarts in the same poll (commit 2d43182): messages that run,
//! panic, fail or stop it normally, sent with `do_send` and with `send`
//! (some requests dropped before their answer), yields of a few turns,
//! `RestartChild`, `Inspect`; then a stop through the handle, the
//! supervisor's `StopChild` or its `Stop`.
//!
//! After each sequence: the stop answered; every message accepted is
//! handled exactly once or counted cancelled or undelivered in the report
//! (`accepted = handled + cancelled + undelivered`); the `do_send`
//! messages were handled in the order sent; the snapshot's incarnation is
//! the factory's count. A failure names its seed and the sequence.

use crate::attacks4_support::{flaky, quiet_panics, start_alone, Book, How, Job, StartFails};
use crate::common::within;

use futures_util::FutureExt;

use actix_supervisor::{Inspect, RestartChild, RestartPolicy, Stop, StopChild};

/// A small, fixed pseudo-random sequence (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    DoSend(How),
    Send(How, bool),
    Yield(u32),
    RestartChild,
    Inspect,
}

fn how(rng: &mut Rng) -> How {
    match rng.below(8) {
        0..=2 => How::Run,
        3 | 4 => How::Fail,
        5 | 6 => How::Panic,
        _ => How::StopNormally,
    }
}

fn op(rng: &mut Rng) -> Op {
    match rng.below(20) {
        0..=9 => Op::DoSend(how(rng)),
        10..=13 => Op::Send(how(rng), rng.below(3) == 0),
        14..=17 => Op::Yield(rng.below(4) as u32 + 1),
        18 => Op::RestartChild,
        _ => Op::Inspect,
    }
}

#[actix_rt::test]
async fn random_sequences_of_failures_and_control_account_for_every_message() {
    quiet_panics();
    let only: Option<u64> = std::env::var("ATTACK4_SEED")
        .ok()
        .map(|s| s.parse().unwrap());
    for seed in 0..150u64 {
        if only.is_some_and(|o| o != seed) {
            continue;
        }
        let mut rng = Rng(seed);
        let policy = match rng.below(2) {
            0 => RestartPolicy::Always,
            _ => RestartPolicy::OnFailure,
        };
        let start_fails = match rng.below(3) {
            0 => StartFails::EveryOther(How::Fail),
            1 => StartFails::EveryOther(How::Panic),
            _ => StartFails::Never,
        };
        let ops: Vec<Op> = (0..40).map(|_| op(&mut rng)).collect();
        let stopper = rng.below(3);
        let case = format!("seed {seed}: {policy:?} {start_fails:?} stop {stopper} {ops:?}");

        let book = Book::new();
        let spec = flaky("job", &book, start_fails).restart(policy);
        let (app, handle) = start_alone(spec).await;
        let mut accepted = 0u64;
        let mut in_order = Vec::new();
        let mut requests = Vec::new();
        let mut left_before = 0u64;
        let mut counted = false;
        for (seq, op) in (0u32..).zip(&ops) {
            match *op {
                Op::DoSend(how) => {
                    if handle.do_send(Job::new(0, seq, how)).is_ok() {
                        accepted += 1;
                        in_order.push((0, seq));
                    }
                }
                Op::Send(how, drop_it) => {
                    // Accepted unless the child is gone: a refusal answers
                    // at once with the message.
                    let was_accepting = handle.is_accepting();
                    let request = handle.send(Job::new(1, seq, how));
                    if was_accepting {
                        accepted += 1;
                    }
                    if drop_it {
                        drop(request);
                    } else {
                        requests.push(request);
                    }
                }
                Op::Yield(n) => {
                    for _ in 0..n {
                        tokio::task::yield_now().await;
                    }
                }
                Op::RestartChild => {
                    // A child that ended (a normal stop under `OnFailure`)
                    // is started again as a new run: the report of the run
                    // that ended accounts for what it left.
                    // It may end while the request is on its way: `ended()`
                    // asked before answers the run it was asked in (one
                    // that ended before: its report, counted once). An `Ok`
                    // does not always mean a new run: see
                    // `attacks4_restart_child`.
                    let this_run = handle.ended();
                    let _ = within(app.send(RestartChild::new("job"))).await.unwrap();
                    if let Some(ended) = this_run.now_or_never() {
                        if !counted {
                            left_before += ended.cancelled + ended.undelivered;
                        }
                        // Still the run that ended, or a new one?
                        counted = handle.ended().now_or_never().is_some();
                    }
                }
                Op::Inspect => {
                    let tree = within(app.send(Inspect)).await.unwrap();
                    assert!(tree.find("/app/job").is_some(), "{case}");
                }
            }
        }
        let report = match stopper {
            0 => within(handle.stop()).await,
            1 => match within(app.send(StopChild::new("job"))).await.unwrap() {
                Ok(report) => report,
                // It ended on its own (a normal stop under `OnFailure`).
                Err(_) => within(handle.ended()).await,
            },
            _ => {
                let report = within(app.send(Stop)).await.unwrap();
                report.find("/app/job").unwrap().clone()
            }
        };
        for request in requests {
            let _ = within(request).await;
        }
        let handled = book.count() as u64;
        if only.is_some() {
            eprintln!(
                "handled {:?}\naccepted plain {in_order:?}\nreport {report:?}",
                book.handled()
            );
        }
        assert_eq!(
            accepted,
            handled
                + left_before
                + if counted {
                    0
                } else {
                    report.cancelled + report.undelivered
                },
            "{case}: handled {handled}: {report}"
        );
        // The do_send messages, in the order sent (some may be left
        // undelivered by a run that ended).
        let handled_plain: Vec<u32> = book
            .handled()
            .iter()
            .filter(|s| s.sender == 0)
            .map(|s| s.seq)
            .collect();
        assert!(
            handled_plain.windows(2).all(|w| w[0] < w[1]),
            "{case}: do_send messages out of order: {handled_plain:?}"
        );
        if left_before == 0 && report.undelivered == 0 && report.cancelled == 0 {
            let sent: Vec<u32> = in_order.iter().map(|&(_, s)| s).collect();
            assert_eq!(handled_plain, sent, "{case}: do_send messages lost");
        }
        let mut all: Vec<(u32, u32)> = book.handled().iter().map(|s| (s.sender, s.seq)).collect();
        all.sort_unstable();
        let before = all.len();
        all.dedup();
        assert_eq!(before, all.len(), "{case}: a message handled twice");
        let _ = within(app.send(Stop)).await;
    }
}
