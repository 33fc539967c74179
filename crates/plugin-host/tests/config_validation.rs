//! Every configuration error names file, line and column, and says how to fix it.

mod common;

use common::Project;

/// Loads `plugins_yml` and asserts the errors, each as `LINE:COL: message fragment`.
#[track_caller]
fn check_errors(plugins_yml: &str, expected: &[&str]) {
    let project = Project::new(plugins_yml);
    // File-level errors refuse the file; an entry's errors fail its plugin only: both count.
    let diagnostics = match project.load() {
        Ok(loaded) => loaded.diagnostics,
        Err(errors) => errors.0,
    };
    let file = project.config().plugins_file();
    let found: Vec<String> = diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| {
            assert_eq!(*d.location.file, *file, "{d}");
            assert!(d.hint.is_some(), "every error has a hint: {d}");
            format!(
                "{}:{}: {}",
                d.location.pos.line, d.location.pos.column, d.message
            )
        })
        .collect();
    assert_eq!(found.len(), expected.len(), "{found:#?}");
    for (found, expected) in found.iter().zip(expected) {
        assert!(
            found.starts_with(expected) || found.contains(expected),
            "{found:?} does not match {expected:?}"
        );
    }
}

#[test]
fn unknown_event_name() {
    check_errors(
        "plugins:\n  a:\n    enabled: true\n    events: [transcript.streaming, conversation.completed]\n",
        &["4:36: unknown event `conversation.completed` (did you mean `conversation.complete`?)"],
    );
}

#[test]
fn unknown_condition_type() {
    check_errors(
        "plugins:\n  a:\n    enabled: true\n    events: [transcript.streaming]\n    condition:\n      type: wakeword\n",
        &["6:13: unknown condition type `wakeword`"],
    );
}

#[test]
fn invalid_regex() {
    check_errors(
        "plugins:\n  a:\n    enabled: true\n    events: [transcript.streaming]\n    condition: {type: regex, pattern: \"(unclosed\"}\n",
        &["5:39: invalid regex `(unclosed`"],
    );
}

#[test]
fn conditions_without_their_words_or_pattern() {
    check_errors(
        concat!(
            "plugins:\n",
            "  a:\n    events: [transcript.streaming]\n    condition: {type: wake_word}\n",
            "  b:\n    events: [transcript.streaming]\n    condition: {type: keyword_anywhere, keywords: []}\n",
            "  c:\n    events: [transcript.streaming]\n    condition: {type: regex}\n",
            "  d:\n    events: [transcript.streaming]\n    condition: {type: wake_word, wake_words: [\"!!\"]}\n",
        ),
        &[
            "4:16: this condition needs `wake_words`",
            "7:16: this condition needs `keywords`",
            "10:16: a regex condition needs a `pattern`",
            "13:47: this phrase is empty once punctuation is removed",
        ],
    );
}

#[test]
fn non_integer_priority_timeout_and_retries() {
    check_errors(
        "plugins:\n  a:\n    priority: high\n  b:\n    priority: 1.5\n    timeout: 0\n    max_retries: -1\n",
        &[
            "3:15: `priority` must be an integer, found a string",
            "5:15: `priority` must be an integer, found a number",
            "6:14: `timeout` must be a number of seconds",
            "7:18: `max_retries` must be an integer from 0 to 100",
        ],
    );
}

#[test]
fn plugin_id_no_runtime_provides() {
    check_errors(
        "plugins:\n  b:\n    enabled: true\n  nope:\n    enabled: false\n",
        &["4:3: no runtime provides plugin `nope`"],
    );
}

#[test]
fn supported_access_levels_inform_and_never_refuse() {
    let project = Project::new(
        "plugins:\n  buttons_only:\n    enabled: true\n    events:\n      - button.single_press\n      - conversation.complete\n",
    );
    let loaded = project.load().unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(loaded.errors().count(), 0);
    let warning = loaded
        .diagnostics
        .iter()
        .find(|d| d.severity == chronicle_plugin_host::Severity::Warning)
        .expect("a warning");
    assert_eq!(
        (warning.location.pos.line, warning.location.pos.column),
        (6, 9)
    );
    assert!(
        warning
            .message
            .contains("declares button events only; it receives `conversation.complete` anyway"),
        "{warning}"
    );
    let status = &loaded.host.plugins()[0];
    assert_eq!(status.status, "registered");
    assert_eq!(status.events.len(), 2);
}

#[test]
fn null_condition() {
    check_errors(
        "plugins:\n  a:\n    enabled: true\n    events: [conversation.complete]\n    condition:\n  b:\n    enabled: true\n",
        &["5:5: `condition` is empty"],
    );
}

#[test]
fn unknown_permission_name() {
    check_errors(
        "plugins:\n  a:\n    permissions:\n      - database\n      - databse\n",
        &["5:9: unknown permission `databse`"],
    );
}

#[test]
fn unset_environment_variable_without_default() {
    check_errors(
        "plugins:\n  a:\n    enabled: true\n    api_key: ${CHRONICLE_TEST_SURELY_UNSET_KEY}\n",
        &["4:14: environment variable `CHRONICLE_TEST_SURELY_UNSET_KEY` is not set"],
    );
}

#[test]
fn settings_that_do_not_fit_the_plugin_are_located_at_their_key() {
    check_errors(
        "plugins:\n  a:\n    enabled: true\n    sleep_ms: lots\n",
        &["4:5: plugin `a`: setting `sleep_ms`: invalid type: string \"lots\""],
    );
}

