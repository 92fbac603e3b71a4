//! Promise 9: children start in dependency order and stop in reverse; a child
//! stops only after every sibling that depends on it has stopped; siblings
//! that do not depend on each other stop in parallel; without declared
//! dependencies, every child is told at once, the last started first.

use crate::common;

use actix::prelude::*;
use actix_supervisor::{ChildHandle, ChildSpec, Inspect, Stop, StopOutcome, SupervisorActor};
use common::*;

/// Delivers completion events to its subscriber.
struct FanOut {
    subscriber: Recorder<u64>,
    order: Recorder<&'static str>,
}

impl Actor for FanOut {
    type Context = Context<Self>;
    fn started(&mut self, _: &mut Context<Self>) {
        self.order.record("fanout started");
    }
    fn stopped(&mut self, _: &mut Context<Self>) {
        self.order.record("fanout stopped");
    }
}
actix_supervisor::supervised!(FanOut);

#[derive(Message)]
#[rtype(result = "()")]
struct Deliver(u64);

impl Handler<Deliver> for FanOut {
    type Result = ();
    fn handle(&mut self, msg: Deliver, _: &mut Context<Self>) {
        self.subscriber.record(msg.0);
    }
}

/// Records finished jobs and forwards each as an event to the fan-out.
struct Completer {
    fanout: ChildHandle<FanOut>,
    lost: Recorder<u64>,
    order: Recorder<&'static str>,
}

impl Actor for Completer {
    type Context = Context<Self>;
    fn started(&mut self, _: &mut Context<Self>) {
        self.order.record("completer started");
    }
    fn stopped(&mut self, _: &mut Context<Self>) {
        self.order.record("completer stopped");
    }
}
actix_supervisor::supervised!(Completer);

#[derive(Message)]
#[rtype(result = "()")]
struct Complete(u64);

impl Handler<Complete> for Completer {
    type Result = ();
    fn handle(&mut self, msg: Complete, _: &mut Context<Self>) {
        if let Err(err) = self.fanout.do_send(Deliver(msg.0)) {
            self.lost
                .record(err.into_message().map_or(u64::MAX, |d| d.0));
        }
    }
}

/// Runs jobs and reports each finished one to the completer.
struct Producer {
    completer: ChildHandle<Completer>,
    lost: Recorder<u64>,
    order: Recorder<&'static str>,
}

impl Actor for Producer {
    type Context = Context<Self>;
    fn started(&mut self, _: &mut Context<Self>) {
        self.order.record("producer started");
    }
    fn stopped(&mut self, _: &mut Context<Self>) {
        self.order.record("producer stopped");
    }
}
actix_supervisor::supervised!(Producer);

#[derive(Message)]
#[rtype(result = "()")]
struct Produce(u64);

impl Handler<Produce> for Producer {
    type Result = ();
    fn handle(&mut self, msg: Produce, _: &mut Context<Self>) {
        if let Err(err) = self.completer.do_send(Complete(msg.0)) {
            self.lost
                .record(err.into_message().map_or(u64::MAX, |c| c.0));
        }
    }
}

/// Pauses the producer (with `ctx.wait`) until the gate opens.
#[derive(Message)]
#[rtype(result = "()")]
struct Pause(Gate);

impl Handler<Pause> for Producer {
    type Result = ();
    fn handle(&mut self, msg: Pause, ctx: &mut Context<Self>) {
        ctx.wait(actix::fut::wrap_future::<_, Self>(msg.0.passed()));
    }
}

