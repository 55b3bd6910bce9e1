//! The relay over real HTTP on 127.0.0.1, in-process, delivering to the fake HubSpot: Segment's
//! endpoints, auth, gzip, every kind of bad input with its status and JSON body (and nothing
//! stored), one log line per refusal, back-pressure, timeouts, the connection limit, health and
//! metrics.
#![allow(missing_docs, clippy::unwrap_used)]

use std::io::Write;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use fake_hubspot::{DEFAULT_PORTAL_ID, DEFAULT_TOKEN, FakeConfig, FakeHandle};
use hubspot_cloud::config::Config;
use hubspot_cloud::queue::{MemoryQueue, Queue};
use hubspot_cloud::relay::{self, Metrics, Relay};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const KEY: &str = "write-key-1";

struct Running {
    url: String,
    fake: FakeHandle,
    queue: Arc<dyn Queue>,
    metrics: Arc<Metrics>,
    http: reqwest::Client,
    _stop: tokio::sync::watch::Sender<bool>,
}

fn config_with(base_url: &str, server: &str) -> Config {
    let text = format!(
        "[server]\n{server}\n[queue]\nkind = \"memory\"\n[hubspot]\nbase_url = \"{base_url}\"\n\
         [[portals]]\nname = \"main\"\nportal_id = \"{DEFAULT_PORTAL_ID}\"\nwrite_keys = [\"{KEY}\"]\naccess_token = \"{DEFAULT_TOKEN}\"\nrate_interval_ms = 1000\n"
    );
    let path = std::env::temp_dir().join(format!(
        "relay-test-{}-{}.toml",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::write(&path, text).unwrap();
    let c = Config::load(&path, |_| None).unwrap();
    std::fs::remove_file(path).ok();
    c
}

async fn start(max_queue: u64, deliver: bool) -> Running {
    start_with(
        &format!("max_queue = {max_queue}\nbatch_wait_ms = 0"),
        deliver,
    )
    .await
}

/// A relay with these `[server]` lines, delivering to a fresh fake HubSpot if `deliver`.
async fn start_with(server: &str, deliver: bool) -> Running {
    start_on(Arc::new(MemoryQueue::new()), server, deliver).await
}

/// A relay over `queue`.
async fn start_on(queue: Arc<dyn Queue>, server: &str, deliver: bool) -> Running {
    let fake = fake_hubspot::start(
        FakeConfig::default().with_event(&format!("pe{DEFAULT_PORTAL_ID}_signed_up"), &["plan"]),
    )
    .await
    .unwrap();
    let config = Arc::new(config_with(&fake.base_url, server));
    let metrics = Arc::new(Metrics::new());
    let relay = Relay::new(config.clone(), queue.clone(), metrics.clone());
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    if deliver {
        let engine = hubspot_cloud::app::engine(&config, queue.clone());
        tokio::spawn(relay::deliver_forever(
            engine,
            queue.clone(),
            Some(relay.clone()),
            metrics.clone(),
            stop_rx,
        ));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(relay::serve(listener, relay, std::future::pending()));
    Running {
        url,
        fake,
        queue,
        metrics,
        http: reqwest::Client::new(),
        _stop: stop,
    }
}

impl Running {
    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_raw(path, serde_json::to_vec(body).unwrap(), Some(KEY), false)
            .await
    }

    async fn post_raw(
        &self,
        path: &str,
        body: Vec<u8>,
        key: Option<&str>,
        gzip: bool,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json");
        if let Some(k) = key {
            req = req.basic_auth(k, Some(""));
        }
        let body = if gzip {
            req = req.header("content-encoding", "gzip");
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(&body).unwrap();
            enc.finish().unwrap()
        } else {
            body
        };
        let resp = req.body(body).send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// `127.0.0.1:PORT`, for raw connections.
    fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    async fn depth(&self) -> usize {
        self.queue.depth().await.unwrap()
    }

    /// `/health`'s status and body.
    async fn health(&self) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}/health", self.url))
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    /// Polls `/health` (delivery reports it once a second) until it is 503.
    async fn until_unhealthy(&self) -> Value {
        for _ in 0..100 {
            let (status, body) = self.health().await;
            if status == 503 {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("/health stayed healthy: {:?}", self.health().await);
    }

    async fn until_delivered(&self) {
        for _ in 0..200 {
            if self.depth().await == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("not delivered in time; {} left", self.depth().await);
    }
}

/// Checks that a refusal has the shape Segment's libraries read (analytics-python raises
/// `APIError(status, body["code"], body["message"])`): exactly `success: false`, a `code` and a
/// `message`. Returns the message.
fn refusal_message(resp: &Value) -> &str {
    let mut keys: Vec<&str> = resp
        .as_object()
        .unwrap_or_else(|| panic!("not a JSON object: {resp}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "message", "success"], "{resp}");
    assert_eq!(resp["success"], false, "{resp}");
    assert!(!resp["code"].as_str().unwrap().is_empty(), "{resp}");
    let message = resp["message"].as_str().unwrap();
    assert!(!message.is_empty(), "{resp}");
    message
}

fn identify(email: &str) -> Value {
    json!({"type": "identify", "userId": format!("u-{email}"), "traits": {"email": email, "firstName": "Ann"}})
}

#[tokio::test]
async fn segment_endpoints_deliver_to_hubspot() {
    let r = start(1000, true).await;
    assert_eq!(
        r.post("/v1/identify", &identify("a@example.com")).await,
        (200, json!({"success": true}))
    );
    let track = json!({"userId": "u1", "event": "Signed Up", "properties": {"plan": "pro", "email": "a@example.com"}});
    assert_eq!(r.post("/v1/track", &track).await.0, 200);
    let batch = json!({"batch": [
        {"type": "identify", "userId": "u2", "traits": {"email": "b@example.com"}},
        {"type": "group", "userId": "u2", "groupId": "g1", "traits": {"name": "Acme"}},
    ]});
    let gz = serde_json::to_vec(&batch).unwrap();
    assert_eq!(
        r.post_raw("/v1/batch", gz, Some(KEY), true).await.0,
        200,
        "gzip bodies are accepted"
    );
    r.until_delivered().await;
    let state = r.fake.state();
    assert_eq!(state.contacts().len(), 2);
    assert_eq!(state.events.len(), 1);
    assert!(state.find("companies", "segment_group_id", "g1").is_some());
    // Delivery reports reach the metrics once a second.
    let mut metrics = String::new();
    for _ in 0..60 {
        metrics = r
            .http
            .get(format!("{}/metrics", r.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics.contains("hubspot_delivered_total 4") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        metrics.contains("hubspot_relay_accepted_total 4"),
        "{metrics}"
    );
    assert!(metrics.contains("hubspot_delivered_total 4"), "{metrics}");
    assert!(metrics.contains("hubspot_dead_letters 0"), "{metrics}");
    assert!(
        metrics.contains("hubspot_dead_letters_pruned 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("hubspot_delivery_latency_seconds_count 4"),
        "{metrics}"
    );
    let health: Value = r
        .http
        .get(format!("{}/health", r.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        health,
        json!({"status": "ok", "queue_depth": 0, "portals": {"main": "ok"}, "problems": []})
    );
    assert_eq!(r.metrics.dead.get(), 0);
}

#[tokio::test]
async fn light_traffic_waits_to_fill_batches() {
    // 40 identifies arriving one by one over about two seconds: with a 1 s batch wait they
    // travel in a handful of upserts, not one request each.
    let r = start_with("batch_wait_ms = 1000", true).await;
    for n in 0..40 {
        assert_eq!(
            r.post("/v1/identify", &identify(&format!("user{n}@example.com")))
                .await
                .0,
            200
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    r.until_delivered().await;
    let state = r.fake.state();
    assert_eq!(state.contacts().len(), 40);
    let upserts = state.requests_to("POST /crm/v3/objects/contacts/batch/upsert");
    assert!(upserts <= 4, "{upserts} upserts for 40 identifies");
}

#[tokio::test]
async fn bad_input_gets_the_right_status_and_stores_nothing() {
    let r = start(1000, false).await;
    let big = "x".repeat(40 * 1024);
    // (path, body, write key, expected status, words the error must contain)
    type Case<'a> = (&'a str, Vec<u8>, Option<&'a str>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "/v1/identify",
            b"{not json".to_vec(),
            Some(KEY),
            400,
            "invalid JSON",
        ),
        (
            "/v1/identify",
            serde_json::to_vec(&identify("a@example.com")).unwrap(),
            Some("wrong-key"),
            401,
            "write key",
        ),
        (
            "/v1/identify",
            serde_json::to_vec(&identify("a@example.com")).unwrap(),
            None,
            401,
            "write key",
        ),
        (
            "/v1/identify",
            serde_json::to_vec(&json!({"userId": "u1", "traits": "not an object"})).unwrap(),
            Some(KEY),
            400,
            "`traits` must be an object",
        ),
        (
            "/v1/identify",
            serde_json::to_vec(&json!({"userId": ["u1"], "traits": {}})).unwrap(),
            Some(KEY),
            400,
            "`userId` must be",
        ),
        (
            "/v1/track",
            serde_json::to_vec(&json!({"userId": "u1", "properties": {}})).unwrap(),
            Some(KEY),
            400,
            "needs an `event`",
        ),
        (
            "/v1/identify",
            serde_json::to_vec(&json!({"traits": {"email": "a@b.co"}})).unwrap(),
            Some(KEY),
            400,
            "userId",
        ),
        (
            "/v1/identify",
            serde_json::to_vec(&json!({"userId": "u1", "traits": {"name": "No Email"}})).unwrap(),
            Some(KEY),
            400,
            "no email",
        ),
        (
            "/v1/identify",
            serde_json::to_vec(
                &json!({"userId": "u1", "traits": {"email": "a@b.co", "blob": big}}),
            )
            .unwrap(),
            Some(KEY),
            400,
            "32 KB",
        ),
        (
            "/v1/batch",
            serde_json::to_vec(&json!({"batch": {}})).unwrap(),
            Some(KEY),
            400,
            "`batch` must be an array",
        ),
        (
            "/v1/batch",
            serde_json::to_vec(
                &json!({"batch": [identify("ok@example.com"), {"type": "nope", "userId": "x"}]}),
            )
            .unwrap(),
            Some(KEY),
            400,
            "message 1: `type`",
        ),
    ];
    for (path, body, key, status, words) in cases {
        let (got, resp) = r.post_raw(path, body, key, false).await;
        assert_eq!(got, status, "{path} {resp}");
        assert!(
            refusal_message(&resp).contains(words),
            "{resp} lacks {words:?}"
        );
    }
    // Over 500 KB in one request (after decompression).
    let many: Vec<Value> = (0..40).map(|i| json!({"type": "identify", "userId": format!("u{i}"), "traits": {"email": format!("u{i}@example.com"), "blob": "y".repeat(20_000)}})).collect();
    let (got, resp) = r
        .post_raw(
            "/v1/batch",
            serde_json::to_vec(&json!({"batch": many})).unwrap(),
            Some(KEY),
            true,
        )
        .await;
    assert!(refusal_message(&resp).contains("500 KB"), "{resp}");
    assert_eq!(got, 400, "request body over the limit");
    assert_eq!(r.depth().await, 0, "nothing of a refused request is stored");
    // A batch with a message HubSpot cannot use is accepted whole; that message is reported
    // and dead-lettered on delivery, the others are not held back.
    let (got, resp) = r.post("/v1/batch", &json!({"batch": [identify("ok@example.com"), {"type": "identify", "userId": "u9", "traits": {}}]})).await;
    assert_eq!(got, 200);
    assert!(
        resp["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("no email"),
        "{resp}"
    );
    assert_eq!(r.depth().await, 2);
}

#[tokio::test]
async fn back_pressure_answers_503_with_retry_after() {
    let r = start(3, false).await;
    let batch = |n: usize| json!({"batch": (0..n).map(|i| identify(&format!("bp{i}@example.com"))).collect::<Vec<_>>()});
    assert_eq!(r.post("/v1/batch", &batch(3)).await.0, 200);
    let resp = r
        .http
        .post(format!("{}/v1/batch", r.url))
        .basic_auth(KEY, Some(""))
        .json(&batch(1))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(resp.headers()["retry-after"], "5");
    let body: Value = resp.json().await.unwrap();
    assert!(refusal_message(&body).contains("retry later"), "{body}");
    assert_eq!(body["code"], "backpressure");
    assert_eq!(r.depth().await, 3, "the refused request stored nothing");
}

#[tokio::test]
async fn every_refusal_is_segment_shaped_json() {
    let r = start(1000, false).await;
    let url = |path: &str| format!("{}{path}", r.url);
    let body = serde_json::to_vec(&identify("secret-body@example.com")).unwrap();
    let bad_batch = json!({"batch": [
        {"type": "track", "userId": "u1", "event": "E", "timestamp": "not-a-date"},
        {"type": "track", "userId": "u2", "event": "E", "timestamp": "never"},
        {"type": "track", "userId": "u3", "event": "E", "timestamp": "no"},
    ]});
    let requests = vec![
        (
            r.http
                .post(url("/v1/nope"))
                .basic_auth(KEY, Some(""))
                .body(body.clone()),
            404,
            "not_found",
        ),
        (r.http.get(url("/v1/track")), 405, "method_not_allowed"),
        (r.http.post(url("/health")), 405, "method_not_allowed"),
        (
            r.http
                .post(url("/v1/identify"))
                .basic_auth(KEY, Some(""))
                .header("content-encoding", "br")
                .body(body.clone()),
            415,
            "unsupported_encoding",
        ),
        (
            r.http
                .post(url("/v1/identify"))
                .basic_auth(KEY, Some(""))
                .header("content-encoding", "gzip")
                .body(body.clone()),
            400,
            "unreadable_body",
        ),
        (
            r.http
                .post(url("/v1/identify"))
                .basic_auth("wrong-key", Some(""))
                .body(body.clone()),
            401,
            "auth",
        ),
        (
            r.http
                .post(url("/v1/identify"))
                .basic_auth(KEY, Some(""))
                .body("{not json"),
            400,
            "json",
        ),
        (
            r.http
                .post(url("/v1/batch"))
                .basic_auth(KEY, Some(""))
                .json(&bad_batch),
            400,
            "invalid",
        ),
        (
            r.http
                .post(url("/v1/batch"))
                .basic_auth(KEY, Some(""))
                .json(&json!({"batch": [identify("a@b.co")], "pad": "p".repeat(600 * 1024)})),
            400,
            "too_large",
        ),
    ];
    let mut counts = std::collections::BTreeMap::new();
    for (request, status, code) in requests {
        let resp = request.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "{code}");
        assert_eq!(resp.headers()["content-type"], "application/json", "{code}");
        let body: Value = resp.json().await.unwrap();
        refusal_message(&body);
        assert_eq!(body["code"], code, "{body}");
        *counts.entry(code).or_insert(0u64) += 1;
    }
    assert_eq!(r.depth().await, 0, "nothing of a refused request is stored");
    for (code, n) in counts {
        assert_eq!(
            r.metrics.rejected.with_label_values(&[code]).get(),
            n,
            "refusals counted by their code: {code}"
        );
    }
}

#[tokio::test]
async fn the_auth_scheme_is_case_insensitive() {
    use base64::Engine as _;
    let r = start(1000, false).await;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:"));
    for (n, scheme) in ["Basic ", "basic ", "BASIC ", "Basic    ", " bAsIc\t"]
        .iter()
        .enumerate()
    {
        let resp = r
            .http
            .post(format!("{}/v1/identify", r.url))
            .header("authorization", format!("{scheme}{token}"))
            .json(&identify(&format!("scheme{n}@example.com")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{scheme:?}");
    }
    let resp = r
        .http
        .post(format!("{}/v1/identify", r.url))
        .header("authorization", format!("Bearer {token}"))
        .json(&identify("bearer@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        401,
        "only Basic carries a write key"
    );
    assert_eq!(r.depth().await, 5);
}

#[tokio::test]
async fn bad_timestamps_are_refused_at_ingest() {
    let r = start(1000, false).await;
    let track = |field: &str, value: Value| {
        let mut m = json!({"type": "track", "userId": "u1", "event": "Signed Up", "properties": {"email": "a@example.com"}});
        m[field] = value;
        m
    };
    for field in ["timestamp", "originalTimestamp", "sentAt"] {
        let (status, resp) = r
            .post("/v1/track", &track(field, json!("not-a-date")))
            .await;
        assert_eq!(status, 400, "{field}: {resp}");
        assert!(
            refusal_message(&resp).contains(&format!("`{field}` must be an ISO-8601")),
            "{resp}"
        );
        let (status, resp) = r
            .post("/v1/track", &track(field, json!(1714564800000u64)))
            .await;
        assert_eq!(status, 400, "{field} as a number: {resp}");
        let batch = json!({"batch": [identify("ok@example.com"), identify("ok2@example.com"), track(field, json!("2024-13-45T00:00:00Z"))]});
        let (status, resp) = r.post("/v1/batch", &batch).await;
        assert_eq!(status, 400, "{resp}");
        assert!(
            refusal_message(&resp).starts_with(&format!("message 2: `{field}`")),
            "{resp}"
        );
    }
    assert_eq!(r.depth().await, 0, "nothing of a refused request is stored");
    // What Segment's libraries send: analytics-python's isoformat() (microseconds, +00:00),
    // JavaScript's toISOString(), and null.
    for value in [
        json!("2024-05-01T12:00:00.123456+00:00"),
        json!("2024-05-01T12:00:00.000Z"),
        Value::Null,
    ] {
        let mut message = track("timestamp", value.clone());
        message["originalTimestamp"] = value.clone();
        message["sentAt"] = value.clone();
        assert_eq!(r.post("/v1/track", &message).await.0, 200, "{value}");
    }
    assert_eq!(r.depth().await, 3);
}

/// The head of a POST to `path` with the test's write key, announcing `length` body bytes.
fn request_head(path: &str, length: usize) -> String {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:"));
    format!(
        "POST {path} HTTP/1.1\r\nHost: relay\r\nAuthorization: Basic {auth}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
}

/// Reads one answer off a raw connection: status, header lines, JSON body.
async fn read_answer(conn: &mut (impl AsyncBufReadExt + Unpin)) -> (u16, Vec<String>, Value) {
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        conn.read_line(&mut line).await.unwrap();
        if line.trim_end().is_empty() {
            break;
        }
        head.push(line.trim_end().to_owned());
    }
    assert!(!head.is_empty(), "the connection closed without an answer");
    let status = head[0].split(' ').nth(1).unwrap().parse().unwrap();
    let length = head
        .iter()
        .find_map(|h| {
            let (name, value) = h.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    conn.read_exact(&mut body).await.unwrap();
    (
        status,
        head,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

/// Whether the server closes the connection within 10 s (what it sends before is skipped).
async fn closed_by_server(conn: &mut (impl AsyncRead + Unpin)) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn at_the_connection_limit_new_clients_wait_and_are_served_when_one_closes() {
    // The header deadline is far off: only the test ends the connections holding the slots.
    let r = start_with("max_connections = 4\nheader_timeout_ms = 60000", false).await;
    let mut holders = Vec::new();
    for _ in 0..4 {
        holders.push(TcpStream::connect(r.addr()).await.unwrap());
    }
    let mut request = tokio::spawn(
        reqwest::Client::new()
            .post(format!("{}/v1/identify", r.url))
            .basic_auth(KEY, Some(""))
            .json(&identify("waits@example.com"))
            .send(),
    );
    // Neither refused nor served while four connections hold the four slots...
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut request)
            .await
            .is_err(),
        "a fifth client was answered at a limit of four"
    );
    // ...and served once one of them leaves.
    drop(holders.pop());
    let resp = tokio::time::timeout(Duration::from_secs(10), request)
        .await
        .expect("not served after a slot was freed")
        .unwrap()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(r.depth().await, 1);
}

#[tokio::test]
async fn silent_connections_are_closed_after_the_header_timeout() {
    let r = start_with("max_connections = 4\nheader_timeout_ms = 300", false).await;
    // Twice the limit: four hold every slot, four wait in the backlog behind them.
    let mut silent = Vec::new();
    for _ in 0..8 {
        silent.push(TcpStream::connect(r.addr()).await.unwrap());
    }
    // Half a request head and then nothing is as silent.
    let mut partial = TcpStream::connect(r.addr()).await.unwrap();
    partial
        .write_all(b"POST /v1/identify HTTP/1.1\r\nHost: relay\r\n")
        .await
        .unwrap();
    for (n, conn) in silent.iter_mut().enumerate() {
        assert!(
            closed_by_server(conn).await,
            "silent connection {n} stays open"
        );
    }
    assert!(
        closed_by_server(&mut partial).await,
        "a half-sent head keeps its connection"
    );
    // Then the relay serves as usual.
    assert_eq!(
        r.post("/v1/identify", &identify("after@example.com"))
            .await
            .0,
        200
    );
    let health = r
        .http
        .get(format!("{}/health", r.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

#[tokio::test]
async fn kept_alive_connections_are_closed_when_idle() {
    // New connections get a minute; a connection idle after an answer gets 300 ms.
    let r = start_with("header_timeout_ms = 60000\nidle_timeout_ms = 300", false).await;
    let body = serde_json::to_vec(&identify("kept@example.com")).unwrap();
    let mut conn = BufReader::new(TcpStream::connect(r.addr()).await.unwrap());
    let request = [request_head("/v1/identify", body.len()).into_bytes(), body].concat();
    conn.get_mut().write_all(&request).await.unwrap();
    let (status, head, resp) = read_answer(&mut conn).await;
    assert_eq!(status, 200, "{resp}");
    assert!(
        !head
            .iter()
            .any(|h| h.eq_ignore_ascii_case("connection: close")),
        "the connection is kept alive: {head:?}"
    );
    assert!(
        closed_by_server(&mut conn).await,
        "an idle kept-alive connection stays open"
    );
}

#[tokio::test]
async fn a_trickling_body_is_cut_off_by_the_body_deadline() {
    let r = start_with("body_timeout_ms = 300", false).await;
    let (read, mut write) = TcpStream::connect(r.addr()).await.unwrap().into_split();
    write
        .write_all(request_head("/v1/identify", 2000).as_bytes())
        .await
        .unwrap();
    // A byte every 50 ms: never quiet long enough for a per-chunk timeout, far too slow overall.
    let trickle = tokio::spawn(async move {
        while write.write_all(b" ").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut read = BufReader::new(read);
    let (status, head, resp) =
        tokio::time::timeout(Duration::from_secs(10), read_answer(&mut read))
            .await
            .expect("no answer to a trickling body");
    assert_eq!(status, 408, "{resp}");
    assert!(refusal_message(&resp).contains("300 ms"), "{resp}");
    assert_eq!(resp["code"], "timeout");
    assert!(
        head.iter()
            .any(|h| h.eq_ignore_ascii_case("connection: close")),
        "{head:?}"
    );
    assert!(
        closed_by_server(&mut read).await,
        "the late body's connection stays open"
    );
    trickle.abort();
    assert_eq!(r.depth().await, 0, "nothing of the late request is stored");
}

#[tokio::test]
async fn the_relay_process_logs_one_line_per_refused_request() {
    // The real binary, so the real log setup: stderr at RUST_LOG=warn.
    let dir = std::env::temp_dir().join(format!(
        "relay-log-test-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("hubspot-cloud.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[queue]\nkind = \"memory\"\n[hubspot]\nbase_url = \"http://127.0.0.1:9\"\n\
             [[portals]]\nname = \"main\"\nportal_id = \"{DEFAULT_PORTAL_ID}\"\nwrite_keys = [\"{KEY}\"]\naccess_token = \"{DEFAULT_TOKEN}\"\n"
        ),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hubspot-cloud"))
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let listening = stdout.next_line().await.unwrap().unwrap();
    let url = listening.rsplit(' ').next().unwrap().to_owned();
    let http = reqwest::Client::new();
    let bad_batch = json!({"batch": [
        {"type": "track", "userId": "u1", "event": "E", "timestamp": "not-a-date"},
        {"type": "track", "userId": "u2", "event": "E", "timestamp": "never"},
        {"type": "track", "userId": "u3", "event": "E"},
    ]});
    let refusals = [
        http.post(format!("{url}/v1/batch"))
            .basic_auth(KEY, Some(""))
            .json(&bad_batch),
        http.post(format!("{url}/v1/identify"))
            .basic_auth("wrong-key", Some(""))
            .json(&identify("secret-body@example.com")),
        http.post(format!("{url}/v1/nope")),
        http.post(format!("{url}/v1/identify"))
            .basic_auth(KEY, Some(""))
            .header("content-encoding", "br")
            .body("x"),
    ];
    let refused = refusals.len();
    for request in refusals {
        assert!(request.send().await.unwrap().status().is_client_error());
    }
    let accepted = http
        .post(format!("{url}/v1/identify"))
        .basic_auth(KEY, Some(""))
        .json(&identify("fine@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status().as_u16(), 200);
    // Each line is written before its answer is sent, so all are in the pipe by now.
    child.kill().await.unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("request refused"))
        .collect();
    assert_eq!(
        lines.len(),
        refused,
        "one line per refused request:\n{stderr}"
    );
    let batch = lines
        .iter()
        .find(|l| l.contains("/v1/batch"))
        .unwrap_or_else(|| panic!("{stderr}"));
    for words in ["invalid", "status=400", "messages=3", "remote=127.0.0.1:"] {
        assert!(
            batch.contains(words),
            "the batch's line lacks {words:?}: {batch}"
        );
    }
    for line in &lines {
        assert!(
            !line.contains(KEY) && !line.contains("wrong-key"),
            "a write key in the log: {line}"
        );
        assert!(
            !line.contains("secret-body") && !line.contains("not-a-date"),
            "the body in the log: {line}"
        );
    }
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn health_reports_a_stopped_portal() {
    let r = start(1000, true).await;
    assert_eq!(r.health().await.0, 200);
    r.fake.update_config(|c| c.tokens.clear());
    assert_eq!(
        r.post("/v1/identify", &identify("a@example.com")).await.0,
        200
    );
    let body = r.until_unhealthy().await;
    let problems = body["problems"].to_string();
    assert!(
        problems.contains("portal 'main': delivery stopped: HubSpot rejected the access token"),
        "{body}"
    );
    assert_eq!(body["queue_depth"], 1, "the message is kept");
}

#[tokio::test]
async fn health_reports_a_store_that_cannot_write() {
    let dir = std::env::temp_dir().join(format!(
        "relay-full-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let options = hubspot_cloud::queue::sqlite::SqliteOptions {
        max_page_count: Some(64),
        ..Default::default()
    };
    let queue = Arc::new(
        hubspot_cloud::queue::sqlite::SqliteQueue::open(dir.join("outbox.db"), options).unwrap(),
    );
    let r = start_on(queue, "max_queue = 1000000", false).await;
    assert_eq!(r.health().await.0, 200);
    let mut refused = None;
    for i in 0..10_000 {
        let batch = json!({"batch": (0..50).map(|j| identify(&format!("u{i}-{j}@example.com"))).collect::<Vec<_>>()});
        let (status, body) = r.post("/v1/batch", &batch).await;
        if status != 200 {
            refused = Some((status, body));
            break;
        }
    }
    let (status, body) = refused.expect("the outbox filled up");
    assert_eq!(status, 500, "{body}");
    assert!(
        refusal_message(&body).contains("nothing was stored"),
        "{body}"
    );
    let (status, health) = r.health().await;
    assert_eq!(status, 503, "{health}");
    assert!(
        health["problems"]
            .to_string()
            .contains("the queue cannot be written"),
        "{health}"
    );
    assert!(health["problems"].to_string().contains("full"), "{health}");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn engage_audience_calls_become_memberships() {
    let r = start(1000, true).await;
    let engage = |email: &str, member: Value| {
        json!({"userId": email, "traits": {"email": email, "big_spender": member},
            "context": {"personas": {"computation_class": "audience", "computation_key": "big_spender"}}})
    };
    assert_eq!(
        r.post("/v1/identify", &engage("a@example.com", json!(true)))
            .await
            .0,
        200
    );
    let exited = json!({"userId": "b", "event": "Audience Exited",
        "properties": {"audience_key": "big_spender"}, "context": {"traits": {"email": "b@example.com"}}});
    assert_eq!(r.post("/v1/track", &exited).await.0, 200);
    let (status, body) = r
        .post("/v1/identify", &engage("c@example.com", json!("perhaps")))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        refusal_message(&body).contains("traits.big_spender must be true or false"),
        "{body}"
    );
    r.until_delivered().await;
    let state = r.fake.state();
    let member = |email: &str| {
        state.find("contacts", "email", email).unwrap().properties["big_spender"].clone()
    };
    assert_eq!(
        (member("a@example.com"), member("b@example.com")),
        ("true".into(), "false".into())
    );
    assert_eq!(state.contacts().len(), 2);
}
