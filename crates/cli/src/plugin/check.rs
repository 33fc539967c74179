//! `plugin check ID`: builds the host, initializes that plugin alone, runs its connection test
//! and prints each step, and for a failed one how to fix it.

use std::process::ExitCode;

use chronicle_plugin_api::ConnectionReport;

use crate::args::Paths;

pub async fn run(paths: &Paths, plugin_id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let loaded = match super::host::load(paths, None) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let host = loaded.host;
    host.initialize_one(plugin_id).await;
    let report = host.test_connection(plugin_id).await;
    let status = host
        .plugins()
        .into_iter()
        .find(|plugin| plugin.plugin_id == plugin_id);
    host.shutdown().await;
    let Some(report) = report else {
        eprintln!(
            "chronicle: no plugin `{plugin_id}` in plugins.yml; `chronicle plugin list` shows what can run"
        );
        return Ok(ExitCode::from(crate::exit::USAGE));
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(plugin_id, &report));
        if let Some(status) = &status {
            println!("  permissions: {}", super::list::permissions(status));
        }
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::exit::PLUGIN_FAILED)
    })
}

/// The report as lines of text: the verdict, then each step, with the fix under a failed one.
fn render(plugin_id: &str, report: &ConnectionReport) -> String {
    let mut text = format!("{plugin_id}: {}\n", if report.ok { "ok" } else { "FAILED" });
    for check in &report.checks {
        let mark = if check.ok { "ok  " } else { "FAIL" };
        text.push_str(&format!("  {mark} {}: {}\n", check.name, check.detail));
        if let Some(fix) = &check.fix {
            text.push_str(&format!("       fix: {fix}\n"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use chronicle_plugin_api::ConnectionCheck;

    use super::*;

    #[test]
    fn a_failed_step_shows_its_fix_under_it() {
        let report = ConnectionReport::new(vec![
            ConnectionCheck::passed("settings", "2 endpoints"),
            ConnectionCheck::failed(
                "POST http://127.0.0.1:9/hook",
                "connection refused",
                "start the receiver or correct the URL",
            ),
        ]);
        assert_eq!(
            render("webhook", &report),
            "webhook: FAILED\n  ok   settings: 2 endpoints\n  FAIL POST http://127.0.0.1:9/hook: connection refused\n       fix: start the receiver or correct the URL\n"
        );
    }
}
