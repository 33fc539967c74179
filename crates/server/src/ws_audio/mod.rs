//! The device WebSocket `GET /ws/audio`, speaking `chronicle.audio.v2`: the protocol of the
//! Python Chronicle's newer devices and apps (`proto/chronicle_audio_v2.proto`).
//!
//! - The client must ask for the subprotocol `chronicle.audio.v2`; without it the socket is
//!   closed at once with 1002 "chronicle.audio.v2 required".
//! - TEXT frames carry JSON controls ([`controls`], at most 64 KiB), BINARY frames one
//!   protobuf [`schema::MediaEnvelope`] (at most 4 KiB).
//! - The first control is a `hello`; its `bearer_token` is checked as `/ws?token=` is. A bad
//!   one is answered with an `AUTHENTICATION_FAILED` error and a 1008 close. The server says
//!   `hello {client_id, connection_id}`; the client id is formed from the user and the
//!   device's `display_name` (or `source_id`), as `/ws` forms it from `device_name`.
//! - `start_capture` (Opus, 16 kHz, mono, 20 or 60 ms) opens a pipeline session as `/ws`'s
//!   audio does ([`crate::device_session`]) and is answered `capture_started {binding}`.
//!   Each capture packet is decoded, heard and recorded, and answered
//!   `capture_packet_accepted {binding, sequence}` once on disk, in order. `stop_capture`
//!   ends the session (user stopped) and is answered `capture_stopped`; the socket stays
//!   open for the next capture. A disconnect ends it as `/ws`'s does.
//! - `heartbeat` is echoed; `button_event` is a press as on `/ws`; `voice_ready` and
//!   `playback_acknowledgement` are taken and ignored (Chronicle offers no playback).
//! - Anything else breaking the protocol (a packet out of sequence, a stale binding, a frame
//!   too large, a second `start_capture`) is answered with a `ServerControl` error
//!   (`INVALID_MEDIA`, or `MESSAGE_TOO_LARGE`, `INTERNAL`) and the socket is closed (1008, 1009
//!   or 1011) with the detail as the reason.

mod capture;
mod connection;
pub mod controls;
pub mod enums;
mod proto_json;
pub mod schema;
pub mod validate;
mod well_known;

use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::response::Response;

use crate::state::AppState;

pub use connection::SUBPROTOCOL;

/// Upgrades the request, choosing the subprotocol if the client offered it; a client that did
/// not is told why before the close.
#[utoipa::path(
    get, path = "/ws/audio", summary = "Stream audio v2 from a device (WebSocket, protobuf)", tag = "devices",
    description = "The audio v2 WebSocket: protobuf media envelopes. Authenticated by the first message.",
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket upgrade", content_type = "text/plain", body = String),
    )
)]
pub async fn handler(ws: WebSocketUpgrade, State(state): State<AppState>) -> Response {
    let ws = ws.protocols([connection::SUBPROTOCOL]);
    let speaks_v2 = ws.selected_protocol().is_some();
    // Controls are the largest frames; media frames are checked against their own bound.
    ws.max_message_size(controls::MAX_CONTROL_BYTES)
        .max_frame_size(controls::MAX_CONTROL_BYTES)
        .read_buffer_size(8 * 1024)
        .write_buffer_size(8 * 1024)
        .on_upgrade(move |socket| connection::serve(socket, state, speaks_v2))
}

#[cfg(test)]
mod robustness;
