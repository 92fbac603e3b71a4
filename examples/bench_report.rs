//! Measures supervision against plain actix as a service meets it: each
//! repetition of each scenario runs in a fresh child process (this program
//! re-executed with `--child <scenario> <side> <scale>`, printing one
//! `bench_result` line), raw actix and supervised interleaved round-robin
//! (raw, ours, raw, ours, …), and prints a Markdown table of medians with
//! min–max and the ratio of the medians, headed by the date, the commit, the
//! machine, the load average and the command.
//!
//! Run it with `cargo run --release --example bench_report`.
//! `BENCH_SCALE` (default 1) scales every size (`BENCH_SCALE=0.001` is the
//! CI smoke), `BENCH_REPS` (default 5) the repetitions per side. Wall-clock
//! figures on a shared machine move with its load: the request/response
//! ratio is judged by instruction counts (`bash benches/instructions.sh`).
//!
//! `--rounds <scale> <rounds>` repeats the old report's alternating rounds
//! (drain raw, drain ours, stop raw, stop ours) in one warm process and
//! prints each round's stop times with the page faults and the resident
//! memory they met: the diagnosis of the supervised stop that doubled after
//! the first round (see `docs/profiles/`).

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::prelude::*;

#[path = "../benches/common/counter.rs"]
mod counter;
#[path = "../benches/common/scenarios.rs"]
mod scenarios;

use counter::Counter;

/// `n` scaled by `BENCH_SCALE`-like `scale`, never below 10.
fn scaled(n: usize, scale: f64) -> usize {
    ((n as f64 * scale) as usize).max(10)
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------- scenarios

/// One scenario of the table: what it runs, on which sides, how to show it.
struct Scenario {
    /// The name passed to the child process.
    name: &'static str,
    /// The row's label; `{n}` is replaced by the size.
    label: &'static str,
    /// The size at scale 1.
    size: usize,
    /// Whether raw actix has a counterpart.
    raw: bool,
    unit: &'static str,
    decimals: usize,
    /// The goal, as text (ratios are ours/raw of the figure shown).
    goal: &'static str,
    /// Extra figures the child prints besides `value`, each with a row.
    extra: &'static [(&'static str, &'static str, &'static str)],
    /// Repetitions per side, as a multiple of `BENCH_REPS`: more for the
    /// short per-restart scenarios, whose figure moves most with where a
    /// process's stack and heap land (see `docs/profiles/restart.md`).
    reps_factor: usize,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "request",
        label: "1. request/response, {n} `send().await` through the child's `Addr`",
        size: 1_000_000,
        raw: true,
        unit: "M msg/s",
        decimals: 3,
        goal: "≥ 0.97 by instructions: run `bash benches/instructions.sh`",
        extra: &[],
        reps_factor: 1,
    },
    Scenario {
        name: "request-handle",
        label: "1b. the same through `ChildHandle::send`",
        size: 1_000_000,
        raw: true,
        unit: "M msg/s",
        decimals: 3,
        goal: "–",
        extra: &[],
        reps_factor: 1,
    },
    Scenario {
        name: "fire",
        label: "2. fire-and-forget, {n} `do_send` + 1 round trip",
        size: 1_000_000,
        raw: true,
        unit: "M msg/s",
        decimals: 3,
        goal: "≥ 0.90",
        extra: &[],
        reps_factor: 1,
    },
    Scenario {
        name: "spawn",
        label: "3. spawn {n} children until every `started` ran",
        size: 100_000,
        raw: true,
        unit: "k/s",
        decimals: 0,
        goal: "≥ 0.60",
        extra: &[],
        reps_factor: 1,
    },
    Scenario {
        name: "stop",
        label: "4. stop {n} idle children (`Stop` to the supervisor until it answers; raw: drop every `Addr` until every `stopped` ran)",
        size: 100_000,
        raw: true,
        unit: "ms",
        decimals: 1,
        goal: "≤ 2.0",
        extra: &[],
        reps_factor: 1,
    },
    Scenario {
        name: "memory",
        label: "5. memory per child, ΔRSS over {n} idle children",
        size: 100_000,
        raw: true,
        unit: "B",
        decimals: 0,
        goal: "≤ 1,200 B",
        extra: &[],
        reps_factor: 1,
    },
    Scenario {
        name: "restart-error",
        label: "6. restart after an error exit, p50 of {n} (raw: `actix::Supervisor` restarting in place after `ctx.stop()`, same value)",
        size: 10_000,
        raw: true,
        unit: "µs",
        decimals: 2,
        goal: "≤ 2 µs",
        extra: &[("p99", "6. the same, p99", "–")],
        reps_factor: 5,
    },
    Scenario {
        name: "restart-panic",
        label: "7. restart after a panic (hook silenced), p50 of {n}",
        size: 10_000,
        raw: false,
        unit: "µs",
        decimals: 2,
        goal: "≤ 8 µs",
        extra: &[("p99", "7. the same, p99", "≤ 20 µs")],
        reps_factor: 5,
    },
    Scenario {
        name: "drain",
        label: "8. stop 1 child with {n} queued messages (raw: drop its `Addr`)",
        size: 100_000,
        raw: true,
        unit: "ms",
        decimals: 2,
        goal: "≤ 1.5",
        extra: &[],
        reps_factor: 1,
    },
    Scenario {
        name: "inspect",
        label: "9. `Inspect` of a tree of {n} nodes",
        size: 10_000,
        raw: false,
        unit: "ms",
        decimals: 2,
        goal: "≤ 10 ms",
        extra: &[("json", "9b. that snapshot to JSON", "–")],
        reps_factor: 1,
    },
];

