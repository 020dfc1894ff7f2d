//! Reliability of the whole binary under faults, end to end:
//! - a provider that answers 500 or 429, cuts its SSE stream (before or after some text) or hangs, once or every
//!   time: every `/v1/chat/completions` call (plain and streamed) and every WS `agent` turn ends — in an answer when
//!   a retry can save it, otherwise in an error the user can read — within the turn's time limit, and the gateway
//!   answers the next question;
//! - SIGKILL at random points of a load of `/v1` turns, then a restart: the store is consistent, no turn was stored
//!   twice, every turn a client saw answered is in the store, and no run is left `running`.

mod common;

use std::time::{Duration, Instant};

use common::{Env, GatewayProcess, faulty_model, free_port};
use openclaw_store::Store;
use openclaw_testkit::gateway::Client;
use openclaw_testkit::{ScriptedServer, openai};
use serde_json::{Value, json};

const TOKEN: &str = "reliability-token";

/// A state dir whose gateway serves `/v1/chat/completions` with `TOKEN`: one agent per id, each on a provider of its
/// own (the first is the default) pointing at the scripted model, and a turn limit of `timeout_seconds`.
fn gateway_env(model: &ScriptedServer, agents: &[&str], timeout_seconds: u64) -> Env {
    let list: Vec<Value> = agents
        .iter()
        .enumerate()
        .map(|(index, id)| json!({"id": id, "default": index == 0, "model": format!("{id}/m1")}))
        .collect();
    let providers: serde_json::Map<String, Value> = agents
        .iter()
        .map(|id| {
            let provider = json!({"baseUrl": format!("{}/v1", model.url()), "api": "openai-completions",
                                  "apiKey": format!("sk-{id}"), "models": [{"id": "m1", "name": "m1"}]});
            ((*id).to_owned(), provider)
        })
        .collect();
    let env = Env::new();
    env.write_config(
        &json!({
            "gateway": {"auth": {"mode": "token", "token": TOKEN},
                        "http": {"endpoints": {"chatCompletions": {"enabled": true}}}},
            "agents": {"defaults": {"timeoutSeconds": timeout_seconds}, "list": list},
            "models": {"providers": providers},
        })
        .to_string(),
    );
    env
}

/// One `/v1/chat/completions` call; `(status, body)`.
async fn complete(port: u16, stream: bool, user: Option<&str>, text: &str) -> Result<(u16, String), String> {
    complete_with(port, "openclaw", stream, user, text).await
}

/// One `/v1/chat/completions` call to `model` (`openclaw/<agentId>`); `(status, body)`.
async fn complete_with(
    port: u16,
    model: &str,
    stream: bool,
    user: Option<&str>,
    text: &str,
) -> Result<(u16, String), String> {
    let mut body = json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": text}]});
    if let Some(user) = user {
        body["user"] = json!(user);
    }
    let response = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/chat/completions"))
        .bearer_auth(TOKEN)
        .json(&body)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .map_err(|error| error.to_string())?;
    let status = response.status().as_u16();
    let text = response.text().await.map_err(|error| error.to_string())?;
    Ok((status, text))
}

/// Whether a 200 body is a whole answer: a completion with content, or a stream of content ending in `[DONE]`
/// without an error chunk (a cut connection leaves a stream without its end).
fn is_answer(stream: bool, body: &str) -> bool {
    if !stream {
        let json: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        return json["choices"][0]["message"]["content"].as_str().is_some_and(|content| !content.is_empty());
    }
    let chunks: Vec<Value> = body
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .filter_map(|data| serde_json::from_str(data).ok())
        .collect();
    body.trim_end().ends_with("data: [DONE]")
        && chunks.iter().all(|chunk| chunk.get("error").is_none())
        && chunks.iter().any(|chunk| chunk["choices"][0]["delta"]["content"].as_str().is_some_and(|t| !t.is_empty()))
}

/// A stream's error message (an `error` chunk before `[DONE]`), or a plain call's (a JSON error with a status ≥ 400).
fn error_message(stream: bool, status: u16, body: &str) -> Option<String> {
    if !stream {
        let json: Value = serde_json::from_str(body).ok()?;
        let message = json["error"]["message"].as_str().filter(|m| status >= 400 && !m.is_empty())?;
        return Some(message.to_owned());
    }
    let chunks = body.lines().filter_map(|line| line.strip_prefix("data: "));
    let error =
        chunks.filter_map(|data| serde_json::from_str::<Value>(data).ok()).find(|c| c.get("error").is_some())?;
    let ended = body.trim_end().ends_with("data: [DONE]");
    error["error"]["message"].as_str().filter(|m| ended && !m.is_empty()).map(str::to_owned)
}

