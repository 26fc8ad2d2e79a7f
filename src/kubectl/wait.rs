//! `--wait`: following an object until it is Ready, Stalled or the time is up, with a spinner on
//! a terminal and a line per change elsewhere.

use std::{io::IsTerminal, time::Duration};

use kube::{Api, Resource};
use serde::{Serialize, de::DeserializeOwned};

use super::failure::{Failure, api_failed};

/// Where an object stands, from its status: Ready, Stalled, or on its way (its phase, and what
/// its Reconciling condition says).
pub(super) enum Standing {
    Ready { message: String },
    Stalled { reason: String, message: String },
    OnItsWay(String),
}

/// Waits until `name` is Ready (exit 0), Stalled (exit 4) or `timeout` passes (exit 5), showing
/// where it stands: a spinner on a terminal, a line per change elsewhere.
pub(super) async fn wait_ready<K>(api: &Api<K>, name: &str, kind: &str, timeout: Duration) -> Result<(), Failure>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Serialize,
{
    let spinner = spinner();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = String::new();
    loop {
        let obj = api.get(name).await.map_err(|e| api_failed(&format!("reading {kind} {name}"), e))?;
        let now = match standing(&serde_json::to_value(&obj).unwrap_or_default()) {
            Standing::Ready { message } => {
                spinner.finish_and_clear();
                eprintln!("{kind} {name} is Ready: {message}");
                return Ok(());
            }
            Standing::Stalled { reason, message } => {
                spinner.finish_and_clear();
                return Err(Failure { code: 4, message: format!("{kind} {name} is Stalled ({reason}): {message}") });
            }
            Standing::OnItsWay(now) => now,
        };
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

/// A spinner on standard error when it is a terminal; hidden elsewhere.
pub(super) fn spinner() -> indicatif::ProgressBar {
    let spinner = indicatif::ProgressBar::new_spinner();
    if std::io::stderr().is_terminal() {
        spinner.enable_steady_tick(Duration::from_millis(120));
    } else {
        spinner.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    spinner
}

/// Where the object (as JSON) stands: its Ready or Stalled condition when one is True, else its
/// phase (Pending without one) and the message of a True Reconciling condition.
pub(super) fn standing(value: &serde_json::Value) -> Standing {
    let conditions = value["status"]["conditions"].as_array().cloned().unwrap_or_default();
    let is = |type_: &str| conditions.iter().find(|c| c["type"] == type_ && c["status"] == "True").cloned();
    let text = |c: &serde_json::Value, field: &str| c[field].as_str().unwrap_or_default().to_owned();
    let phase = value["status"]["phase"].as_str().unwrap_or("Pending").to_owned();
    if let Some(ready) = is("Ready") {
        return Standing::Ready { message: text(&ready, "message") };
    }
    if let Some(stalled) = is("Stalled") {
        return Standing::Stalled { reason: text(&stalled, "reason"), message: text(&stalled, "message") };
    }
    Standing::OnItsWay(is("Reconciling").map(|c| format!("{phase}: {}", text(&c, "message"))).unwrap_or(phase))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Standing, standing};

    #[test]
    fn where_an_object_stands() {
        let ready = json!({"status": {"phase": "Available", "conditions": [
            {"type": "Reconciling", "status": "False"},
            {"type": "Ready", "status": "True", "message": "backup is available"}]}});
        assert!(matches!(standing(&ready), Standing::Ready { message } if message == "backup is available"));
        let stalled =
            json!({"status": {"conditions": [{"type": "Stalled", "status": "True", "reason": "TableNotFound", "message": "gone"}]}});
        assert!(matches!(standing(&stalled), Standing::Stalled { reason, message } if reason == "TableNotFound" && message == "gone"));
        let going = json!({"status": {"phase": "Creating", "conditions": [{"type": "Reconciling", "status": "True", "message": "42%"}]}});
        assert!(matches!(standing(&going), Standing::OnItsWay(now) if now == "Creating: 42%"));
        assert!(matches!(standing(&json!({})), Standing::OnItsWay(now) if now == "Pending"));
    }
}
