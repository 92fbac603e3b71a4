//! Compiler errors a user meets, pinned: each `tests/ui/*.rs` must fail to
//! compile with exactly the message in the `.stderr` beside it.
//!
//! trybuild checks these files in a project of its own, under
//! `target/tests/trybuild`; the first run builds the dependencies there
//! (in check mode), later runs reuse them. To accept a changed message after
//! reading it: `TRYBUILD=overwrite cargo test --test compile_errors`.

//!
//! That project checks every dev-dependency again (minutes on a cold
//! target), so the test is ignored in a plain `cargo test`; CI runs it with
//! `cargo test --test compile_errors -- --ignored`.

#[test]
#[ignore = "builds every dev-dependency again in a project of its own; CI runs it with --ignored"]
fn forgetting_supervised_names_the_macro() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/missing_supervised.rs");
}

#[test]
#[ignore = "builds every dev-dependency again in a project of its own; CI runs it with --ignored"]
fn a_message_the_child_does_not_handle_names_the_missing_handler() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/unhandled_message.rs");
}
