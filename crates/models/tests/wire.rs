//! The providers against a real HTTP server speaking each wire format, including the ugly cases.

use std::time::{Duration, Instant};

use openclaw_models::{
    Api, BreakerConfig, ErrorKind, ModelInfo, ModelRef, ModelRequest, ModelRouter, ProviderSettings, RetryPolicy,
    StreamEvent,
};
use openclaw_protocol::{AgentMessage, AssistantPart, StopReason, ToolSpec};
use openclaw_testkit::{Reply, ScriptedServer, anthropic, openai};
use serde_json::json;

fn settings(id: &str, api: Api, server: &ScriptedServer) -> ProviderSettings {
    let base_url = match api {
        Api::OpenAiCompletions => format!("{}/v1", server.url()),
        _ => server.url(),
    };
    ProviderSettings {
        id: id.to_owned(),
        api,
        base_url,
        api_key: Some("sk-secret".to_owned()),
        headers: Vec::new(),
        timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_millis(700),
        max_tokens: None,
        models: vec![ModelInfo {
            id: "m1".to_owned(),
            context_window: Some(8192),
            max_tokens: None,
            cost_per_million: [2.0, 8.0, 0.5, 0.0],
        }],
    }
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 2,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(5),
    }
}

fn router(providers: Vec<ProviderSettings>) -> ModelRouter {
    let mut router = ModelRouter::new(fast_retry(), BreakerConfig::default());
    for provider in providers {
        router.add_provider(provider);
    }
    router
}

fn request() -> ModelRequest {
    ModelRequest {
        model: String::new(),
        system: "You are terse.".to_owned(),
        messages: vec![AgentMessage::user_text("hi")],
        tools: vec![ToolSpec {
            name: "memory_search".to_owned(),
            description: "Search memory".to_owned(),
            parameters: json!({"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}),
        }],
        max_tokens: Some(256),
        temperature: None,
    }
}

fn chain(refs: &[&str]) -> Vec<ModelRef> {
    refs.iter().map(|r| ModelRef::parse(r).unwrap()).collect()
}

async fn run(
    router: &ModelRouter,
    refs: &[&str],
) -> (Result<openclaw_protocol::AssistantMessage, openclaw_models::ModelError>, String) {
    let mut streamed = String::new();
    let mut on_event = |event: &StreamEvent| {
        if let StreamEvent::TextDelta(text) = event {
            streamed.push_str(text);
        }
    };
    let result = router.complete(&chain(refs), &request(), &mut on_event).await;
    (result.map(|(message, _)| message).map_err(|(error, _)| error), streamed)
}

#[tokio::test]
async fn openai_text_split_mid_line_with_usage_and_cost() {
    let server = ScriptedServer::start().await;
    server.push(openai::text("Hello there, friend.").split_every(7));
    let router = router(vec![settings("oa", Api::OpenAiCompletions, &server)]);
    let (result, streamed) = run(&router, &["oa/m1"]).await;
    let message = result.unwrap();
    assert_eq!(message.text(), "Hello there, friend.");
    assert_eq!(streamed, "Hello there, friend.");
    assert_eq!(message.stop_reason, StopReason::Stop);
    assert_eq!(message.usage.input, 12);
    assert_eq!(message.usage.output, 3);
    assert!((message.usage.cost.total - (12.0 * 2.0 + 3.0 * 8.0) / 1e6).abs() < 1e-12);
    let sent = &server.requests()[0];
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.header("authorization"), Some("Bearer sk-secret"));
    let body = sent.json();
    assert_eq!(body["model"], "m1");
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_eq!(body["messages"][0], json!({"role": "system", "content": "You are terse."}));
    assert_eq!(body["tools"][0]["function"]["name"], "memory_search");
    assert_eq!(body["max_completion_tokens"], 256);
}

#[tokio::test]
async fn openai_tool_call_arguments_across_many_chunks() {
    let server = ScriptedServer::start().await;
    let args = json!({"query": "favourite colour", "maxResults": 3});
    server.push(openai::tool_call("call_1", "memory_search", &args, 2).split_every(5));
    let router = router(vec![settings("oa", Api::OpenAiCompletions, &server)]);
    let (result, _) = run(&router, &["oa/m1"]).await;
    let message = result.unwrap();
    assert_eq!(message.stop_reason, StopReason::ToolUse);
    let calls: Vec<_> = message.tool_calls().collect();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].id, "call_1");
    assert_eq!(calls[0].arguments, args);
}

