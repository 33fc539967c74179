//! `chronicle deliveries list | replay`: the durable delivery queue from the command line.

use std::process::ExitCode;
use std::time::Duration;

use chronicle_host_ports::delivery::{
    DeliveryFilter, DeliveryQueue, DeliveryRow, DeliveryStatus, ReplayTarget,
};
use chronicle_store::Store;

use crate::args::{DeliveriesCommand, Paths};
use crate::offline;

/// How long `replay` waits for the deliveries it runs itself.
const REPLAY_WAIT: Duration = Duration::from_secs(600);

pub async fn run(paths: &Paths, command: DeliveriesCommand) -> anyhow::Result<ExitCode> {
    match command {
        DeliveriesCommand::List {
            status,
            limit,
            json,
            data_dir,
        } => {
            let statuses = match status
                .iter()
                .map(|name| name.trim().parse::<DeliveryStatus>())
                .collect::<Result<Vec<_>, _>>()
            {
                Ok(statuses) => statuses,
                Err(error) => {
                    eprintln!("chronicle: {error}");
                    return Ok(ExitCode::from(crate::exit::USAGE));
                }
            };
            let store = Store::open(&data_dir).await?;
            let filter = DeliveryFilter {
                statuses,
                limit,
                ..DeliveryFilter::default()
            };
            let rows = store.list(&filter).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                print_table(&rows);
            }
            Ok(ExitCode::SUCCESS)
        }
        DeliveriesCommand::Replay {
            id,
            all_dead,
            data_dir,
        } => replay(paths, id, all_dead, &data_dir).await,
    }
}

fn print_table(rows: &[DeliveryRow]) {
    if rows.is_empty() {
        println!("no deliveries");
        return;
    }
    println!(
        "{:>6}  {:<9}  {:>7}  {:<22}  {:<24}  LAST ERROR",
        "ID", "STATUS", "ATTEMPT", "EVENT", "PLUGIN"
    );
    for row in rows {
        println!(
            "{:>6}  {:<9}  {:>7}  {:<22}  {:<24}  {}",
            row.id,
            row.status.as_str(),
            row.attempt,
            row.event.as_str(),
            row.plugin_id,
            row.last_error.as_deref().unwrap_or("")
        );
    }
}

async fn replay(
    paths: &Paths,
    id: Option<i64>,
    all_dead: bool,
    data_dir: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    let store = Store::open(data_dir).await?;
    let target = match (id, all_dead) {
        (Some(id), false) => {
            if store.delivery(id).await?.is_none() {
                eprintln!("chronicle: no delivery {id}; `chronicle deliveries list` shows them");
                return Ok(ExitCode::from(crate::exit::USAGE));
            }
            ReplayTarget::One(id)
        }
        _ => ReplayTarget::AllDead,
    };
    let config = offline::pipeline_config(paths)?;
    // Started before the replay is marked, so this process knows whether it delivers.
    let (pipeline, host) = match offline::start(paths, store.clone(), &config, |_| {}).await? {
        Ok(started) => started,
        Err(code) => return Ok(code),
    };
    // Checked after the start, whose recovery puts back what a crashed server left running.
    if let ReplayTarget::One(id) = target
        && let Some(row) = store.delivery(id).await?
        && row.status == DeliveryStatus::Running
    {
        eprintln!("chronicle: delivery {id} is running now; replay it once it has ended");
        offline::deliver_and_stop(&pipeline, &host).await;
        return Ok(ExitCode::from(crate::exit::USAGE));
    }
    let marked_ms = chronicle_store::delivery::now_ms();
    let ids = store.replay(target, marked_ms).await?;
    if ids.is_empty() {
        println!("nothing to replay");
        offline::deliver_and_stop(&pipeline, &host).await;
        return Ok(ExitCode::SUCCESS);
    }
    if !pipeline.deliveries.is_active() {
        println!(
            "{} deliveries queued for replay; the Chronicle server on this data folder runs them",
            ids.len()
        );
        offline::deliver_and_stop(&pipeline, &host).await;
        return Ok(ExitCode::SUCCESS);
    }
    pipeline.deliveries.wake();
    let ended = wait_for(&store, &ids, marked_ms).await?;
    let mut all_good = true;
    for row in &ended {
        let good = matches!(
            row.status,
            DeliveryStatus::Succeeded | DeliveryStatus::Declined
        );
        all_good &= good;
        println!(
            "delivery {}: {} → {}: {} on attempt {}{}",
            row.id,
            row.event,
            row.plugin_id,
            row.status,
            row.attempt,
            row.last_error
                .as_deref()
                .filter(|_| !good)
                .map(|error| format!(" ({error})"))
                .unwrap_or_default()
        );
    }
    offline::deliver_and_stop(&pipeline, &host).await;
    Ok(if all_good {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::exit::PLUGIN_FAILED)
    })
}

/// Waits (bounded) until each delivery marked at `marked_ms` has run its replayed attempt, or
/// was looked at and put back to wait for its plugin.
async fn wait_for(store: &Store, ids: &[i64], marked_ms: i64) -> anyhow::Result<Vec<DeliveryRow>> {
    let deadline = tokio::time::Instant::now() + REPLAY_WAIT;
    loop {
        let mut rows = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(row) = store.delivery(*id).await? {
                rows.push(row);
            }
        }
        let running = rows.iter().any(|row| match row.status {
            DeliveryStatus::Running => true,
            DeliveryStatus::Pending => row.updated_ms <= marked_ms,
            _ => false,
        });
        if !running || tokio::time::Instant::now() >= deadline {
            return Ok(rows);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
