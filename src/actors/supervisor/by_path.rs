//! How a supervisor answers the messages addressed by path
//! ([`crate::messages::by_path`]): it finds the first name after its own
//! path among its children; the node itself is handled by the by-name
//! handlers, a node deeper down is forwarded to the nested supervisor on the
//! way, which does the same.
//!
//! A path is resolved one supervisor at a time, each on its own arbiter, so
//! no supervisor's table is read from another thread; a message goes down
//! at most one hop per level of the tree.

use std::rc::Rc;

use actix::{
    Actor, ActorFutureExt, Addr, AsyncContext, Context, Handler, MailboxError, Message,
    ResponseActFuture, WeakAddr,
};
use tokio_util::sync::CancellationToken;

use super::nested;
use super::SupervisorActor;
use crate::child::link::ChildLink;
use crate::child::ChildHandle;
use crate::messages::by_path::{
    ChildAt, PathError, RemoveChildAt, RestartChildAt, StopChildAt, SupervisorAt,
};
use crate::messages::children::{RemoveChild, RestartChild, StopChild};
use crate::messages::stop::StopReport;
use crate::tree::NodePath;

/// Where a path leads from a supervisor.
enum Route {
    /// To the supervisor itself.
    Here,
    /// To one of its children.
    Child(Rc<ChildLink>),
    /// Below it, through this nested supervisor.
    Via(Addr<SupervisorActor>),
    /// Nowhere.
    Unknown,
}

impl SupervisorActor {
    fn route(&self, path: &NodePath) -> Route {
        let Some(rest) = path.as_str().strip_prefix(self.path.as_str()) else {
            return Route::Unknown;
        };
        if rest.is_empty() {
            return Route::Here;
        }
        let Some(rest) = rest.strip_prefix('/') else {
            return Route::Unknown;
        };
        let (name, deeper) = match rest.split_once('/') {
            Some((name, _)) => (name, true),
            None => (rest, false),
        };
        match self.children.find(name) {
            None => Route::Unknown,
            Some((_, link)) if !deeper => Route::Child(link.clone()),
            Some((_, link)) => match nested::address_of(link) {
                Some(addr) => Route::Via(addr),
                None => Route::Unknown,
            },
        }
    }
}

fn protected_root(path: &NodePath) -> PathError {
    PathError::Protected {
        path: path.clone(),
        reason: "it is the supervisor the message was sent to; send it `Stop` instead".into(),
    }
}

/// Forwards `message` to the nested supervisor `via`; a supervisor that is
/// gone answers as a stopping one.
fn forward<M>(
    via: Addr<SupervisorActor>,
    message: M,
) -> ResponseActFuture<SupervisorActor, Result<M::Result, PathError>>
where
    M: actix::Message + Send + 'static,
    M::Result: Send,
    SupervisorActor: Handler<M>,
    M: PathMessage,
{
    let path = message.path().clone();
    Box::pin(actix::fut::wrap_future(async move {
        via.send(message)
            .await
            .map_err(|_| PathError::Stopping { path })
    }))
}

/// A message addressed by path.
trait PathMessage {
    fn path(&self) -> &NodePath;
}

macro_rules! path_message {
    ($($message:ty),*) => {$(
        impl PathMessage for $message {
            fn path(&self) -> &NodePath {
                &self.0
            }
        }
    )*};
}

path_message!(StopChildAt, RestartChildAt, RemoveChildAt, SupervisorAt);

fn ready<T: 'static>(value: T) -> ResponseActFuture<SupervisorActor, T> {
    Box::pin(actix::fut::ready(value))
}

impl Handler<StopChildAt> for SupervisorActor {
    type Result = ResponseActFuture<Self, Result<StopReport, PathError>>;

    fn handle(&mut self, message: StopChildAt, ctx: &mut Context<Self>) -> Self::Result {
        let path = message.0.clone();
        match self.route(&path) {
            Route::Here => ready(Err(protected_root(&path))),
            Route::Unknown => ready(Err(PathError::Unknown { path })),
            Route::Via(via) => Box::pin(forward(via, message).map(|answer, _, _| answer?)),
            Route::Child(link) => {
                let name = link.path().name().to_string();
                let stopping = <Self as Handler<StopChild>>::handle(self, StopChild(name), ctx);
                Box::pin(actix::fut::wrap_future(async move {
                    stopping
                        .await
                        .map_err(|e| PathError::from_control(&path, e))
                }))
            }
        }
    }
}

impl Handler<RestartChildAt> for SupervisorActor {
    type Result = ResponseActFuture<Self, Result<(), PathError>>;

