//! The restart intensity (README "Restart policies": "A restart ...
//! counts against its supervisor's intensity (default 3 restarts in 5 s);
//! past it the supervisor stops its other children and fails in turn";
//! `RestartIntensity`: "across all its children", "the sliding period"),
//! attacked with bursts of failures restarted in the same poll (commit
//! 2d43182) and the window's edges (the window's bookkeeping changed in
//! 5f8658f), under paused time.

use crate::attacks4_support::{flaky, quiet_panics, Book, How, Job, StartFails, Which};
use crate::common::{node, within};

use std::time::Duration;

use actix_supervisor::snapshot::NodeState;
use actix_supervisor::{RestartIntensity, SupervisorActor};

/// Two siblings, each failing on every message, share one intensity of 3
/// restarts in a minute: two failures of each, queued at once, give up at
/// the fourth restart whichever child asks for it; exactly 4 messages are
/// handled in all (one per incarnation) and both nodes end.
#[actix_rt::test]
async fn siblings_share_one_intensity_through_their_bursts() {
    quiet_panics();
    tokio::time::pause();
    for how in [How::Panic, How::Fail] {
        let case = format!("{how:?}");
        let (a_book, b_book) = (Book::new(), Book::new());
        let a = flaky("a", &a_book, StartFails::Never);
        let b = flaky("b", &b_book, StartFails::Never);
        let (ha, hb) = (a.handle(), b.handle());
        let app = SupervisorActor::builder("app")
            .intensity(RestartIntensity::new(3, Duration::from_secs(60)))
            .child(a)
            .child(b)
            .start()
            .unwrap();
        within(ha.started()).await.unwrap();
        within(hb.started()).await.unwrap();
        for seq in 0..2 {
            ha.do_send(Job::new(0, seq, how)).unwrap();
            hb.do_send(Job::new(1, seq, how)).unwrap();
        }
        let (ra, rb) = (within(ha.ended()).await, within(hb.ended()).await);
        let handled = a_book.count() + b_book.count();
        assert_eq!(handled, 4, "{case}: {ra} / {rb}");
        // One incarnation each at the start, plus the three restarts
        // allowed.
        assert_eq!(a_book.built() + b_book.built(), 2 + 3, "{case}");
        let tree = within(app.send(actix_supervisor::Inspect)).await.unwrap();
        assert_eq!(tree.root.state, NodeState::Failed, "{case}: {tree}");
    }
}

/// The window slides: 3 restarts allowed within 1 s. Under paused time, a
/// burst of 3 failures; then, a little less than the window later, one
/// more failure gives up; in a second tree, a little more than the window
/// later, 3 more failures are allowed again.
#[actix_rt::test]
async fn the_window_edges_decide_exactly_under_paused_time() {
    quiet_panics();
    tokio::time::pause();
    for (wait, gives_up) in [
        (Duration::from_millis(999), true),
        (Duration::from_millis(1_001), false),
    ] {
        let case = format!("after {wait:?}");
        let book = Book::new();
        let spec = flaky("job", &book, StartFails::Never);
        let handle = spec.handle();
        let app = SupervisorActor::builder("app")
            .intensity(RestartIntensity::new(3, Duration::from_secs(1)))
            .child(spec)
            .start()
            .unwrap();
        within(handle.started()).await.unwrap();
        for seq in 0..3 {
            handle.do_send(Job::new(0, seq, How::Fail)).unwrap();
        }
        assert_eq!(within(handle.send(Which)).await.unwrap(), 4, "{case}");
        tokio::time::advance(wait).await;
        let more = if gives_up { 1 } else { 3 };
        for seq in 3..3 + more {
            handle.do_send(Job::new(0, seq, How::Fail)).unwrap();
        }
        if gives_up {
            let report = within(handle.ended()).await;
            assert_eq!(book.count(), 4, "{case}: {report}");
            let job = node(&app, "/app/job").await;
            assert_eq!(
                (job.state, job.restart_count),
                (NodeState::Failed, 3),
                "{case}"
            );
        } else {
            assert_eq!(within(handle.send(Which)).await.unwrap(), 7, "{case}");
            let job = node(&app, "/app/job").await;
            assert_eq!(
                (job.state, job.restart_count),
                (NodeState::Running, 6),
                "{case}"
            );
            within(app.send(actix_supervisor::Stop)).await.unwrap();
        }
    }
}