#[tokio::test]
async fn rate_limit_retry_after_is_honoured() {
    let server = ScriptedServer::start().await;
    server.push(openai::error(429, "Rate limit reached", "rate_limit_error").header("retry-after", "1"));
    server.push(openai::text("ok"));
    let router = router(vec![settings("oa", Api::OpenAiCompletions, &server)]);
    let started = Instant::now();
    let (result, _) = run(&router, &["oa/m1"]).await;
    assert_eq!(result.unwrap().text(), "ok");
    assert!(started.elapsed() >= Duration::from_millis(950), "waited {:?}", started.elapsed());
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn server_errors_retry_then_fall_back() {
    let primary = ScriptedServer::start().await;
    primary.set_fallback(openai::error(500, "boom", "server_error"));
    let backup = ScriptedServer::start().await;
    backup.push(anthropic::text("from the fallback"));
    let router =
        router(vec![settings("oa", Api::OpenAiCompletions, &primary), settings("an", Api::AnthropicMessages, &backup)]);
    let mut on_event = |_: &StreamEvent| {};
    let (message, attempts) = router.complete(&chain(&["oa/m1", "an/m1"]), &request(), &mut on_event).await.unwrap();
    assert_eq!(message.text(), "from the fallback");
    assert_eq!(primary.requests().len(), 3, "one call and two retries");
    assert_eq!(attempts.len(), 2);
    assert!(matches!(attempts[0].error.as_ref().unwrap().kind, ErrorKind::Server { status: 500 }));
}

#[tokio::test]
async fn cut_stream_before_done_is_a_clean_error_after_text() {
    let server = ScriptedServer::start().await;
    // Role chunk + two words, then the connection drops without [DONE].
    server.push(openai::text("one two three four").cut_after(3));
    let router = router(vec![settings("oa", Api::OpenAiCompletions, &server)]);
    let (result, streamed) = run(&router, &["oa/m1"]).await;
    let error = result.unwrap_err();
    assert_eq!(error.kind, ErrorKind::StreamCut, "{error}");
    assert_eq!(streamed, "one two ");
    assert_eq!(server.requests().len(), 1, "no retry once text was shown");
}

#[tokio::test]
async fn cut_stream_before_any_text_is_retried() {
    let server = ScriptedServer::start().await;
    server.push(openai::text("lost").cut_after(1));
    server.push(openai::text("second try"));
    let router = router(vec![settings("oa", Api::OpenAiCompletions, &server)]);
    let (result, _) = run(&router, &["oa/m1"]).await;
    assert_eq!(result.unwrap().text(), "second try");
}

#[tokio::test]
async fn malformed_json_is_a_protocol_error() {
    let server = ScriptedServer::start().await;
    server.push(Reply::sse_raw(vec!["data: {\"choices\": [oops\n\n".to_owned()]));
    let router = router(vec![settings("oa", Api::OpenAiCompletions, &server)]);
    let (result, _) = run(&router, &["oa/m1"]).await;
    let error = result.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Protocol);
    assert!(error.message.contains("malformed JSON"), "{error}");
    assert_eq!(server.requests().len(), 1, "a protocol error is not retried");
}

#[tokio::test]
async fn unauthorized_is_not_retried_and_says_so() {
    let server = ScriptedServer::start().await;
    server.push(openai::error(401, "Incorrect API key provided: sk-***", "invalid_request_error"));
    let router = router(vec![settings("oa", Api::OpenAiCompletions, &server)]);
    let (result, _) = run(&router, &["oa/m1"]).await;
    let error = result.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Auth);
    assert!(error.to_string().contains("HTTP 401") && error.to_string().contains("API key"), "{error}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn hung_stream_hits_the_idle_timeout() {
    let server = ScriptedServer::start().await;
    server.push(openai::text("never finishes").hang_after(2));
    let router = router(vec![settings("oa", Api::OpenAiCompletions, &server)]);
    let started = Instant::now();
    let (result, _) = run(&router, &["oa/m1"]).await;
    assert_eq!(result.unwrap_err().kind, ErrorKind::Timeout);
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn unreachable_provider_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut oa = ProviderSettings {
        base_url: format!("http://127.0.0.1:{port}/v1"),
        ..settings("oa", Api::OpenAiCompletions, &ScriptedServer::start().await)
    };
    oa.timeout = Duration::from_secs(2);
    let router = router(vec![oa]);
    let (result, _) = run(&router, &["oa/m1"]).await;
    let error = result.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Connect);
    assert!(error.message.contains("baseUrl"), "{error}");
}

