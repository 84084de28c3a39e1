//! `--check --connect`: connect to every client's database, detect the ILIAS
//! generation and check that the chat tables and columns exist.

use std::time::Duration;

use super::Finding;
use crate::config::ClientConfig;
use crate::store::{Route, Store};

/// How long one database may take to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Checks every client's database; no finding when `clients` is empty.
pub(super) fn check_all(clients: &[ClientConfig]) -> Vec<Finding> {
    if clients.is_empty() {
        return Vec::new();
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            return vec![Finding::database_error(format!(
                "cannot start the runtime to connect: {error}"
            ))];
        }
    };
    runtime.block_on(async {
        let mut findings = Vec::new();
        for client in clients {
            findings.extend(check(client).await);
        }
        findings
    })
}

async fn check(client: &ClientConfig) -> Vec<Finding> {
    let target = client.database.describe();
    let route = Route::of(&client.database);
    let prefix = format!("client {} ({})", client.name, client.file.display());
    let store = match tokio::time::timeout(CONNECT_TIMEOUT, Store::connect(&client.database)).await
    {
        Ok(Ok(store)) => store,
        Ok(Err(error)) => {
            return vec![Finding::database_error(format!(
                "{prefix}: {error} (over {route})"
            ))];
        }
        Err(_) => {
            return vec![Finding::database_error(format!(
                "{prefix}: cannot connect to {target} over {route}: no answer within \
                 {CONNECT_TIMEOUT:?}"
            ))];
        }
    };
    let mut findings = Vec::new();
    let detection = match store.detect_generation().await {
        Ok(detection) => detection,
        Err(error) => {
            store.close().await;
            return vec![Finding::database_error(format!(
                "{prefix}: {target}: {error}"
            ))];
        }
    };
    let detected = detection.generation;
    let generation = match client.ilias_version {
        Some(configured) if configured != detected => {
            findings.push(Finding::warning(format!(
                "{prefix}: ilias_version says ILIAS {configured}, the database says ILIAS \
                 {detected} ({})",
                detection.how
            )));
            configured
        }
        Some(configured) => configured,
        None => detected,
    };
    match store.missing_schema(generation).await {
        Ok(missing) if missing.is_empty() => findings.push(Finding::ok(format!(
            "{prefix}: database {target} reachable over {route}, ILIAS {generation} \
             ({}), chat tables complete",
            if client.ilias_version.is_some() {
                "from ilias_version".to_string()
            } else {
                format!("detected: {}", detection.how)
            }
        ))),
        Ok(missing) => findings.push(Finding::database_error(format!(
            "{prefix}: database {target} (ILIAS {generation}): {}",
            missing.join("; ")
        ))),
        Err(error) => findings.push(Finding::database_error(format!(
            "{prefix}: database {target}: {error}"
        ))),
    }
    store.close().await;
    findings
}
