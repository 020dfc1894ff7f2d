//! WhatsApp end to end, through the `openclaw` binary, against testkit's Cloud API double (Meta publishes no
//! emulator): the subscription check, signed deliveries answered in WhatsApp's markup, forged and oversized calls
//! refused and audited, the 24-hour window's template, the probe, and the channel compliance harness.

mod common;

use std::time::Duration;

use common::{Env, GatewayProcess, configure_channels, echo_model, eventually, free_port};
use openclaw_store::Store;
use openclaw_testkit::compliance;
use openclaw_testkit::whatsapp::{WhatsAppDouble, sign};
use serde_json::json;

const PHONE_ID: &str = "106540352242922";
const TOKEN: &str = "EAAGm0PX4ZCpsBAdoubletoken0123456789";
const APP_SECRET: &str = "0123456789abcdef0123456789abcdef";
const VERIFY: &str = "verify-me-please";
const ANN: &str = "15551234567";
const BOB: &str = "15557654321";

fn texts(double: &WhatsAppDouble, wa_id: &str) -> Vec<String> {
    double.bot_messages(wa_id).into_iter().map(|sent| sent.text).collect()
}

/// Ann's chat with the business, for the compliance harness (`textChunkLimit` 300).
struct Conversation<'a> {
    double: &'a WhatsAppDouble,
}

