//! `cargo run --release -p openclaw-local --example generate -- MODEL.gguf "question" [max_tokens]`: one greedy
//! generation with its timings (a quick manual check; the benchmark is `openclaw-bench local`).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: generate MODEL.gguf QUESTION [MAX_TOKENS]")?;
    let question = args.next().unwrap_or_else(|| "What is the capital of France?".to_owned());
    let max_tokens = args.next().map(|n| n.parse()).transpose()?.unwrap_or(60);
    let model = openclaw_local::LocalModel::load(std::path::Path::new(&path))?;
    let prompt = model.render(&[("user".to_owned(), question)])?;
    let params = openclaw_local::GenerateParams { max_tokens, ..Default::default() };
    let done = model.generate(&prompt, params, &mut |_| true)?;
    println!("{}", done.text);
    eprintln!(
        "load {:.2}s; prompt {} tok in {:.3}s ({:.0} tok/s); decode {} tok in {:.3}s ({:.1} tok/s)",
        model.load_seconds,
        done.prompt_tokens,
        done.prompt_seconds,
        done.prompt_tokens as f64 / done.prompt_seconds,
        done.completion_tokens,
        done.decode_seconds,
        done.completion_tokens as f64 / done.decode_seconds
    );
    Ok(())
}
