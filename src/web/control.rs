//! `POST /supervision/restart/{path}` and `POST /supervision/stop/{path}`:
//! control by path, off by default, behind a bearer token compared in
//! constant time when on.
//!
//! Checks run in this order, so that a caller without the token learns
//! nothing about the tree: control on (else `404`), the token (else `401`),
//! the path well formed (else `400`), not protected (else `403`); then the
//! message goes to the root, which routes it by path.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use subtle::ConstantTimeEq;

use super::events::report_json;
use super::{error, State};
use crate::messages::{PathError, RestartChildAt, StopChildAt};
use crate::tree::NodePath;

pub(super) async fn restart(state: web::Data<State>, request: HttpRequest) -> HttpResponse {
    let path = match admit(&state, &request) {
        Ok(path) => path,
        Err(response) => return response,
    };
    match state.root.send(RestartChildAt::new(path.clone())).await {
        Ok(Ok(())) => HttpResponse::Accepted().json(json!({
            "path": path,
            "status": "restarting",
        })),
        Ok(Err(refused)) => refusal(&refused),
        Err(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the root supervisor is gone",
        ),
    }
}

pub(super) async fn stop(state: web::Data<State>, request: HttpRequest) -> HttpResponse {
    let path = match admit(&state, &request) {
        Ok(path) => path,
        Err(response) => return response,
    };
    match state.root.send(StopChildAt::new(path)).await {
        Ok(Ok(report)) => HttpResponse::Ok().json(report_json(&report)),
        Ok(Err(refused)) => refusal(&refused),
        Err(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the root supervisor is gone",
        ),
    }
}

/// The node a control request is for, once control is on, the token right,
/// the path well formed and not protected.
// The refusal is the response itself, built once per refused request.
#[allow(clippy::result_large_err)]
fn admit(state: &State, request: &HttpRequest) -> Result<NodePath, HttpResponse> {
    let Some(token) = state.config.token.as_deref() else {
        return Err(error(
            StatusCode::NOT_FOUND,
            "the control endpoints are disabled",
        ));
    };
    if !bearer_matches(request, token) {
        return Err(HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
            .json(
                json!({ "error": "a valid `Authorization: Bearer <token>` header is required" }),
            ));
    }
    let path = requested_path(request).map_err(|refused| refusal(&refused))?;
    let protected = state.config.protected.iter().find(|p| is_within(p, &path));
    if let Some(protected) = protected {
        return Err(refusal(&PathError::Protected {
            reason: format!("{protected} is protected"),
            path,
        }));
    }
    Ok(path)
}

/// Whether `node` is `path` or below it.
fn is_within(node: &NodePath, path: &NodePath) -> bool {
    let (node, path) = (node.as_str(), path.as_str());
    node == path || (node.starts_with(path) && node.as_bytes().get(path.len()) == Some(&b'/'))
}

/// Whether the request carries `Authorization: Bearer <token>`, compared
/// in constant time (for a given length).
fn bearer_matches(request: &HttpRequest, token: &[u8]) -> bool {
    let Some(value) = request.headers().get(header::AUTHORIZATION) else {
        return false;
    };
    let value = value.as_bytes();
    let Some(scheme) = value.get(..7) else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return false;
    }
    value[7..].ct_eq(token).into()
}

/// The node path in the URL: `/` then what the `{path}` segment matched,
/// percent-decoded.
fn requested_path(request: &HttpRequest) -> Result<NodePath, PathError> {
    let invalid = |reason| PathError::Invalid {
        path: String::new(),
        reason,
    };
    // actix-web has already decoded the URL lossily (bad UTF-8 becomes
    // U+FFFD): check the raw one.
    if String::from_utf8(percent_decode(request.uri().path())).is_err() {
        return Err(invalid("the path is not UTF-8"));
    }
    let matched = request.match_info().get("path").unwrap_or_default();
    let decoded =
        String::from_utf8(percent_decode(matched)).map_err(|_| invalid("the path is not UTF-8"))?;
    if decoded.len() >= NodePath::MAX_LEN {
        return Err(invalid("the path is longer than 4096 bytes"));
    }
    NodePath::parse(&format!("/{decoded}"))
}

/// `%XX` sequences decoded; anything else kept as is.
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// The answer to a refused control request.
fn refusal(refused: &PathError) -> HttpResponse {
    let (status, kind) = match refused {
        PathError::Invalid { .. } => (StatusCode::BAD_REQUEST, "invalid_path"),
        PathError::Unknown { .. } => (StatusCode::NOT_FOUND, "unknown_path"),
        PathError::Protected { .. } => (StatusCode::FORBIDDEN, "protected"),
        PathError::Ended { .. } => (StatusCode::CONFLICT, "ended"),
        PathError::Stopping { .. } => (StatusCode::CONFLICT, "stopping"),
        PathError::Control(_) => (StatusCode::CONFLICT, "refused"),
        PathError::WrongType { .. } => (StatusCode::BAD_REQUEST, "wrong_type"),
    };
    HttpResponse::build(status).json(json!({ "error": refused.to_string(), "kind": kind }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_decodes_pairs_and_keeps_the_rest() {
        assert_eq!(percent_decode("a%2Fb"), b"a/b");
        assert_eq!(percent_decode("%"), b"%");
        assert_eq!(percent_decode("%4"), b"%4");
        assert_eq!(percent_decode("%zz"), b"%zz");
        assert_eq!(percent_decode("%ff"), [0xff]);
        assert_eq!(percent_decode("x%41"), b"xA");
    }
}
