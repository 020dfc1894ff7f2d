//! `openclaw-bench-local`: the embedded model side by side with the numpy reference forward pass
//! (`../shared/tools/test-servers/smollm2_numpy_reference.py`) and, when given, llama.cpp's `llama-bench`, in one run
//! on the same machine: load time, prompt tokens/s, decode tokens/s, peak RSS, and the greedy answers.
//!
//! Usage: `cargo run --release -p openclaw-bench --bin openclaw-bench-local -- --model FILE.gguf
//! [--runs 3] [--numpy SCRIPT] [--llama-bench PATH] [--json]`
//!
//! Every run of ours is a fresh process (so load time and peak RSS are real); the questions and the 60-token greedy
//! limit are the numpy script's, each generation starting from a cold cache like the script's.

use std::process::Command;
use std::time::Instant;

use openclaw_bench::{median, proc_status_mb};
use serde_json::{Value, json};

const QUESTIONS: [&str; 3] =
    ["What is the capital of France?", "Write a haiku about the sea.", "Reply with exactly one word: hello"];
const MAX_NEW: usize = 60;
/// Repeated 90 times before the first question: an ~850-token prompt.
const LONG_FILLER: &str = "Here is some background text about many things. ";

/// The embedded model side by side with the numpy reference and llama.cpp.
#[derive(clap::Parser)]
struct Options {
    /// The GGUF file (`scripts/fetch-model.sh` prints where it is).
    #[arg(long)]
    model: String,
    /// Runs of each engine (medians are reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// The numpy reference script (`none` to skip it).
    #[arg(long, default_value = "../shared/tools/test-servers/smollm2_numpy_reference.py")]
    numpy: String,
    /// llama.cpp's `llama-bench`, if built.
    #[arg(long)]
    llama_bench: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Internal: one measured run of ours in this process, printed as JSON.
    #[arg(long, hide = true)]
    child: bool,
}

/// One measured run in this process: load, then each question from a cold cache.
fn child(model_path: &str) -> Value {
    let started = Instant::now();
    let model = match openclaw_local::LocalModel::load(std::path::Path::new(model_path)) {
        Ok(model) => model,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(1);
        }
    };
    let load_s = started.elapsed().as_secs_f64();
    let run = |question: &str, max_tokens: usize| {
        model.forget_prefix();
        let prompt = model.render(&[("user".to_owned(), question.to_owned())]).unwrap_or_default();
        let params = openclaw_local::GenerateParams { max_tokens, ..Default::default() };
        model.generate(&prompt, params, &mut |_| true).unwrap_or_else(|error| {
            eprintln!("error: {error}");
            std::process::exit(1);
        })
    };
    let (mut prompt_tokens, mut prompt_s, mut decode_tokens, mut decode_s) = (0usize, 0f64, 0usize, 0f64);
    let mut answers = Vec::new();
    for question in QUESTIONS {
        let done = run(question, MAX_NEW);
        prompt_tokens += done.prompt_tokens;
        prompt_s += done.prompt_seconds;
        // The first sampled token comes from the prompt pass; decode steps are the rest.
        decode_tokens += done.completion_tokens.saturating_sub(1);
        decode_s += done.decode_seconds;
        answers.push(done.text);
    }
    let short_peak = proc_status_mb("self", "VmHWM");
    // What an agent sends: a long prompt (the size of a workspace's bootstrap files), then a short answer.
    let long = run(&format!("{}{}", LONG_FILLER.repeat(90), QUESTIONS[0]), 20);
    json!({
        "load_s": load_s, "prompt_tokens": prompt_tokens, "prompt_s": prompt_s,
        "decode_tokens": decode_tokens, "decode_s": decode_s, "peak_rss_mb": short_peak,
        "answers": answers,
        "long_peak_rss_mb": proc_status_mb("self", "VmHWM"),
        "long_prompt_tokens": long.prompt_tokens,
        "long_prompt_tps": long.prompt_tokens as f64 / long.prompt_seconds,
        "long_decode_tps": long.completion_tokens.saturating_sub(1) as f64 / long.decode_seconds,
    })
}

