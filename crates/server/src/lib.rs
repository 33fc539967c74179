//! The Chronicle HTTP and WebSocket server.
