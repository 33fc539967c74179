use serde::Deserialize;

/// Settings of `scaffold_example` (`plugins/scaffold_example/config.yml`). Every field's doc
/// comment is its documentation; unknown keys are refused so typos are caught by
/// `chronicle plugin validate`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScaffoldExampleConfig {
    /// Conversations with fewer words than this are declined.
    pub min_words: usize,
}

impl Default for ScaffoldExampleConfig {
    fn default() -> Self {
        Self { min_words: 1 }
    }
}
