//! The `hubspot-cloud` CLI as a user runs it: `send` (exit code and summary), `status`, `sync`,
//! `dead-letters list|replay|drop`, `check`, against the fake HubSpot; secrets never printed.
#![allow(missing_docs, clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use fake_hubspot::{DEFAULT_PORTAL_ID, DEFAULT_TOKEN, FakeConfig};

fn cli(config: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hubspot-cloud"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn setup(base_url: &str, event_names: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "hubspot-cli-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("hubspot-cloud.toml");
    std::fs::write(
        &config,
        format!(
            "[queue]\npath = \"{}\"\n[hubspot]\nbase_url = \"{base_url}\"\n[[portals]]\nname = \"main\"\nportal_id = \"{DEFAULT_PORTAL_ID}\"\n\
             write_keys = [\"k\"]\naccess_token = \"{DEFAULT_TOKEN}\"\n{event_names}",
            dir.join("outbox.db").display()
        ),
    )
    .unwrap();
    (dir, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_status_dead_letters_and_check() {
    let fake = fake_hubspot::start(
        FakeConfig::default().with_event(&format!("pe{DEFAULT_PORTAL_ID}_signed_up"), &["plan"]),
    )
    .await
    .unwrap();
    let (dir, config) = setup(
        &fake.base_url,
        "event_names = { \"Legacy\" = \"pe123456_legacy\" }\n",
    );
    let ndjson = [
        r#"{"type":"identify","userId":"u1","traits":{"email":"a@example.com","firstName":"Ann"}}"#,
        r#"{"type":"track","userId":"u1","event":"Signed Up","properties":{"plan":"pro","email":"a@example.com"}}"#,
        r#"{"type":"identify","userId":"u2","traits":{"name":"no email"}}"#,
        r#"{not json"#,
        "",
    ]
    .join("\n");
    let out = cli(&config, &["send", "-"], Some(&ndjson));
    let t = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "rejected lines make send fail: {t}"
    );
    assert!(
        t.contains("queued 2, delivered 2, dead 0, rejected 2"),
        "{t}"
    );
    assert!(t.contains("line 3: identify rejected: no email"), "{t}");
    assert!(t.contains("line 4: invalid JSON"), "{t}");
    assert!(!t.contains(DEFAULT_TOKEN), "the token is never printed");
    let state = fake.state();
    assert_eq!(
        state
            .find("contacts", "email", "a@example.com")
            .unwrap()
            .properties["firstname"],
        "Ann"
    );
    assert_eq!(state.events.len(), 1);

    // An event with no definition in the portal is dead-lettered with the reason.
    let out = cli(
        &config,
        &["send", "-"],
        Some(
            r#"{"type":"track","userId":"u1","event":"Never Defined","properties":{"email":"a@example.com"}}"#,
        ),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("dead 1"), "{}", text(&out));
    let list = text(&cli(&config, &["dead-letters", "list"], None));
    assert!(
        list.contains("no custom behavioral event named pe123456_never_defined"),
        "{list}"
    );
    let status = text(&cli(&config, &["status"], None));
    assert!(
        status.contains("dead      1") && status.contains("delivered 2"),
        "{status}"
    );
    assert!(text(&cli(&config, &["dead-letters", "replay"], None)).contains("replayed 1"));
    assert!(text(&cli(&config, &["status"], None)).contains("queued    1"));
    let out = cli(&config, &["send", "--portal", "main", "-"], Some(""));
    assert!(text(&out).contains("queued 0"), "{}", text(&out));

    // check: the token and properties are fine, the configured event "Legacy" is not defined.
    let out = cli(&config, &["check"], None);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("ok   main: token works, contacts readable"),
        "{t}"
    );
    assert!(
        t.contains("FAIL main: event pe123456_legacy has no definition"),
        "{t}"
    );
    assert!(
        t.contains("ok   main: 0 of 1000 custom contact properties used"),
        "{t}"
    );
    let writes = |s: &fake_hubspot::FakeState| -> u64 {
        s.requests
            .iter()
            .filter(|(endpoint, _)| !endpoint.starts_with("GET "))
            .map(|(_, by_status)| by_status.values().sum::<u64>())
            .sum()
    };
    let (requests, written) = (fake.state().total_requests, writes(&fake.state()));
    let _ = cli(&config, &["check"], None);
    assert!(
        fake.state().total_requests > requests,
        "check asked HubSpot"
    );
    assert_eq!(writes(&fake.state()), written, "check is read-only");

    assert!(text(&cli(&config, &["dead-letters", "drop"], None)).contains("dropped 0"));
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audiences_load_queues_a_file_and_reports_bad_lines() {
    let fake = fake_hubspot::start(FakeConfig::default()).await.unwrap();
    let (dir, config) = setup(
        &fake.base_url,
        "[audiences]\nmode = \"property\"\ncreate_contacts = false\n",
    );
    // `b` is in HubSpot, `ghost` is not (and may not be created).
    let seed = r#"{"type":"identify","userId":"b","traits":{"email":"b@example.com"}}"#;
    assert!(text(&cli(&config, &["send", "-"], Some(seed))).contains("delivered 1"));
    let file = dir.join("members.csv");
    std::fs::write(
        &file,
        "email,audience,status\nb@example.com,Big Spenders,realized\nb@example.com,Churn Risk,true\n\
         x@example.com,Big Spenders,maybe\nghost@example.com,Big Spenders,realized\n\
         b@example.com,Churn Risk,exited\n",
    )
    .unwrap();
    let out = cli(
        &config,
        &["audiences", "load", file.to_str().unwrap()],
        None,
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("queued 4, delivered 3, dead 1, rejected 1"),
        "{t}"
    );
    assert!(t.contains("line 4: status 'maybe'"), "{t}");
    assert!(
        t.contains("no HubSpot contact with email ghost@example.com"),
        "{t}"
    );
    let state = fake.state();
    let b = state.find("contacts", "email", "b@example.com").unwrap();
    assert_eq!(b.properties["big_spenders"], "true");
    assert_eq!(b.properties["churn_risk"], "false", "the later row wins");
    assert!(
        state
            .find("contacts", "email", "ghost@example.com")
            .is_none()
    );
    let status = text(&cli(&config, &["status"], None));
    assert!(status.contains("dead      1"), "{status}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bad_config_is_a_clear_error() {
    let (dir, config) = setup("http://127.0.0.1:9", "");
    std::fs::write(
        &config,
        "[[portals]]\nname = \"main\"\nportal_id = \"12x\"\naccess_token = \"t\"\n",
    )
    .unwrap();
    let out = cli(&config, &["status"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("portal_id must be the Hub ID's digits"),
        "{}",
        text(&out)
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn serve_refuses_a_damaged_outbox_in_one_clear_line() {
    let (dir, config) = setup("http://127.0.0.1:9", "");
    // A port already taken: a serve that wrongly accepted the outbox would fail to bind and
    // exit, rather than serve forever.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut toml = std::fs::read_to_string(&config).unwrap();
    toml.push_str(&format!(
        "[server]\nlisten = \"{}\"\n",
        taken.local_addr().unwrap()
    ));
    std::fs::write(&config, toml).unwrap();
    let ndjson: String = (0..2_000)
        .map(|i| {
            format!(
                "{{\"type\":\"identify\",\"userId\":\"u{i}\",\"traits\":{{\"email\":\"u{i}@example.com\"}}}}\n"
            )
        })
        .collect();
    let out = cli(&config, &["send", "--no-deliver", "-"], Some(&ndjson));
    assert!(text(&out).contains("queued 2000"), "{}", text(&out));

    // The header of a page in the middle of the file (SQLite's default page size) overwritten.
    let outbox = dir.join("outbox.db");
    let mut bytes = std::fs::read(&outbox).unwrap();
    let start = bytes.len() / 4_096 / 2 * 4_096;
    bytes[start..start + 32].fill(0xA5);
    std::fs::write(&outbox, &bytes).unwrap();

    let out = cli(&config, &["serve"], None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    for words in [
        format!("the SQLite outbox {} is damaged", outbox.display()),
        "it was left untouched".to_owned(),
        ".recover".to_owned(),
    ] {
        assert!(lines[0].contains(&words), "{words:?} in {}", lines[0]);
    }
    assert_eq!(
        std::fs::read(&outbox).unwrap(),
        bytes,
        "the file is unchanged"
    );
    drop(taken);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn queue_commands_need_no_hubspot_token() {
    let (dir, config) = setup("http://127.0.0.1:9", "");
    let with_token = std::fs::read_to_string(&config).unwrap();
    let tokenless = with_token.replace(&format!("access_token = \"{DEFAULT_TOKEN}\"\n"), "");
    assert_ne!(with_token, tokenless);
    std::fs::write(&config, tokenless).unwrap();
    let run = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hubspot-cloud"));
        command
            .arg("--config")
            .arg(&config)
            .args(args)
            .env_remove("HUBSPOT_ACCESS_TOKEN")
            .env_remove("HUBSPOT_ACCESS_TOKEN_MAIN")
            .env("RUST_LOG", "error")
            .stdin(Stdio::null());
        command.output().unwrap()
    };
    // Reading and managing the queue does not talk to HubSpot.
    for args in [
        &["status"][..],
        &["dead-letters", "list"],
        &["dead-letters", "replay"],
        &["dead-letters", "drop"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
    }
    assert!(text(&run(&["status"])).contains("queued    0"));
    // The commands that do talk to HubSpot say what is missing.
    for args in [&["check"][..], &["send", "-"], &["serve"]] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains("portal 'main' has no credentials"),
            "{args:?}: {}",
            text(&out)
        );
    }
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_fills_the_tables_reports_status_and_fails_by_collection() {
    use hubspot_cloud::client::{Credentials, HubSpotApi, HubSpotClient, UpsertInput};
    let fake = fake_hubspot::start(FakeConfig::default()).await.unwrap();
    let client = HubSpotClient::new(
        &fake.base_url,
        Credentials::PrivateApp {
            token: DEFAULT_TOKEN.into(),
        },
        std::time::Duration::from_secs(5),
    );
    let inputs: Vec<UpsertInput> = (0..5)
        .map(|k| UpsertInput {
            id: format!("s{k}@example.com"),
            properties: serde_json::Map::new(),
        })
        .collect();
    client.upsert("contacts", "email", &inputs).await.unwrap();
    fake.settle_search();
    let (dir, config) = setup(&fake.base_url, "");
    let db = dir.join("crm.db");
    let mut toml = std::fs::read_to_string(&config).unwrap();
    toml.push_str(&format!("[sync]\npath = \"{}\"\n", db.display()));
    std::fs::write(&config, toml).unwrap();

    let out = cli(&config, &["sync"], None);
    assert!(out.status.success(), "{}", text(&out));
    let summary = text(&out);
    assert!(summary.contains("contacts"), "{summary}");
    assert!(summary.contains("HubSpot requests"), "{summary}");
    let rows: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT count(*) FROM contacts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 5);

    let out = cli(&config, &["sync", "status"], None);
    assert!(out.status.success(), "{}", text(&out));
    let status = text(&out);
    let line = status
        .lines()
        .find(|l| l.trim_start().starts_with("contacts"))
        .unwrap();
    assert!(line.split_whitespace().nth(1) == Some("5"), "{status}");

    // One collection failing exits 1; the others are still synced.
    fake.add_fault(
        fake_hubspot::FaultRule::next(10, fake_hubspot::FaultKind::Status(400))
            .on_path("/crm/v3/objects/deals/search"),
    );
    let out = cli(&config, &["sync", "--full-refresh"], None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let summary = text(&out);
    let deals = summary
        .lines()
        .find(|l| l.trim_start().starts_with("deals"))
        .unwrap();
    assert!(deals.contains("FAILED"), "{summary}");
    let contacts = summary
        .lines()
        .find(|l| l.trim_start().starts_with("contacts"))
        .unwrap();
    assert!(!contacts.contains("FAILED"), "{summary}");
    std::fs::remove_dir_all(dir).unwrap();
}
