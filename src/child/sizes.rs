//! Size bounds on the blocks every supervised child keeps for its whole
//! life: its link (in an `Rc`) and its shared state (in an `Arc`). Each
//! byte is paid once per child, and a block that grows past a step of
//! glibc's size classes (16 bytes) costs the whole step: these bounds hold
//! the sizes measured by issue 17's spawn work (`docs/profiles/spawn.md`).
use std::mem::size_of;

use super::drain::ChildShared;
use super::link::ChildLink;

/// `ChildLink` in its `Rc` (two counts, 16 bytes) takes a block of 248
/// bytes: 8 less than before what starts a finished child again was kept
/// in a `Cell` instead of a `RefCell`.
#[test]
fn a_childs_link_takes_at_most_232_bytes() {
    let size = size_of::<ChildLink>();
    assert!(size <= 232, "ChildLink is {size} bytes, more than 232");
}

/// `ChildShared` in its `Arc` takes a block of 200 bytes.
#[test]
fn a_childs_shared_state_takes_at_most_184_bytes() {
    let size = size_of::<ChildShared>();
    assert!(size <= 184, "ChildShared is {size} bytes, more than 184");
}
