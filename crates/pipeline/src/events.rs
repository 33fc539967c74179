//! Building what the pipeline sends to plugins: dispatch requests from JSON.

use chronicle_plugin_api::{Event, JsonMap};
use chronicle_plugin_host::DispatchRequest;
use serde_json::Value;

/// Shorthand for event data.
pub fn object(value: Value) -> JsonMap {
    match value {
        Value::Object(map) => map,
        _ => JsonMap::new(),
    }
}

/// A dispatch request from JSON data and metadata.
pub fn request(event: Event, user_id: &str, data: Value, metadata: Value) -> DispatchRequest {
    DispatchRequest {
        metadata: object(metadata),
        ..DispatchRequest::new(event, user_id, object(data))
    }
}