#[actix_rt::test]
async fn a_producer_completer_fanout_chain_loses_nothing_on_stop() {
    let (subscriber, mut delivered) = recorder();
    let (lost, mut lost_items) = recorder();
    let (order, mut order_events) = recorder();

    let (s, o) = (subscriber.clone(), order.clone());
    let fanout = ChildSpec::new("fanout", move || FanOut {
        subscriber: s.clone(),
        order: o.clone(),
    });
    let (f, l, o) = (fanout.handle(), lost.clone(), order.clone());
    let completer = ChildSpec::new("completer", move || Completer {
        fanout: f.clone(),
        lost: l.clone(),
        order: o.clone(),
    })
    .depends_on("fanout");
    let (c, l, o) = (completer.handle(), lost.clone(), order.clone());
    let producer = ChildSpec::new("producer", move || Producer {
        completer: c.clone(),
        lost: l.clone(),
        order: o.clone(),
    })
    .depends_on("completer");
    let producer_handle = producer.handle();
    // Declared in the worst order: dependencies decide.
    let app = SupervisorActor::builder("client")
        .child(producer)
        .child(completer)
        .child(fanout)
        .start()
        .unwrap();

    let gate = Gate::new();
    within(producer_handle.send(Pause(gate.clone())))
        .await
        .unwrap();
    for job in 0..1000 {
        producer_handle.do_send(Produce(job)).unwrap();
    }
    let stopping = app.send(Stop);
    within(app.send(Inspect)).await.unwrap();
    assert!(!producer_handle.is_accepting(), "the producer stops first");
    gate.open();
    let report = within(stopping).await.unwrap();

    assert!(report.is_drained(), "{report}");
    assert_eq!(report.find("/client/producer").unwrap().drained, 1000);
    let mut items = delivered.drain();
    items.sort_unstable();
    assert_eq!(
        items,
        (0..1000).collect::<Vec<_>>(),
        "every job reached the subscriber"
    );
    assert_eq!(lost_items.drain(), Vec::<u64>::new());
    assert_eq!(
        order_events.drain(),
        [
            "fanout started",
            "completer started",
            "producer started",
            "producer stopped",
            "completer stopped",
            "fanout stopped",
        ]
    );
    let names: Vec<String> = report
        .children
        .iter()
        .map(|r| r.path.name().to_string())
        .collect();
    assert_eq!(
        names,
        ["fanout", "completer", "producer"],
        "reports in start order"
    );
}

#[actix_rt::test]
async fn independent_siblings_stop_in_parallel_and_before_what_they_depend_on() {
    let (log, _events) = recorder();
    let base = tally_spec("base", log.clone());
    let left = tally_spec("left", log.clone()).depends_on("base");
    let right = tally_spec("right", log).depends_on("base");
    let (base_handle, left_handle, right_handle) = (base.handle(), left.handle(), right.handle());
    let app = SupervisorActor::builder("app")
        .child(base)
        .child(left)
        .child(right)
        .start()
        .unwrap();
    let (left_gate, right_gate) = (Gate::new(), Gate::new());
    within(left_handle.send(Hold(1, left_gate.clone())))
        .await
        .unwrap();
    within(right_handle.send(Hold(2, right_gate.clone())))
        .await
        .unwrap();

    let stopping = app.send(Stop);
    within(app.send(Inspect)).await.unwrap();
    assert!(!left_handle.is_accepting() && !right_handle.is_accepting());
    assert!(base_handle.is_accepting(), "base waits for both dependents");

    // The earlier-started sibling finishes its stop while the later one is
    // still held: in reverse start order it could not even have begun.
    left_gate.open();
    let left_report = within(left_handle.stop()).await;
    assert_eq!(left_report.outcome, StopOutcome::Drained);
    assert!(!right_handle.is_accepting() && base_handle.is_accepting());

    right_gate.open();
    let report = within(stopping).await.unwrap();
    assert!(report.is_drained(), "{report}");
}

#[actix_rt::test]
async fn without_dependencies_every_child_is_told_at_once_and_they_stop_in_parallel() {
    let (log, _events) = recorder();
    let specs: Vec<_> = (0..3)
        .map(|i| tally_spec(&format!("c{i}"), log.clone()))
        .collect();
    let handles: Vec<_> = specs.iter().map(|s| s.handle()).collect();
    let mut builder = SupervisorActor::builder("app");
    for spec in specs {
        builder = builder.child(spec);
    }
    let app = builder.start().unwrap();
    let gates: Vec<Gate> = (0..3).map(|_| Gate::new()).collect();
    for (i, (handle, gate)) in handles.iter().zip(&gates).enumerate() {
        within(handle.send(Hold(i as u32, gate.clone())))
            .await
            .unwrap();
    }

    let stopping = app.send(Stop);
    within(app.send(Inspect)).await.unwrap();
    assert!(
        handles.iter().all(|h| !h.is_accepting()),
        "all told at once"
    );
    // The first started finishes while the others still drain: in parallel.
    gates[0].open();
    assert_eq!(
        within(handles[0].stop()).await.outcome,
        StopOutcome::Drained
    );
    gates[1].open();
    gates[2].open();
    let report = within(stopping).await.unwrap();
    assert!(report.is_drained(), "{report}");
}
