//! Size bounds on the blocks every supervised child keeps for its whole
//! life: its link (in an `Rc`), its shared state (in an `Arc`) and the
//! block its spec was boxed in, which its runner keeps as its core. Each
//! byte is paid once per child, and a block that grows past a step of
//! glibc's size classes (16 bytes) costs the whole step: these bounds hold
//! the sizes measured by issue 17's spawn work (`docs/profiles/spawn.md`).
use std::mem::size_of;

use super::drain::ChildShared;
use super::link::ChildLink;
use super::runner::Block;

/// `ChildLink` in its `Rc` (two counts, 16 bytes) takes a block of 200
/// bytes (a 208-byte chunk in glibc). It was 232 (a 240-byte chunk) until
/// the restart rules kept their attempt count beside a boxed backoff and
/// jitter source (24 bytes less) and the grace was packed into 8 bytes.
///
/// Smaller is not better here: the link, the weak typed address (a 32-byte
/// chunk) and the tokio task (a 528-byte chunk aligned to 128 bytes) are
/// what a spawn takes from the heap per child, and 208 + 32 + 528 = 768 is
/// a multiple of 128, so the task cells follow each other without holes.
/// A 168-byte link (a 192-byte chunk: the restart rules and the record
/// without their `RefCell`s) was measured at 1,612 B of RSS per idle child
/// against 1,485 with this one (`bench_report --child memory ours 1`), for
/// 16 bytes less of heap.
#[test]
fn a_childs_link_takes_at_most_184_bytes() {
    let size = size_of::<ChildLink>();
    assert!(size <= 184, "ChildLink is {size} bytes, more than 184");
}

/// `ChildShared` in its `Arc` takes a block of 184 bytes (a 192-byte
/// chunk): 16 less than when its report and its successor were each kept in
/// a `OnceLock` of a box instead of a `OnceBox`.
#[test]
fn a_childs_shared_state_takes_at_most_168_bytes() {
    let size = size_of::<ChildShared>();
    assert!(size <= 168, "ChildShared is {size} bytes, more than 168");
}

/// An actor of 32 bytes of state, like one holding a few handles.
struct Holder {
    _state: [u64; 4],
}
impl actix::Actor for Holder {
    type Context = actix::Context<Self>;
}

/// A spec's block, kept by its runner as its core, takes 104 bytes: a
/// 112-byte chunk in glibc, the most a block of that chunk holds (a chunk
/// is the request plus an 8-byte header, rounded up to 16). A spec's fields
/// (88 bytes) and the runner's core (with the stop clock's box, 104) share
/// it, so the runner allocates no core of its own.
#[test]
fn a_childs_spec_block_takes_at_most_104_bytes() {
    let size = size_of::<Block<Holder>>();
    assert!(size <= 104, "a spec's block is {size} bytes, more than 104");
}
