//! A raw WebSocket client for hostile-input tests: it does exactly what it
//! is told, including things a real peer never does.

use super::random;
use chordphone_link::{Handshake, Role, Step};
use chordphone_overlay::{Identity, NodeId};
use core::time::Duration;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens a WebSocket with no handshake.
pub async fn connect(url: &str) -> Ws {
    tokio_tungstenite::connect_async_with_config(url, None, true)
        .await
        .unwrap()
        .0
}

/// Opens a WebSocket and runs the identity handshake as a peer.
pub async fn connect_handshaken(url: &str) -> (Ws, Identity, NodeId) {
    connect_as(url, Identity::from_seed(random())).await
}

/// Opens a WebSocket and runs the identity handshake with this identity.
pub async fn connect_as(url: &str, identity: Identity) -> (Ws, Identity, NodeId) {
    let mut ws = connect(url).await;
    let mut hs = Handshake::new(&identity, random(), Role::Peer);
    ws.send(Message::Binary(hs.hello().into())).await.unwrap();
    loop {
        let Some(Ok(Message::Binary(b))) = ws.next().await else {
            panic!("handshake interrupted")
        };
        match hs.handle(&b).unwrap() {
            Step::Send(f) => ws.send(Message::Binary(f.into())).await.unwrap(),
            Step::Done(server) => return (ws, identity, server.id),
        }
    }
}

/// Reads until the server closes: the close code and reason, if any.
pub async fn close_of(ws: &mut Ws) -> Option<(u16, String)> {
    let read = async {
        while let Some(m) = ws.next().await {
            match m {
                Ok(Message::Close(Some(frame))) => {
                    return Some((u16::from(frame.code), frame.reason.to_string()))
                }
                Ok(Message::Close(None)) => return None,
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
        None
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("server closes in time")
}

/// The numeric code for a tungstenite close code.
pub fn code(c: WsCode) -> u16 {
    u16::from(c)
}