impl compliance::Counterpart for Conversation<'_> {
    fn name(&self) -> &str {
        "whatsapp"
    }
    fn max_chunk(&self) -> usize {
        300
    }
    async fn send(&self, text: &str) {
        let (_, status) = self.double.user_sends(ANN, "Ann", text).await;
        assert_eq!(status, 200);
    }
    async fn answers(&self) -> Vec<String> {
        texts(self.double, ANN)
    }
    fn redeliver_last(&self) {
        self.double.redeliver_last();
    }
    // The Cloud API names no wait with its 130429; the channel waits its documented window (2 s).
    fn rate_limit_next(&self, _seconds: f64) {
        self.double.rate_limit_sends(1);
    }
    fn lose_next_answer(&self) {
        self.double.lose_next_answer();
    }
    fn send_attempts(&self) -> Vec<(std::time::Instant, u16)> {
        self.double.send_attempts()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_cloud_api_messages_reach_the_agent_and_answers_come_back_in_whatsapp_markup() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let double = WhatsAppDouble::start(PHONE_ID, TOKEN, APP_SECRET).await;
    let model = echo_model().await;
    let env = Env::new();
    configure_channels(
        &env,
        &model,
        json!({"whatsapp": {"provider": "cloud", "phoneNumberId": PHONE_ID, "appSecret": APP_SECRET,
                            "verifyToken": VERIFY, "apiBaseUrl": double.api_base(), "dmPolicy": "allowlist",
                            "allowFrom": ["+1 555 123 4567", "+1 555 765 4321"], "textChunkLimit": 300,
                            "templates": {"reengagement": {"name": "hello_again", "language": "en"}},
                            // A second number whose token Meta does not know: its probe must say so.
                            "accounts": {"stale": {"phoneNumberId": "999999999999", "accessToken": "EAAnotatokenmetaissued00"}}}}),
    )
    .await;
    // `channels login whatsapp` reads the access token from stdin: a malformed one changes nothing.
    let login = |token: &str| common::login_from_stdin(&env, "whatsapp", token);
    let config_path = env.state.join("openclaw.json");
    let before = std::fs::read_to_string(&config_path).expect("config");
    let refused = login("not a token");
    assert!(!refused.status.success());
    assert!(common::text(&refused.stderr).contains("not a WhatsApp Cloud API access token"));
    assert_eq!(std::fs::read_to_string(&config_path).expect("config"), before, "a refused token changes nothing");
    assert!(login(TOKEN).status.success());
    let port = free_port();
    let gateway = GatewayProcess::start(&env, port).await;
    let webhook = format!("http://127.0.0.1:{port}/channels/whatsapp/webhook");
    double.set_webhook(&webhook);

    // Meta's subscription check: the challenge back for the right token, 403 otherwise.
    let http = reqwest::Client::new();
    let check = |token: &'static str| {
        let http = http.clone();
        let url = format!("{webhook}?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444");
        async move {
            let response = http.get(url).send().await.expect("get");
            (response.status().as_u16(), response.text().await.unwrap_or_default())
        }
    };
    assert_eq!(check(VERIFY).await, (200, "1158201444".to_owned()));
    assert_eq!(check("guessed").await.0, 403);

    // A message: answered in WhatsApp's markup, marked read with a typing indicator, by the token.
    let (first, status) = double.user_sends(ANN, "Ann", "hello **there**").await;
    assert_eq!(status, 200);
    eventually(Duration::from_secs(30), "the answer", || async { !texts(&double, ANN).is_empty() }).await;
    assert_eq!(texts(&double, ANN), vec!["echo: hello *there*"]);
    eventually(Duration::from_secs(10), "the read receipt", || async { double.reads().contains(&first) }).await;

    // A long answer in pieces within the limit, every sentence once.
    double.user_sends(ANN, "Ann", "a long answer please").await;
    eventually(Duration::from_secs(30), "the chunked answer", || async { texts(&double, ANN).len() >= 4 }).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let chunks: Vec<String> = texts(&double, ANN).into_iter().skip(1).collect();
    assert!(chunks.iter().all(|chunk| chunk.chars().count() <= 300), "{chunks:?}");
    assert_eq!(chunks.iter().map(|chunk| chunk.matches("must be cut.").count()).sum::<usize>(), 18, "{chunks:?}");

    // Forged, unsigned, oversized and malformed deliveries: refused, audited, nothing recorded; a number not in
    // allowFrom is not answered.
    let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
    let post = |signature: Option<String>, body: Vec<u8>| {
        let http = http.clone();
        let webhook = webhook.clone();
        async move {
            let mut request = http.post(&webhook).header("content-type", "application/json").body(body);
            if let Some(signature) = signature {
                request = request.header("x-hub-signature-256", signature);
            }
            request.send().await.expect("post").status().as_u16()
        }
    };
    assert_eq!(post(None, body.to_vec()).await, 401, "unsigned");
    assert_eq!(post(Some(sign("another-app-secret-000000", body)), body.to_vec()).await, 401, "forged");
    assert_eq!(post(Some(sign(APP_SECRET, b"[1,2]")), body.to_vec()).await, 401, "signed another body");
    let huge = vec![b' '; 2 << 20];
    assert_eq!(post(Some(sign(APP_SECRET, &huge)), huge).await, 413);
    assert_eq!(double.deliver_signed(b"not json").await, 400);
    let stranger = "15550009999";
    double.user_sends(stranger, "Stranger", "let me in").await;
    let audit = env.store().await.audit_events(200).await.expect("audit");
    let reasons: Vec<String> = audit
        .iter()
        .filter(|event| event.event.action == "channel.whatsapp.rejected")
        .map(|event| event.event.detail["reason"].as_str().unwrap_or_default().to_owned())
        .collect();
    for reason in ["missing X-Hub-Signature-256", "bad signature"] {
        assert!(reasons.iter().any(|r| r == reason), "{reason} not audited: {reasons:?}");
    }

    // Outside the 24-hour window the template goes instead of the reply.
    double.user_sends(BOB, "Bob", "are you there?").await;
    eventually(Duration::from_secs(30), "Bob's answer", || async { !texts(&double, BOB).is_empty() }).await;
    double.close_window(BOB);
    gateway_agent_delivers(&env, port, BOB).await;
    eventually(Duration::from_secs(30), "the template", || async { texts(&double, BOB).len() >= 2 }).await;
    assert_eq!(texts(&double, BOB)[1], "[template hello_again]");

    // The probe shows the number, and says so when Meta does not know a token.
    let probes = common::probes(&env).await;
    let probe = common::probe_of(&probes, "whatsapp", "default");
    assert_eq!(probe["ok"], true, "{probe}");
    assert!(probe["detail"].as_str().unwrap_or_default().contains("Claw Support"), "{probe}");
    let stale = common::probe_of(&probes, "whatsapp", "stale");
    assert_eq!(stale["ok"], false, "{stale}");
    assert!(stale["detail"].as_str().unwrap_or_default().contains("(190)"), "{stale}");

    // The compliance harness: the guarantees every channel gives, checked the same way on each platform.
    let gateway = common::compliance(&env, port, gateway, &Conversation { double: &double }).await;
    assert!(texts(&double, stranger).is_empty(), "a number not in allowFrom is not answered");
    drop(gateway);
    let store = env.store().await;
    assert!(store.dead_letters(10).await.expect("dead letters").is_empty());
}

/// `openclaw agent --channel whatsapp --to <number> --deliver`: an operator's message, which WhatsApp takes only
/// inside the window.
async fn gateway_agent_delivers(env: &Env, port: u16, to: &str) {
    let mut command = env.command(&["agent", "-m", "a reminder", "--channel", "whatsapp", "--to", to, "--deliver"]);
    command.env("OPENCLAW_GATEWAY_URL", format!("ws://127.0.0.1:{port}"));
    let out = tokio::task::spawn_blocking(move || command.output().expect("run")).await.expect("join");
    assert!(out.status.success(), "{}", common::text(&out.stderr));
}