/// Runs `command` under GNU time and returns (stdout+stderr, peak RSS in MB).
fn with_peak_rss(program: &str, args: &[&str]) -> Option<(String, f64)> {
    let out = Command::new("/usr/bin/time").arg("-f").arg("PEAK_RSS_KB=%M").arg(program).args(args).output().ok()?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        eprintln!("{program} failed:\n{text}");
        return None;
    }
    let kb =
        text.lines().find_map(|line| line.strip_prefix("PEAK_RSS_KB=")).and_then(|kb| kb.trim().parse::<f64>().ok());
    Some((text, kb.unwrap_or(0.0) / 1024.0))
}

/// The numpy reference: its own printed timings ("loaded … in Xs", "prompt N tok in Xs, gen M tok in Ys").
fn numpy_run(script: &str, model: &str) -> Option<Value> {
    let (text, rss) = with_peak_rss("python3", &[script, model])?;
    let number = |s: &str| s.trim_end_matches('s').parse::<f64>().ok();
    let load_s = text.lines().find_map(|line| line.strip_prefix("loaded ")?.split(" in ").nth(1).and_then(number));
    let (mut prompt_tokens, mut prompt_s, mut decode_tokens, mut decode_s) = (0usize, 0f64, 0usize, 0f64);
    let mut answers = Vec::new();
    for line in text.lines() {
        if let Some(answer) = line.strip_prefix("A: ") {
            answers.push(answer.trim_matches(|c| c == '\'' || c == '"').to_owned());
        }
        let Some(rest) = line.trim().strip_prefix("prompt ") else { continue };
        // "37 tok in 1.3s, gen 7 tok in 0.3s (27.1 tok/s numpy)"
        let words: Vec<&str> = rest.split_whitespace().collect();
        if words.len() < 9 {
            continue;
        }
        prompt_tokens += words[0].parse::<usize>().unwrap_or(0);
        prompt_s += number(words[3].trim_end_matches(',')).unwrap_or(0.0);
        decode_tokens += words[5].parse::<usize>().unwrap_or(0);
        decode_s += number(words[8]).unwrap_or(0.0);
    }
    Some(json!({
        "load_s": load_s, "prompt_tokens": prompt_tokens, "prompt_s": prompt_s,
        "decode_tokens": decode_tokens, "decode_s": decode_s, "peak_rss_mb": rss, "answers": answers,
    }))
}

/// llama.cpp's own benchmark: prompt processing of 37 tokens and 60 generated, 2 threads.
fn llama_run(bench: &str, model: &str) -> Option<Value> {
    let (text, rss) = with_peak_rss(bench, &["-m", model, "-p", "37", "-n", "60", "-t", "2", "-r", "3", "-o", "json"])?;
    let start = text.find('[')?;
    let end = text.rfind(']')?;
    let rows: Vec<Value> = serde_json::from_str(&text[start..=end]).ok()?;
    let rate = |prompt: bool| {
        rows.iter()
            .find(|row| (row["n_prompt"].as_u64().unwrap_or(0) > 0) == prompt)
            .and_then(|row| row["avg_ts"].as_f64())
    };
    Some(json!({"prompt_tps": rate(true), "decode_tps": rate(false), "peak_rss_mb": rss}))
}

fn summarize(runs: &[Value]) -> Value {
    let pick = |f: &dyn Fn(&Value) -> f64| median(&mut runs.iter().map(f).collect::<Vec<_>>());
    let load = pick(&|run| run["load_s"].as_f64().unwrap_or(f64::NAN));
    let prompt =
        pick(&|run| run["prompt_tokens"].as_f64().unwrap_or(0.0) / run["prompt_s"].as_f64().unwrap_or(f64::NAN));
    let decode =
        pick(&|run| run["decode_tokens"].as_f64().unwrap_or(0.0) / run["decode_s"].as_f64().unwrap_or(f64::NAN));
    let rss = pick(&|run| run["peak_rss_mb"].as_f64().unwrap_or(f64::NAN));
    let long_prompt = pick(&|run| run["long_prompt_tps"].as_f64().unwrap_or(f64::NAN));
    let long_decode = pick(&|run| run["long_decode_tps"].as_f64().unwrap_or(f64::NAN));
    let long_peak = pick(&|run| run["long_peak_rss_mb"].as_f64().unwrap_or(f64::NAN));
    json!({
        "runs": runs.len(), "load_s": load, "prompt_tps": prompt, "decode_tps": decode, "peak_rss_mb": rss,
        "long_prompt_tokens": runs.first().map(|run| run["long_prompt_tokens"].clone()).unwrap_or(Value::Null),
        "long_prompt_tps": long_prompt, "long_decode_tps": long_decode, "long_peak_rss_mb": long_peak,
        "answers": runs.first().map(|run| run["answers"].clone()).unwrap_or(Value::Null),
    })
}

