//! Bad input, from every door: configuration text (random, and random trees
//! with bad values mixed in), extreme values given to public constructors,
//! and unknown names in control messages. Each is either accepted and then
//! runs and stops cleanly, or refused with a typed error naming the place;
//! nothing panics.
//!
//! `PROPTEST_CASES` sets the number of random cases (256 by default).

use crate::common;

use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::config::{Registry, TreeConfig};
use actix_supervisor::{
    periodic::{Periodic, Tick, TickContext},
    Backoff, ChildSpec, ConfigError, ControlError, Grace, RemoveChild, RestartChild,
    RestartIntensity, RestartPolicy, Stop, StopChild, SupervisorActor,
};
use common::*;
use proptest::prelude::*;
use serde_json::{json, Value};

struct Idle;
impl Actor for Idle {
    type Context = Context<Self>;
}
actix_supervisor::supervised!(Idle);

struct Ticker;
impl Tick for Ticker {
    type Error = String;
    async fn tick(&mut self, _cx: &TickContext) -> Result<(), String> {
        Ok(())
    }
}

fn registry() -> Registry {
    Registry::new()
        .actor("idle", |name| ChildSpec::new(name, || Idle))
        .periodic("tick", |name, schedule| {
            ChildSpec::periodic(name, schedule, |_| Ticker)
        })
}

/// One of `good`, or when `bad`, sometimes one of `wrong`.
fn pick(bad: bool, good: Vec<Value>, wrong: Vec<Value>) -> BoxedStrategy<Value> {
    let good = prop::sample::select(good);
    if bad {
        prop_oneof![3 => good, 1 => prop::sample::select(wrong)].boxed()
    } else {
        good.boxed()
    }
}

/// A duration as a file could write it.
fn duration_text(bad: bool) -> BoxedStrategy<Value> {
    pick(
        bad,
        vec![json!("1ms"), json!("250ms"), json!("30s"), json!("1h 5m")],
        vec![
            json!("0s"),
            json!("-1s"),
            json!("999999999999999999999s"),
            json!("18446744073709551615s"),
            json!(""),
            json!("soon"),
            json!(5),
            json!(-0.5),
            json!(null),
        ],
    )
}

fn grace_text(bad: bool) -> BoxedStrategy<Value> {
    prop_oneof![3 => duration_text(bad), 1 => Just(json!("infinity"))].boxed()
}

fn name_text(bad: bool) -> BoxedStrategy<Value> {
    pick(
        bad,
        vec![json!("a"), json!("b"), json!("c"), json!("d")],
        vec![json!(""), json!("x/y"), json!(7)],
    )
}

fn backoff(bad: bool) -> impl Strategy<Value = Value> {
    let multiplier = pick(
        bad,
        vec![json!(1), json!(1.5), json!(10)],
        vec![json!(0.5), json!(-1), json!("2")],
    );
    let jitter = pick(
        bad,
        vec![json!(0), json!(0.1), json!(1)],
        vec![json!(1.5), json!(-0.1)],
    );
    // `max` at least `initial` when good: both from the same ascending list.
    (
        0usize..3,
        0usize..3,
        multiplier,
        jitter,
        duration_text(bad),
        any::<bool>(),
    )
        .prop_map(move |(a, b, multiplier, jitter, wrong, use_wrong)| {
            let ladder = ["1ms", "250ms", "30s"];
            let (initial, max) = (ladder[a.min(b)], ladder[a.max(b)]);
            let initial = if bad && use_wrong {
                wrong
            } else {
                json!(initial)
            };
            json!({"initial": initial, "max": max, "multiplier": multiplier, "jitter": jitter})
        })
}

/// Fields any node may have, each present or not.
fn common_fields(bad: bool) -> impl Strategy<Value = Vec<(&'static str, Value)>> {
    let restart = pick(
        bad,
        vec![json!("never"), json!("on_failure"), json!("always")],
        vec![json!("sometimes")],
    );
    (
        prop::option::of(restart),
        prop::option::of(grace_text(bad)),
        prop::option::weighted(0.3, backoff(bad)),
        prop::collection::vec(name_text(bad), 0..3),
    )
        .prop_map(|(restart, grace, backoff, depends_on)| {
            let mut fields = Vec::new();
            if let Some(restart) = restart {
                fields.push(("restart", restart));
            }
            if let Some(grace) = grace {
                fields.push(("grace", grace));
            }
            if let Some(backoff) = backoff {
                fields.push(("backoff", backoff));
            }
            if !depends_on.is_empty() {
                fields.push(("depends_on", Value::Array(depends_on)));
            }
            fields
        })
}

