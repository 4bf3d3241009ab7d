//! Applying the file: read and check all of it, plan all of it, and only then issue the changes,
//! one object at a time, each recorded as managed and audited as an event once it is made. A
//! file with any problem applies nothing; a change the server refuses stops the run there.

use std::path::Path;
use std::sync::Arc;

use serde_json::json;

use super::managed::Managed;
use super::plan::{self, Action, Change};
use super::{spec, Report};
use crate::core::Core;
use crate::store::Fence;

/// Applies the file at `path` as the leader holding `fence`; returns what it did.
pub async fn run(core: &Core, path: &Path, fence: &Fence) -> Report {
    let report = |changes: Vec<String>, error: Option<String>| Report { at: core.clock.now(), changes, error };
    let spec = match spec::load(path) {
        Ok(s) => s,
        Err(errors) => return refused(core, errors),
    };
    let mut managed = match Managed::load(core).await {
        Ok(m) => m,
        Err(e) => return refused(core, vec![format!("the managed record cannot be read: {}", e.errors.join("; "))]),
    };
    let who = super::identity(core.clock.now());
    let changes = match plan::plan(core, &who, &spec, &managed).await {
        Ok(c) => c,
        Err(errors) => return refused(core, errors),
    };
    let mut done = Vec::new();
    for change in changes.iter().filter(|c| c.action != Action::Wait) {
        if !holds(core, fence) {
            let e = "this node lost the leader lease; the next leader applies the rest".to_string();
            tracing::warn!("bootstrap: {e}");
            return report(done, Some(e));
        }
        if let Err(e) = apply_one(core, &who, change, &mut managed).await {
            tracing::error!(object = %change.name, kind = change.kind.label(), "bootstrap: {e}");
            core.audit.event(
                "bootstrap",
                json!({"action": "failed", "object": change.kind, "name": change.name, "error": e}),
            );
            return report(done, Some(e));
        }
        tracing::info!("bootstrap: {}", change.line());
        done.push(change.line());
    }
    for waiting in changes.iter().filter(|c| c.action == Action::Wait) {
        tracing::warn!("bootstrap: {}", waiting.line());
    }
    report(done, None)
}

/// The run is refused before anything is applied: each problem is logged and audited.
fn refused(core: &Core, errors: Vec<String>) -> Report {
    for e in &errors {
        tracing::error!("bootstrap: {e}");
    }
    tracing::error!("bootstrap: the file was not applied (nothing changed); fix it and unseal again");
    core.audit.event("bootstrap", json!({"action": "refused", "errors": errors}));
    Report { at: core.clock.now(), changes: Vec::new(), error: Some(errors.join("; ")) }
}

fn holds(core: &Core, fence: &Fence) -> bool {
    core.leader.load().as_ref().is_some_and(|f| f.epoch == fence.epoch && f.node == fence.node)
}

async fn apply_one(
    core: &Core,
    who: &Arc<crate::core::tokens::TokenEntry>,
    change: &Change,
    managed: &mut Managed,
) -> Result<(), String> {
    for step in &change.steps {
        super::call(core, who, step.op, &step.path, step.body.as_ref()).await.map_err(|e| {
            let table = if change.table.is_empty() { change.name.clone() } else { change.table.clone() };
            format!("{table}: {} {} failed: {}", verb(change.action), change.kind.label(), e.errors.join("; "))
        })?;
    }
    match change.action {
        Action::Delete | Action::Forget => managed.remove(change.kind, &change.name),
        _ => managed.set(change.kind, &change.name, change.digest.clone()),
    }
    managed.save(core).await.map_err(|e| format!("recording {}: {}", change.name, e.errors.join("; ")))?;
    core.audit.event(
        "bootstrap",
        json!({"action": change.action, "object": change.kind, "name": change.name, "fields": change.fields}),
    );
    Ok(())
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::Create => "creating the",
        Action::Update => "updating the",
        Action::Delete => "deleting the",
        Action::Adopt | Action::Forget | Action::Wait => "recording the",
    }
}
