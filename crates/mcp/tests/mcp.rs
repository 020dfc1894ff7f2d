//! The MCP client against a server written with the official Python SDK (PyPI `mcp`), over stdio and over
//! streamable HTTP.

use std::collections::BTreeMap;
use std::time::Duration;

use openclaw_config::{McpConfig, McpServer, McpToolFilter};
use openclaw_tools::{ToolContext, ToolError};
use serde_json::json;

use openclaw_testkit::{MCP_WEATHER_SERVER as SERVER, mcp_sdk_available as sdk_available};

fn stdio() -> McpServer {
    McpServer { command: Some("python3".into()), args: vec![SERVER.into()], ..McpServer::default() }
}

fn ctx() -> ToolContext {
    ToolContext::new("main", "agent:main:main", std::env::temp_dir())
}

#[tokio::test]
async fn stdio_server_tools_are_listed_and_called() {
    if !sdk_available() {
        return;
    }
    let tools = openclaw_mcp::connect("weather", &stdio()).await.unwrap();
    let names: Vec<String> = tools.iter().map(|tool| tool.spec().name).collect();
    assert_eq!(names, vec!["weather__forecast", "weather__add", "weather__fail"]);
    let forecast = &tools[0];
    assert_eq!(forecast.spec().description, "One-line weather forecast for a city.");
    assert_eq!(forecast.spec().parameters["properties"]["city"]["type"], "string");
    let out = forecast.invoke(json!({"city": "Paris"}), &ctx()).await.unwrap();
    assert_eq!(out.text, "Sunny, 21 C in Paris");
    let sum = tools[1].invoke(json!({"a": 2, "b": 40}), &ctx()).await.unwrap();
    assert_eq!(sum.text, "42");
    match tools[2].invoke(json!({"reason": "no data"}), &ctx()).await {
        Err(ToolError::Failed(message)) => assert!(message.contains("no data"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(forecast.invoke(json!("Paris"), &ctx()).await, Err(ToolError::InvalidArguments(_))));
}

#[tokio::test]
async fn filters_bad_servers_and_streamable_http() {
    if !sdk_available() {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut http = std::process::Command::new("python3")
        .args([SERVER, "http", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut servers = BTreeMap::new();
    servers.insert(
        "remote".to_owned(),
        McpServer { url: Some(format!("http://127.0.0.1:{port}/mcp")), ..McpServer::default() },
    );
    servers.insert(
        "local".to_owned(),
        McpServer { tool_filter: McpToolFilter { include: None, exclude: vec!["fail".into()] }, ..stdio() },
    );
    servers
        .insert("broken".to_owned(), McpServer { command: Some("/nonexistent/server".into()), ..McpServer::default() });
    servers.insert("empty".to_owned(), McpServer::default());
    servers.insert("off".to_owned(), McpServer { enabled: Some(false), ..stdio() });
    let (tools, errors) = openclaw_mcp::connect_all(&McpConfig { servers }).await;
    let _ = http.kill();
    let _ = http.wait();
    let mut names: Vec<String> = tools.iter().map(|tool| tool.spec().name).collect();
    names.sort();
    assert_eq!(
        names,
        vec!["local__add", "local__forecast", "remote__add", "remote__fail", "remote__forecast"],
        "{errors:?}"
    );
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages[0].contains("mcp.servers.broken: cannot start"), "{messages:?}");
    assert!(messages[1].contains("mcp.servers.empty: set either `command`"), "{messages:?}");
}
