//! What an unauthenticated WebSocket client may cost: a byte budget on everything read from it before its `connect`
//! is accepted (enforced under the WebSocket codec, so a frame header announcing 25 MiB is never buffered), and a
//! cap on unauthenticated connections per address and in all, plus one on open connections in all.
//!
//! The budget is a wrapper around the connection's IO: the codec reads through it, and once the budget is spent
//! every further read fails, which ends the connection. Authentication lifts it.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes read from a client before it is authenticated: the largest pre-auth frame plus room for frame headers and
/// the bytes that came with the upgrade request.
pub(crate) const PRE_AUTH_READ_BYTES: usize = openclaw_protocol::gateway::PRE_AUTH_MAX_FRAME_BYTES + 4096;
/// Unauthenticated connections from one address at once (the reference: 32; ours connect faster, and each costs at
/// most [`PRE_AUTH_READ_BYTES`]). `OPENCLAW_MAX_PREAUTH_CONNECTIONS_PER_IP` overrides it, as in the reference.
pub(crate) const DEFAULT_PREAUTH_PER_IP: usize = 256;
/// Unauthenticated connections in all.
pub(crate) const MAX_PREAUTH_TOTAL: usize = 2048;
/// Open WebSocket connections in all.
pub(crate) const MAX_CONNECTIONS: usize = 20_000;

/// The read budget shared by a connection's IO wrapper and its handshake.
#[derive(Debug, Clone)]
pub(crate) struct Budget(Arc<AtomicUsize>);

impl Budget {
    pub(crate) fn new(bytes: usize) -> Self {
        Budget(Arc::new(AtomicUsize::new(bytes)))
    }

    /// Whether every byte of it has been read.
    pub(crate) fn spent(&self) -> bool {
        self.0.load(Ordering::SeqCst) == 0
    }

    /// No limit from now on (the client authenticated).
    pub(crate) fn lift(&self) {
        self.0.store(usize::MAX, Ordering::SeqCst);
    }
}

/// An IO whose reads stop when its [`Budget`] is spent.
pub(crate) struct Capped<T> {
    inner: T,
    budget: Budget,
}

impl<T> Capped<T> {
    pub(crate) fn new(inner: T, budget: Budget) -> Self {
        Capped { inner, budget }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Capped<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let left = self.budget.0.load(Ordering::SeqCst);
        if left == 0 {
            return Poll::Ready(Err(io::Error::other("the client sent more than it may before authenticating")));
        }
        if left == usize::MAX {
            return Pin::new(&mut self.inner).poll_read(cx, buf);
        }
        let room = buf.remaining().min(left);
        let mut limited = ReadBuf::new(buf.initialize_unfilled_to(room));
        let polled = Pin::new(&mut self.inner).poll_read(cx, &mut limited);
        let read = limited.filled().len();
        if let Poll::Ready(Ok(())) = polled {
            buf.advance(read);
            // Another reader cannot exist (one codec per connection), so load-then-store is exact; `lift` may have
            // run meanwhile, which the max keeps.
            let now = self.budget.0.load(Ordering::SeqCst);
            if now != usize::MAX {
                self.budget.0.store(now.saturating_sub(read), Ordering::SeqCst);
            }
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Capped<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Counts of open and unauthenticated connections.
#[derive(Debug, Default)]
pub(crate) struct Admission {
    open: AtomicUsize,
    unauthenticated: Mutex<HashMap<IpAddr, usize>>,
    per_ip: usize,
}

/// Why a connection was not admitted.
pub(crate) enum Full {
    Address(usize),
    Total,
}

/// An admitted connection: counted as open until dropped, and as unauthenticated until [`Admitted::authenticated`].
pub(crate) struct Admitted {
    admission: Arc<Admission>,
    ip: IpAddr,
    unauthenticated: bool,
}

impl Admission {
    pub(crate) fn new(per_ip: usize) -> Self {
        Admission { per_ip: per_ip.max(1), ..Admission::default() }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.unauthenticated.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Admits a new connection from `ip`, or says which limit it hit.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admitted, Full> {
        let mut map = self.map();
        let from_ip = map.get(&ip).copied().unwrap_or(0);
        if from_ip >= self.per_ip {
            return Err(Full::Address(self.per_ip));
        }
        if map.values().sum::<usize>() >= MAX_PREAUTH_TOTAL || self.open.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            return Err(Full::Total);
        }
        map.insert(ip, from_ip + 1);
        self.open.fetch_add(1, Ordering::SeqCst);
        Ok(Admitted { admission: self.clone(), ip, unauthenticated: true })
    }

    fn release_unauthenticated(&self, ip: IpAddr) {
        let mut map = self.map();
        if let Some(count) = map.get_mut(&ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                map.remove(&ip);
            }
        }
    }
}

impl Admitted {
    /// The client authenticated: it no longer counts against the unauthenticated limits.
    pub(crate) fn authenticated(&mut self) {
        if std::mem::take(&mut self.unauthenticated) {
            self.admission.release_unauthenticated(self.ip);
        }
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.authenticated();
        self.admission.open.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn reads_stop_at_the_budget_until_it_is_lifted() {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let budget = Budget::new(10);
        let mut capped = Capped::new(server, budget.clone());
        tokio::io::AsyncWriteExt::write_all(&mut client, &[7u8; 64]).await.unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(capped.read(&mut buf).await.unwrap(), 10);
        assert!(capped.read(&mut buf).await.is_err(), "the budget is spent");
        budget.lift();
        assert_eq!(capped.read(&mut buf).await.unwrap(), 54);
    }

    #[test]
    fn unauthenticated_connections_are_capped_per_address() {
        let admission = Arc::new(Admission::new(2));
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        let first = admission.admit(ip).ok().unwrap();
        let mut second = admission.admit(ip).ok().unwrap();
        assert!(matches!(admission.admit(ip), Err(Full::Address(2))));
        second.authenticated();
        let third = admission.admit(ip).ok().unwrap();
        drop((first, third));
        assert!(admission.admit(ip).is_ok());
        assert!(admission.admit("203.0.113.10".parse().unwrap()).is_ok());
    }
}
