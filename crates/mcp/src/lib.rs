//! Model Context Protocol client: each `mcp.servers.<name>` (a stdio child process with `command`, or a streamable
//! HTTP endpoint with `url`) is connected with the official SDK (`rmcp`), and each of its tools becomes a
//! [`Tool`] named `<server>__<tool>` — offered, policed (tool policy), timed and audited like every built-in tool.
//!
//! **Invariants:** a server that cannot be reached is reported and skipped, never fatal for the others or the
//! gateway; tool names are sanitised to what model APIs accept (`[A-Za-z0-9_-]`, ≤ 64 characters).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use openclaw_config::{McpConfig, McpServer};
use openclaw_protocol::ToolSpec;
use openclaw_tools::{Tool, ToolContext, ToolError, ToolOutput};
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;

const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a server could not be used.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    #[error("mcp.servers.{0}: set either `command` (a stdio server) or `url` (streamable HTTP)")]
    NoTransport(String),
    #[error("mcp.servers.{server}: cannot start {command:?}: {source}")]
    Spawn { server: String, command: String, source: std::io::Error },
    #[error("mcp.servers.{server}: {message}")]
    Protocol { server: String, message: String },
    #[error("mcp.servers.{server}: no answer within {seconds}s (connectionTimeoutMs)")]
    Timeout { server: String, seconds: u64 },
}

type Client = RunningService<RoleClient, ()>;

/// One connected server.
pub struct Connection {
    pub name: String,
    client: Client,
    request_timeout: Duration,
}

/// One tool of an MCP server.
pub struct McpTool {
    connection: Arc<Connection>,
    /// The tool's own name on the server.
    remote: String,
    spec: ToolSpec,
}

/// `<server>__<tool>`, reduced to the characters model APIs accept.
pub fn tool_name(server: &str, tool: &str) -> String {
    let clean = |text: &str| -> String {
        text.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect()
    };
    let mut name = format!("{}__{}", clean(server), clean(tool));
    name.truncate(64);
    name
}

fn filtered(server: &McpServer, tool: &str) -> bool {
    let filter = &server.tool_filter;
    filter.include.as_ref().is_none_or(|names| names.iter().any(|name| name == tool))
        && !filter.exclude.iter().any(|name| name == tool)
}

/// Connects one server and lists its tools.
///
/// # Errors
/// [`McpError`] when the server cannot be started, does not complete the handshake in time, or fails to list its
/// tools.
pub async fn connect(name: &str, server: &McpServer) -> Result<Vec<Arc<dyn Tool>>, McpError> {
    let connect_timeout = server.connection_timeout_ms.map(Duration::from_millis).unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let protocol =
        |error: &dyn std::fmt::Display| McpError::Protocol { server: name.to_owned(), message: error.to_string() };
    let handshake = async {
        if let Some(command) = &server.command {
            let mut child = tokio::process::Command::new(command);
            child.args(&server.args).envs(&server.env);
            if let Some(cwd) = &server.cwd {
                child.current_dir(cwd);
            }
            let transport = TokioChildProcess::new(child).map_err(|source| McpError::Spawn {
                server: name.to_owned(),
                command: command.clone(),
                source,
            })?;
            ().serve(transport).await.map_err(|error| protocol(&error))
        } else if let Some(url) = &server.url {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let mut config =
                rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(url.as_str());
            let mut headers = HashMap::new();
            for (key, value) in &server.headers {
                let header = (key.parse(), value.parse());
                match header {
                    (Ok(key), Ok(value)) => {
                        headers.insert(key, value);
                    }
                    _ => return Err(protocol(&format!("header {key:?} is not a valid HTTP header"))),
                }
            }
            config.custom_headers = headers;
            let client = reqwest::Client::builder()
                .build()
                .map_err(|error| protocol(&format!("cannot build the HTTP client: {error}")))?;
            let transport = StreamableHttpClientTransport::with_client(client, config);
            ().serve(transport).await.map_err(|error| protocol(&error))
        } else {
            Err(McpError::NoTransport(name.to_owned()))
        }
    };
    let client = tokio::time::timeout(connect_timeout, handshake)
        .await
        .map_err(|_| McpError::Timeout { server: name.to_owned(), seconds: connect_timeout.as_secs() })??;
    let tools = tokio::time::timeout(connect_timeout, client.list_all_tools())
        .await
        .map_err(|_| McpError::Timeout { server: name.to_owned(), seconds: connect_timeout.as_secs() })?
        .map_err(|error| protocol(&error))?;
    let connection = Arc::new(Connection {
        name: name.to_owned(),
        client,
        request_timeout: server.request_timeout_ms.map(Duration::from_millis).unwrap_or(DEFAULT_REQUEST_TIMEOUT),
    });
    Ok(tools
        .into_iter()
        .filter(|tool| filtered(server, &tool.name))
        .map(|tool| {
            let spec = ToolSpec {
                name: tool_name(name, &tool.name),
                description: tool
                    .description
                    .as_deref()
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("{} (MCP server {name})", tool.name)),
                parameters: Value::Object((*tool.input_schema).clone()),
            };
            Arc::new(McpTool { connection: connection.clone(), remote: tool.name.to_string(), spec }) as Arc<dyn Tool>
        })
        .collect())
}

/// Connects every enabled server; the ones that fail are returned with their error (and logged by the caller).
pub async fn connect_all(config: &McpConfig) -> (Vec<Arc<dyn Tool>>, Vec<McpError>) {
    let mut tools = Vec::new();
    let mut errors = Vec::new();
    for (name, server) in &config.servers {
        if server.enabled == Some(false) {
            continue;
        }
        match connect(name, server).await {
            Ok(found) => {
                tracing::info!(server = %name, tools = found.len(), "connected an MCP server");
                tools.extend(found);
            }
            Err(error) => errors.push(error),
        }
    }
    (tools, errors)
}

#[async_trait::async_trait]
impl Tool for McpTool {
    fn spec(&self) -> ToolSpec {
        self.spec.clone()
    }

    fn max_duration(&self, _ctx: &ToolContext) -> Option<Duration> {
        Some(self.connection.request_timeout)
    }

    async fn invoke(&self, arguments: Value, _ctx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let arguments = match arguments {
            Value::Object(map) => map,
            Value::Null => serde_json::Map::new(),
            other => return Err(ToolError::InvalidArguments(format!("arguments must be an object, got {other}"))),
        };
        let mut params = CallToolRequestParams::new(self.remote.clone());
        params.arguments = Some(arguments);
        let result = self.connection.client.call_tool(params).await.map_err(|error| {
            ToolError::Failed(format!("MCP server {} failed the call: {error}", self.connection.name))
        })?;
        let mut text: Vec<String> =
            result.content.iter().filter_map(|block| block.as_text().map(|content| content.text.clone())).collect();
        if text.is_empty()
            && let Some(structured) = &result.structured_content
        {
            text.push(structured.to_string());
        }
        let text = text.join("\n");
        if result.is_error == Some(true) {
            return Err(ToolError::Failed(text));
        }
        Ok(ToolOutput { text })
    }
}
