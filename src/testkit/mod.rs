//! Test helpers for code that runs under a supervision tree (feature
//! `testkit`).
