use serde::Deserialize;

/// Settings of `keyword_alerter` (`plugins/keyword_alerter/config.yml`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeywordAlerterConfig {
    /// Words or phrases that raise an alert, matched case-insensitively as whole words. When
    /// several are said, the alert names the first in this list.
    pub keywords: Vec<String>,
}
