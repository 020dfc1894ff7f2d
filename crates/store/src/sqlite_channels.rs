//! The SQLite side of the channel records (inbox, outbox, cursors, pairing); `sqlite.rs` delegates here.

use openclaw_protocol::now_ms;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, SqlitePool, Transaction};

use crate::sqlite::{SqliteQuery, begin, map_disk_full};
use crate::writer::Writer;
use crate::{
    Accepted, ChannelQueues, InboundRecord, NewInbound, NewOutbound, OutboundRecord, PairingRequest, Result, StoreError,
};

fn to_json(value: &serde_json::Value) -> String {
    value.to_string()
}

fn from_json(text: &str, what: &'static str, id: impl ToString) -> Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|source| StoreError::CorruptRecord { what, id: id.to_string(), source })
}

pub(crate) async fn accept_inbound(
    pool: &SqlitePool,
    message: NewInbound,
    cursor: Option<(String, String)>,
) -> Result<Accepted> {
    let mut tx = begin(pool).await?;
    let existing: Option<i64> =
        sqlx::query_scalar("SELECT id FROM channel_inbox WHERE channel = ? AND account = ? AND platform_id = ?")
            .bind(&message.channel)
            .bind(&message.account)
            .bind(&message.platform_id)
            .fetch_optional(&mut *tx)
            .await?;
    let accepted = match existing {
        Some(id) => Accepted::Duplicate(id),
        None => {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO channel_inbox (channel, account, platform_id, conversation, sender, payload_json, \
                 received_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            )
            .bind(&message.channel)
            .bind(&message.account)
            .bind(&message.platform_id)
            .bind(&message.conversation)
            .bind(&message.sender)
            .bind(to_json(&message.payload))
            .bind(message.received_at)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_disk_full)?;
            Accepted::New(id)
        }
    };
    if let Some((key, value)) = cursor {
        set_cursor(&mut tx, &key, &value).await?;
    }
    tx.commit().await.map_err(map_disk_full)?;
    Ok(accepted)
}

fn inbound_from_row(row: &SqliteRow) -> Result<InboundRecord> {
    let id: i64 = row.try_get("id")?;
    let payload: String = row.try_get("payload_json")?;
    Ok(InboundRecord {
        id,
        channel: row.try_get("channel")?,
        account: row.try_get("account")?,
        platform_id: row.try_get("platform_id")?,
        conversation: row.try_get("conversation")?,
        sender: row.try_get("sender")?,
        payload: from_json(&payload, "inbound message", id)?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        note: row.try_get("note")?,
        received_at: row.try_get("received_at")?,
    })
}

pub(crate) async fn pending_inbound(pool: &SqlitePool, limit: i64) -> Result<Vec<InboundRecord>> {
    let rows = sqlx::query("SELECT * FROM channel_inbox WHERE status = 'pending' ORDER BY id LIMIT ?")
        .bind(limit)
        .fetch_all(pool)
        .await?;
    rows.iter().map(inbound_from_row).collect()
}

pub(crate) async fn inbound(pool: &SqlitePool, id: i64) -> Result<Option<InboundRecord>> {
    let row = sqlx::query("SELECT * FROM channel_inbox WHERE id = ?").bind(id).fetch_optional(pool).await?;
    row.as_ref().map(inbound_from_row).transpose()
}

pub(crate) async fn claim_inbound(pool: &SqlitePool, id: i64) -> Result<i64> {
    let attempts: Option<i64> =
        sqlx::query_scalar("UPDATE channel_inbox SET attempts = attempts + 1 WHERE id = ? RETURNING attempts")
            .bind(id)
            .fetch_optional(pool)
            .await
            .map_err(map_disk_full)?;
    Ok(attempts.unwrap_or(0))
}

const INSERT_OUTBOUND: &str = "INSERT INTO channel_outbox (inbox_id, run_id, channel, account, conversation, \
    route_json, text, next_attempt_at, created_at, updated_at) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?";

/// The statements that finish an inbound message and, when it was still pending, queue its reply (none is queued
/// for a message already finished); for a [`Writer::write`]. Binds: [`bind_finish`].
pub(crate) fn finish_sql(reply: bool) -> String {
    let mut sql = "UPDATE channel_inbox SET status = ?, note = ?, finished_at = ? WHERE id = ? AND status = 'pending';"
        .to_owned();
    if reply {
        sql.push_str(&format!(" {INSERT_OUTBOUND} WHERE changes() = 1;"));
    }
    sql
}