fn leaf(bad: bool) -> impl Strategy<Value = Value> {
    let limit = pick(bad, vec![json!(1), json!(3)], vec![json!(0), json!(-2)]);
    let schedule = (
        duration_text(bad),
        prop::option::of(duration_text(bad)),
        prop::option::of(limit),
    )
        .prop_map(|(interval, timeout, limit)| {
            let mut schedule = json!({"interval": interval});
            if let Some(timeout) = timeout {
                schedule["tick_timeout"] = timeout;
            }
            if let Some(limit) = limit {
                schedule["failure_limit"] = limit;
            }
            schedule
        });
    let factory = pick(
        bad,
        vec![json!("idle"), json!("tick")],
        vec![json!("missing")],
    );
    (
        name_text(bad),
        factory,
        schedule,
        any::<bool>(),
        common_fields(bad),
        prop::option::weighted(0.1, Just(json!("one_for_all"))),
    )
        .prop_map(move |(name, factory, schedule, flip, fields, strategy)| {
            let mut node = json!({"name": name, "factory": factory});
            // A tick factory needs a schedule and an actor must not have one;
            // a bad tree sometimes gets it wrong.
            if (factory == "tick") != (bad && flip) {
                node["periodic"] = schedule;
            }
            if let Some(strategy) = strategy.filter(|_| bad) {
                node["strategy"] = strategy;
            }
            for (key, value) in fields {
                node[key] = value;
            }
            node
        })
}

/// A random tree of up to three levels, as JSON: with `bad`, some values or
/// names are wrong; without, every one is usable.
fn tree_of(bad: bool) -> impl Strategy<Value = Value> {
    let node = leaf(bad).prop_recursive(2, 12, 4, move |inner| {
        let strategy = pick(
            bad,
            vec![
                json!("one_for_one"),
                json!("one_for_all"),
                json!("rest_for_one"),
            ],
            vec![json!("one_for_some")],
        );
        let restarts = pick(bad, vec![json!(0), json!(3)], vec![json!(-1), json!(1.5)]);
        (
            name_text(bad),
            prop::collection::vec(inner, 0..4),
            common_fields(bad),
            prop::option::of(strategy),
            prop::option::weighted(0.3, (restarts, duration_text(bad))),
        )
            .prop_map(|(name, children, fields, strategy, intensity)| {
                let mut node = json!({"name": name, "children": children});
                for (key, value) in fields {
                    node[key] = value;
                }
                if let Some(strategy) = strategy {
                    node["strategy"] = strategy;
                }
                if let Some((max_restarts, within)) = intensity {
                    node["intensity"] = json!({"max_restarts": max_restarts, "within": within});
                }
                node
            })
    });
    (node, name_text(bad)).prop_map(move |(mut root, name)| {
        if root.get("children").is_none() {
            root = json!({"children": [root]});
        }
        root["name"] = name;
        for key in ["restart", "backoff", "depends_on"] {
            if let Some(fields) = root.as_object_mut() {
                fields.remove(key);
            }
        }
        if !bad {
            make_names_usable(&mut root);
        }
        root
    })
}

