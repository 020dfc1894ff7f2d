//! The channel compliance harness: the guarantees every channel gives, checked the same way against each
//! platform's counterpart while the gateway runs that channel. A channel's end-to-end test calls [`check`] with its
//! [`Counterpart`] (one conversation on the platform, from a person's side) and a way to restart the gateway.
//!
//! What is checked, in order:
//! 1. **No chunk over the platform's limit** — a long answer arrives in several messages, each within it.
//! 2. **A 429 is a wait of the platform's `retry_after`** — the send after a refused one comes no sooner.
//! 3. **A redelivery is recognised by the platform's id** — the same message delivered twice is answered once.
//! 4. **An uncertain chunk is looked for (or resent idempotently)** — a send whose answer was lost after the
//!    message was created does not show twice.
//! 5. **Stored before acknowledged** — the gateway killed right after a message arrives answers it once after the
//!    restart.
//!
//! The model behind the gateway must echo (each answer contains the message it answers) and answer a message that
//! contains `long answer` with at least three times the chunk limit.

use std::time::{Duration, Instant};

/// One conversation on a platform, as the harness needs it.
pub trait Counterpart: Send + Sync {
    /// The platform, for messages.
    fn name(&self) -> &str;
    /// The longest chunk the channel may send here (its `textChunkLimit`, at most the platform's limit).
    fn max_chunk(&self) -> usize;
    /// A person writes `text` in the conversation.
    fn send(&self, text: &str) -> impl std::future::Future<Output = ()> + Send;
    /// The bot's messages in the conversation, oldest first.
    fn answers(&self) -> impl std::future::Future<Output = Vec<String>> + Send;
    /// The platform delivers its last message to the bot again, as it does after a reconnect or a timeout.
    fn redeliver_last(&self);
    /// The next send is refused with a 429 asking for a wait of `seconds`.
    fn rate_limit_next(&self, seconds: f64);
    /// The next send creates its message, but its answer is lost.
    fn lose_next_answer(&self);
    /// The bot's send attempts so far: when, and the HTTP status each got.
    fn send_attempts(&self) -> Vec<(Instant, u16)>;
}

/// What [`check`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Chunks of the long answer, and the longest.
    pub chunks: usize,
    pub longest_chunk: usize,
    /// The wait between the refused send and the next one, against the `retry_after` asked for.
    pub waited: Duration,
    pub retry_after: Duration,
}

async fn wait_for<C: Counterpart>(counterpart: &C, count: usize, what: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let answers = counterpart.answers().await;
        if answers.len() >= count {
            return answers;
        }
        assert!(Instant::now() < deadline, "{}: timed out waiting for {what}", counterpart.name());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The bot's answers that contain `text`, once things have settled.
async fn settled<C: Counterpart>(counterpart: &C, count: usize, text: &str, what: &str) -> usize {
    wait_for(counterpart, count, what).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    counterpart.answers().await.iter().filter(|answer| answer.contains(text)).count()
}

/// Runs the five checks. `restart` kills the gateway (SIGKILL) and starts it again, waiting until it is ready.
///
/// # Panics
/// When a guarantee does not hold, naming the platform and the check.
pub async fn check<C: Counterpart>(counterpart: &C, mut restart: impl AsyncFnMut()) -> Report {
    let name = counterpart.name().to_owned();
    let mut seen = counterpart.answers().await.len();

    // 1. Chunks.
    counterpart.send("compliance: a long answer please").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let answers = wait_for(counterpart, seen + 2, "the long answer").await;
    let chunks: Vec<&String> = answers[seen..].iter().collect();
    let longest_chunk = chunks.iter().map(|chunk| chunk.chars().count()).max().unwrap_or(0);
    assert!(
        longest_chunk <= counterpart.max_chunk(),
        "{name}: a chunk of {longest_chunk} characters is over the limit"
    );
    seen = answers.len();

    // 2. 429.
    let retry_after = Duration::from_millis(1200);
    let attempts_before = counterpart.send_attempts().len();
    counterpart.rate_limit_next(retry_after.as_secs_f64());
    counterpart.send("compliance: after a rate limit").await;
    let once = settled(counterpart, seen + 1, "compliance: after a rate limit", "the answer after a 429").await;
    assert_eq!(once, 1, "{name}: the rate-limited answer arrives once");
    let attempts = counterpart.send_attempts();
    let attempts = &attempts[attempts_before..];
    let refused = attempts.iter().position(|(_, status)| *status == 429);
    let refused = refused.unwrap_or_else(|| panic!("{name}: the scripted 429 was never met: {attempts:?}"));
    let next = attempts.get(refused + 1).unwrap_or_else(|| panic!("{name}: nothing was sent after the 429"));
    let waited = next.0.duration_since(attempts[refused].0);
    assert!(waited >= retry_after, "{name}: sent again after {waited:?}, before the {retry_after:?} asked for");
    seen = counterpart.answers().await.len();

    // 3. Redelivery.
    counterpart.send("compliance: delivered twice").await;
    wait_for(counterpart, seen + 1, "the answer to the message delivered twice").await;
    counterpart.redeliver_last();
    let once = settled(counterpart, seen + 1, "compliance: delivered twice", "the redelivered message").await;
    assert_eq!(once, 1, "{name}: a redelivered message is answered once");
    seen = counterpart.answers().await.len();

    // 4. Uncertain chunk.
    counterpart.lose_next_answer();
    counterpart.send("compliance: an answer lost on the way").await;
    let once =
        settled(counterpart, seen + 1, "compliance: an answer lost on the way", "the answer whose reply was lost")
            .await;
    assert_eq!(once, 1, "{name}: a chunk whose send answer was lost shows once");
    seen = counterpart.answers().await.len();

    // 5. Stored before acknowledged: killed as soon as the message is out.
    counterpart.send("compliance: just before a kill").await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    restart().await;
    let once = settled(counterpart, seen + 1, "compliance: just before a kill", "the answer after the kill").await;
    assert_eq!(once, 1, "{name}: a message that arrived just before a kill is answered once after the restart");

    Report { chunks: chunks.len(), longest_chunk, waited, retry_after }
}
