use std::process::ExitCode;

use chronicle_plugin_host::PluginStatus;

use crate::args::Paths;

pub async fn run(paths: &Paths, json: bool) -> anyhow::Result<ExitCode> {
    let loaded = match super::host::load(paths, None) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    loaded.host.initialize().await;
    let plugins = loaded.host.plugins();
    loaded.host.shutdown().await;
    if json {
        println!("{}", serde_json::to_string_pretty(&plugins)?);
    } else {
        print!("{}", table(&plugins));
    }
    Ok(ExitCode::SUCCESS)
}

fn table(plugins: &[PluginStatus]) -> String {
    let rows: Vec<[String; 10]> = plugins
        .iter()
        .map(|p| {
            let condition = match p.condition.get("type").and_then(|t| t.as_str()) {
                Some("always") | None => p
                    .condition
                    .get("type")
                    .and_then(|t| t.as_str())
                    .unwrap_or("-")
                    .to_owned(),
                Some(kind) => {
                    let words = p
                        .condition
                        .as_object()
                        .and_then(|c| c.iter().find(|(key, _)| *key != "type"))
                        .map(|(_, value)| value.to_string())
                        .unwrap_or_default();
                    format!("{kind} {words}")
                }
            };
            let events: Vec<&str> = p.events.iter().map(|e| e.as_str()).collect();
            [
                p.plugin_id.clone(),
                p.runtime.to_string(),
                if p.enabled { "yes".into() } else { "no".into() },
                p.status.to_string(),
                p.priority.to_string(),
                p.pid.map_or_else(|| "-".to_owned(), |pid| pid.to_string()),
                p.restarts
                    .map_or_else(|| "-".to_owned(), |restarts| restarts.to_string()),
                if events.is_empty() {
                    "-".into()
                } else {
                    events.join(",")
                },
                condition,
                permissions(p),
            ]
        })
        .collect();
    let header = [
        "PLUGIN",
        "RUNTIME",
        "ENABLED",
        "STATUS",
        "PRIORITY",
        "PID",
        "RESTARTS",
        "EVENTS",
        "CONDITION",
        "PERMISSIONS",
    ]
    .map(str::to_owned);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for (index, row) in std::iter::once(&header).chain(&rows).enumerate() {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
        if let Some(error) = index.checked_sub(1).and_then(|i| plugins[i].error.as_ref()) {
            out.push_str(&format!("    error: {error}\n"));
        }
    }
    out
}

/// The declared list, or, for an entry without one, "all" and what its calls needed so far.
pub(super) fn permissions(plugin: &PluginStatus) -> String {
    let names = |list: &[chronicle_plugin_api::Permission]| {
        list.iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    match &plugin.permissions {
        _ if !plugin.configured => "-".to_owned(),
        Some(list) if list.is_empty() => "none".to_owned(),
        Some(list) => names(list),
        None if plugin.permissions_used.is_empty() => "all (undeclared)".to_owned(),
        None => format!("all (undeclared; used {})", names(&plugin.permissions_used)),
    }
}
