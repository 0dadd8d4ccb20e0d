//! One shape for both kinds of WebSocket the server holds: connections
//! accepted by axum at `/ws` and connections it dials with
//! tokio-tungstenite. The link code (`conn.rs`) sees only [`In`] and [`Out`].

use axum::body::Bytes;
use chordphone_link::{CloseCode, MAX_LINK_FRAME};
use futures_util::{future, Sink, SinkExt, Stream, StreamExt};
use std::pin::Pin;
use tokio_tungstenite::tungstenite;

/// Bytes the server reads from a socket at a time: small, so that many idle
/// connections cost little (the buffer is resident for every connection;
/// 512 instead of 1,024 took 0.3 KiB off each idle peer, 256 another 0.05).
/// Larger frames, up to `MAX_LINK_FRAME`, grow the buffer of their
/// connection only.
pub const READ_BUFFER: usize = 256;

/// Something the socket delivered.
#[derive(Debug)]
pub enum In {
    /// A binary message: one link frame.
    Frame(Bytes),
    /// A text message: links carry binary frames only.
    Text,
    /// A message or frame over the size limit.
    TooLarge,
    /// The other side closed, or the connection failed.
    Closed,
    /// Nothing for the link (ping and pong are answered by the library).
    Nothing,
}

/// Something to write to a socket.
#[derive(Debug)]
pub enum Out {
    /// A binary message: one link frame.
    Frame(Bytes),
    /// A close frame with this code and its reason.
    Close(CloseCode),
}

/// The reading half.
pub type InStream = Pin<Box<dyn Stream<Item = In> + Send>>;
/// The writing half; an error means the connection is gone.
pub type OutSink = Pin<Box<dyn Sink<Out, Error = ()> + Send>>;

/// Size limits and small buffers for sockets tungstenite runs (dialled ones).
pub fn client_config() -> tungstenite::protocol::WebSocketConfig {
    tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_LINK_FRAME + 1024)
        .max_message_size(Some(MAX_LINK_FRAME))
        .max_frame_size(Some(MAX_LINK_FRAME))
}

/// Whether a tungstenite error means a message was over the size limit.
fn too_large(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Capacity(_))
}

/// Splits a socket accepted by axum.
pub fn from_axum(ws: axum::extract::ws::WebSocket) -> (InStream, OutSink) {
    use axum::extract::ws::{CloseFrame, Message};
    let (sink, stream) = ws.split();
    let stream = stream.map(|m| match m {
        Ok(Message::Binary(b)) => In::Frame(b),
        Ok(Message::Text(_)) => In::Text,
        Ok(Message::Close(_)) => In::Closed,
        Ok(Message::Ping(_) | Message::Pong(_)) => In::Nothing,
        Err(e) => {
            // axum wraps the tungstenite error; look inside for the cause.
            match e.into_inner().downcast::<tungstenite::Error>() {
                Ok(e) if too_large(&e) => In::TooLarge,
                _ => In::Closed,
            }
        }
    });
    let sink = sink.sink_map_err(|_| ()).with(|out: Out| {
        future::ready(Ok::<_, ()>(match out {
            Out::Frame(b) => Message::Binary(b),
            Out::Close(code) => Message::Close(Some(CloseFrame {
                code: code.code(),
                reason: code.reason().into(),
            })),
        }))
    });
    (Box::pin(stream), Box::pin(sink))
}

/// Splits a socket dialled with tokio-tungstenite.
pub fn from_tungstenite<S>(ws: tokio_tungstenite::WebSocketStream<S>) -> (InStream, OutSink)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use tungstenite::protocol::frame::CloseFrame;
    use tungstenite::Message;
    let (sink, stream) = ws.split();
    let stream = stream.map(|m| match m {
        Ok(Message::Binary(b)) => In::Frame(b),
        Ok(Message::Text(_)) => In::Text,
        Ok(Message::Close(_)) => In::Closed,
        Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => In::Nothing,
        Err(e) if too_large(&e) => In::TooLarge,
        Err(_) => In::Closed,
    });
    let sink = sink.sink_map_err(|_| ()).with(|out: Out| {
        future::ready(Ok::<_, ()>(match out {
            Out::Frame(b) => Message::Binary(b),
            Out::Close(code) => Message::Close(Some(CloseFrame {
                code: code.code().into(),
                reason: code.reason().into(),
            })),
        }))
    });
    (Box::pin(stream), Box::pin(sink))
}
