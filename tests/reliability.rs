//! Reliability of the whole binary under faults, end to end:
//! - SIGKILL at random points of a load of `/v1` turns, then a restart: the store is consistent, no turn was stored
//!   twice, every turn a client saw answered is in the store, and no run is left `running`.

mod common;

use std::time::Duration;

use common::{Env, GatewayProcess, free_port};
use openclaw_store::Store;
use openclaw_testkit::{ScriptedServer, openai};
use serde_json::{Value, json};

const TOKEN: &str = "reliability-token";

/// A state dir whose gateway serves `/v1/chat/completions` with `TOKEN`, on the scripted model.
async fn gateway_env(model: &ScriptedServer) -> Env {
    let env = Env::new();
    env.write_config(
        &json!({
            "gateway": {"auth": {"mode": "token", "token": TOKEN},
                        "http": {"endpoints": {"chatCompletions": {"enabled": true}}}},
            "agents": {"defaults": {"model": "mock/m1"}},
            "models": {"providers": {"mock": {"baseUrl": format!("{}/v1", model.url()), "api": "openai-completions",
                                              "apiKey": "sk-test", "models": [{"id": "m1", "name": "m1"}]}}},
        })
        .to_string(),
    );
    env
}

/// One `/v1/chat/completions` call; `(status, body)`.
async fn complete(port: u16, stream: bool, user: Option<&str>, text: &str) -> Result<(u16, String), String> {
    let mut body = json!({"model": "openclaw", "stream": stream, "messages": [{"role": "user", "content": text}]});
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
    let env = gateway_env(&model).await;
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
