//! kstatus as Flux and kubectl's kstatus tools compute it for a custom resource, the rules the
//! operator's conditions must keep, and a poller that checks them at every status it sees.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{
    TestCtx,
    argocd::health,
    objects::{Kind, condition, fetch, generation, is_true, observed_generation},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    InProgress,
    Failed,
    Current,
    Terminating,
}

/// kstatus's generic rules (the ones that apply to any custom resource): a deletion is
/// Terminating; an observedGeneration that is present and differs from the generation is
/// InProgress; then Reconciling=True is InProgress and Stalled=True is Failed; anything else,
/// including no status at all, is Current.
pub fn compute(obj: &Value) -> Status {
    if obj["metadata"]["deletionTimestamp"].is_string() {
        return Status::Terminating;
    }
    if let (Some(generation), Some(observed)) = (generation(obj), observed_generation(obj))
        && generation != observed
    {
        return Status::InProgress;
    }
    if is_true(obj, "Reconciling") {
        return Status::InProgress;
    }
    if is_true(obj, "Stalled") {
        return Status::Failed;
    }
    Status::Current
}

const STANDING: [&str; 3] = ["Ready", "Reconciling", "Stalled"];

fn is_camel_case(reason: &str) -> bool {
    reason.chars().next().is_some_and(|c| c.is_ascii_uppercase()) && reason.chars().all(|c| c.is_ascii_alphanumeric())
}

/// The rules every status the operator writes keeps; `previous` is the status seen before it.
pub fn invariants(kind: Kind, obj: &Value, previous: Option<&Value>) -> Result<(), String> {
    let generation = generation(obj).ok_or("no metadata.generation")?;
    let observed = observed_generation(obj).ok_or("no status.observedGeneration (not even the schema default)")?;
    if observed > generation {
        return Err(format!("observedGeneration {observed} is ahead of generation {generation}"));
    }
    // Argo CD, through the shipped script, says what kstatus says.
    let said = health(kind, obj)?;
    let agrees = match compute(obj) {
        Status::InProgress => said.status == "Progressing",
        Status::Failed => said.status == "Degraded",
        Status::Current => said.status == "Healthy",
        Status::Terminating => true,
    };
    if !agrees {
        return Err(format!("kstatus says {:?}, the Argo CD check {said}", compute(obj)));
    }
    let conditions = obj["status"]["conditions"].as_array().cloned().unwrap_or_default();
    if observed == -1 {
        return if conditions.is_empty() { Ok(()) } else { Err("conditions before the operator observed the object".into()) };
    }
    for type_ in STANDING {
        let c = condition(obj, type_).ok_or_else(|| format!("no {type_} condition"))?;
        let status = c["status"].as_str().unwrap_or_default();
        if status != "True" && status != "False" {
            return Err(format!("{type_} has status {status:?}"));
        }
        let reason = c["reason"].as_str().unwrap_or_default();
        if !is_camel_case(reason) {
            return Err(format!("{type_} has reason {reason:?}, not CamelCase"));
        }
        if c["message"].as_str().is_none_or(str::is_empty) {
            return Err(format!("{type_} has no message"));
        }
        if !c["lastTransitionTime"].is_string() {
            return Err(format!("{type_} has no lastTransitionTime"));
        }
    }
    for c in &conditions {
        if let Some(at) = c["observedGeneration"].as_i64()
            && at != observed
        {
            return Err(format!("{} carries observedGeneration {at}, the status {observed}", c["type"]));
        }
    }
    let on: Vec<&str> = STANDING.into_iter().filter(|t| is_true(obj, t)).collect();
    if on.len() != 1 {
        return Err(format!("exactly one of Ready, Reconciling, Stalled must be True, got {on:?}"));
    }
    if let Some(previous) = previous {
        for type_ in STANDING {
            let (Some(now), Some(before)) = (condition(obj, type_), condition(previous, type_)) else { continue };
            if now["status"] == before["status"] && now["lastTransitionTime"] != before["lastTransitionTime"] {
                return Err(format!("{type_} stayed {} but its lastTransitionTime moved", now["status"]));
            }
        }
    }
    Ok(())
}

/// Every status seen of one object, each checked against the invariants as it arrives.
pub struct Watch<'a> {
    ctx: &'a TestCtx,
    kind: Kind,
    name: String,
    pub seen: Vec<Value>,
}

impl<'a> Watch<'a> {
    pub fn new(ctx: &'a TestCtx, kind: Kind, name: &str) -> Self {
        Self { ctx, kind, name: name.to_owned(), seen: Vec::new() }
    }

    /// Polls every 100 ms until `done` holds for the object, checking every new version of it.
    pub async fn until(&mut self, what: &str, timeout: Duration, done: impl Fn(&Value) -> bool) -> Result<Value, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(obj) = fetch(self.ctx, self.kind, &self.name).await {
                let version = &obj["metadata"]["resourceVersion"];
                if self.seen.last().is_none_or(|last| &last["metadata"]["resourceVersion"] != version) {
                    if let Err(broken) = invariants(self.kind, &obj, self.seen.last()) {
                        let pretty = serde_json::to_string_pretty(&obj["status"]).unwrap_or_default();
                        return Err(format!("{} {}: {broken}\nstatus: {pretty}", self.kind.name(), self.name));
                    }
                    self.seen.push(obj.clone());
                }
                if done(&obj) {
                    return Ok(obj);
                }
            }
            if Instant::now() >= deadline {
                let last = self.seen.last().map(|o| o["status"].to_string()).unwrap_or_default();
                return Err(format!(
                    "timed out after {timeout:?} waiting for {} {} {what}; last status {last}",
                    self.kind.name(),
                    self.name
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The kstatus of each version seen, without repeats.
    pub fn statuses(&self) -> Vec<Status> {
        let mut out: Vec<Status> = Vec::new();
        for s in self.seen.iter().map(compute) {
            if out.last() != Some(&s) {
                out.push(s);
            }
        }
        out
    }
}