    fn handle(&mut self, message: RestartChildAt, ctx: &mut Context<Self>) -> Self::Result {
        let path = message.0.clone();
        match self.route(&path) {
            Route::Here => ready(Err(protected_root(&path))),
            Route::Unknown => ready(Err(PathError::Unknown { path })),
            Route::Via(via) => Box::pin(forward(via, message).map(|answer, _, _| answer?)),
            Route::Child(link) => {
                let name = link.path().name().to_string();
                let restarting =
                    <Self as Handler<RestartChild>>::handle(self, RestartChild(name), ctx);
                Box::pin(
                    restarting.map(move |answer, _, _| {
                        answer.map_err(|e| PathError::from_control(&path, e))
                    }),
                )
            }
        }
    }
}

impl Handler<RemoveChildAt> for SupervisorActor {
    type Result = ResponseActFuture<Self, Result<StopReport, PathError>>;

    fn handle(&mut self, message: RemoveChildAt, ctx: &mut Context<Self>) -> Self::Result {
        let path = message.0.clone();
        match self.route(&path) {
            Route::Here => ready(Err(protected_root(&path))),
            Route::Unknown => ready(Err(PathError::Unknown { path })),
            Route::Via(via) => Box::pin(forward(via, message).map(|answer, _, _| answer?)),
            Route::Child(link) => {
                let name = link.path().name().to_string();
                let removing = <Self as Handler<RemoveChild>>::handle(self, RemoveChild(name), ctx);
                Box::pin(
                    removing.map(move |answer, _, _| {
                        answer.map_err(|e| PathError::from_control(&path, e))
                    }),
                )
            }
        }
    }
}

impl Handler<SupervisorAt> for SupervisorActor {
    type Result = ResponseActFuture<Self, Result<Addr<SupervisorActor>, PathError>>;

    fn handle(&mut self, message: SupervisorAt, ctx: &mut Context<Self>) -> Self::Result {
        let path = message.0.clone();
        match self.route(&path) {
            Route::Here => ready(Ok(ctx.address())),
            Route::Unknown => ready(Err(PathError::Unknown { path })),
            Route::Via(via) => Box::pin(forward(via, message).map(|answer, _, _| answer?)),
            Route::Child(link) => match nested::address_of(&link) {
                Some(addr) => ready(Ok(addr)),
                None => ready(Err(PathError::Unknown { path })),
            },
        }
    }
}

impl<A: Actor> PathMessage for ChildAt<A> {
    fn path(&self) -> &NodePath {
        &self.path
    }
}

impl<A: Actor> Handler<ChildAt<A>> for SupervisorActor {
    type Result = ResponseActFuture<Self, Result<ChildHandle<A>, PathError>>;

    fn handle(&mut self, message: ChildAt<A>, _: &mut Context<Self>) -> Self::Result {
        let path = message.path.clone();
        match self.route(&path) {
            Route::Here => ready(Err(PathError::Protected {
                path,
                reason: "it is the supervisor the message was sent to; you hold its address".into(),
            })),
            Route::Unknown => ready(Err(PathError::Unknown { path })),
            Route::Via(via) => Box::pin(forward(via, message).map(|answer, _, _| answer?)),
            Route::Child(link) => ready(handle_of(&link, path)),
        }
    }
}

/// A handle to the child behind `link`, if it runs an `A`.
fn handle_of<A: Actor>(link: &ChildLink, path: NodePath) -> Result<ChildHandle<A>, PathError> {
    let address = link.nested.as_ref().map(|nested| &nested.0);
    // A nested supervisor's address, or a runner's weak one.
    if let Some(addr) = address.and_then(|any| any.downcast_ref::<Addr<A>>()) {
        return Ok(ChildHandle::new(addr.clone(), link.shared.clone()));
    }
    match address.and_then(|any| any.downcast_ref::<WeakAddr<A>>()) {
        Some(weak) => match weak.upgrade() {
            Some(addr) => Ok(ChildHandle::new(addr, link.shared.clone())),
            None => Err(PathError::Ended { path }),
        },
        None => Err(PathError::WrongType {
            path,
            expected: std::any::type_name::<A>(),
            kind: link.kind,
        }),
    }
}

/// Asks a supervisor for its cancellation token.
struct TokenOf;

impl Message for TokenOf {
    type Result = CancellationToken;
}

impl Handler<TokenOf> for SupervisorActor {
    type Result = actix::MessageResult<TokenOf>;

    fn handle(&mut self, _: TokenOf, _: &mut Context<Self>) -> Self::Result {
        actix::MessageResult(self.token.clone())
    }
}

impl ChildHandle<SupervisorActor> {
    /// The supervisor's cancellation token: cancelled once it has stopped
    /// (or given up, or ended otherwise), after its children; the parent of
    /// the tokens its children's factories are given. Work tied to the
    /// subtree's life can wait on it.
    ///
    /// # Errors
    ///
    /// When the supervisor is gone.
    ///
    /// # Examples
    ///
    /// See [`ChildAt`].
    pub async fn token(&self) -> Result<CancellationToken, MailboxError> {
        self.address().send(TokenOf).await
    }
}