/// In the child process: runs `scenario` once for `side` at `scale`, prints
/// one `bench_result` line and exits without tearing the system down (the
/// teardown is not measured, and it would only slow the report).
fn run_child(scenario: &str, side: &str, scale: f64) -> ! {
    let spec = SCENARIOS
        .iter()
        .find(|s| s.name == scenario)
        .unwrap_or_else(|| panic!("unknown scenario {scenario}"));
    let n = scaled(spec.size, scale);
    let raw = side == "raw";
    assert!(!raw || spec.raw, "{scenario} has no raw actix counterpart");
    std::panic::set_hook(Box::new(|_| {}));
    actix::System::new().block_on(async move {
        let per_second = |n: usize, took: Duration| n as f64 / took.as_secs_f64();
        let ms = |took: Duration| took.as_secs_f64() * 1e3;
        let figures: Vec<(&str, f64)> = match scenario {
            "request" | "request-handle" | "fire" => {
                let took = if raw {
                    let addr = Counter::default().start();
                    addr.send(counter::Inc).await.unwrap();
                    if scenario == "fire" {
                        scenarios::fire_and_forget(&addr, n).await
                    } else {
                        scenarios::request_response(&addr, n).await
                    }
                } else {
                    let handle = scenarios::supervised_counter().await;
                    match scenario {
                        "fire" => scenarios::fire_and_forget(handle.address(), n).await,
                        "request" => scenarios::request_response(handle.address(), n).await,
                        _ => scenarios::request_response_handle(&handle, n).await,
                    }
                };
                vec![("value", per_second(n, took) / 1e6)]
            }
            "spawn" => {
                let took = if raw {
                    let (took, addrs, _) = scenarios::spawn_raw(n).await;
                    std::mem::forget(addrs);
                    took
                } else {
                    let (took, app) = scenarios::spawn_ours(n).await;
                    std::mem::forget(app);
                    took
                };
                vec![("value", per_second(n, took) / 1e3)]
            }
            "stop" => {
                let took = if raw {
                    scenarios::stop_raw(n).await
                } else {
                    scenarios::stop_ours(n).await
                };
                vec![("value", ms(took))]
            }
            "memory" => {
                let before = scenarios::resident_bytes();
                if raw {
                    std::mem::forget(scenarios::spawn_raw(n).await.1);
                } else {
                    std::mem::forget(scenarios::spawn_ours(n).await.1);
                }
                let after = scenarios::resident_bytes();
                vec![("value", after.saturating_sub(before) as f64 / n as f64)]
            }
            "restart-error" | "restart-panic" => {
                let mut samples: Vec<f64> = if raw {
                    scenarios::restart_raw(n).await
                } else {
                    scenarios::restart_ours(n, scenario == "restart-panic").await
                }
                .iter()
                .map(|d| d.as_secs_f64() * 1e6)
                .collect();
                samples.sort_by(|a, b| a.total_cmp(b));
                let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize];
                vec![("value", pct(0.5)), ("p99", pct(0.99))]
            }
            "drain" => {
                let took = if raw {
                    scenarios::drain_raw(n).await
                } else {
                    scenarios::drain_ours(n).await
                };
                vec![("value", ms(took))]
            }
            "inspect" => {
                let side = ((n as f64).sqrt() as usize).max(3);
                let (took, json, bytes) = scenarios::inspect(side, side).await;
                vec![
                    ("value", ms(took)),
                    ("json", ms(json)),
                    ("nodes", (side * side + side + 1) as f64),
                    ("bytes", bytes as f64),
                ]
            }
            other => panic!("unknown scenario {other}"),
        };
        report_and_exit(scenario, side, n, &figures)
    });
    unreachable!("the child exits inside its system")
}

