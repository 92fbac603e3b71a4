//! Shutdown order: which children may stop now, given who depends on whom.
//!
//! A child stops only after every sibling that depends on it has stopped;
//! siblings that do not depend on each other stop in parallel. When no child
//! of a supervisor declares a dependency, each child is taken to depend on the
//! one started before it, so children stop one at a time in reverse start
//! order (as in Erlang/OTP). The bookkeeping is pure and unit-tested here;
//! [`shut_down`] drives it for a supervisor and assembles the reports.

use std::rc::Rc;

use futures_util::future::LocalBoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;

use super::children::{ChildLink, Command};
use crate::messages::stop::{StopOutcome, StopReport};
use crate::policy::Grace;
use crate::tree::NodePath;

/// Children stopping, each future giving its index and report.
type Stopping = FuturesUnordered<LocalBoxFuture<'static, (usize, StopReport)>>;

/// Tells every child the plan allows to stop now, and collects its report.
fn stop_ready(
    plan: &mut ShutdownPlan,
    children: &[(Rc<ChildLink>, Vec<usize>)],
    stopping: &mut Stopping,
) {
    for i in plan.ready() {
        let link = &children[i].0;
        link.command(Command::Stop);
        let report = link.shared.report();
        stopping.push(Box::pin(async move { (i, report.await) }));
    }
}

/// Stops `children` (in start order, with their dependencies as indexes) in
/// shutdown order within `grace`, and returns the supervisor's report.
///
/// The first children to stop are told at once, before this returns; the
/// future does the rest. When the grace runs out, every child still stopping
/// or waiting to stop is killed, and reported `TimedOut`.
pub(crate) fn shut_down(
    path: NodePath,
    children: Vec<(Rc<ChildLink>, Vec<usize>)>,
    grace: Grace,
) -> impl std::future::Future<Output = StopReport> {
    let began = Instant::now();
    let depends_on: Vec<Vec<usize>> = children.iter().map(|(_, deps)| deps.clone()).collect();
    let mut plan = ShutdownPlan::new(&depends_on);
    let mut stopping = FuturesUnordered::new();
    stop_ready(&mut plan, &children, &mut stopping);
    async move {
        let mut reports: Vec<Option<StopReport>> = vec![None; children.len()];
        let deadline = async {
            match grace {
                Grace::Duration(grace) => tokio::time::sleep(grace).await,
                Grace::Infinity => std::future::pending().await,
            }
        };
        tokio::pin!(deadline);
        let mut timed_out = false;
        while !plan.is_done() {
            tokio::select! {
                Some((i, report)) = stopping.next() => {
                    reports[i] = Some(report);
                    plan.mark_done(i);
                    stop_ready(&mut plan, &children, &mut stopping);
                }
                () = &mut deadline, if !timed_out => {
                    timed_out = true;
                    tracing::warn!(path = %path, "the supervisor's grace ran out; killing its remaining children");
                    for (link, _) in &children {
                        link.command(Command::Kill);
                    }
                }
            }
        }
        let children: Vec<StopReport> = reports
            .into_iter()
            .map(|r| r.expect("every child reported"))
            .collect();
        let outcome = if timed_out || children.iter().any(|r| r.outcome == StopOutcome::TimedOut) {
            StopOutcome::TimedOut
        } else if let Some(failed) = children.iter().find_map(|r| match &r.outcome {
            StopOutcome::Failed(failure) => Some(failure.clone()),
            _ => None,
        }) {
            StopOutcome::Failed(failed)
        } else {
            StopOutcome::Drained
        };
        StopReport {
            path,
            outcome,
            drained: children.iter().map(|r| r.drained).sum(),
            undelivered: children.iter().map(|r| r.undelivered).sum(),
            duration: began.elapsed(),
            children,
        }
    }
}

/// The shutdown of one supervisor's children, in progress.
#[derive(Debug)]
pub(crate) struct ShutdownPlan {
    /// For each child, the children that depend on it.
    dependents: Vec<Vec<usize>>,
    started: Vec<bool>,
    done: Vec<bool>,
}

impl ShutdownPlan {
    /// `depends_on[i]` lists the children child `i` depends on (indexes in
    /// start order).
    pub(crate) fn new(depends_on: &[Vec<usize>]) -> Self {
        let n = depends_on.len();
        let mut dependents = vec![Vec::new(); n];
        if depends_on.iter().all(Vec::is_empty) {
            for i in 1..n {
                dependents[i - 1].push(i);
            }
        } else {
            for (child, deps) in depends_on.iter().enumerate() {
                for &dep in deps {
                    dependents[dep].push(child);
                }
            }
        }
        ShutdownPlan {
            dependents,
            started: vec![false; n],
            done: vec![false; n],
        }
    }