/// How a faulty turn must end.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// A retry saves it: the answer.
    Answer,
    /// Nothing can: an error the user reads, saying this.
    Error(&'static str),
    /// Part of the answer was already shown, so it is not retried: an answer or an error, but an end.
    Either,
}

/// The faults, once or every time, and how each turn must end. With a 6-second turn limit, three retries (0.5, 1
/// and 2 s apart, or 1 s as `Retry-After` asks) end before the limit, so the user reads the provider's own error.
const FAULTS: [(&str, Expect); 9] = [
    ("fault=500x1", Expect::Answer),
    ("fault=429x1", Expect::Answer),
    ("fault=cut0x1", Expect::Answer),
    ("fault=cutx1", Expect::Either),
    ("fault=hangx1", Expect::Either),
    ("fault=500x9", Expect::Error("upstream exploded")),
    ("fault=429x9", Expect::Error("slow down")),
    ("fault=cut0x9", Expect::Error("stream")),
    ("fault=hangx9", Expect::Error("took longer than 6s")),
];

/// Every fault through one way in: `plain` and `stream` are `/v1` calls, `ws` the WS `agent` method; each way has
/// its own agent on its own provider (so the ways run at once without sharing a circuit breaker). After each fault
/// a plain question is answered: the gateway still serves and the breaker has closed again.
async fn faults_through(port: u16, way: &'static str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut socket = if way == "ws" {
        let url = format!("ws://127.0.0.1:{port}/");
        Some(Client::connect(&url, TOKEN).await.unwrap_or_else(|error| panic!("connect: {error}")))
    } else {
        None
    };
    for (index, (fault, expect)) in FAULTS.iter().enumerate() {
        let question = format!("{way} question {index} {fault}");
        let started = Instant::now();
        let (answered, error) = match socket.as_mut() {
            Some(socket) => {
                let params = json!({"message": question, "agentId": way, "idempotencyKey": format!("f-{index}")});
                let last =
                    match tokio::time::timeout(Duration::from_secs(30), socket.request_final("agent", params)).await {
                        Ok(Ok(last)) => last,
                        failed => {
                            problems.push(format!("{way} {fault}: no final response in 30 s: {failed:?}"));
                            continue;
                        }
                    };
                let answered = last["ok"] == true && last["payload"]["status"] == "ok";
                let error = last["error"]["message"].as_str().or(last["payload"]["error"].as_str());
                (answered.then(|| last.to_string()), error.filter(|m| !m.is_empty()).map(str::to_owned))
            }
            None => {
                let stream = way == "stream";
                let model = format!("openclaw/{way}");
                match complete_with(port, &model, stream, None, &question).await {
                    Ok((status, body)) => (
                        (status == 200 && is_answer(stream, &body)).then(|| body.clone()),
                        error_message(stream, status, &body),
                    ),
                    Err(error) => {
                        problems.push(format!("{way} {fault}: no HTTP answer: {error}"));
                        continue;
                    }
                }
            }
        };
        let took = started.elapsed();
        eprintln!("{way} {fault}: {took:?} answered {} error {error:?}", answered.is_some());
        let ok = match expect {
            Expect::Answer => answered.is_some(),
            Expect::Error(says) => answered.is_none() && error.as_deref().is_some_and(|e| e.contains(says)),
            Expect::Either => answered.is_some() != error.is_some(),
        };
        if !ok {
            problems.push(format!("{way} {fault}: expected {expect:?}, got answer {answered:?}, error {error:?}"));
        }
        // The turn limit bounds every fault.
        if took > Duration::from_secs(8) {
            problems.push(format!("{way} {fault}: took {took:?}"));
        }
        match complete_with(port, &format!("openclaw/{way}"), false, None, &format!("{way} healthy after {index}"))
            .await
        {
            Ok((200, body)) if is_answer(false, &body) => {}
            other => problems.push(format!("{way}: after {fault}, a healthy question got {other:?}")),
        }
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_faults_end_in_an_answer_or_an_error_the_user_sees() {
    let model = ScriptedServer::start().await;
    model.set_responder(faulty_model());
    let env = gateway_env(&model, &["plain", "stream", "ws"], 6);
    let port = free_port();
    let gateway = GatewayProcess::start(&env, port).await;
    let (plain, stream, ws) =
        tokio::join!(faults_through(port, "plain"), faults_through(port, "stream"), faults_through(port, "ws"));
    let problems: Vec<String> = plain.into_iter().chain(stream).chain(ws).collect();
    assert!(problems.is_empty(), "{problems:#?}");
    gateway.kill();
    let store = env.store().await;
    assert_eq!(store.check_integrity().await.unwrap(), Vec::<String>::new(), "integrity problems");
}

/// The role and text of a stored transcript entry that is a message.
fn message_of(entry: &openclaw_protocol::TranscriptEntry) -> Option<(String, String)> {
    let json = serde_json::to_value(entry).ok()?;
    let message = json.get("message")?;
    let text = match &message["content"] {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join(""),
        _ => String::new(),
    };
    Some((message["role"].as_str()?.to_owned(), text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_turns_loses_and_duplicates_nothing() {
    let model = ScriptedServer::start().await;
    // Slow enough answers (nine SSE pieces 15 ms apart, about 135 ms) that kills land inside turns.
    model.set_fallback(openai::text("A steady answer in pieces.").paced(Duration::from_millis(15)));
    let env = gateway_env(&model, &["main"], 60);
    let port = free_port();
    let users = 6;
    let rounds = 6;
    let mut answered: Vec<(String, String)> = Vec::new();
    let mut seed = 0x9e37_79b9_u64;
    for round in 0..rounds {
        let gateway = GatewayProcess::start(&env, port).await;
        let mut calls = Vec::new();
        for user in 0..users {
            let question = format!("round {round} question from user {user}");
            // Every other user streams.
            let stream = user % 2 == 1;
            let user = format!("user{user}");
            calls.push(tokio::spawn(async move {
                let result = complete(port, stream, Some(&user), &question).await;
                (user, stream, question, result)
            }));
        }
        // Kill somewhere between 50 and 450 ms into the load (a xorshift keeps the test repeatable).
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        tokio::time::sleep(Duration::from_millis(50 + seed % 400)).await;
        gateway.kill();
        for call in calls {
            let (user, stream, question, result) = call.await.expect("join");
            if let Ok((200, body)) = result
                && is_answer(stream, &body)
            {
                answered.push((user, question));
            }
        }
    }
    // A last start recovers what the kills left behind, and answers.
    let gateway = GatewayProcess::start(&env, port).await;
    let (status, body) = complete(port, false, Some("user0"), "after the storm").await.expect("answer");
    assert_eq!(status, 200, "{body}");
    gateway.kill();

    let store = env.store().await;
    assert_eq!(store.check_integrity().await.unwrap(), Vec::<String>::new(), "integrity problems");
    let sessions = store.list_sessions(None, false, 1000).await.unwrap();
    let mut stored_questions = Vec::new();
    for session in &sessions {
        let entries = store.transcript(&session.session_id).await.unwrap();
        let messages: Vec<(String, String)> = entries.iter().filter_map(|e| message_of(&e.entry)).collect();
        for (index, (role, text)) in messages.iter().enumerate() {
            if role != "user" {
                continue;
            }
            stored_questions.push((session.session_key.clone(), text.clone()));
            // Every stored question is followed by the model's answer or a recorded failure (an assistant entry).
            assert!(
                messages.get(index + 1).is_some_and(|(role, _)| role == "assistant"),
                "{}: {text:?} has no answer after it: {messages:?}",
                session.session_key
            );
        }
    }
    let mut unique = stored_questions.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), stored_questions.len(), "a question was stored twice: {stored_questions:?}");
    for (user, question) in &answered {
        assert!(
            stored_questions.iter().any(|(key, text)| key.ends_with(&format!(":{user}")) && text == question),
            "{user}: {question:?} was answered but is not in the store"
        );
    }
    // No run is left `running` once the gateway restarted after the kills (recovery would find none).
    let recovered = store.recover_runs(&|_| false).await.unwrap();
    assert_eq!(recovered, 0, "runs were still marked running after the restart");
    assert!(!answered.is_empty(), "no turn finished before a kill: the test measured nothing");
    assert!(answered.len() < users * rounds, "every turn finished before its kill: no kill landed inside a turn");
}
