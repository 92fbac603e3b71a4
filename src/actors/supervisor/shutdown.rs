//! Shutdown order: which children may stop now, given who depends on whom.
//!
//! A child stops only after every sibling that depends on it has stopped;
//! siblings that do not depend on each other stop in parallel. Children are
//! told to stop in reverse start order, so without declared dependencies they
//! are all told at once, the last started first, and stop in parallel. The
//! bookkeeping is pure, linear in the number of children and dependencies,
//! and unit-tested here; [`shut_down`] drives it for a supervisor and
//! assembles the reports.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use tokio::time::{Instant, Sleep};

use crate::child::link::{ChildLink, Command, SupervisorScope};
use crate::messages::stop::{StopOutcome, StopReport};
use crate::policy::Grace;
use crate::tree::NodePath;

/// Stops `children` (in start order, that is by key, with their
/// dependencies as indexes) in shutdown order within `grace`, and returns the
/// supervisor's report.
///
/// The first children to stop are told at once, before this returns; the
/// future does the rest. When the grace runs out, every child still stopping
/// or waiting to stop is killed, and reported `TimedOut`.
///
/// It waits for its children with one waker: each child's end is noted in
/// the scope the children share (see `crate::child::finished`), with a copy
/// of its report made while the report is fresh, and the future takes the
/// noted keys when it is woken. Only the reports of children that ended
/// before the shutdown are read from their links at the end.
pub(crate) fn shut_down(
    path: NodePath,
    children: Vec<(Rc<ChildLink>, Vec<usize>)>,
    grace: Grace,
) -> impl Future<Output = StopReport> {
    let began = Instant::now();
    let (links, depends_on): (Vec<Rc<ChildLink>>, Vec<Vec<usize>>) = children.into_iter().unzip();
    let n = links.len();
    // The children of one supervisor share one scope; a second one is
    // watched as well, should there ever be one.
    let mut scopes: Vec<Rc<SupervisorScope>> = Vec::new();
    for link in &links {
        if !scopes.iter().any(|scope| Rc::ptr_eq(scope, &link.scope)) {
            link.scope
                .finished
                .watch(links.iter().map(|link| link.index).collect());
            scopes.push(link.scope.clone());
        }
    }
    let mut shutdown = Shutdown {
        path,
        told: vec![false; n],
        plan: ShutdownPlan::new(depends_on),
        links,
        scopes,
        keys: Vec::with_capacity(n),
        deadline: match grace {
            Grace::Duration(grace) => Some(Box::pin(tokio::time::sleep(grace))),
            Grace::Infinity => None,
        },
        timed_out: false,
    };
    shutdown.tell_ready();
    async move {
        std::future::poll_fn(|cx| shutdown.poll_ends(cx)).await;
        let mut reports: Vec<Option<StopReport>> = Vec::new();
        for scope in &shutdown.scopes {
            let noted = scope.finished.unwatch();
            if reports.is_empty() {
                reports = noted;
            } else {
                for (report, noted) in reports.iter_mut().zip(noted) {
                    if report.is_none() {
                        *report = noted;
                    }
                }
            }
        }
        reports.resize_with(n, || None);
        // A child that ended before the shutdown was not noted during it.
        for (report, link) in reports.iter_mut().zip(&shutdown.links) {
            if report.is_none() {
                *report = Some(
                    link.shared
                        .final_report()
                        .expect("every child reported")
                        .clone(),
                );
            }
        }
        // Collected in place: every place holds a report now.
        let children: Vec<StopReport> = reports
            .into_iter()
            .map(|report| report.expect("every child reported"))
            .collect();
        // The supervisor's own outcome: how its children ended is theirs
        // (see `StopReport::summary`).
        let outcome = if shutdown.timed_out {
            StopOutcome::TimedOut
        } else {
            StopOutcome::Drained
        };
        StopReport {
            path: shutdown.path,
            outcome,
            drained: 0,
            undelivered: 0,
            cancelled: 0,
            duration: began.elapsed(),
            children,
            ended_on_its_own: false,
        }
    }
}

/// A shutdown under way: which children were told, which are done.
struct Shutdown {
    /// The supervisor's path.
    path: NodePath,
    /// The children, by key (start order).
    links: Vec<Rc<ChildLink>>,
    /// Whether each child was told to stop.
    told: Vec<bool>,
    plan: ShutdownPlan,
    /// The scopes whose ends are watched.
    scopes: Vec<Rc<SupervisorScope>>,
    /// The keys taken from the scopes, reused between polls.
    keys: Vec<u64>,
    deadline: Option<Pin<Box<Sleep>>>,
    timed_out: bool,
}

