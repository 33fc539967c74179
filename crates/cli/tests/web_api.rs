//! The routes the web app's pages stand on, against the real server: account administration
//! (admins only; a deactivated user is signed out everywhere), the live stream of *my*
//! sessions, the System page's figures, plugin documents per user, memory edits and the event
//! log's filters.

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use support::{ALICE, Project, Server, pcm_bytes, tone, ws_connect, ws_send};

const ADMIN: (&str, &str) = ("admin@example.com", "admin-password");
const BOB: (&str, &str) = ("bob@example.com", "bob-password-1");

fn serve(env: &[(&str, &str)]) -> Server {
    let project = Project::with_plugins("plugins: {}\n", &[]);
    project.add_user(ALICE);
    let admin = [("ADMIN_EMAIL", ADMIN.0), ("ADMIN_PASSWORD", ADMIN.1)];
    project.serve(&[], &[&admin, env].concat())
}

async fn json_request(
    server: &Server,
    method: Method,
    token: &str,
    path: &str,
    body: Value,
) -> (u16, Value) {
    server.json(method, token, path, body).await
}

async fn login_status(server: &Server, (email, password): (&str, &str)) -> u16 {
    server
        .http
        .post(server.url("/auth/jwt/login"))
        .form(&[("username", email), ("password", password)])
        .send()
        .await
        .expect("login")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_manage_accounts_and_a_deactivated_user_is_signed_out_everywhere() {
    let server = serve(&[]);
    let admin = server.login(ADMIN).await;
    let alice = server.login(ALICE).await;

    let short = json!({"email": BOB.0, "password": "short"});
    let (status, body) =
        json_request(&server, Method::POST, &admin, "/api/admin/users", short).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("at least 12"),
        "{body}"
    );
    let new = json!({"email": BOB.0, "password": BOB.1});
    let (status, bob_row) = json_request(
        &server,
        Method::POST,
        &admin,
        "/api/admin/users",
        new.clone(),
    )
    .await;
    assert_eq!(status, 201, "{bob_row}");
    assert_eq!(
        (&bob_row["is_admin"], &bob_row["is_active"]),
        (&json!(false), &json!(true))
    );
    let (status, _) = json_request(&server, Method::POST, &admin, "/api/admin/users", new).await;
    assert_eq!(status, 409, "the email is taken");
    let (_, listed) = server.get(Some(&admin), "/api/admin/users").await;
    let emails: Vec<&str> = listed["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|user| user["email"].as_str())
        .collect();
    assert_eq!(emails.len(), 3, "{listed}");
    assert!(
        !listed.to_string().contains("argon2"),
        "no hash is shown: {listed}"
    );

    // The routes refuse a non-admin whatever the UI shows.
    let bob = server.login(BOB).await;
    assert_eq!(server.get(Some(&bob), "/api/admin/users").await.0, 403);
    let bob_id = bob_row["id"].as_str().expect("id");
    let path = format!("/api/admin/users/{bob_id}");
    let promote = json!({"is_admin": true});
    assert_eq!(
        json_request(&server, Method::PATCH, &alice, &path, promote.clone())
            .await
            .0,
        403
    );

    // Deactivated: the token stops working and the password is refused as a wrong one.
    let off = json!({"is_active": false});
    let (status, row) = json_request(&server, Method::PATCH, &admin, &path, off).await;
    assert_eq!((status, &row["is_active"]), (200, &json!(false)), "{row}");
    assert_eq!(server.get(Some(&bob), "/api/users/me").await.0, 401);
    assert_eq!(login_status(&server, BOB).await, 400);

    // Back on, with a new password and admin rights.
    let change = json!({"is_active": true, "is_admin": true, "password": "bob-new-password"});
    let (status, row) = json_request(&server, Method::PATCH, &admin, &path, change).await;
    assert_eq!((status, &row["is_admin"]), (200, &json!(true)), "{row}");
    assert_eq!(
        login_status(&server, BOB).await,
        400,
        "the old password is gone"
    );
    let bob = server.login((BOB.0, "bob-new-password")).await;
    assert_eq!(server.get(Some(&bob), "/api/admin/users").await.0, 200);

    // An admin cannot lock themself out.
    let (me_status, me) = server.get(Some(&admin), "/api/users/me").await;
    assert_eq!(me_status, 200);
    let own = format!("/api/admin/users/{}", me["id"].as_str().expect("id"));
    let (status, body) = json_request(
        &server,
        Method::PATCH,
        &admin,
        &own,
        json!({"is_admin": false}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
}

/// Reads server-sent events from `response` until `want` has been seen, or `limit` passes.
async fn sse_until(response: reqwest::Response, want: &[&str], limit: Duration) -> String {
    let mut seen = String::new();
    let mut body = response.bytes_stream();
    let deadline = tokio::time::Instant::now() + limit;
    while !want.iter().all(|w| seen.contains(w)) {
        match tokio::time::timeout_at(deadline, body.next()).await {
            Ok(Some(Ok(bytes))) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            _ => break,
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_stream_shows_my_sessions_transcripts_and_presses_and_no_one_elses() {
    use chronicle_test_servers::{Deepgram, DeepgramBehaviour, Utterance};
    let speech = Deepgram::start(|_| {
        DeepgramBehaviour::Script(vec![Utterance {
            at: 1.0,
            text: "Remember to call Anna.".into(),
        }])
    })
    .await;
    let server = serve(&[
        ("TRANSCRIPTION_PROVIDER", "deepgram"),
        ("TRANSCRIPTION_URL", &speech.url()),
        ("DEEPGRAM_API_KEY", "dg-test-key"),
    ]);
    let alice = server.login(ALICE).await;
    let admin = server.login(ADMIN).await;
    let watch = |token: &str| {
        server
            .http
            .get(server.url("/api/live/stream"))
            .bearer_auth(token)
            .send()
    };
    let alices_view = watch(&alice).await.expect("alice watches");
    assert_eq!(alices_view.status(), 200);
    let admins_view = watch(&admin).await.expect("the admin watches");

    let mut socket = ws_connect(
        &server,
        &format!("codec=pcm&token={alice}&device_name=Pendant"),
    )
    .await;
    let format = json!({"rate": 16000, "width": 2, "channels": 1});
    let start = json!({"rate": 16000, "width": 2, "channels": 1, "mode": "streaming"});
    ws_send(
        &mut socket,
        json!({"type": "audio-start", "data": start}),
        None,
    )
    .await;
    for _ in 0..20 {
        let chunk = pcm_bytes(&tone(0.1));
        let header = json!({"type": "audio-chunk", "data": format, "payload_length": chunk.len()});
        ws_send(&mut socket, header, Some(chunk)).await;
    }
    let press = json!({"type": "button-event", "data": {"state": "DOUBLE_PRESS"}});
    ws_send(&mut socket, press, None).await;

    let seen = sse_until(
        alices_view,
        &[
            "event: session",
            "event: interim",
            "event: final",
            "Remember to call Anna.",
            "event: button",
        ],
        Duration::from_secs(15),
    )
    .await;
    for want in [
        "event: session",
        "event: interim",
        "event: final",
        "event: button",
        "DOUBLE_PRESS",
    ] {
        assert!(seen.contains(want), "{want} missing from:\n{seen}");
    }
    // The admin's own view of their (no) sessions shows none of Alice's.
    let admin_seen = sse_until(admins_view, &["never"], Duration::from_secs(1)).await;
    assert!(admin_seen.contains("event: connected"), "{admin_seen}");
    assert!(!admin_seen.contains("Anna"), "{admin_seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_system_page_documents_memories_and_event_filters_answer_per_user() {
    let server = serve(&[]);
    let admin = server.login(ADMIN).await;
    let alice = server.login(ALICE).await;

    let (status, system) = server.get(Some(&alice), "/api/system").await;
    assert_eq!(status, 200, "{system}");
    assert_eq!(system["transcription"]["message"], "not configured");
    assert!(
        system["data_folder_bytes"].is_null(),
        "for admins only: {system}"
    );
    assert!(system["counts"]["deliveries"].is_null(), "{system}");
    let (_, as_admin) = server.get(Some(&admin), "/api/system").await;
    assert!(
        as_admin["data_folder_bytes"].as_u64().unwrap_or(0) > 0,
        "{as_admin}"
    );
    assert!(as_admin["counts"]["deliveries"].is_object(), "{as_admin}");

    // A memory added, edited, counted; another user can neither see nor edit it.
    let (_, created) = json_request(
        &server,
        Method::POST,
        &alice,
        "/api/memories",
        json!({"content": "buy oat milk"}),
    )
    .await;
    let id = created["memory"]["memory_id"].as_str().expect("memory id");
    let path = format!("/api/memories/{id}");
    let (status, edited) = json_request(
        &server,
        Method::PATCH,
        &alice,
        &path,
        json!({"content": "buy bread"}),
    )
    .await;
    assert_eq!(
        (status, &edited["memory"]["content"]),
        (200, &json!("buy bread"))
    );
    let (status, _) = json_request(
        &server,
        Method::PATCH,
        &alice,
        &path,
        json!({"content": "  "}),
    )
    .await;
    assert_eq!(status, 400);
    let (_, found) = server
        .get(Some(&alice), "/api/memories/search?query=bread")
        .await;
    assert_eq!(found["count"], 1, "{found}");
    // Ranked full-text search finds the edited text, marked; the admin's own search too, and
    // a kind that does not exist is refused.
    let (status, found) = server
        .get(Some(&alice), "/api/search?q=bread&kind=memory")
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["hits"][0]["kind"], "memory", "{found}");
    assert_eq!(found["hits"][0]["id"], id, "{found}");
    assert_eq!(
        found["hits"][0]["snippet"], "buy <mark>bread</mark>",
        "{found}"
    );
    let (_, old) = server.get(Some(&alice), "/api/search?q=oat").await;
    assert_eq!(old["count"], 0, "the edit replaced the old words: {old}");
    assert_eq!(
        server.get(Some(&admin), "/api/search?q=bread").await.1["count"],
        1
    );
    assert_eq!(
        server
            .get(Some(&alice), "/api/search?q=bread&kind=songs")
            .await
            .0,
        400
    );
    // Pages: the total, and nothing past it.
    json_request(
        &server,
        Method::POST,
        &alice,
        "/api/memories",
        json!({"content": "call Anna"}),
    )
    .await;
    let (_, page) = server
        .get(Some(&alice), "/api/memories?limit=1&offset=1")
        .await;
    assert_eq!(
        (&page["total"], &page["count"]),
        (&json!(2), &json!(1)),
        "{page}"
    );
    assert_eq!(page["memories"][0]["content"], "buy bread", "{page}");
    let (_, past) = server
        .get(Some(&alice), "/api/memories?limit=1&offset=2")
        .await;
    assert_eq!(past["count"], 0, "{past}");
    let (_, system) = server.get(Some(&alice), "/api/system").await;
    assert_eq!(system["counts"]["memories"], 2, "{system}");
    let (status, _) = server
        .send(Method::GET, Some(&alice), "/api/plugins/documents", None)
        .await;
    assert_eq!(status, 200);

    // An unknown outcome matches nothing rather than failing.
    let (status, events) = server
        .get(
            Some(&alice),
            "/api/events?plugin_id=email_summarizer&outcome=failed",
        )
        .await;
    assert_eq!((status, &events["total"]), (200, &json!(0)), "{events}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settings_form_saves_only_what_changed_and_keeps_secrets_out_of_plugins_yml() {
    let project = Project::with_plugins(
        "# my plugins\nplugins:\n  homeassistant:\n    enabled: false  # not yet\n    ha_url: http://ha.local:8123\n",
        &[],
    );
    let admin_env = [("ADMIN_EMAIL", ADMIN.0), ("ADMIN_PASSWORD", ADMIN.1)];
    let server = project.serve(&[], &admin_env);
    let admin = server.login(ADMIN).await;
    let path = "/api/admin/plugins/config/structured/homeassistant";

    let form = json!({
        "orchestration": {"enabled": true},
        "settings": {"ha_url": "http://ha.local:8123", "ha_token": "eyJ-long-lived-token"},
    });
    let (status, saved) = json_request(&server, Method::POST, &admin, path, form).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["changed"], json!(["enabled", "ha_token"]), "{saved}");
    let yml = std::fs::read_to_string(project.path("config/plugins.yml")).expect("plugins.yml");
    assert_eq!(
        yml,
        "# my plugins\nplugins:\n  homeassistant:\n    enabled: true\n    ha_url: http://ha.local:8123\n    ha_token: \"${HOMEASSISTANT_HA_TOKEN}\"\n"
    );
    let dotenv = std::fs::read_to_string(project.path("plugins/homeassistant/.env")).expect(".env");
    assert_eq!(dotenv, "HOMEASSISTANT_HA_TOKEN='eyJ-long-lived-token'\n");

    // The plugin runs with the token, and the browser sees only the mask.
    let (_, metadata) = server
        .get(Some(&admin), "/api/admin/plugins/metadata")
        .await;
    let plugin = metadata["plugins"]
        .as_array()
        .and_then(|all| all.iter().find(|p| p["plugin_id"] == "homeassistant"))
        .cloned()
        .expect("homeassistant");
    assert_eq!(plugin["enabled"], true, "{plugin}");
    assert_eq!(plugin["current_config"]["ha_token"], "••••••••••••");
    assert_eq!(plugin["secret_settings"], json!(["ha_token"]), "{plugin}");
    assert_eq!(plugin["sandbox"], "in process", "{plugin}");
    assert!(!metadata.to_string().contains("eyJ"), "{metadata}");

    // The mask sent back changes nothing; a bad value is refused and nothing is written.
    let unchanged = json!({"settings": {"ha_token": "••••••••••••"}});
    let (_, answer) = json_request(&server, Method::POST, &admin, path, unchanged).await;
    assert_eq!(answer["changed"], json!([]), "{answer}");
    let bad = json!({"settings": {"ha_url": "not a url"}});
    let (status, refused) = json_request(&server, Method::POST, &admin, path, bad).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(
        std::fs::read_to_string(project.path("config/plugins.yml")).expect("plugins.yml"),
        yml
    );
    // A mask inside a list or an object cannot be told from a new value: refused, not saved
    // as dots.
    let nested =
        json!({"settings": {"entities": [{"id": "light.kitchen", "token": "••••••••••••"}]}});
    let (status, refused) = json_request(&server, Method::POST, &admin, path, nested).await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["detail"]
            .as_str()
            .is_some_and(|d| d.contains("`entities` still holds a secret")),
        "{refused}"
    );
    let alice_like = json_request(&server, Method::POST, "not-a-token", path, json!({})).await;
    assert_eq!(alice_like.0, 401);
}
