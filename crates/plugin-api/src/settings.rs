use serde::de::DeserializeOwned;

use crate::JsonMap;

/// A plugin's settings: every key of its configuration that is not an orchestration key, after
/// `${VAR}` expansion, with `plugins.yml` overriding `plugins/<id>/config.yml`.
pub type Settings = JsonMap;

/// A setting that does not fit the plugin's configuration type.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", key_prefix(.key))]
pub struct SettingsError {
    /// The dotted path of the offending setting (`actions.single_press.type`), when known.
    pub key: Option<String>,
    /// What is wrong with it.
    pub message: String,
}

fn key_prefix(key: &Option<String>) -> String {
    match key {
        Some(key) => format!("setting `{key}`: "),
        None => String::new(),
    }
}

impl SettingsError {
    /// An error about one setting.
    pub fn at(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: Some(key.into()),
            message: message.into(),
        }
    }
}

/// Deserializes settings into a plugin's configuration type, naming the key that did not fit.
///
/// Use `#[serde(deny_unknown_fields)]` on the type so a misspelt setting is an error.
pub fn parse_settings<T: DeserializeOwned>(settings: &Settings) -> Result<T, SettingsError> {
    let value = serde_json::Value::Object(settings.clone());
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let key = (path != ".").then_some(path);
        SettingsError {
            key,
            message: error.into_inner().to_string(),
        }
    })
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Example {
        #[allow(dead_code)]
        port: u16,
    }

    fn settings(value: serde_json::Value) -> Settings {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn errors_name_the_setting() {
        let error = parse_settings::<Example>(&settings(json!({"port": "x"}))).unwrap_err();
        assert_eq!(error.key.as_deref(), Some("port"));
        assert!(
            error
                .to_string()
                .starts_with("setting `port`: invalid type")
        );
        let error =
            parse_settings::<Example>(&settings(json!({"port": 1, "prot": 2}))).unwrap_err();
        assert!(
            error.to_string().contains("unknown field `prot`"),
            "{error}"
        );
    }
}
