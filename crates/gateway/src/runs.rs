//! The runs the gateway is executing, and the last results of finished ones: what `agent.wait` waits on and what
//! `chat.abort` stops. Finished results are kept for a bounded number of runs.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde_json::Value;
use tokio::sync::watch;

const KEEP_FINISHED: usize = 1024;

struct Active {
    session_key: String,
    abort: watch::Sender<bool>,
    done: watch::Receiver<Option<Value>>,
}

#[derive(Default)]
struct Inner {
    active: HashMap<String, Active>,
    finished: HashMap<String, Value>,
    order: VecDeque<String>,
}

/// Runs by id.
#[derive(Default)]
pub(crate) struct Runs {
    inner: Mutex<Inner>,
}

/// Held by a running turn; `finish` publishes its result.
pub(crate) struct RunHandle {
    pub(crate) abort: watch::Receiver<bool>,
    done: watch::Sender<Option<Value>>,
    run_id: String,
}

/// What `agent.wait` found.
pub(crate) enum Waited {
    Finished(Value),
    Pending(watch::Receiver<Option<Value>>),
    Unknown,
}

/// A running run's result once it is published, or `None` after `timeout`.
pub(crate) async fn settled(mut done: watch::Receiver<Option<Value>>, timeout: std::time::Duration) -> Option<Value> {
    match tokio::time::timeout(timeout, done.wait_for(Option::is_some)).await {
        Ok(Ok(result)) => result.clone(),
        _ => None,
    }
}

impl Runs {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers a run, unless this id is already running or recently finished (an idempotent retry): then what
    /// `wait` would find for it. Checked and registered under one lock, so two retries never both start.
    pub(crate) fn start(&self, run_id: &str, session_key: &str) -> Result<RunHandle, Waited> {
        let mut inner = self.lock();
        if let Some(result) = inner.finished.get(run_id) {
            return Err(Waited::Finished(result.clone()));
        }
        if let Some(active) = inner.active.get(run_id) {
            return Err(Waited::Pending(active.done.clone()));
        }
        let (abort_tx, abort_rx) = watch::channel(false);
        let (done_tx, done_rx) = watch::channel(None);
        inner
            .active
            .insert(run_id.to_owned(), Active { session_key: session_key.to_owned(), abort: abort_tx, done: done_rx });
        Ok(RunHandle { abort: abort_rx, done: done_tx, run_id: run_id.to_owned() })
    }

    /// Publishes a run's result and moves it to the finished set.
    pub(crate) fn finish(&self, handle: RunHandle, result: Value) {
        let mut inner = self.lock();
        inner.active.remove(&handle.run_id);
        inner.finished.insert(handle.run_id.clone(), result.clone());
        inner.order.push_back(handle.run_id.clone());
        while inner.order.len() > KEEP_FINISHED {
            if let Some(old) = inner.order.pop_front() {
                inner.finished.remove(&old);
            }
        }
        drop(inner);
        let _ = handle.done.send(Some(result));
    }

    /// A finished result, a receiver for a running one, or nothing.
    pub(crate) fn wait(&self, run_id: &str) -> Waited {
        let inner = self.lock();
        if let Some(result) = inner.finished.get(run_id) {
            return Waited::Finished(result.clone());
        }
        match inner.active.get(run_id) {
            Some(active) => Waited::Pending(active.done.clone()),
            None => Waited::Unknown,
        }
    }

    /// Asks the runs of a session (optionally one run) to stop; returns their ids.
    pub(crate) fn abort(&self, session_key: &str, run_id: Option<&str>) -> Vec<String> {
        let inner = self.lock();
        inner
            .active
            .iter()
            .filter(|(id, active)| {
                active.session_key == session_key && run_id.is_none_or(|wanted| wanted == id.as_str())
            })
            .map(|(id, active)| {
                let _ = active.abort.send(true);
                id.clone()
            })
            .collect()
    }

    /// How many runs are in progress.
    pub(crate) fn active(&self) -> usize {
        self.lock().active.len()
    }
}

/// Makes a turn stop when its run is aborted (`chat.abort`) as well as on its own switch (a channel's `/stop`).
/// A turn without a switch of its own just takes the run's; otherwise a task watches both, for as long as the
/// returned guard lives.
pub(crate) fn join_abort(turn: &mut openclaw_agent::TurnRequest, run: &watch::Receiver<bool>) -> Option<AbortWatch> {
    let Some(mut own) = turn.abort.take() else {
        turn.abort = Some(run.clone());
        return None;
    };
    let mut run = run.clone();
    let (tx, rx) = watch::channel(false);
    let watcher = tokio::spawn(async move {
        // A switch whose sender is gone never flips.
        tokio::select! {
            Ok(_) = own.wait_for(|stop| *stop) => {}
            Ok(_) = run.wait_for(|stop| *stop) => {}
            else => return,
        }
        let _ = tx.send(true);
    });
    turn.abort = Some(rx);
    Some(AbortWatch(watcher))
}

/// Stops the task of [`join_abort`] when dropped.
pub(crate) struct AbortWatch(tokio::task::JoinHandle<()>);

impl Drop for AbortWatch {
    fn drop(&mut self) {
        self.0.abort();
    }
}
