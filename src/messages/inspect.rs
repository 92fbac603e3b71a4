//! [`Inspect`]: ask a supervisor for a [`TreeSnapshot`] of its subtree.

use actix::Message;

use crate::tree::TreeSnapshot;

/// Asks a supervisor for a snapshot of its subtree.
///
/// The snapshot is taken when the supervisor handles the message; it is
/// consistent at that moment.
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use actix_supervisor::prelude::*;
///
/// #[derive(Default)]
/// struct Job;
/// impl Actor for Job { type Context = Context<Self>; }
/// actix_supervisor::supervised!(Job);
///
/// # actix::System::new().block_on(async {
/// let spec = ChildSpec::new("job", Job::default);
/// let job = spec.handle();
/// let app = SupervisorActor::builder("app").child(spec).start()?;
/// job.started().await?;
///
/// let tree: TreeSnapshot = app.send(Inspect).await?;
/// let node = tree.find("/app/job").unwrap();
/// assert_eq!((node.state, node.incarnation, node.restart_count), (NodeState::Running, 1, 0));
/// println!("{tree}"); // one line per node, indented by depth
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Inspect;

impl Message for Inspect {
    type Result = TreeSnapshot;
}