impl Shutdown {
    /// Tells every child the plan allows to stop now; a child already done
    /// (it ended before, or was killed) counts as stopped at once, which
    /// may free the next.
    fn tell_ready(&mut self) {
        loop {
            let ready = self.plan.ready();
            if ready.is_empty() {
                return;
            }
            for i in ready {
                let link = &self.links[i];
                self.told[i] = true;
                link.command(Command::Stop);
                if link.shared.final_report().is_some() {
                    self.plan.mark_done(i);
                }
            }
        }
    }

    /// The place of the child with this key: the key itself while no
    /// child before it left the table, else found by its order.
    fn position(&self, key: u64) -> Option<usize> {
        let at = usize::try_from(key).ok()?;
        if self.links.get(at).is_some_and(|link| link.index == key) {
            return Some(at);
        }
        self.links
            .binary_search_by_key(&key, |link| link.index)
            .ok()
    }

    /// Counts the children whose ends were noted since the last poll, tells
    /// the next ones, and kills what is left once the grace ran out. Ready
    /// once every child is done.
    fn poll_ends(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            for scope in &self.scopes {
                scope.finished.take(&mut self.keys, cx.waker());
                for &key in &self.keys {
                    let Some(i) = self.position(key) else {
                        continue;
                    };
                    // Only a child told to stop is counted here; one that
                    // ended before it was told is counted when it is.
                    if self.told[i] && !self.plan.is_marked(i) {
                        self.plan.mark_done(i);
                    }
                }
            }
            self.tell_ready();
            if self.plan.is_done() {
                return Poll::Ready(());
            }
            let rang = !self.timed_out
                && self
                    .deadline
                    .as_mut()
                    .is_some_and(|deadline| deadline.as_mut().poll(cx).is_ready());
            if !rang {
                return Poll::Pending;
            }
            self.timed_out = true;
            tracing::warn!(path = %self.path, "the supervisor's grace ran out; killing its remaining children");
            for link in &self.links {
                link.command(Command::Kill);
            }
        }
    }
}

/// A supervisor's final report as it publishes it to the `Stop`s it
/// answers: the first `Stop` answered takes the report itself; a later one
/// gets a copy made again from the children's links, each of which keeps
/// its own report. So the report of a large tree is not copied for a
/// single `Stop`.
#[derive(Debug)]
pub(crate) struct Published {
    /// The report, until a `Stop` takes it.
    report: RefCell<Option<StopReport>>,
    /// The report without its children, for the copies.
    own: StopReport,
    /// The children whose reports make the report's `children`, in order.
    links: Vec<Rc<ChildLink>>,
}

impl Published {
    /// Publishes `report`, whose children's reports are those of `links`.
    pub(crate) fn new(report: StopReport, links: Vec<Rc<ChildLink>>) -> Self {
        let own = without_children(&report);
        Published {
            report: RefCell::new(Some(report)),
            own,
            links,
        }
    }

    /// Publishes a report that went elsewhere (into the supervisor's link
    /// in its parent): every `Stop` gets a copy. `own` is the report
    /// without its children.
    pub(crate) fn copies_only(own: StopReport, links: Vec<Rc<ChildLink>>) -> Self {
        Published {
            report: RefCell::new(None),
            own,
            links,
        }
    }

    /// The report: the one published, the first time, then copies of it.
    pub(crate) fn take(&self) -> StopReport {
        if let Some(report) = self.report.borrow_mut().take() {
            return report;
        }
        let mut report = self.own.clone();
        report.children = self
            .links
            .iter()
            .map(|link| {
                link.shared
                    .final_report()
                    .expect("the children of a published report reported")
                    .clone()
            })
            .collect();
        report
    }
}

/// A copy of `report` without its children's reports.
pub(crate) fn without_children(report: &StopReport) -> StopReport {
    StopReport {
        path: report.path.clone(),
        outcome: report.outcome.clone(),
        drained: report.drained,
        undelivered: report.undelivered,
        cancelled: report.cancelled,
        duration: report.duration,
        children: Vec::new(),
        ended_on_its_own: report.ended_on_its_own,
    }
}

/// The shutdown of one supervisor's children, in progress.
#[derive(Debug)]
pub(crate) struct ShutdownPlan {
    /// For each child, the children it depends on.
    depends_on: Vec<Vec<usize>>,
    /// For each child, how many of its dependents have not stopped yet.
    waiting_for: Vec<usize>,
    /// For each child, whether it was marked done.
    marked: Vec<bool>,
    /// Children free to stop and not yet returned by `ready`.
    free: Vec<usize>,
    remaining: usize,
}

impl ShutdownPlan {
    /// `depends_on[i]` lists the children child `i` depends on (indexes in
    /// start order).
    pub(crate) fn new(depends_on: Vec<Vec<usize>>) -> Self {
        let n = depends_on.len();
        let mut waiting_for = vec![0; n];
        for deps in &depends_on {
            for &dep in deps {
                waiting_for[dep] += 1;
            }
        }
        let free = (0..n).filter(|&i| waiting_for[i] == 0).collect();
        ShutdownPlan {
            depends_on,
            waiting_for,
            marked: vec![false; n],
            free,
            remaining: n,
        }
    }