fn main() {
    let opts = <Options as clap::Parser>::parse();
    if opts.child {
        println!("{}", child(&opts.model));
        return;
    }
    let me = std::env::current_exe().unwrap_or_else(|_| "openclaw-bench-local".into());
    let mut ours = Vec::new();
    for _ in 0..opts.runs {
        let out = Command::new(&me).args(["--child", "--model", &opts.model]).output();
        match out.ok().filter(|out| out.status.success()).and_then(|out| serde_json::from_slice(&out.stdout).ok()) {
            Some(run) => ours.push(run),
            None => {
                eprintln!("our run failed");
                std::process::exit(1);
            }
        }
    }
    let numpy: Vec<Value> = match opts.numpy.as_str() {
        "" | "none" => Vec::new(),
        script => (0..opts.runs).filter_map(|_| numpy_run(script, &opts.model)).collect(),
    };
    let llama: Vec<Value> = match &opts.llama_bench {
        Some(bench) => (0..opts.runs).filter_map(|_| llama_run(bench, &opts.model)).collect(),
        None => Vec::new(),
    };
    let llama_summary = if llama.is_empty() {
        Value::Null
    } else {
        let pick =
            |key: &str| median(&mut llama.iter().map(|run| run[key].as_f64().unwrap_or(f64::NAN)).collect::<Vec<_>>());
        json!({"runs": llama.len(), "prompt_tps": pick("prompt_tps"), "decode_tps": pick("decode_tps"), "peak_rss_mb": pick("peak_rss_mb")})
    };
    let result = json!({
        "model": opts.model,
        "ours": summarize(&ours),
        "numpy_reference": if numpy.is_empty() { Value::Null } else { summarize(&numpy) },
        "llama_cpp": llama_summary,
    });
    if opts.json {
        println!("{result}");
        return;
    }
    println!("{:<22} {:>9} {:>14} {:>14} {:>14}", "", "load s", "prompt tok/s", "decode tok/s", "peak RSS MB");
    for (name, key) in
        [("openclaw (candle f16)", "ours"), ("numpy reference", "numpy_reference"), ("llama.cpp", "llama_cpp")]
    {
        let row = &result[key];
        if row.is_null() {
            println!("{name:<22} (not run)");
            continue;
        }
        let cell = |k: &str| row[k].as_f64().map_or("-".to_owned(), |v| format!("{v:.2}"));
        println!(
            "{name:<22} {:>9} {:>14} {:>14} {:>14}",
            cell("load_s"),
            cell("prompt_tps"),
            cell("decode_tps"),
            cell("peak_rss_mb")
        );
    }
    let ours = &result["ours"];
    println!(
        "openclaw, {}-token prompt: {:.0} prompt tok/s, then {:.1} decode tok/s; peak RSS {:.0} MB",
        ours["long_prompt_tokens"],
        ours["long_prompt_tps"].as_f64().unwrap_or(f64::NAN),
        ours["long_decode_tps"].as_f64().unwrap_or(f64::NAN),
        ours["long_peak_rss_mb"].as_f64().unwrap_or(f64::NAN)
    );
    for (name, key) in [("openclaw", "ours"), ("numpy", "numpy_reference")] {
        if let Some(answers) = result[key]["answers"].as_array() {
            for (question, answer) in QUESTIONS.iter().zip(answers) {
                println!("{name}: {question} -> {}", answer.as_str().unwrap_or_default().replace('\n', " / "));
            }
        }
    }
}
