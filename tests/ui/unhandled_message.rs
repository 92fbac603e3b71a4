//! A message the child does not handle, sent through its handle: the error
//! names the missing `Handler`, not the library's internal wrapper.

use actix::prelude::*;
use actix_supervisor::prelude::*;

#[derive(Default)]
struct Reconciler;

impl Actor for Reconciler {
    type Context = Context<Self>;
}

actix_supervisor::supervised!(Reconciler);

#[derive(Message)]
#[rtype(result = "()")]
struct Resync;

fn main() {
    let spec = ChildSpec::new("reconciler", Reconciler::default);
    let reconciler = spec.handle();
    let _ = reconciler.do_send(Resync);
}
