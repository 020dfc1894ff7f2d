//! `web_fetch`: a page as readable text, with size and time limits and an SSRF guard.
//!
//! **Invariant:** a request is only ever sent to an address that passed the guard: every host (the first and each
//! redirect's) is resolved here, every address checked, and the connection pinned to those addresses (no second
//! DNS answer — "DNS rebinding" — can slip a private address in). Redirects are followed by hand, one hop at a time.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use futures::StreamExt;
use openclaw_protocol::ToolSpec;
use serde_json::{Value, json};

use crate::{Tool, ToolContext, ToolError, ToolOutput, str_arg, uint_arg};

/// `tools.web.fetch`.
#[derive(Debug, Clone, PartialEq)]
pub struct WebFetchSettings {
    pub enabled: bool,
    pub max_chars: usize,
    pub max_response_bytes: usize,
    pub max_redirects: usize,
    pub timeout: Duration,
    pub user_agent: String,
    /// Hosts (or `*.domain`) allowed even when they resolve to private addresses.
    pub allowed_hostnames: Vec<String>,
    /// Hosts (or `*.domain`) always refused.
    pub blocked_hostnames: Vec<String>,
    /// Private, loopback and link-local addresses allowed everywhere (`dangerouslyAllowPrivateNetwork`).
    pub allow_private: bool,
}

impl Default for WebFetchSettings {
    fn default() -> Self {
        WebFetchSettings {
            enabled: true,
            max_chars: 50_000,
            max_response_bytes: 2 << 20,
            max_redirects: 3,
            timeout: Duration::from_secs(30),
            user_agent: concat!("OpenClaw-rs/", env!("CARGO_PKG_VERSION"), " (web_fetch)").to_owned(),
            allowed_hostnames: Vec::new(),
            blocked_hostnames: Vec::new(),
            allow_private: false,
        }
    }
}

/// Whether an address is one a fetch must not reach without an explicit allowance: loopback, private, link-local
/// (the cloud metadata service at 169.254.169.254 among them), carrier-grade NAT, benchmark, documentation,
/// multicast, reserved, unspecified — and the IPv6 forms that embed such an IPv4 address.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => private_v4(v4),
        IpAddr::V6(v6) => private_v6(v6),
    }
}

fn private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240
}

fn private_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return private_v4(v4);
    }
    let segments = ip.segments();
    // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let octets = ip.octets();
        return private_v4(Ipv4Addr::new(octets[12], octets[13], octets[14], octets[15]));
    }
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00
        || (segments[0] & 0xffc0) == 0xfe80
        || (segments[0] == 0x2001 && segments[1] == 0xdb8)
        // IPv4-compatible (deprecated) ::a.b.c.d
        || (segments[..6] == [0, 0, 0, 0, 0, 0])
        // Tunnels to any IPv4 address, deprecated and not needed to reach a public site: 6to4 (2002::/16, RFC 7526)
        // and Teredo (2001::/32), whose embedded IPv4 addresses can be private ones.
        || segments[0] == 0x2002
        || (segments[0] == 0x2001 && segments[1] == 0)
        // IPv4-translated (::ffff:0:a.b.c.d), the local-use NAT64 prefix (64:ff9b:1::/48), site-local (fec0::/10),
        // discard-only (100::/64).
        || segments[..6] == [0, 0, 0, 0, 0xffff, 0]
        || segments[..3] == [0x64, 0xff9b, 1]
        || (segments[0] & 0xffc0) == 0xfec0
        || segments[..4] == [0x100, 0, 0, 0]
}

fn host_matches(patterns: &[String], host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    patterns.iter().any(|pattern| {
        let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
        match pattern.strip_prefix("*.") {
            Some(domain) => host.ends_with(&format!(".{domain}")),
            None => host == pattern,
        }
    })
}

/// Checks `url`'s host and resolves it: the addresses to connect to, or why not.
async fn guard(url: &reqwest::Url, settings: &WebFetchSettings) -> Result<Vec<SocketAddr>, ToolError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ToolError::InvalidArguments(format!(
            "only http and https URLs can be fetched, not {}:",
            url.scheme()
        )));
    }
    let host = url
        .host_str()
        .ok_or_else(|| ToolError::InvalidArguments(format!("{url} has no host")))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    if host_matches(&settings.blocked_hostnames, &host) {
        return Err(ToolError::Denied(format!("{host} is blocked (tools.web.fetch.ssrfPolicy.blockedHostnames)")));
    }
    let port = url.port_or_known_default().unwrap_or(80);
    let addresses: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|error| ToolError::Failed(format!("cannot resolve {host}: {error}")))?
            .collect(),
    };
    if addresses.is_empty() {
        return Err(ToolError::Failed(format!("{host} has no addresses")));
    }
    let trusted = settings.allow_private || host_matches(&settings.allowed_hostnames, &host);
    if !trusted && let Some(private) = addresses.iter().find(|address| is_private(address.ip())) {
        return Err(ToolError::Denied(format!(
            "{host} resolves to {}, a private, loopback or link-local address; web_fetch does not reach internal networks (to allow this host, add it to tools.web.fetch.ssrfPolicy.allowedHostnames)",
            private.ip()
        )));
    }
    Ok(addresses)
}

/// `web_fetch {url, extractMode?, maxChars?}`.
pub struct WebFetchTool;

