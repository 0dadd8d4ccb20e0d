//! HTTP routes: the web app, the WebSocket link endpoint, health, metrics,
//! status and ICE settings.

use crate::conn;
use crate::ice::IceRefusal;
use crate::inputs::{NodeInput, Snapshot};
use crate::serve::Remote;
use crate::shared::Shared;
use crate::socket;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chordphone_link::{Role, MAX_LINK_FRAME};
use core::time::Duration;
use serde_json::json;
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use tokio::sync::oneshot;

/// How long `/status` and `/metrics` wait for the node task.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(2);

/// Every route of the server.
pub fn router(shared: Arc<Shared>, static_dir: &Path) -> Router {
    if !static_dir.is_dir() {
        tracing::warn!(dir = %static_dir.display(), "static directory missing: web app files answer 404");
    }
    Router::new()
        .route("/ws", get(ws))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .route("/ice", get(ice))
        .fallback_service(tower_http::services::ServeDir::new(static_dir))
        .with_state(shared)
}

async fn ws(State(shared): State<Arc<Shared>>, upgrade: WebSocketUpgrade) -> Response {
    upgrade
        .max_message_size(MAX_LINK_FRAME)
        .max_frame_size(MAX_LINK_FRAME)
        // Small buffers: an idle connection should cost little memory.
        .read_buffer_size(socket::READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_LINK_FRAME + 1024)
        .on_upgrade(move |ws| conn::accepted(shared, socket::from_axum(ws)))
}

async fn healthz(State(shared): State<Arc<Shared>>) -> Response {
    let body = json!({
        "status": "ok",
        "joined": shared.metrics.joined.load(Relaxed),
        "instance": shared.instance,
    });
    // Tabs loaded from another origin (`?server=`) read it too.
    ([(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")], Json(body)).into_response()
}

/// ICE server settings with fresh TURN credentials for the asking peer.
async fn ice(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(remote): Remote,
    uri: axum::http::Uri,
) -> Response {
    // Tabs loaded from another origin (`?server=`) ask too.
    let cors = [(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")];
    let Some(ice) = shared.ice.get() else {
        return (StatusCode::SERVICE_UNAVAILABLE, cors).into_response();
    };
    match ice.issue(remote.ip(), uri.query()) {
        Ok(doc) => {
            shared.metrics.ice_issued.fetch_add(1, Relaxed);
            // Credentials are personal and short-lived: no cache keeps them.
            (cors, [(header::CACHE_CONTROL, "no-store")], Json(doc)).into_response()
        }
        Err(why) => {
            shared.metrics.ice_refused.fetch_add(1, Relaxed);
            let code = match why {
                IceRefusal::RateLimited => StatusCode::TOO_MANY_REQUESTS,
                IceRefusal::BadPeer => StatusCode::BAD_REQUEST,
            };
            (code, cors).into_response()
        }
    }
}

async fn snapshot(shared: &Shared) -> Option<Snapshot> {
    let (tx, rx) = oneshot::channel();
    let ask = async {
        shared.node_tx.send(NodeInput::Snapshot(tx)).await.ok()?;
        rx.await.ok()
    };
    tokio::time::timeout(SNAPSHOT_TIMEOUT, ask)
        .await
        .ok()
        .flatten()
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let snap = snapshot(&shared).await;
    let text = shared.metrics.render(snap.as_ref().map(|s| &s.gauges));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn status(State(shared): State<Arc<Shared>>) -> Response {
    let Some(snap) = snapshot(&shared).await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    Json(status_json(&snap, shared.metrics.joined.load(Relaxed))).into_response()
}

/// The `/status` document.
fn status_json(snap: &Snapshot, joined: bool) -> serde_json::Value {
    let s = &snap.status;
    let peers: Vec<_> = snap
        .peers
        .iter()
        .map(|(id, role)| {
            let role = match role {
                Role::Peer => "peer",
                Role::Server => "server",
            };
            json!({"id": id.to_hex(), "role": role})
        })
        .collect();
    json!({
        "id": s.id.to_hex(),
        "predecessor": s.predecessor.map(|p| p.to_hex()),
        "successors": s.successors.iter().map(|n| n.to_hex()).collect::<Vec<_>>(),
        "fingers": s.fingers.iter().map(|n| n.to_hex()).collect::<Vec<_>>(),
        // Every link a server holds is a WebSocket.
        "links": {"webrtc": 0, "websocket": s.links.len(), "relayed": 0},
        "peers": peers,
        "records": s.records,
        "joined": joined,
    })
}