    /// The children that may start stopping now, the last started first;
    /// each is returned once.
    pub(crate) fn ready(&mut self) -> Vec<usize> {
        let mut ready = std::mem::take(&mut self.free);
        ready.sort_unstable_by(|a, b| b.cmp(a));
        ready
    }

    /// Records that child `i` has stopped: what it depends on may follow.
    /// A child is marked once; a second mark changes nothing.
    pub(crate) fn mark_done(&mut self, i: usize) {
        if std::mem::replace(&mut self.marked[i], true) {
            return;
        }
        self.remaining -= 1;
        for &dep in &self.depends_on[i] {
            self.waiting_for[dep] -= 1;
            if self.waiting_for[dep] == 0 {
                self.free.push(dep);
            }
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.remaining == 0
    }

    /// Whether child `i` was marked done.
    pub(crate) fn is_marked(&self, i: usize) -> bool {
        self.marked[i]
    }
}

/// The children in an order where each comes after the ones it depends on,
/// keeping the given order where dependencies allow (the smallest index free
/// to start goes first); or the names of a dependency cycle.
pub(crate) fn start_order(
    names: &[&str],
    depends_on: &[Vec<usize>],
) -> Result<Vec<usize>, Vec<String>> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    let n = names.len();
    if depends_on.iter().all(Vec::is_empty) {
        return Ok((0..n).collect());
    }
    let mut missing = vec![0usize; n];
    let mut dependents = vec![Vec::new(); n];
    for (child, deps) in depends_on.iter().enumerate() {
        missing[child] = deps.len();
        for &dep in deps {
            dependents[dep].push(child);
        }
    }
    let mut free: BinaryHeap<Reverse<usize>> =
        (0..n).filter(|&i| missing[i] == 0).map(Reverse).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse(i)) = free.pop() {
        order.push(i);
        for &dependent in &dependents[i] {
            missing[dependent] -= 1;
            if missing[dependent] == 0 {
                free.push(Reverse(dependent));
            }
        }
    }
    if order.len() < n {
        let mut placed = vec![false; n];
        for &i in &order {
            placed[i] = true;
        }
        return Err(find_cycle(names, depends_on, &placed));
    }
    Ok(order)
}

/// A cycle among the children not yet placed (each of which has an unplaced
/// dependency), as names with the first repeated at the end.
fn find_cycle(names: &[&str], depends_on: &[Vec<usize>], placed: &[bool]) -> Vec<String> {
    let mut path: Vec<usize> = Vec::new();
    let mut position_on_path: Vec<Option<usize>> = vec![None; names.len()];
    let mut current = (0..names.len()).find(|&i| !placed[i]).unwrap_or(0);
    loop {
        if let Some(at) = position_on_path[current] {
            let mut cycle: Vec<String> = path[at..].iter().map(|&i| names[i].to_string()).collect();
            cycle.push(names[current].to_string());
            return cycle;
        }
        position_on_path[current] = Some(path.len());
        path.push(current);
        // An unplaced child always waits on an unplaced dependency.
        match depends_on[current].iter().find(|&&d| !placed[d]) {
            Some(&next) => current = next,
            None => return path.iter().map(|&i| names[i].to_string()).collect(),
        }
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
    fn without_dependencies_every_child_stops_at_once_the_last_started_first() {
        let mut plan = ShutdownPlan::new(vec![vec![], vec![], vec![]]);
        assert_eq!(drive(&mut plan), [vec![2, 1, 0]]);
    }

    #[test]
    fn a_long_chain_and_a_wide_fan_stay_linear() {
        let chain: Vec<Vec<usize>> = (0..100_000)
            .map(|i| if i == 0 { vec![] } else { vec![i - 1] })
            .collect();
        let names: Vec<String> = (0..chain.len()).map(|i| i.to_string()).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(start_order(&names, &chain).unwrap().len(), 100_000);
        let mut plan = ShutdownPlan::new(chain);
        assert_eq!(drive(&mut plan).len(), 100_000);
        let fan = vec![Vec::new(); 100_000];
        assert_eq!(drive(&mut ShutdownPlan::new(fan)).len(), 1);
    }

    #[test]
    fn dependents_stop_first_and_independent_siblings_together() {
        // 0: completer; 1, 2: producers (depend on 0); 3: fan-out, needed by 0.
        let deps = [vec![3], vec![0], vec![0], vec![]];
        let mut plan = ShutdownPlan::new(deps.to_vec());
        assert_eq!(drive(&mut plan), [vec![2, 1], vec![0], vec![3]]);
    }

    #[test]
    fn a_child_waits_for_every_dependent_not_just_the_first() {
        let deps = [vec![], vec![0], vec![0]];
        let mut plan = ShutdownPlan::new(deps.to_vec());
        assert_eq!(plan.ready(), [2, 1]);
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