#[async_trait::async_trait]
impl Tool for WebFetchTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "web_fetch".to_owned(),
            description: "Fetch a web page (http/https) and return its readable text. Internal and private addresses are refused.".to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "url": {"type": "string", "description": "The http(s) URL"},
                    "extractMode": {"type": "string", "enum": ["markdown", "text"], "description": "markdown (default) or text"},
                    "maxChars": {"type": "integer", "description": "Maximum characters returned"}
                },
                "required": ["url"]
            }),
        }
    }

    fn max_duration(&self, ctx: &ToolContext) -> Option<Duration> {
        Some(ctx.settings.web_fetch.timeout + Duration::from_secs(5))
    }

    async fn invoke(&self, arguments: Value, ctx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let settings = &ctx.settings.web_fetch;
        if !settings.enabled {
            return Err(ToolError::Denied("web_fetch is disabled (tools.web.fetch.enabled = false)".into()));
        }
        let raw = str_arg(&arguments, "url")?.ok_or_else(|| ToolError::InvalidArguments("url is required".into()))?;
        let mut url = reqwest::Url::parse(raw.trim())
            .map_err(|error| ToolError::InvalidArguments(format!("{raw:?} is not a URL: {error}")))?;
        let plain = str_arg(&arguments, "extractMode")? == Some("text");
        let max_chars =
            uint_arg(&arguments, "maxChars")?.map(|n| n as usize).unwrap_or(settings.max_chars).min(settings.max_chars);
        let deadline = tokio::time::Instant::now() + settings.timeout;
        // reqwest is built with rustls and no default crypto provider: make sure ring is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut hops = 0;
        let response = loop {
            let addresses = guard(&url, settings).await?;
            let host = url.host_str().unwrap_or_default().to_owned();
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .resolve_to_addrs(&host, &addresses)
                .no_proxy()
                .user_agent(&settings.user_agent)
                .timeout(settings.timeout)
                .build()
                .map_err(|error| ToolError::Failed(format!("cannot build the HTTP client: {error}")))?;
            let response = tokio::time::timeout_at(deadline, client.get(url.clone()).send())
                .await
                .map_err(|_| ToolError::Failed(format!("{url} did not answer within {}s", settings.timeout.as_secs())))?
                .map_err(|error| ToolError::Failed(format!("cannot fetch {url}: {error}")))?;
            if !response.status().is_redirection() {
                break response;
            }
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|value| value.to_str().ok())
                .ok_or_else(|| ToolError::Failed(format!("{url} redirected without a Location")))?;
            let next = url
                .join(location)
                .map_err(|error| ToolError::Failed(format!("{url} redirected to a bad URL {location:?}: {error}")))?;
            hops += 1;
            if hops > settings.max_redirects {
                return Err(ToolError::Failed(format!(
                    "too many redirects (more than {}; tools.web.fetch.maxRedirects)",
                    settings.max_redirects
                )));
            }
            url = next;
        };
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let mut body = Vec::new();
        let mut cut = false;
        let mut stream = response.bytes_stream();
        loop {
            let chunk = match tokio::time::timeout_at(deadline, stream.next()).await {
                Err(_) => return Err(ToolError::Failed(format!("{url} was too slow to send its page"))),
                Ok(None) => break,
                Ok(Some(chunk)) => chunk.map_err(|error| ToolError::Failed(format!("reading {url}: {error}")))?,
            };
            let room = settings.max_response_bytes - body.len();
            if chunk.len() >= room {
                body.extend_from_slice(&chunk[..room]);
                cut = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        let text = if content_type.contains("html") || (content_type.is_empty() && body.starts_with(b"<")) {
            let rendered = if plain {
                html2text::config::plain().string_from_read(&body[..], 100)
            } else {
                html2text::from_read(&body[..], 100)
            };
            rendered.map_err(|error| ToolError::Failed(format!("cannot read the page: {error}")))?
        } else if content_type.starts_with("text/")
            || content_type.contains("json")
            || content_type.contains("xml")
            || content_type.is_empty()
        {
            String::from_utf8_lossy(&body).into_owned()
        } else {
            return Err(ToolError::Failed(format!(
                "{url} is {content_type}, not a page web_fetch can read (HTML, text, JSON, XML)"
            )));
        };
        let total = text.chars().count();
        let mut out = format!("URL: {url}\nStatus: {}\n\n", status.as_u16());
        out.extend(text.chars().take(max_chars));
        if total > max_chars || cut {
            out.push_str(&format!(
                "\n[truncated: the page is longer than the {max_chars}-character / {}-byte limit]",
                settings.max_response_bytes
            ));
        }
        Ok(ToolOutput { text: out })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_ranges() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "::127.0.0.1",
            // Finding 12: 6to4 and Teredo forms of 127.0.0.1 / 169.254.169.254 / 10.0.0.1 passed as public.
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "2001:0:a00:1::1",
            "2001::5efe:a9fe:a9fe",
            "::ffff:0:7f00:1",
            "64:ff9b:1::a00:1",
            "fec0::1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700::1111", "64:ff9b::101:101"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
        assert!(host_matches(&["*.example.org".into()], "a.example.org"));
        assert!(!host_matches(&["*.example.org".into()], "example.org.evil"));
        assert!(host_matches(&["LocalHost".into()], "localhost."));
    }
}
