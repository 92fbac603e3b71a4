//! The entry point of an application's supervision tree: builds the root
//! supervisor inside an actix `System` or an actix-web app, and on SIGINT or
//! SIGTERM stops the whole tree within a global grace.
//!
//! Not built yet: it needs the draining `Stop` (issue 3).