    /// The children that may start stopping now; each is returned once.
    pub(crate) fn ready(&mut self) -> Vec<usize> {
        let ready: Vec<usize> = (0..self.started.len())
            .filter(|&i| !self.started[i] && self.dependents[i].iter().all(|&d| self.done[d]))
            .collect();
        for &i in &ready {
            self.started[i] = true;
        }
        ready
    }

    /// Records that child `i` has stopped.
    pub(crate) fn mark_done(&mut self, i: usize) {
        self.done[i] = true;
    }

    pub(crate) fn is_done(&self) -> bool {
        self.done.iter().all(|&d| d)
    }
}

/// The children in an order where each comes after the ones it depends on,
/// keeping the given order where dependencies allow; or the names of a
/// dependency cycle.
pub(crate) fn start_order(
    names: &[&str],
    depends_on: &[Vec<usize>],
) -> Result<Vec<usize>, Vec<String>> {
    let n = names.len();
    let mut placed = vec![false; n];
    let mut order = Vec::with_capacity(n);
    while order.len() < n {
        let next = (0..n).find(|&i| !placed[i] && depends_on[i].iter().all(|&d| placed[d]));
        match next {
            Some(i) => {
                placed[i] = true;
                order.push(i);
            }
            None => return Err(find_cycle(names, depends_on, &placed)),
        }
    }
    Ok(order)
}

/// A cycle among the children not yet placed (each of which has an unplaced
/// dependency), as names with the first repeated at the end.
fn find_cycle(names: &[&str], depends_on: &[Vec<usize>], placed: &[bool]) -> Vec<String> {
    let mut path: Vec<usize> = Vec::new();
    let mut current = (0..names.len())
        .find(|&i| !placed[i])
        .expect("a child is unplaced");
    loop {
        if let Some(at) = path.iter().position(|&i| i == current) {
            let mut cycle: Vec<String> = path[at..].iter().map(|&i| names[i].to_string()).collect();
            cycle.push(names[current].to_string());
            return cycle;
        }
        path.push(current);
        current = *depends_on[current]
            .iter()
            .find(|&&d| !placed[d])
            .expect("an unplaced child waits on an unplaced dependency");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drive(plan: &mut ShutdownPlan) -> Vec<Vec<usize>> {
        let mut waves = Vec::new();
        while !plan.is_done() {
            let wave = plan.ready();
            assert!(!wave.is_empty(), "the plan is stuck");
            for &i in &wave {
                plan.mark_done(i);
            }
            waves.push(wave);
        }
        waves
    }

    #[test]
    fn without_dependencies_children_stop_one_by_one_in_reverse_start_order() {
        let mut plan = ShutdownPlan::new(&[vec![], vec![], vec![]]);
        assert_eq!(drive(&mut plan), [vec![2], vec![1], vec![0]]);
    }

    #[test]
    fn dependents_stop_first_and_independent_siblings_together() {
        // 0: completer; 1, 2: producers (depend on 0); 3: fan-out, needed by 0.
        let deps = [vec![3], vec![0], vec![0], vec![]];
        let mut plan = ShutdownPlan::new(&deps);
        assert_eq!(drive(&mut plan), [vec![1, 2], vec![0], vec![3]]);
    }

    #[test]
    fn a_child_waits_for_every_dependent_not_just_the_first() {
        let deps = [vec![], vec![0], vec![0]];
        let mut plan = ShutdownPlan::new(&deps);
        assert_eq!(plan.ready(), [1, 2]);
        plan.mark_done(1);
        assert_eq!(plan.ready(), Vec::<usize>::new());
        plan.mark_done(2);
        assert_eq!(plan.ready(), [0]);
    }

    #[test]
    fn start_order_puts_dependencies_first_and_keeps_the_rest_in_place() {
        let names = ["fanout-user", "producer", "completer", "fanout"];
        let deps = [vec![3], vec![2], vec![3], vec![]];
        assert_eq!(start_order(&names, &deps).unwrap(), [3, 0, 2, 1]);
        assert_eq!(start_order(&["a", "b"], &[vec![], vec![]]).unwrap(), [0, 1]);
    }

    #[test]
    fn a_cycle_is_reported_by_name() {
        let names = ["a", "b", "c", "d"];
        let deps = [vec![], vec![2], vec![3], vec![1]];
        assert_eq!(
            start_order(&names, &deps).unwrap_err(),
            ["b", "c", "d", "b"]
        );
    }
}
