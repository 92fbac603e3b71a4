//! Promise 15: the system entry point stops the whole tree gracefully on
//! SIGTERM or SIGINT, within the global grace, and exits with a status that
//! says whether everything drained. A shutdown can also be triggered from code.
//!
//! The signal tests run this test binary again as a child process (through
//! the ignored test `child_process_entry`), wait for the line it logs once its
//! signal handlers are installed, signal it, and read its exit status.

#[path = "it/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use actix_supervisor::system::Supervision;
use actix_supervisor::{Grace, StopOutcome, SupervisorActor};
use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const SCENARIO: &str = "ACTIX_SUPERVISOR_TEST_SCENARIO";
const READY: &str = "waiting for SIGINT or SIGTERM";

/// The program the signal tests run as a child process: a tree whose `busy`
/// child has a thousand messages queued, and, in the "stuck" scenario, a
/// `stuck` child that never finishes what it is doing; a 500 ms global
/// grace.
#[test]
#[ignore = "run as a child process by the signal tests"]
fn child_process_entry() {
    let Ok(scenario) = std::env::var(SCENARIO) else {
        return;
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stdout)
        .with_ansi(false)
        .with_env_filter("actix_supervisor=info")
        .init();
    let (log, _events) = recorder();
    let busy = tally_spec("busy", log.clone());
    for _ in 0..1000 {
        busy.handle().do_send(Bump).unwrap();
    }
    let mut tree = SupervisorActor::builder("app");
    if scenario == "stuck" {
        let stuck = tally_spec("stuck", log).grace(Grace::Infinity);
        stuck.handle().do_send(Hold(1, Gate::new())).unwrap();
        tree = tree.child(stuck);
    }
    let tree = tree.child(busy);
    let code = actix_supervisor::system::run(tree, Duration::from_millis(500));
    std::process::exit(if code == ExitCode::SUCCESS { 0 } else { 1 });
}

/// Runs the child process for `scenario` and returns it once it is ready
/// for signals, with the rest of its output.
fn spawn_child(scenario: &str) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_process_entry",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SCENARIO, scenario)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, output) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let ready = loop {
        match output.recv_timeout(TIMEOUT) {
            Ok(line) if line.contains(READY) => break true,
            Ok(_) => continue,
            Err(_) => break false,
        }
    };
    if !ready {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the child process never logged that it waits for signals");
    }
    (child, output)
}

/// Waits for the child to exit (within the hang guard) and returns its exit
/// code and what it printed after it became ready.
fn exit_of(mut child: Child, output: mpsc::Receiver<String>) -> (i32, String) {
    let mut printed = String::new();
    while let Ok(line) = output.recv_timeout(TIMEOUT) {
        printed.push_str(&line);
        printed.push('\n');
    }
    let status = child.wait().unwrap();
    (
        status.code().expect("exited, not killed by a signal"),
        printed,
    )
}

#[test]
fn sigterm_drains_the_tree_and_exits_zero() {
    let (child, output) = spawn_child("drains");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let (code, printed) = exit_of(child, output);
    assert_eq!(code, 0, "{printed}");
    assert!(printed.contains("cause=\"SIGTERM\""), "{printed}");
    assert!(printed.contains("everything drained"), "{printed}");
}

#[test]
fn sigint_also_stops_the_tree() {
    let (child, output) = spawn_child("drains");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let (code, printed) = exit_of(child, output);
    assert_eq!(code, 0, "{printed}");
    assert!(printed.contains("cause=\"SIGINT\""), "{printed}");
}

#[test]
fn a_stuck_child_makes_the_process_exit_non_zero_after_the_global_grace() {
    let (child, output) = spawn_child("stuck");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let (code, printed) = exit_of(child, output);
    assert_eq!(code, 1, "{printed}");
    assert!(printed.contains("/app/stuck timed out"), "{printed}");
    assert!(printed.contains("/app/busy drained"), "{printed}");
}

#[actix_rt::test]
async fn a_shutdown_handle_stops_the_tree_like_a_signal() {
    tokio::time::pause();
    let (log, mut events) = recorder();
    let spec = tally_spec("busy", log);
    let busy = spec.handle();
    let supervision = Supervision::start(SupervisorActor::builder("app").child(spec)).unwrap();
    for _ in 0..100 {
        busy.do_send(Bump).unwrap();
    }
    let trigger = supervision.shutdown_handle();
    std::thread::spawn(move || trigger.shutdown())
        .join()
        .unwrap();

    let report = within(supervision.run_until_shutdown()).await.unwrap();
    assert_eq!(report.outcome, StopOutcome::Drained);
    assert_eq!(events.drain(), [TallyEvent::Stopped(100)]);
    assert_eq!(
        actix_supervisor::system::exit_code(&report),
        ExitCode::SUCCESS
    );
}
