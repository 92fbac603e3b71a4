//! The entry point of an application's supervision tree.