#[tokio::test]
async fn anthropic_text_with_thinking_and_request_shape() {
    let server = ScriptedServer::start().await;
    server.push(anthropic::text_with_thinking("Paris is the capital.", "The user asks about France.").split_every(11));
    let router = router(vec![settings("an", Api::AnthropicMessages, &server)]);
    let (result, streamed) = run(&router, &["an/m1"]).await;
    let message = result.unwrap();
    assert_eq!(streamed, "Paris is the capital.");
    match &message.content[0] {
        AssistantPart::Thinking { thinking, signature } => {
            assert_eq!(thinking, "The user asks about France.");
            assert_eq!(signature.as_deref(), Some("sig-abc"));
        }
        other => panic!("expected thinking first, got {other:?}"),
    }
    assert_eq!(message.usage.input, 25);
    assert_eq!(message.usage.cache_read, 3);
    let sent = &server.requests()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some("sk-secret"));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    let body = sent.json();
    assert_eq!(body["system"], "You are terse.");
    assert_eq!(body["tools"][0]["input_schema"]["required"][0], "query");
    assert_eq!(body["messages"][0]["content"][0]["text"], "hi");
}

#[tokio::test]
async fn anthropic_tool_use_across_chunks_and_overload_retry() {
    let server = ScriptedServer::start().await;
    server.push(anthropic::error(529, "overloaded_error", "Overloaded"));
    let input = json!({"query": "deploy day"});
    server.push(anthropic::tool_use("toolu_1", "memory_search", &input, 3).split_every(9));
    let router = router(vec![settings("an", Api::AnthropicMessages, &server)]);
    let (result, _) = run(&router, &["an/m1"]).await;
    let message = result.unwrap();
    assert_eq!(message.stop_reason, StopReason::ToolUse);
    let calls: Vec<_> = message.tool_calls().collect();
    assert_eq!(calls[0].id, "toolu_1");
    assert_eq!(calls[0].arguments, input);
    assert_eq!(message.text(), "Let me check.");
}

#[tokio::test]
async fn anthropic_cut_before_message_stop() {
    let server = ScriptedServer::start().await;
    server.push(anthropic::text("partial answer here").cut_after(5));
    let router = router(vec![settings("an", Api::AnthropicMessages, &server)]);
    let (result, streamed) = run(&router, &["an/m1"]).await;
    assert_eq!(result.unwrap_err().kind, ErrorKind::StreamCut);
    assert!(!streamed.is_empty());
}

#[tokio::test]
async fn ollama_uses_its_openai_compatible_api() {
    let server = ScriptedServer::start().await;
    server.push(openai::text("llama says hi"));
    let router = router(vec![settings("ollama", Api::Ollama, &server)]);
    let (result, _) = run(&router, &["ollama/m1"]).await;
    assert_eq!(result.unwrap().text(), "llama says hi");
    let sent = &server.requests()[0];
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.json()["max_tokens"], 256);
}

#[tokio::test]
async fn circuit_breaker_skips_a_failing_provider() {
    let primary = ScriptedServer::start().await;
    primary.set_fallback(openai::error(503, "down", "server_error"));
    let backup = ScriptedServer::start().await;
    backup.set_fallback(openai::text("backup"));
    let mut router = ModelRouter::new(
        RetryPolicy { max_retries: 0, ..fast_retry() },
        BreakerConfig { failure_threshold: 2, cooldown: Duration::from_secs(60) },
    );
    router.add_provider(settings("oa", Api::OpenAiCompletions, &primary));
    router.add_provider(settings("bk", Api::OpenAiCompletions, &backup));
    for _ in 0..4 {
        let (result, _) = run(&router, &["oa/m1", "bk/m1"]).await;
        assert_eq!(result.unwrap().text(), "backup");
    }
    assert_eq!(primary.requests().len(), 2, "the breaker opened after two failures");
}

#[tokio::test]
async fn missing_provider_names_the_fix() {
    let router = router(Vec::new());
    let (result, _) = run(&router, &["nowhere/m1"]).await;
    let error = result.unwrap_err();
    assert_eq!(error.kind, ErrorKind::NotConfigured);
    assert!(error.message.contains("models.providers.nowhere"), "{error}");
}
