//! The embedded SmolLM2-135M through the local provider: token ids equal the reference tokenizer's, greedy decoding
//! answers "Paris", and a missing or corrupt file is a clear error. The model is fetched by `.ci/run`
//! (`scripts/fetch-model.sh`); without it the test says so loudly, and fails under `CI=true`.

use std::path::PathBuf;

use openclaw_local::{GenerateParams, LocalError, LocalModel};

fn model_path() -> Option<PathBuf> {
    let path = std::env::var_os("OPENCLAW_TEST_GGUF").map(PathBuf::from).or_else(|| {
        let home = std::env::var_os("HOME")?;
        Some(PathBuf::from(home).join(".cache/openclaw-rs/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    })?;
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "the SmolLM2 model is missing at {}; .ci/run must fetch it (scripts/fetch-model.sh)",
        path.display()
    );
    eprintln!("\n*** SKIPPED: no SmolLM2 model at {} (run scripts/fetch-model.sh) ***\n", path.display());
    None
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
    // Greedy decoding is deterministic.
    let again = model.generate(&prompt, params, &mut |_| true).unwrap();
    assert_eq!(again.text, done.text);
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
