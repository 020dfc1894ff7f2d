//! Group commit for SQLite's one writer: write transactions are queued to one task, which sends every transaction
//! waiting at that moment to SQLite's worker thread as one batch inside one `BEGIN IMMEDIATE … COMMIT`.
//!
//! Why: a hop between a tokio task and sqlx's worker thread costs a context switch each way, and each commit writes
//! every page it dirtied to the WAL. One hop per statement and three commits per turn were most of a turn's cost
//! (BENCHMARKS.md); concurrent turns now share both.
//!
//! **Invariants:** a transaction either commits whole or not at all, and its caller gets its own outcome: when a
//! group fails, it is rolled back and each of its transactions runs again alone. A queued transaction runs even if
//! its caller stopped waiting (a turn that was cancelled mid-commit), so nothing is left half-sent, and a failed
//! batch is rolled back before the connection serves anyone else.

use std::time::{Duration, Instant};

use sqlx::sqlite::SqliteRow;
use sqlx::{Column, Row, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use crate::sqlite::{SqliteQuery, map_disk_full};
use crate::{Result, StoreError};

/// Transactions in one group at most (their parameters are counted per statement, so any number fits; this bounds
/// the work a failed group repeats).
const MAX_GROUP: usize = 64;

/// The longest the writer keeps the connection from the store's other writers.
const HOLD: Duration = Duration::from_millis(2);

/// The column of the marker row that precedes each transaction's statements in a group.
const MARKER: &str = "openclaw_group_marker";

/// Adds a transaction's parameters, in the order of its statements; called again when a failed group is retried
/// one transaction at a time.
type Binder = Box<dyn Fn(SqliteQuery<'static>) -> SqliteQuery<'static> + Send + Sync>;

struct Job {
    body: String,
    bind: Binder,
    reply: oneshot::Sender<Result<Vec<SqliteRow>, sqlx::Error>>,
}

/// The queue to the writer task; cloned with the store. The task ends when the last clone is dropped.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    jobs: mpsc::UnboundedSender<Job>,
}

impl Writer {
    /// Starts the writer task on `pool` (whose one connection is the writer).
    pub(crate) fn start(pool: SqlitePool) -> Self {
        let (jobs, queue) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, queue));
        Writer { jobs }
    }

    /// Runs `body` — statements ending in `;`, with the parameters `bind` adds in order — as one write transaction,
    /// and returns the rows its statements return.
    pub(crate) async fn write<F>(&self, body: String, bind: F) -> Result<Vec<SqliteRow>>
    where
        F: Fn(SqliteQuery<'static>) -> SqliteQuery<'static> + Send + Sync + 'static,
    {
        let (reply, outcome) = oneshot::channel();
        let job = Job { body, bind: Box::new(bind), reply };
        self.jobs.send(job).map_err(|_| StoreError::Database(sqlx::Error::PoolClosed))?;
        match outcome.await {
            Ok(result) => result.map_err(map_disk_full),
            Err(_) => Err(StoreError::Database(sqlx::Error::WorkerCrashed)),
        }
    }
}

async fn run(pool: SqlitePool, mut queue: mpsc::UnboundedReceiver<Job>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    // The connection is kept while transactions keep coming (taking it from the pool costs as much as a hop), but
    // never longer than `HOLD` at a time, so the store's other writers get their turn.
    let mut held: Option<(sqlx::pool::PoolConnection<sqlx::Sqlite>, Instant)> = None;
    loop {
        if queue.is_empty() {
            // Callers answered a moment ago are usually about to send their next transaction.
            for _ in 0..2 {
                tokio::task::yield_now().await;
            }
            if queue.is_empty() {
                held = None;
            }
        }
        if queue.recv_many(&mut group, MAX_GROUP).await == 0 {
            return;
        }
        let mut jobs = std::mem::take(&mut group);
        jobs.sort_by(|a, b| a.body.cmp(&b.body));
        if held.as_ref().is_some_and(|(_, since)| since.elapsed() > HOLD) {
            held = None;
        }
        let conn = match held.take() {
            Some(held) => Ok(held),
            None => pool.acquire().await.map(|conn| (conn, Instant::now())),
        };
        let mut conn = match conn {
            Ok(conn) => conn,
            Err(error) => {
                let message = error.to_string();
                for job in jobs {
                    let _ = job.reply.send(Err(sqlx::Error::Protocol(message.clone())));
                }
                continue;
            }
        };
        run_jobs(&mut conn.0, jobs).await;
        held = Some(conn);
    }
}

/// The jobs as one group, or one by one when there is one or the group failed.
async fn run_jobs(conn: &mut sqlx::SqliteConnection, jobs: Vec<Job>) {
    if jobs.len() > 1 {
        match run_group(conn, &jobs).await {
            Ok(rows) => {
                for (job, rows) in jobs.into_iter().zip(rows) {
                    let _ = job.reply.send(Ok(rows));
                }
                return;
            }
            Err(error) => tracing::debug!(%error, jobs = jobs.len(), "A group commit failed; each runs alone."),
        }
    }
    for job in jobs {
        let sql = format!("BEGIN IMMEDIATE; {} COMMIT;", job.body);
        let result = execute(conn, sql, &[&job]).await;
        let _ = job.reply.send(result);
    }
}

/// Every job in one transaction; the rows each returned, in job order. The caller sorted the jobs by their text
/// (concurrent transactions may commit in any order), so a group's text repeats and its prepared statements are
/// cached like any other query's.
async fn run_group(conn: &mut sqlx::SqliteConnection, jobs: &[Job]) -> Result<Vec<Vec<SqliteRow>>, sqlx::Error> {
    let mut sql = String::from("BEGIN IMMEDIATE; ");
    // Only a transaction that returns rows (from a RETURNING clause) gets a marker row before its statements.
    let mut returning = Vec::new();
    for (index, job) in jobs.iter().enumerate() {
        if job.body.contains("RETURNING") {
            sql.push_str(&format!("SELECT 1 AS {MARKER}; "));
            returning.push(index);
        }
        sql.push_str(&job.body);
    }
    sql.push_str(" COMMIT;");
    let jobs: Vec<&Job> = jobs.iter().collect();
    let rows = execute(conn, sql, &jobs).await?;
    let mut split: Vec<Vec<SqliteRow>> = jobs.iter().map(|_| Vec::new()).collect();
    // Each marker row starts the next returning transaction's rows.
    let mut markers = 0_usize;
    for row in rows {
        if row.columns().first().is_some_and(|column| column.name() == MARKER) {
            markers += 1;
        } else if let Some(rows) = markers.checked_sub(1).and_then(|n| returning.get(n)).and_then(|&i| split.get_mut(i))
        {
            rows.push(row);
        }
    }
    Ok(split)
}

/// Sends `sql` with the jobs' parameters; rolls back whatever ran when it fails.
async fn execute(conn: &mut sqlx::SqliteConnection, sql: String, jobs: &[&Job]) -> Result<Vec<SqliteRow>, sqlx::Error> {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for job in jobs {
        query = (job.bind)(query);
    }
    let result = query.fetch_all(&mut *conn).await;
    if result.is_err() {
        // "no transaction is active" when BEGIN itself failed.
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
    }
    result
}
