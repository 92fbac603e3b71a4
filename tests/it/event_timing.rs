//! Promise 11, timing: every lifecycle event carries `since_start`, the time
//! since the tree started on tokio's monotonic clock, so under paused time a
//! test can assert the gap between two events exactly (the wall-clock `at`
//! does not pause).

use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::prelude::*;
use actix_supervisor::testkit::assert_about;
use futures_util::StreamExt;

#[derive(Default)]
struct Fragile;
impl Actor for Fragile {
    type Context = Context<Self>;
}
supervised!(Fragile);

#[derive(Message)]
#[rtype(result = "()")]
struct Crash;
impl Handler<Crash> for Fragile {
    type Result = ();
    fn handle(&mut self, _: Crash, ctx: &mut Context<Self>) {
        fail(ctx, "crashed on request");
    }
}

/// Only a guard against hangs: everything awaited below has an event.
async fn within<F: std::future::Future>(fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), fut)
        .await
        .expect("timed out")
}

#[actix_rt::test]
async fn the_gap_between_restarting_and_started_is_the_backoff_delay_on_the_paused_clock() {
    tokio::time::pause();
    let spec = ChildSpec::new("fragile", Fragile::default).backoff(
        Backoff::new(Duration::from_secs(3), Duration::from_secs(60))
            .jitter(0.0)
            .seed(1),
    );
    let fragile = spec.handle();
    let app = SupervisorActor::builder("app").child(spec).start().unwrap();
    within(fragile.started()).await.unwrap();
    let mut events = within(app.send(Subscribe::all())).await.unwrap();

    // Ten minutes of virtual time pass before the crash: `since_start` counts
    // them, the wall clock does not.
    tokio::time::sleep(Duration::from_secs(600)).await;
    fragile.do_send(Crash).unwrap();

    let failed = within(events.next()).await.unwrap();
    assert!(
        matches!(failed.kind, EventKind::Failed { .. }),
        "{failed:?}"
    );
    assert!(failed.since_start >= Duration::from_secs(600), "{failed:?}");

    let restarting = within(events.next()).await.unwrap();
    let EventKind::Restarting { delay, .. } = restarting.kind else {
        panic!("expected Restarting, got {restarting:?}");
    };
    assert_eq!(delay, Duration::from_secs(3));

    let started = within(events.next()).await.unwrap();
    assert_eq!(started.kind, EventKind::Started);
    assert_about(started.since_start - restarting.since_start, delay);

    within(app.send(Stop)).await.unwrap();
}
