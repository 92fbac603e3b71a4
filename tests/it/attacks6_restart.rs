//! Sixth outside attack, on where a restart's drain ends: requests sent
//! after `RestartChild` (or a strategy restart) began draining a plain
//! actor whose mailbox was held (`ctx.wait`) at that moment.
//!
//! The promise attacked (`RestartChild` docs "drains its current
//! incarnation to the end of its mailbox as it is now, then starts a fresh
//! one; messages sent meanwhile wait for it"; `docs/lifecycle.md` "The
//! marker is queued when the request arrives, so the drain ends where the
//! request was made: later messages wait for the fresh incarnation").

use actix_supervisor::{
    snapshot::NodeState, testkit, RestartChild, Stop, Strategy, SupervisorActor,
};

use crate::attacks4_support::quiet_panics;
use crate::common::{probe_spec, recorder, tally_spec, unlimited, within, Bump, Gate, Hold, Panic};

/// Promise (above): a plain actor holding its mailbox (a `Hold` under
/// `ctx.wait`) when a restart is asked for (by `RestartChild`, or by a
/// sibling's panic under one-for-all) handles the requests sent before in
/// its old incarnation (counts 1 to 4) and those sent once the node shows
/// `Stopping` for the restart in the fresh one (its count starts again at
/// 1).
#[actix_rt::test]
async fn requests_sent_after_a_restart_began_behind_a_held_mailbox_go_to_the_fresh_incarnation() {
    quiet_panics();
    for by_request in [false, true] {
        let case = if by_request {
            "RestartChild"
        } else {
            "one-for-all"
        };
        let (log, _records) = recorder();
        let spec = tally_spec("tally", log);
        let tally = spec.handle();
        let (probe_log, _probe_records) = recorder();
        let probe = probe_spec("probe", probe_log);
        let probe_handle = probe.handle();
        let app = SupervisorActor::builder("app")
            .strategy(Strategy::OneForAll)
            .intensity(unlimited())
            .child(spec)
            .child(probe)
            .start()
            .unwrap();
        within(tally.started()).await.unwrap();
        within(probe_handle.started()).await.unwrap();

        let gate = Gate::new();
        tally.do_send(Hold(1, gate.clone())).unwrap();
        let before: Vec<_> = (0..4).map(|_| actix_rt::spawn(tally.send(Bump))).collect();
        let restart = if by_request {
            Some(actix_rt::spawn(app.send(RestartChild::new("tally"))))
        } else {
            let _ = probe_handle.send(Panic("sibling")).await;
            None
        };
        testkit::wait_for_node(&app, "/app/tally", |n| n.state == NodeState::Stopping)
            .describe("the restart's drain began")
            .await;
        let after: Vec<_> = (0..4).map(|_| actix_rt::spawn(tally.send(Bump))).collect();
        gate.open();
        if let Some(restart) = restart {
            within(restart).await.unwrap().unwrap().unwrap();
        }

        let mut counts = Vec::new();
        for send in before.into_iter().chain(after) {
            counts.push(within(send).await.unwrap().unwrap());
        }
        assert_eq!(
            counts,
            [1, 2, 3, 4, 1, 2, 3, 4],
            "{case}: the counts each request saw (a fresh incarnation counts from 1)"
        );
        within(app.send(Stop)).await.unwrap();
    }
}
