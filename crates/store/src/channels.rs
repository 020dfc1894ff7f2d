//! Channel records: the durable inbox and outbox, cursors and DM pairing.

use serde_json::Value;

/// An inbound message to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewInbound {
    pub channel: String,
    pub account: String,
    /// The platform's id for the message (Telegram `update_id`, a webhook's `id`): the deduplication key.
    pub platform_id: String,
    /// The conversation it belongs to (`<channel>:<account>:<peer kind>:<peer id>[:<thread>]`); order is kept per
    /// conversation.
    pub conversation: String,
    pub sender: String,
    /// The normalised message, as the channels crate serialises it.
    pub payload: Value,
    pub received_at: i64,
}

/// What [`crate::Store::accept_inbound`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Recorded under this id.
    New(i64),
    /// Already recorded under this id (a platform's redelivery); nothing changed.
    Duplicate(i64),
}

/// A recorded inbound message.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundRecord {
    pub id: i64,
    pub channel: String,
    pub account: String,
    pub platform_id: String,
    pub conversation: String,
    pub sender: String,
    pub payload: Value,
    /// `pending`, `done`, `ignored` or `failed`.
    pub status: String,
    /// How many times processing started (a message that keeps crashing the process is given up).
    pub attempts: i64,
    pub note: Option<String>,
    pub received_at: i64,
}

/// A reply to deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOutbound {
    pub channel: String,
    pub account: String,
    pub conversation: String,
    /// Where to send it, as the channel understands it (chat id, thread, message to reply to).
    pub route: Value,
    /// The whole reply, in Markdown; the channel formats and chunks it when it delivers.
    pub text: String,
}

/// A recorded reply.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundRecord {
    pub id: i64,
    pub inbox_id: Option<i64>,
    /// The run whose answer this is (`None`: a command's answer, a pairing code).
    pub run_id: Option<String>,
    pub channel: String,
    pub account: String,
    pub conversation: String,
    pub route: Value,
    pub text: String,
    /// `pending`, `sent` or `dead`.
    pub status: String,
    pub attempts: i64,
    /// Chunks already delivered (a restart resumes at the next one).
    pub chunks_sent: i64,
    /// The chunk whose send was under way when the process stopped (set only while sending): resending it may show
    /// it twice on a platform without idempotency keys.
    pub in_flight: Option<i64>,
    /// How many such uncertain chunks were met (looked for on the platform, and sent again when not found).
    pub resends: i64,
    /// The platform's id for the last delivered chunk, when it gave one.
    pub last_platform_id: Option<String>,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a turn whose answer goes to a channel commits with it. Answering an inbound message, the inbox row is
/// finished and its reply queued in the turn's transaction, so a crash leaves either both or neither; a turn an
/// operator started with delivery (`inbox_id: None`) only queues its reply, found later by its run id.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub inbox_id: Option<i64>,
    /// The reply; the turn sets its text to the final answer (nothing is queued when that is empty).
    pub reply: NewOutbound,
}

/// A DM pairing request waiting for an operator.
#[derive(Debug, Clone, PartialEq)]
pub struct PairingRequest {
    pub channel: String,
    pub account: String,
    pub sender_id: String,
    pub code: String,
    pub display: Option<String>,
    /// The conversation and reply route of the message that asked (where an approval notice goes).
    pub conversation: String,
    pub route: Value,
    pub created_at: i64,
    pub expires_at: i64,
}

/// How the channel queues stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChannelQueues {
    pub inbox_pending: i64,
    pub outbox_pending: i64,
    pub dead_letters: i64,
    pub pairing_requests: i64,
}
