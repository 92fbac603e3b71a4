//! A child actor without `supervised!`: the error names the macro.

use actix::prelude::*;
use actix_supervisor::prelude::*;

#[derive(Default)]
struct Reconciler;

impl Actor for Reconciler {
    type Context = Context<Self>;
}

fn main() {
    let _spec = ChildSpec::new("reconciler", Reconciler::default);
}