/// Binds [`finish_sql`]: the inbox row `id` (its note: `note`) and, when given, its reply written by `run_id`.
pub(crate) fn bind_finish(
    query: SqliteQuery<'static>,
    id: i64,
    status: String,
    note: Option<String>,
    reply: Option<(NewOutbound, Option<String>)>,
    now: i64,
) -> SqliteQuery<'static> {
    let query = query.bind(status).bind(note).bind(now).bind(id);
    match reply {
        Some((reply, run_id)) => bind_outbound(query, Some(id), run_id, reply, now),
        None => query,
    }
}

/// The statement that queues a reply no inbound message asked for (an operator's delivery); for a
/// [`Writer::write`]. Binds: [`bind_outbound`].
pub(crate) fn queue_sql() -> String {
    format!("{INSERT_OUTBOUND};")
}

/// Binds one [`INSERT_OUTBOUND`].
pub(crate) fn bind_outbound(
    query: SqliteQuery<'static>,
    inbox_id: Option<i64>,
    run_id: Option<String>,
    reply: NewOutbound,
    now: i64,
) -> SqliteQuery<'static> {
    query
        .bind(inbox_id)
        .bind(run_id)
        .bind(reply.channel)
        .bind(reply.account)
        .bind(reply.conversation)
        .bind(to_json(&reply.route))
        .bind(reply.text)
        .bind(now)
        .bind(now)
        .bind(now)
}

pub(crate) async fn finish_inbound(
    writer: &Writer,
    id: i64,
    status: &str,
    note: Option<&str>,
    reply: Option<NewOutbound>,
) -> Result<()> {
    let (status, note) = (status.to_owned(), note.map(str::to_owned));
    let sql = finish_sql(reply.is_some());
    let now = now_ms();
    writer
        .write(sql, move |query| {
            bind_finish(query, id, status.clone(), note.clone(), reply.clone().map(|r| (r, None)), now)
        })
        .await?;
    Ok(())
}

pub(crate) async fn queue_outbound(writer: &Writer, reply: NewOutbound) -> Result<i64> {
    let sql = format!("{INSERT_OUTBOUND} RETURNING id;");
    let now = now_ms();
    let rows = writer.write(sql, move |query| bind_outbound(query, None, None, reply.clone(), now)).await?;
    let row = rows.first().ok_or_else(|| StoreError::Database(sqlx::Error::RowNotFound))?;
    Ok(row.try_get("id")?)
}

async fn set_cursor(tx: &mut Transaction<'_, Sqlite>, key: &str, value: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO channel_cursors (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(&mut **tx)
    .await
    .map_err(map_disk_full)?;
    Ok(())
}

pub(crate) async fn channel_cursor(pool: &SqlitePool, key: &str) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT value FROM channel_cursors WHERE key = ?").bind(key).fetch_optional(pool).await?)
}

pub(crate) async fn set_channel_cursor(pool: &SqlitePool, key: &str, value: &str) -> Result<()> {
    let mut tx = begin(pool).await?;
    set_cursor(&mut tx, key, value).await?;
    tx.commit().await.map_err(map_disk_full)?;
    Ok(())
}

