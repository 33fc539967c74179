use serde::Deserialize;

/// Settings of `test_event` (`plugins/test_event/config.yml`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TestEventConfig {
    /// The collection of the plugin's document store that receives one document per event.
    pub collection: String,
    /// Accepted for configurations written for the Python original, which wrote to a SQLite
    /// file; ignored, since events go to the document store.
    pub db_path: Option<String>,
}

impl Default for TestEventConfig {
    fn default() -> Self {
        Self {
            collection: "events".to_owned(),
            db_path: None,
        }
    }
}
