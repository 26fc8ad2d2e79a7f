//! `--wait`: following an object until it is Ready, Stalled or the time is up, with a spinner on
//! a terminal and a line per change elsewhere.

use std::{io::IsTerminal, time::Duration};

use kube::{Api, Resource};
use serde::{Serialize, de::DeserializeOwned};

use super::failure::{Failure, api_failed};

/// Waits until `name` is Ready (exit 0), Stalled (exit 4) or `timeout` passes (exit 5), showing
/// where it stands: a spinner on a terminal, a line per change elsewhere.
pub(super) async fn wait_ready<K>(api: &Api<K>, name: &str, kind: &str, timeout: Duration) -> Result<(), Failure>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Serialize,
{
    let spinner = indicatif::ProgressBar::new_spinner();
    if std::io::stderr().is_terminal() {
        spinner.enable_steady_tick(Duration::from_millis(120));
    } else {
        spinner.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = String::new();
    loop {
        let obj = api.get(name).await.map_err(|e| api_failed(&format!("reading {kind} {name}"), e))?;
        let value = serde_json::to_value(&obj).unwrap_or_default();
        let conditions = value["status"]["conditions"].as_array().cloned().unwrap_or_default();
        let is = |type_: &str| conditions.iter().find(|c| c["type"] == type_ && c["status"] == "True").cloned();
        let phase = value["status"]["phase"].as_str().unwrap_or("Pending").to_owned();
        if let Some(ready) = is("Ready") {
            spinner.finish_and_clear();
            eprintln!("{kind} {name} is Ready: {}", ready["message"].as_str().unwrap_or_default());
            return Ok(());
        }
        if let Some(stalled) = is("Stalled") {
            spinner.finish_and_clear();
            return Err(Failure {
                code: 4,
                message: format!(
                    "{kind} {name} is Stalled ({}): {}",
                    stalled["reason"].as_str().unwrap_or_default(),
                    stalled["message"].as_str().unwrap_or_default()
                ),
            });
        }
        let now = is("Reconciling").map(|c| format!("{phase}: {}", c["message"].as_str().unwrap_or_default())).unwrap_or(phase);
        if now != last {
            if spinner.is_hidden() {
                eprintln!("{kind} {name}: {now}");
            }
            spinner.set_message(format!("{kind} {name}: {now}"));
            last = now;
        }
        if tokio::time::Instant::now() >= deadline {
            spinner.finish_and_clear();
            return Err(Failure {
                code: 5,
                message: format!("{kind} {name} is not Ready after {}: {last}", humantime::format_duration(timeout)),
            });
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