/// Prints the child's result line and exits at once, inside the system: the
/// runtime's teardown (dropping every task) is neither timed nor run.
fn report_and_exit(scenario: &str, side: &str, n: usize, figures: &[(&str, f64)]) -> ! {
    let fields: Vec<String> = figures.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!(
        "bench_result scenario={scenario} side={side} n={n} {}",
        fields.join(" ")
    );
    std::process::exit(0);
}

// ---------------------------------------------------------------- parent

/// Runs one repetition in a fresh process; its figures by name, or why not.
fn run_fresh(scenario: &str, side: &str, scale: f64) -> Result<BTreeMap<String, f64>, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let output = Command::new(exe)
        .args(["--child", scenario, side, &scale.to_string()])
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("bench_result "))
        .ok_or_else(|| {
            format!(
                "{scenario}/{side}: {} {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )
        })?;
    Ok(line
        .split_whitespace()
        .filter_map(|field| field.split_once('='))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect())
}

/// Median, min and max.
fn summary(samples: &[f64]) -> Option<(f64, f64, f64)> {
    if samples.is_empty() {
        return None;
    }
    let mut s = samples.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let mid = s.len() / 2;
    let median = if s.len() % 2 == 1 {
        s[mid]
    } else {
        (s[mid - 1] + s[mid]) / 2.0
    };
    Some((median, s[0], s[s.len() - 1]))
}

