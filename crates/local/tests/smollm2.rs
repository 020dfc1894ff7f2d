//! The embedded SmolLM2-135M through the local provider: token ids equal the reference tokenizer's, greedy decoding
//! answers "Paris", and a missing or corrupt file is a clear error. The model is fetched by `.ci/run`
//! (`scripts/fetch-model.sh`); without it the test says so loudly, and fails under `CI=true`.

use std::path::PathBuf;

use openclaw_local::{GenerateParams, LocalError, LocalModel};

fn model_path() -> Option<PathBuf> {
    openclaw_testkit::smollm2_gguf()
}

#[test]
fn token_ids_match_the_reference_tokenizer() {
    let Some(path) = model_path() else { return };
    let model = LocalModel::load(&path).unwrap();
    let fixture: serde_json::Value = serde_json::from_str(include_str!("fixtures/token_ids.json")).unwrap();
    for case in fixture["cases"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let expected: Vec<u32> = case["ids"].as_array().unwrap().iter().map(|id| id.as_u64().unwrap() as u32).collect();
        assert_eq!(model.encode(text).unwrap(), expected, "ids of {text:?}");
    }
}

#[test]
fn greedy_answer_names_paris() {
    let Some(path) = model_path() else { return };
    let model = LocalModel::load(&path).unwrap();
    let prompt = model.render(&[("user".to_owned(), "What is the capital of France?".to_owned())]).unwrap();
    let mut pieces = Vec::new();
    let params = GenerateParams { max_tokens: 40, ..GenerateParams::default() };
    let done = model.generate(&prompt, params, &mut |piece| {
        pieces.push(piece.to_owned());
        true
    });
    let done = done.unwrap();
    eprintln!(
        "load {:.2} s; prompt {} tokens in {:.3} s; {} tokens decoded in {:.3} s ({:.1} tok/s): {:?}",
        model.load_seconds,
        done.prompt_tokens,
        done.prompt_seconds,
        done.completion_tokens,
        done.decode_seconds,
        done.completion_tokens as f64 / done.decode_seconds.max(1e-9),
        done.text
    );
    assert!(done.text.contains("Paris"), "{:?}", done.text);
    assert!(pieces.len() > 3, "streamed in pieces: {pieces:?}");
    assert_eq!(pieces.concat(), done.text);
    // Greedy decoding is deterministic, also when the prompt comes from the cache of the previous generation.
    let again = model.generate(&prompt, params, &mut |_| true).unwrap();
    assert_eq!(again.text, done.text);
    assert_eq!(again.cached_tokens, done.prompt_tokens - 1, "the same prompt runs only its last token again");
    // The next turn of the conversation shares the prefix (system + first exchange) and runs only what is new.
    let next = model
        .render(&[
            ("user".to_owned(), "What is the capital of France?".to_owned()),
            ("assistant".to_owned(), done.text.clone()),
            ("user".to_owned(), "And of Germany?".to_owned()),
        ])
        .unwrap();
    let follow_up = model.generate(&next, params, &mut |_| true).unwrap();
    assert!(
        follow_up.cached_tokens >= done.prompt_tokens && follow_up.cached_tokens < follow_up.prompt_tokens,
        "cached {} of {} (first prompt {})",
        follow_up.cached_tokens,
        follow_up.prompt_tokens,
        done.prompt_tokens
    );
    // A cached prefix gives the same answer as a cold start.
    let cold = LocalModel::load(&path).unwrap().generate(&next, params, &mut |_| true).unwrap();
    assert_eq!(cold.cached_tokens, 0);
    assert_eq!(follow_up.text, cold.text);
}

/// Many callers, one model: the process loads the file once, and concurrent turns through the provider queue up and
/// all get the full, correct answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_one_loaded_model() {
    use futures::StreamExt;
    use openclaw_models::{ModelProvider, ModelRequest, StreamEvent};
    let Some(path) = model_path() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&path, dir.path().join("smollm2-135m.gguf")).unwrap();
    let provider = std::sync::Arc::new(openclaw_local::LocalProvider::from_dir("local", dir.path()));
    let before = openclaw_local::loaded_count();
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let provider = provider.clone();
        tasks.push(tokio::spawn(async move {
            let request = ModelRequest {
                model: "smollm2-135m".to_owned(),
                messages: vec![openclaw_protocol::AgentMessage::user_text("What is the capital of France?")],
                max_tokens: Some(30),
                ..ModelRequest::default()
            };
            let mut stream = provider.stream(&request).await.unwrap();
            let (mut deltas, mut done, mut notes) = (String::new(), None, Vec::new());
            while let Some(event) = stream.next().await {
                match event.unwrap() {
                    StreamEvent::TextDelta(text) => deltas.push_str(&text),
                    StreamEvent::Done(message) => done = Some(message),
                    // Progress comes before the answer and says how long the prompt is (issue 19).
                    StreamEvent::Progress(note) => {
                        assert!(deltas.is_empty(), "progress after the answer started: {note}");
                        notes.push(note);
                    }
                    _ => {}
                }
            }
            let done = done.expect("a final message");
            assert_eq!(done.text(), deltas);
            let prompt = format!("reading the prompt ({} tokens)", done.usage.input);
            assert!(notes.contains(&prompt), "{notes:?} lacks {prompt:?}");
            deltas
        }));
    }
    let answers: Vec<String> = futures::future::join_all(tasks).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(openclaw_local::loaded_count(), before + 1, "one load for three concurrent first requests");
    for answer in &answers {
        assert!(answer.contains("Paris"), "{answer:?}");
        assert_eq!(answer, &answers[0], "greedy answers are the same whatever the queue order");
    }
    // Turns are queued: while one caller holds the model, another request does not start.
    let model = openclaw_local::shared(&dir.path().join("smollm2-135m.gguf")).await.unwrap();
    let held = model.turn().await.expect("a turn");
    let waiting = tokio::spawn({
        let provider = provider.clone();
        async move {
            let request = ModelRequest {
                model: "smollm2-135m".to_owned(),
                messages: vec![openclaw_protocol::AgentMessage::user_text("What is the capital of France?")],
                max_tokens: Some(5),
                ..ModelRequest::default()
            };
            let mut stream = provider.stream(&request).await.unwrap();
            stream.next().await.is_some_and(|event| event.is_ok())
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(!waiting.is_finished(), "a request ran while another caller held the model");
    drop(held);
    assert!(waiting.await.unwrap(), "the queued request runs once the model is free");
    // A model name that is not a file name, and one not pulled, are errors that say what to do.
    for (name, expected) in [("../etc/passwd", "not a local model name"), ("tinyllama", "openclaw models pull")] {
        let request = ModelRequest { model: name.to_owned(), ..ModelRequest::default() };
        let error = provider.stream(&request).await.err().expect("an error");
        assert!(error.to_string().contains(expected), "{name}: {error}");
    }
}

#[test]
fn missing_and_corrupt_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.gguf");
    let error = LocalModel::load(&missing).unwrap_err();
    assert!(matches!(error, LocalError::Missing { .. }));
    let text = error.to_string();
    assert!(text.contains("nope.gguf") && text.contains("openclaw models pull"), "{text}");
    let corrupt = dir.path().join("bad.gguf");
    std::fs::write(&corrupt, b"GGUF\x03\x00\x00\x00garbage").unwrap();
    let error = LocalModel::load(&corrupt).unwrap_err();
    assert!(matches!(error, LocalError::Corrupt { .. }), "{error}");
    assert!(error.to_string().contains("bad.gguf"), "{error}");
}