fn outbound_from_row(row: &SqliteRow) -> Result<OutboundRecord> {
    let id: i64 = row.try_get("id")?;
    let route: String = row.try_get("route_json")?;
    Ok(OutboundRecord {
        id,
        inbox_id: row.try_get("inbox_id")?,
        run_id: row.try_get("run_id")?,
        channel: row.try_get("channel")?,
        account: row.try_get("account")?,
        conversation: row.try_get("conversation")?,
        route: from_json(&route, "outbound message", id)?,
        text: row.try_get("text")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        chunks_sent: row.try_get("chunks_sent")?,
        in_flight: row.try_get("in_flight")?,
        resends: row.try_get("resends")?,
        last_platform_id: row.try_get("last_platform_id")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub(crate) async fn due_outbound(pool: &SqlitePool, now: i64, limit: i64) -> Result<Vec<OutboundRecord>> {
    // The head of each conversation's queue, if it is due: a later reply never overtakes an earlier one.
    let rows = sqlx::query(
        "SELECT o.* FROM channel_outbox o \
         JOIN (SELECT conversation, MIN(id) AS head FROM channel_outbox WHERE status = 'pending' GROUP BY conversation) h \
           ON o.id = h.head \
         WHERE o.next_attempt_at <= ? ORDER BY o.id LIMIT ?",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(outbound_from_row).collect()
}

pub(crate) async fn next_outbound_at(pool: &SqlitePool) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT MIN(o.next_attempt_at) FROM channel_outbox o \
         JOIN (SELECT conversation, MIN(id) AS head FROM channel_outbox WHERE status = 'pending' GROUP BY conversation) h \
           ON o.id = h.head",
    )
    .fetch_one(pool)
    .await?)
}

type Query<'q> = sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments>;

/// Updates one outbox row: `set` (a literal of this module) assigns columns from the values `bind` adds;
/// `updated_at` is stamped.
async fn update_outbox(
    pool: &SqlitePool,
    id: i64,
    set: &'static str,
    bind: impl FnOnce(Query<'_>) -> Query<'_>,
) -> Result<()> {
    // Only literals are spliced in (`set` is `&'static str`); every value is bound.
    let sql = sqlx::AssertSqlSafe(format!("UPDATE channel_outbox SET {set}, updated_at = ? WHERE id = ?"));
    bind(sqlx::query(sql)).bind(now_ms()).bind(id).execute(pool).await.map_err(map_disk_full)?;
    Ok(())
}

pub(crate) async fn outbound_sending(pool: &SqlitePool, id: i64, chunk: i64, resend: bool) -> Result<()> {
    update_outbox(pool, id, "in_flight = ?, resends = resends + ?", |q| q.bind(chunk).bind(i64::from(resend))).await
}

pub(crate) async fn outbound_progress(
    pool: &SqlitePool,
    id: i64,
    chunks_sent: i64,
    platform_id: Option<&str>,
) -> Result<()> {
    let set = "chunks_sent = ?, in_flight = NULL, last_platform_id = COALESCE(?, last_platform_id)";
    update_outbox(pool, id, set, |q| q.bind(chunks_sent).bind(platform_id)).await
}

pub(crate) async fn last_delivered_id(pool: &SqlitePool, conversation: &str) -> Result<Option<String>> {
    // Replies of a conversation are delivered in id order, so the newest row with an id holds the last one.
    Ok(sqlx::query_scalar(
        "SELECT last_platform_id FROM channel_outbox WHERE conversation = ? AND last_platform_id IS NOT NULL \
         ORDER BY id DESC LIMIT 1",
    )
    .bind(conversation)
    .fetch_optional(pool)
    .await?)
}

pub(crate) async fn finish_outbound(pool: &SqlitePool, id: i64, status: &str, error: Option<&str>) -> Result<()> {
    update_outbox(pool, id, "status = ?, last_error = COALESCE(?, last_error)", |q| q.bind(status).bind(error)).await
}

pub(crate) async fn retry_outbound(
    pool: &SqlitePool,
    id: i64,
    next_attempt_at: i64,
    error: &str,
    uncertain: bool,
) -> Result<()> {
    let set = "attempts = attempts + 1, next_attempt_at = ?, last_error = ?, \
               in_flight = CASE WHEN ? THEN in_flight ELSE NULL END";
    update_outbox(pool, id, set, |q| q.bind(next_attempt_at).bind(error).bind(uncertain)).await
}

pub(crate) async fn outbound(pool: &SqlitePool, id: i64) -> Result<Option<OutboundRecord>> {
    let row = sqlx::query("SELECT * FROM channel_outbox WHERE id = ?").bind(id).fetch_optional(pool).await?;
    row.as_ref().map(outbound_from_row).transpose()
}

pub(crate) async fn outbound_of_run(pool: &SqlitePool, run_id: &str) -> Result<Option<OutboundRecord>> {
    let row = sqlx::query("SELECT * FROM channel_outbox WHERE run_id = ? ORDER BY id LIMIT 1")
        .bind(run_id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(outbound_from_row).transpose()
}

pub(crate) async fn dead_letters(pool: &SqlitePool, limit: i64) -> Result<Vec<OutboundRecord>> {
    let rows = sqlx::query("SELECT * FROM channel_outbox WHERE status = 'dead' ORDER BY id DESC LIMIT ?")
        .bind(limit)
        .fetch_all(pool)
        .await?;
    rows.iter().map(outbound_from_row).collect()
}

pub(crate) async fn requeue_outbound(pool: &SqlitePool, id: i64, now: i64) -> Result<bool> {
    let changed = sqlx::query(
        "UPDATE channel_outbox SET status = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ? \
         WHERE id = ? AND status = 'dead'",
    )
    .bind(now)
    .bind(now)
    .bind(id)
    .execute(pool)
    .await
    .map_err(map_disk_full)?
    .rows_affected();
    Ok(changed > 0)
}

fn pairing_from_row(row: &SqliteRow) -> Result<PairingRequest> {
    let code: String = row.try_get("code")?;
    let route: String = row.try_get("route_json")?;
    Ok(PairingRequest {
        route: from_json(&route, "pairing request route", &code)?,
        channel: row.try_get("channel")?,
        account: row.try_get("account")?,
        sender_id: row.try_get("sender_id")?,
        code,
        display: row.try_get("display")?,
        conversation: row.try_get("conversation")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

pub(crate) async fn channel_queues(pool: &SqlitePool, now: i64) -> Result<ChannelQueues> {
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM channel_inbox WHERE status = 'pending') AS inbox_pending, \
                (SELECT COUNT(*) FROM channel_outbox WHERE status = 'pending') AS outbox_pending, \
                (SELECT COUNT(*) FROM channel_outbox WHERE status = 'dead') AS dead_letters, \
                (SELECT COUNT(*) FROM channel_pairing_requests WHERE expires_at > ?) AS pairing_requests",
    )
    .bind(now)
    .fetch_one(pool)
    .await?;
    Ok(ChannelQueues {
        inbox_pending: row.try_get("inbox_pending")?,
        outbox_pending: row.try_get("outbox_pending")?,
        dead_letters: row.try_get("dead_letters")?,
        pairing_requests: row.try_get("pairing_requests")?,
    })
}

pub(crate) async fn pairing_requests(
    pool: &SqlitePool,
    channel: Option<&str>,
    now: i64,
) -> Result<Vec<PairingRequest>> {
    let rows = sqlx::query(
        "SELECT * FROM channel_pairing_requests WHERE expires_at > ? AND (? IS NULL OR channel = ?) ORDER BY created_at",
    )
    .bind(now)
    .bind(channel)
    .bind(channel)
    .fetch_all(pool)
    .await?;
    rows.iter().map(pairing_from_row).collect()
}

pub(crate) async fn add_pairing_request(pool: &SqlitePool, request: PairingRequest) -> Result<()> {
    let mut tx = begin(pool).await?;
    sqlx::query("DELETE FROM channel_pairing_requests WHERE expires_at <= ?")
        .bind(request.created_at)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO channel_pairing_requests (channel, account, sender_id, code, display, conversation, route_json, \
         created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&request.channel)
    .bind(&request.account)
    .bind(&request.sender_id)
    .bind(&request.code)
    .bind(&request.display)
    .bind(&request.conversation)
    .bind(to_json(&request.route))
    .bind(request.created_at)
    .bind(request.expires_at)
    .execute(&mut *tx)
    .await
    .map_err(map_disk_full)?;
    tx.commit().await.map_err(map_disk_full)?;
    Ok(())
}

pub(crate) async fn approve_pairing(
    pool: &SqlitePool,
    channel: &str,
    code: &str,
    now: i64,
) -> Result<Option<PairingRequest>> {
    let mut tx = begin(pool).await?;
    let row = sqlx::query("SELECT * FROM channel_pairing_requests WHERE channel = ? AND code = ? AND expires_at > ?")
        .bind(channel)
        .bind(code)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(request) = row.as_ref().map(pairing_from_row).transpose()? else {
        return Ok(None);
    };
    sqlx::query("DELETE FROM channel_pairing_requests WHERE channel = ? AND code = ?")
        .bind(channel)
        .bind(code)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO channel_pairing_allow (channel, account, sender_id, approved_at) VALUES (?, ?, ?, ?) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&request.channel)
    .bind(&request.account)
    .bind(&request.sender_id)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(map_disk_full)?;
    tx.commit().await.map_err(map_disk_full)?;
    Ok(Some(request))
}

pub(crate) async fn is_paired(pool: &SqlitePool, channel: &str, account: &str, sender_id: &str) -> Result<bool> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM channel_pairing_allow WHERE channel = ? AND account = ? AND sender_id = ?")
            .bind(channel)
            .bind(account)
            .bind(sender_id)
            .fetch_optional(pool)
            .await?;
    Ok(found.is_some())
}