fn shell(command: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(command).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Date, commit, machine and command, as the report's header.
fn header(scale: f64, reps: usize) -> Vec<String> {
    let commit = shell("git", &["rev-parse", "--short=10", "HEAD"]).unwrap_or("unknown".into());
    let dirty = shell("git", &["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|s| !s.is_empty());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let (profile, flag) = if cfg!(debug_assertions) {
        ("debug", "")
    } else {
        ("release", " --release")
    };
    vec![
        format!(
            "date: {}",
            shell("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_default()
        ),
        format!(
            "commit: {commit}{}",
            if dirty { " (with uncommitted changes)" } else { "" }
        ),
        format!("machine: {cores} cores (nproc), {cpu}"),
        format!(
            "command: BENCH_SCALE={scale} BENCH_REPS={reps} cargo run{flag} --example bench_report ({profile} build)"
        ),
        format!("load average at start (1, 5, 15 min): {}", load_average()),
    ]
}

fn format_cell(s: Option<(f64, f64, f64)>, unit: &str, decimals: usize) -> String {
    match s {
        Some((m, lo, hi)) => format!("{m:.decimals$} ({lo:.decimals$}–{hi:.decimals$}) {unit}"),
        None => "–".into(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        let scale = args[4].parse().expect("a scale");
        run_child(&args[2], &args[3], scale);
    }
    if args.get(1).map(String::as_str) == Some("--rounds") {
        let scale = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1.0);
        let rounds = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5);
        return old_rounds(scale, rounds);
    }
    let scale: f64 = env_or("BENCH_SCALE", 1.0);
    let reps: usize = env_or("BENCH_REPS", 5).max(1);
    for line in header(scale, reps) {
        println!("{line}  ");
    }
    println!();
    println!("| scenario | raw actix: median (min–max) | supervised: median (min–max) | ratio of medians supervised/raw | goal |");
    println!("|---|---|---|---|---|");
    let mut failures = Vec::new();
    for spec in SCENARIOS {
        let mut samples: BTreeMap<(&str, String), Vec<f64>> = BTreeMap::new();
        let mut n = scaled(spec.size, scale) as f64;
        for _ in 0..reps * spec.reps_factor {
            let sides: &[&str] = if spec.raw {
                &["raw", "ours"]
            } else {
                &["ours"]
            };
            for side in sides {
                match run_fresh(spec.name, side, scale) {
                    Ok(figures) => {
                        for (key, value) in figures {
                            if key == "nodes" {
                                n = value;
                            }
                            samples.entry((side, key)).or_default().push(value);
                        }
                    }
                    Err(why) => failures.push(why),
                }
            }
        }
        let mut rows = vec![(
            "value",
            spec.label.replace("{n}", &format!("{n}")),
            spec.goal,
        )];
        rows.extend(spec.extra.iter().map(|(k, l, g)| (*k, l.to_string(), *g)));
        for (key, label, goal) in rows {
            let get = |side: &'static str| {
                samples
                    .get(&(side, key.to_string()))
                    .and_then(|v| summary(v))
            };
            let (raw, ours) = (get("raw"), get("ours"));
            let ratio = match (raw, ours) {
                (Some(r), Some(o)) if r.0 > 0.0 => format!("{:.3}", o.0 / r.0),
                _ => "–".into(),
            };
            println!(
                "| {label} | {} | {} | {ratio} | {goal} |",
                format_cell(raw, spec.unit, spec.decimals),
                format_cell(ours, spec.unit, spec.decimals)
            );
        }
    }
    println!();
    println!("load average at end (1, 5, 15 min): {}  ", load_average());
    println!(
        "Each cell: {reps} repetitions ({} for the restarts), each in a fresh process, raw and supervised interleaved. \
         Request/response is judged by instructions, not by this wall-clock ratio: \
         run `bash benches/instructions.sh`.",
        reps * SCENARIOS.iter().map(|s| s.reps_factor).max().unwrap_or(1)
    );
    if !failures.is_empty() {
        for why in &failures {
            eprintln!("failed: {why}");
        }
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------- diagnosis

/// Minor page faults of this process so far, from `/proc/self/stat`.
fn minor_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command's closing parenthesis; minflt is field 10.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(7)?.parse().ok())
        .unwrap_or(0)
}

/// The old report's rounds in one warm process: each round drains one
/// child raw and supervised, then stops 100,000 children raw and
/// supervised; prints per round the stop times, the minor page faults each
/// stop met, and the resident memory before it.
fn old_rounds(scale: f64, rounds: usize) {
    let (n, queued) = (scaled(100_000, scale), scaled(100_000, scale));
    actix::System::new().block_on(async move {
        println!("round | stop raw ms (faults) | stop ours ms (faults) | RSS before ours MB");
        for round in 1..=rounds {
            scenarios::drain_raw(queued).await;
            scenarios::drain_ours(queued).await;
            let (_, addrs, stopped) = scenarios::spawn_raw(n).await;
            let (faults, began) = (minor_faults(), std::time::Instant::now());
            drop(addrs);
            stopped.wait().await;
            let (raw, raw_faults) = (began.elapsed(), minor_faults() - faults);
            let (_, app) = scenarios::spawn_ours(n).await;
            let rss = scenarios::resident_bytes();
            let (faults, began) = (minor_faults(), std::time::Instant::now());
            let report = app.send(Stop).await.unwrap();
            let (ours, ours_faults) = (began.elapsed(), minor_faults() - faults);
            assert!(report.is_drained());
            println!(
                "{round} | {:.1} ({raw_faults}) | {:.1} ({ours_faults}) | {:.0}",
                raw.as_secs_f64() * 1e3,
                ours.as_secs_f64() * 1e3,
                rss as f64 / 1e6
            );
        }
    });
}
