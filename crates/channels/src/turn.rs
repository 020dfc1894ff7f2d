//! The turn contract: what the dispatcher asks of whoever runs agents (the gateway, on the agent runtime) and what
//! it gets back. The channel layer knows nothing more about agents than this.

use std::sync::Arc;

use async_trait::async_trait;
use openclaw_config::Loaded;
use openclaw_store::Delivery;

/// One turn for an inbound message.
#[derive(Debug, Clone)]
pub struct ChannelTurn {
    /// The agent routing chose.
    pub agent_id: String,
    pub session_key: String,
    /// What the agent reads: the message's text, with its attachments named.
    pub text: String,
    /// Flips to `true` when the conversation sends `/stop`.
    pub abort: tokio::sync::watch::Receiver<bool>,
    /// Committed with the turn: the inbound message is finished and its reply queued exactly when the turn is
    /// stored.
    pub delivery: Delivery,
}

/// Why a turn did not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TurnFailure {
    /// `/stop` (or a shutdown) ended it; what it wrote is kept and nothing more is said.
    #[error("the turn was stopped")]
    Aborted,
    /// Nothing was committed (the store failed): the message stays pending and is tried again.
    #[error("the turn could not be stored: {0}")]
    NotStored(String),
    /// It failed. A turn that committed has already queued its own apology; one that failed before committing
    /// (an unknown agent, a workspace that cannot be made) has not.
    #[error("{0}")]
    Failed(String),
}

/// How the dispatcher runs turns (the gateway implements it, so channel turns go through the same path as every
/// other entry point).
#[async_trait]
pub trait Turns: Send + Sync {
    /// The configuration in force.
    fn loaded(&self) -> Arc<Loaded>;
    /// Runs one turn; its answer is queued by its own commit (`delivery`).
    async fn run_turn(&self, turn: ChannelTurn) -> Result<(), TurnFailure>;
}
