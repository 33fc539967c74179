use serde::Deserialize;

/// Settings of `todo_extractor` (`plugins/todo_extractor/config.yml`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TodoExtractorConfig {
    /// Phrases that introduce an action item, matched case-insensitively on word boundaries;
    /// the item is what follows, up to the end of the sentence or the next phrase.
    pub phrases: Vec<String>,
    /// The collection of the plugin's document store that receives one document per item.
    pub collection: String,
}

impl Default for TodoExtractorConfig {
    fn default() -> Self {
        Self {
            phrases: [
                "I need to",
                "I should",
                "TODO:",
                "reminder to",
                "remind me to",
            ]
            .map(str::to_owned)
            .to_vec(),
            collection: "todos".to_owned(),
        }
    }
}
