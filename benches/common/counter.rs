//! The actor every benchmark measures: a counter, supervised or not, with
//! messages for request/response, fire-and-forget, error exits and panics.
//! Included by `benches/supervision.rs` and the `bench_*` examples.
#![allow(dead_code)]

use actix::prelude::*;

#[derive(Default)]
pub struct Counter(pub u64);

impl Actor for Counter {
    type Context = Context<Self>;
}
actix_supervisor::supervised!(Counter);

/// Adds one; answers the count.
#[derive(Message)]
#[rtype(result = "u64")]
pub struct Inc;

impl Handler<Inc> for Counter {
    type Result = u64;
    fn handle(&mut self, _: Inc, _: &mut Context<Self>) -> u64 {
        self.0 += 1;
        self.0
    }
}

/// Adds one; no answer.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Bump;

impl Handler<Bump> for Counter {
    type Result = ();
    fn handle(&mut self, _: Bump, _: &mut Context<Self>) {
        self.0 += 1;
    }
}

/// Ends the incarnation with an error exit.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ErrorExit;

impl Handler<ErrorExit> for Counter {
    type Result = ();
    fn handle(&mut self, _: ErrorExit, ctx: &mut Context<Self>) {
        actix_supervisor::fail(ctx, "error exit");
    }
}

/// Panics.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Boom;

impl Handler<Boom> for Counter {
    type Result = ();
    fn handle(&mut self, _: Boom, _: &mut Context<Self>) {
        panic!("boom");
    }
}
