//! Promise 17 (the part checked when a tree is built): bad input is refused
//! before anything starts, with an error that names the node and the field.

use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::{Backoff, BuildError, ChildSpec, Grace, SupervisorActor};

#[derive(Default)]
struct Idle;

impl Actor for Idle {
    type Context = Context<Self>;
}

actix_supervisor::supervised!(Idle);

fn idle(name: &str) -> ChildSpec<Idle> {
    ChildSpec::new(name, Idle::default)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Building fails before anything needs a running system.
fn refused(builder: actix_supervisor::SupervisorBuilder) -> BuildError {
    builder.start().expect_err("the tree should be refused")
}

#[test]
fn every_invalid_field_is_refused_naming_the_node_and_the_field() {
    let cases: Vec<(ChildSpec<Idle>, &str)> = vec![
        (
            idle("c").backoff(Backoff::new(ms(0), ms(10))),
            "backoff.initial",
        ),
        (
            idle("c").backoff(Backoff::new(ms(20), ms(10))),
            "backoff.max",
        ),
        (
            idle("c").backoff(Backoff::new(ms(1), ms(10)).multiplier(0.9)),
            "backoff.multiplier",
        ),
        (
            idle("c").backoff(Backoff::new(ms(1), ms(10)).multiplier(f64::INFINITY)),
            "backoff.multiplier",
        ),
        (
            idle("c").backoff(Backoff::new(ms(1), ms(10)).jitter(1.01)),
            "backoff.jitter",
        ),
        (
            idle("c").backoff(Backoff::new(ms(1), ms(10)).jitter(-0.5)),
            "backoff.jitter",
        ),
        (
            idle("c").backoff(Backoff::new(ms(1), ms(10)).stable_after(ms(0))),
            "backoff.stable_after",
        ),
        (idle("c").grace(Grace::Duration(Duration::ZERO)), "grace"),
        (idle("c").depends_on("missing"), "depends_on"),
        (idle("c").depends_on("c"), "depends_on"),
    ];
    for (spec, field) in cases {
        let shown = format!("{spec:?}");
        let err = refused(
            SupervisorActor::builder("app")
                .child(idle("ok"))
                .child(spec),
        );
        match &err {
            BuildError::InvalidField { path, field: f, .. } => {
                assert_eq!((path.as_str(), *f), ("/app/c", field), "{shown}");
            }
            other => panic!("{shown}: expected an invalid field, got {other:?}"),
        }
        let message = err.to_string();
        assert!(message.starts_with("/app/c: invalid `"), "{message}");
        assert!(message.contains(field), "{message}");
    }
}

#[test]
fn an_empty_name_is_refused() {
    let err = refused(SupervisorActor::builder("app").child(idle("")));
    assert!(
        matches!(&err, BuildError::InvalidName { name, .. } if name.is_empty()),
        "{err:?}"
    );
    assert_eq!(err.path().as_str(), "/app");
    assert!(err.to_string().contains("empty"), "{err}");
}

#[test]
fn a_name_with_a_slash_is_refused() {
    let err = refused(SupervisorActor::builder("app").child(idle("a/b")));
    assert!(
        matches!(&err, BuildError::InvalidName { name, .. } if name == "a/b"),
        "{err:?}"
    );
    assert!(err.to_string().contains("`/`"), "{err}");
}

#[test]
fn a_duplicate_name_is_refused() {
    let err = refused(
        SupervisorActor::builder("app")
            .child(idle("poller"))
            .child(idle("poller")),
    );
    assert_eq!(
        err,
        BuildError::DuplicateName {
            parent: actix_supervisor::path::NodePath::root("app"),
            name: "poller".into()
        }
    );
    assert_eq!(err.to_string(), "/app: duplicate child name \"poller\"");
}

#[test]
fn an_invalid_supervisor_name_is_refused() {
    for name in ["", "a/b"] {
        let err = refused(SupervisorActor::builder(name));
        assert!(
            matches!(&err, BuildError::InvalidField { field: "name", .. }),
            "{name:?}: {err:?}"
        );
    }
}

#[test]
fn a_valid_tree_builds() {
    actix::System::new().block_on(async {
        let spec = idle("c")
            .backoff(Backoff::new(ms(1), ms(1)).jitter(1.0).multiplier(1.0))
            .depends_on("ok");
        SupervisorActor::builder("app")
            .child(idle("ok"))
            .child(spec)
            .start()
            .expect("a valid tree starts");
    });
}

#[test]
fn a_dependency_cycle_is_refused_with_the_names_involved() {
    let err = refused(
        SupervisorActor::builder("app")
            .child(idle("free"))
            .child(idle("a").depends_on("b"))
            .child(idle("b").depends_on("c"))
            .child(idle("c").depends_on("a")),
    );
    assert_eq!(
        err,
        BuildError::DependencyCycle {
            parent: actix_supervisor::path::NodePath::root("app"),
            cycle: vec!["a".into(), "b".into(), "c".into(), "a".into()],
        }
    );
    assert_eq!(err.to_string(), "/app: dependency cycle: a -> b -> c -> a");
}

#[test]
fn a_zero_supervisor_grace_is_refused() {
    let err = refused(SupervisorActor::builder("app").grace(Grace::Duration(Duration::ZERO)));
    assert!(
        matches!(&err, BuildError::InvalidField { field: "grace", path, .. } if path.as_str() == "/app"),
        "{err:?}"
    );
}

#[test]
fn an_intensity_without_a_period_is_refused() {
    let err = refused(
        SupervisorActor::builder("app")
            .intensity(actix_supervisor::RestartIntensity::new(0, Duration::ZERO)),
    );
    assert!(
        matches!(&err, BuildError::InvalidField { field: "intensity.within", path, .. } if path.as_str() == "/app"),
        "{err:?}"
    );
}

/// A chain of `depth` nested supervisors with an idle child at the bottom.
fn nested(depth: usize) -> actix_supervisor::SupervisorBuilder {
    let mut tree = SupervisorActor::builder(format!("level{depth}")).child(idle("leaf"));
    for level in (0..depth).rev() {
        tree = SupervisorActor::builder(format!("level{level}")).child(tree);
    }
    tree
}

// Defect 9 (issue 13): a very deep tree aborted the process with a stack
// overflow (about 900 levels in a debug test thread): validation recursed.
// Run on a thread with the default 2 MiB test stack, so an overflow shows
// as a crash of this test binary.
#[test]
fn a_tree_of_any_depth_is_built_or_refused_never_aborts() {
    let outcome = deep_tree_outcome(2_000);
    assert!(
        outcome.starts_with("refused") || outcome.starts_with("built"),
        "{outcome}"
    );
}

/// The deepest tree allowed is built, inspected, printed and stopped on a
/// thread with the default stack; one level more is refused with a typed
/// error naming the first supervisor past the limit.
#[test]
fn the_deepest_tree_allowed_runs_and_one_level_more_is_refused() {
    let limit = actix_supervisor::SupervisorBuilder::MAX_DEPTH;
    let outcome = deep_tree_outcome(limit);
    assert!(outcome.starts_with("built"), "{outcome}");
    match nested(limit + 1).validate() {
        Err(BuildError::TooDeep { path, limit: l }) => {
            assert_eq!(l, limit);
            assert_eq!(path.name(), format!("level{}", limit + 1));
        }
        other => panic!("expected TooDeep, got {other:?}"),
    }
}

/// Validates a tree `depth` levels deep on a thread with the default stack
/// and, if valid, starts, inspects, prints and stops it.
fn deep_tree_outcome(depth: usize) -> String {
    std::thread::spawn(move || {
        let tree = nested(depth);
        let validated = tree.validate();
        if let Err(err) = &validated {
            // Refused with a typed error: so is its start.
            let refused = refused(tree);
            return format!("refused: {err} / {refused}");
        }
        let system = actix::System::new();
        let answered = system.block_on(async move {
            let root = tree.start().expect("validate said it builds");
            // What users do with a tree: inspect it and print it.
            let snapshot = tokio::time::timeout(
                Duration::from_secs(120),
                root.send(actix_supervisor::Inspect),
            )
            .await
            .expect("the deep tree's Inspect never answered")
            .expect("the root answers");
            assert!(format!("{snapshot}").contains("leaf"));
            drop(snapshot);
            let report =
                tokio::time::timeout(Duration::from_secs(120), root.send(actix_supervisor::Stop))
                    .await
                    .expect("the deep tree's Stop never answered")
                    .expect("the root answers");
            assert!(format!("{report}").contains("leaf"));
            report.iter().count()
        });
        format!("built and stopped, {answered} reports")
    })
    .join()
    .expect("the validation thread panicked")
}
