//! Nothing: this crate holds the actix-web example of `actix-supervisor`
//! (`examples/web/06_actix_web.rs` at the repository's root), its tests
//! (`tests/`), and the Criterion benchmarks (`benches/supervision.rs`), so
//! that their heavy dependencies (actix-web, awc, criterion) are built only
//! for them, not for the library's own examples and tests.
//!
//! From the repository's root:
//!
//! ```sh
//! cargo run -p actix-supervisor-extras --example 06_actix_web
//! cargo test -p actix-supervisor-extras
//! cargo bench -p actix-supervisor-extras
//! ```
