//! `GET /healthz` (liveness) and `GET /readyz` (readiness), for load
//! balancers and orchestrators such as Kubernetes.
//!
//! Liveness asks only whether the process is worth keeping: the root
//! answers and has not ended. Readiness asks whether it should get traffic:
//! no stop began, the root runs, and every node has finished its start and
//! none is failed.

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::State;
use crate::tree::{state_label, NodeState, TreeSnapshot};

pub(super) async fn liveness(state: web::Data<State>) -> HttpResponse {
    let tree = match state.inspect().await {
        Ok(tree) => tree,
        Err(_) => {
            return HttpResponse::ServiceUnavailable()
                .json(json!({ "status": "dead", "reason": "the root supervisor does not answer" }))
        }
    };
    let root = &tree.root;
    if root.state.is_terminal() {
        let reason = match &root.last_failure {
            Some(failure) if root.state == NodeState::Failed => {
                format!("the root supervisor gave up: {failure}")
            }
            _ => "the root supervisor has stopped".to_string(),
        };
        return HttpResponse::ServiceUnavailable().json(json!({
            "status": "dead",
            "reason": reason,
            "path": root.path,
            "state": state_label(&root.state),
        }));
    }
    HttpResponse::Ok().json(json!({ "status": "alive" }))
}

pub(super) async fn readiness(state: web::Data<State>) -> HttpResponse {
    let mut reasons = Vec::new();
    if state.stopping.is_cancelled() {
        reasons.push(json!({ "reason": "stopping", "detail": "a stop of the tree began" }));
    }
    match state.inspect().await {
        Ok(tree) => reasons.extend(not_ready(&tree)),
        Err(_) => reasons.push(json!({
            "reason": "unanswered",
            "detail": "the root supervisor does not answer",
        })),
    }
    if reasons.is_empty() {
        HttpResponse::Ok().json(json!({ "status": "ready" }))
    } else {
        HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "not_ready", "reasons": reasons }))
    }
}

/// Why the tree is not ready, one entry per node: the root when it does not
/// run, every node `starting` or `failed`.
pub(crate) fn not_ready(tree: &TreeSnapshot) -> Vec<Value> {
    let root = &tree.root;
    let mut reasons = Vec::new();
    if root.state != NodeState::Running && root.state != NodeState::Failed {
        reasons.push(json!({
            "reason": "root_not_running",
            "path": root.path,
            "state": state_label(&root.state),
        }));
    }
    for node in tree.nodes() {
        let reason = match node.state {
            NodeState::Starting => "starting",
            NodeState::Waiting => "waiting",
            NodeState::Failed => "failed",
            _ => continue,
        };
        reasons.push(json!({
            "reason": reason,
            "path": node.path,
            "state": state_label(&node.state),
            "last_failure": node.last_failure.as_ref().map(|f| f.to_string()),
        }));
    }
    reasons
}