#[test]
fn syntax_errors_and_wrong_shapes() {
    check_errors("plugins:\n  a: [unclosed\n", &["invalid YAML"]);
    check_errors(
        "plugins:\n  a:\n    enabled: yes\n",
        &["3:14: `enabled` must be true or false, found a string"],
    );
    check_errors(
        "plugins:\n  a:\n    events: conversation.complete\n",
        &["3:13: `events` must be a list"],
    );
    check_errors(
        "- a\n- b\n",
        &["1:1: expected a mapping with a `plugins` key"],
    );
}

#[test]
fn errors_are_all_reported_together_and_display_with_file_line_column() {
    let project = Project::new(
        "plugins:\n  a:\n    enabled: true\n    events: [x.y]\n    priority: high\n  b:\n    enabled: true\n    events: [conversation.complete]\n",
    );
    // The errors are in `a`'s entry: `a` is failed with them, and `b` loads.
    let loaded = project.load().unwrap_or_else(|errors| panic!("{errors}"));
    let text: String = loaded.errors().map(|d| format!("{d}\n")).collect();
    let file = project.config().plugins_file();
    let plugins = loaded.host.plugins();
    assert_eq!(plugins[0].status, "failed");
    let reason = plugins[0].error.clone().unwrap_or_default();
    assert!(
        reason.contains(":4:14: unknown event `x.y`") && reason.contains(":5:15: `priority`"),
        "{reason}"
    );
    assert_eq!(plugins[1].status, "registered");
    assert!(
        text.contains(&format!("{}:4:14: unknown event `x.y`", file.display())),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{}:5:15: `priority` must be an integer",
            file.display()
        )),
        "{text}"
    );
    assert!(
        text.contains("help: events are: transcript.streaming"),
        "{text}"
    );
}

#[test]
fn deprecated_aliases_are_accepted_with_warnings() {
    let project = Project::new(
        "plugins:\n  a:\n    enabled: true\n    subscriptions: [transcript.streaming]\n    trigger: {type: wake_word, wake_word: hey hermes}\n    access_level: transcript\n",
    );
    let loaded = project.load().unwrap_or_else(|errors| panic!("{errors}"));
    let warnings: Vec<String> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity == chronicle_plugin_host::Severity::Warning)
        .map(|w| w.message.clone())
        .collect();
    assert_eq!(
        warnings,
        [
            "`subscriptions` is deprecated",
            "`trigger` is deprecated",
            "`access_level` is deprecated and ignored"
        ]
    );
    let status = &loaded.host.plugins()[0];
    assert_eq!(
        status.events,
        [chronicle_plugin_api::Event::TranscriptStreaming]
    );
    assert_eq!(
        status.condition["wake_words"],
        serde_json::json!(["hey hermes"])
    );
    check_errors(
        "plugins:\n  a:\n    events: []\n    subscriptions: []\n",
        &["4:5: both `events` and its deprecated alias `subscriptions` are set"],
    );
}

#[test]
fn a_missing_plugins_file_is_a_warning_not_an_error() {
    let project = Project::new("");
    std::fs::remove_file(project.config().plugins_file()).unwrap();
    let loaded = project.load().unwrap_or_else(|errors| panic!("{errors}"));
    assert!(loaded.diagnostics[0].message.contains("file not found"));
    assert!(loaded.host.plugins().iter().all(|p| !p.configured));
}

#[test]
fn errors_in_a_plugins_config_yml_name_that_file() {
    let project = Project::new("plugins:\n  a:\n    enabled: true\n");
    project.write(
        "plugins/a/config.yml",
        "# settings\nsleep_ms: ${CHRONICLE_TEST_UNSET_TOO}\n",
    );
    let loaded = project.load().unwrap_or_else(|errors| panic!("{errors}"));
    let diagnostic = loaded.errors().next().expect("an error");
    assert_eq!(loaded.host.plugins()[0].status, "failed");
    assert!(
        diagnostic.location.file.ends_with("plugins/a/config.yml"),
        "{diagnostic}"
    );
    assert_eq!(
        (diagnostic.location.pos.line, diagnostic.location.pos.column),
        (2, 11)
    );
}

#[test]
fn an_unset_variable_fails_its_plugin_and_the_others_start() {
    let project = Project::new(
        "plugins:\n  a:\n    enabled: true\n    events: [conversation.complete]\n    token: ${CHRONICLE_TEST_NEVER_SET}\n  b:\n    enabled: true\n    events: [conversation.complete]\n",
    );
    let loaded = project.load().unwrap_or_else(|errors| panic!("{errors}"));
    let plugins = loaded.host.plugins();
    assert_eq!(
        (plugins[0].plugin_id.as_str(), plugins[0].status.as_str()),
        ("a", "failed")
    );
    let reason = plugins[0].error.clone().unwrap_or_default();
    assert!(
        reason.contains(
            "plugins.yml:5:12: environment variable `CHRONICLE_TEST_NEVER_SET` is not set"
        ),
        "{reason}"
    );
    assert_eq!(plugins[1].status, "registered");
}

#[test]
fn a_yaml_syntax_error_still_refuses_the_file() {
    let project = Project::new("plugins:\n  a: [unclosed\n  b:\n    enabled: true\n");
    let errors = project.load().err().expect("refused");
    assert!(
        errors
            .0
            .iter()
            .any(|d| d.message.starts_with("invalid YAML")),
        "{errors}"
    );
}