/// Gives siblings distinct names and keeps only dependencies on earlier
/// siblings, so a tree without bad values is valid.
fn make_names_usable(node: &mut Value) {
    let Some(children) = node.get_mut("children").and_then(Value::as_array_mut) else {
        return;
    };
    for (index, child) in children.iter_mut().enumerate() {
        child["name"] = json!(format!("n{index}"));
        if let Some(depends_on) = child.get_mut("depends_on") {
            let earlier: Vec<Value> = (0..index).map(|i| json!(format!("n{i}"))).collect();
            let kept = depends_on
                .as_array()
                .map(|names| {
                    names
                        .iter()
                        .filter(|n| earlier.contains(n))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            *depends_on = Value::Array(kept);
        }
        make_names_usable(child);
    }
}

/// Random trees, half of them with bad values mixed in.
fn tree() -> impl Strategy<Value = Value> {
    prop_oneof![tree_of(false), tree_of(true)]
}

fn count_nodes(node: &Value) -> usize {
    1 + node
        .get("children")
        .and_then(Value::as_array)
        .map_or(0, |children| children.iter().map(count_nodes).sum())
}

/// Builds, starts and stops `config` in its own actix system; true when it
/// was accepted.
fn run_or_refuse(text: &str, nodes: usize) -> Result<bool, TestCaseError> {
    let config = match TreeConfig::from_json_str(text) {
        Ok(config) => config,
        Err(error) => return check_refusal(&error).map(|()| false),
    };
    let validated = config.validate();
    let mut registry = registry();
    let built = match config.build(&mut registry) {
        Ok(builder) => builder,
        Err(error) => return check_refusal(&error).map(|()| false),
    };
    prop_assert!(validated.is_ok(), "validate refused what build accepted");
    actix::System::new().block_on(async move {
        tokio::time::pause();
        let app = built.start().expect("a built tree starts");
        let tree = within(app.send(actix_supervisor::Inspect)).await.unwrap();
        prop_assert_eq!(tree.nodes().count(), nodes);
        let report = within(app.send(Stop)).await.unwrap();
        prop_assert!(report.is_drained(), "{}", report);
        Ok(true)
    })
}

fn check_refusal(error: &ConfigError) -> Result<(), TestCaseError> {
    let message = error.to_string();
    match error {
        ConfigError::InvalidField { node, field, .. } => {
            prop_assert!(node.starts_with('/'), "{}", message);
            prop_assert!(!field.is_empty(), "{}", message);
            prop_assert!(message.contains(node.as_str()) && message.contains(field.as_str()));
        }
        ConfigError::Syntax { .. } => {}
        other => prop_assert!(false, "unexpected {:?}", other),
    }
    Ok(())
}

proptest! {
    #[test]
    fn random_text_is_refused_without_a_panic(text in "\\PC{0,200}") {
        for read in [TreeConfig::from_toml_str(&text), TreeConfig::from_json_str(&text)] {
            if let Err(error) = read.and_then(|config| config.validate()) {
                check_refusal(&error)?;
            }
        }
    }

    #[test]
    fn a_valid_file_cut_or_spliced_anywhere_is_refused_without_a_panic(
        cut in 0usize..400,
        splice in "[\\[\\]{}=\",a-z0-9 \n]{0,8}",
    ) {
        let valid = "name = \"app\"\ngrace = \"1s\"\n[[children]]\nname = \"a\"\nfactory = \"idle\"\nbackoff = { initial = \"1ms\", max = \"1s\" }\n[[children]]\nname = \"t\"\nstrategy = \"rest_for_one\"\n[[children.children]]\nname = \"s\"\nfactory = \"tick\"\nperiodic = { interval = \"5ms\" }\n";
        let cut = valid.char_indices().map(|(i, _)| i).nth(cut % valid.len()).unwrap_or(0);
        let text = format!("{}{}{}", &valid[..cut], splice, &valid[cut..]);
        if let Err(error) = TreeConfig::from_toml_str(&text).and_then(|config| config.validate()) {
            check_refusal(&error)?;
        }
    }

    #[test]
    fn a_random_tree_either_runs_and_stops_cleanly_or_is_refused_naming_the_place(tree in tree()) {
        let nodes = count_nodes(&tree);
        run_or_refuse(&tree.to_string(), nodes)?;
    }
}

/// A grace, backoff, interval, timeout and intensity period of
/// `Duration::MAX` are accepted and never overflow a clock.
#[actix_rt::test]
async fn the_largest_durations_run_without_overflow() {
    tokio::time::pause();
    let max = Duration::MAX;
    let (log, mut events) = recorder();
    let patient = probe_spec("patient", log)
        .grace(Grace::Duration(max))
        .backoff(Backoff::new(max, max).multiplier(f64::MAX))
        .restart(RestartPolicy::Always);
    let patient_handle = patient.handle();
    let rare = ChildSpec::periodic(
        "rare",
        Periodic::every(max)
            .tick_timeout(max)
            .failure_limit(u32::MAX),
        |_| Ticker,
    );
    let later = ChildSpec::periodic(
        "later",
        Periodic::every(max).first_tick_after_interval(),
        |_| Ticker,
    );
    let app = SupervisorActor::builder("app")
        .grace(Grace::Duration(max))
        .child(later)
        .intensity(RestartIntensity::new(u32::MAX, max))
        .child(patient)
        .child(rare)
        .start()
        .unwrap();
    assert_eq!(events.next().await, Event::Started(1));
    // A failure starts a backoff of Duration::MAX; a stop ends it.
    assert!(within(patient_handle.send(Panic("bad"))).await.is_err());
    tokio::time::advance(Duration::from_secs(3600)).await;
    let tree = within(app.send(actix_supervisor::Inspect)).await.unwrap();
    for path in ["/app/rare", "/app/later"] {
        let node = tree.find(path).unwrap();
        assert!(node.last_failure.is_none(), "{tree}");
        assert_eq!(
            node.state,
            actix_supervisor::snapshot::NodeState::Running,
            "{tree}"
        );
    }
    let report = within(app.send(Stop)).await.unwrap();
    assert!(report.is_drained(), "{report}");
}

/// Unknown names in control messages get a typed error.
#[actix_rt::test]
async fn unknown_names_in_control_messages_are_refused() {
    let (log, _events) = recorder();
    let app = SupervisorActor::builder("app")
        .child(probe_spec("known", log))
        .start()
        .unwrap();
    for name in ["nope", "", "a/b", "known/child"] {
        let stop = within(app.send(StopChild::new(name))).await.unwrap();
        assert!(
            matches!(stop, Err(ControlError::UnknownChild { .. })),
            "{stop:?}"
        );
        let restart = within(app.send(RestartChild::new(name))).await.unwrap();
        assert!(
            matches!(restart, Err(ControlError::UnknownChild { .. })),
            "{restart:?}"
        );
        let remove = within(app.send(RemoveChild::new(name))).await.unwrap();
        assert!(
            matches!(remove, Err(ControlError::UnknownChild { .. })),
            "{remove:?}"
        );
    }
    assert!(within(app.send(Stop)).await.unwrap().is_drained());
}

/// Non-finite and out-of-range backoff numbers are refused, and computing a
/// delay from them never panics.
#[test]
fn backoff_numbers_out_of_range_are_refused_and_never_panic() {
    let s = Duration::from_secs(1);
    for (multiplier, jitter) in [
        (f64::NAN, 0.1),
        (f64::INFINITY, 0.1),
        (-2.0, 0.1),
        (0.5, 0.1),
        (2.0, f64::NAN),
        (2.0, -0.1),
        (2.0, 1.1),
        (2.0, f64::INFINITY),
    ] {
        let backoff = Backoff::new(s, s * 10)
            .multiplier(multiplier)
            .jitter(jitter);
        for attempt in [0, 1, 2, 64, u32::MAX] {
            for unit in [0.0, 0.5, 0.999, f64::NAN, -1.0, 2.0] {
                let delay = backoff.delay(attempt, unit);
                assert!(delay <= s * 10, "{delay:?}");
            }
        }
        let refused = SupervisorActor::builder("app")
            .child(ChildSpec::new("a", || Idle).backoff(backoff))
            .validate();
        assert!(refused.is_err(), "{multiplier} {jitter} accepted");
    }
}

/// The random trees above are worth running: every tree without bad values
/// is accepted (and so started and stopped), and trees with bad values mix
/// refusals and acceptances.
#[test]
fn the_random_trees_without_bad_values_all_run_and_the_others_mix() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut sample = |bad: bool| {
        let strategy = tree_of(bad);
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..200 {
            let tree = strategy.new_tree(&mut runner).unwrap().current();
            match run_or_refuse(&tree.to_string(), count_nodes(&tree)) {
                Ok(true) => accepted += 1,
                Ok(false) if bad => refused += 1,
                Ok(false) => panic!("a tree without bad values was refused:\n{tree:#}"),
                Err(failure) => panic!("{failure}\n{tree:#}"),
            }
        }
        (accepted, refused)
    };
    let good = sample(false);
    let bad = sample(true);
    println!(
        "random trees: all {} without bad values ran; with bad values, {} ran and {} were refused",
        good.0, bad.0, bad.1
    );
    assert_eq!(good.0, 200);
    assert!(bad.0 >= 20 && bad.1 >= 40, "{bad:?}");
}
