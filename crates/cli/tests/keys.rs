//! Personal API keys against the real binary: made by the CLI and the API, accepted on REST,
//! SSE and `/ws` within their scope, listed without the key, refused once revoked or expired.
//! (`/ws/audio` with a key: `devices.rs`.)

mod support;

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use support::{ALICE, Project, Server, next_json};

const ADMIN: (&str, &str) = ("admin@example.com", "admin-password");

/// `chronicle keys create …` in the project: the key it printed.
fn cli_key(project: &Project, args: &[&str]) -> String {
    let mut all = vec!["keys", "create"];
    all.extend_from_slice(args);
    let output = project.run(&all);
    assert!(
        output.status.success(),
        "keys create {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// The first message of `/ws?token=…`: `ready`, or why it was refused.
async fn ws_greeting(server: &Server, token: &str) -> Value {
    let url = server.ws_url(&format!("/ws?codec=pcm&token={token}&device_name=keyed"));
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    next_json(&mut socket).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_work_within_their_scope_on_every_transport_until_revoked_or_expired() {
    let project = Project::with_plugins("plugins: {}\n", &[]);
    project.add_user(ALICE);
    let server = project.serve(
        &[],
        &[("ADMIN_EMAIL", ADMIN.0), ("ADMIN_PASSWORD", ADMIN.1)],
    );

    // A read key from the CLI: GETs, nothing else.
    let reader = cli_key(
        &project,
        &["--user", ALICE.0, "--name", "reader", "--scope", "read"],
    );
    assert!(reader.starts_with("chr_") && reader.len() == 68, "{reader}");
    let (status, me) = server.get(Some(&reader), "/api/users/me").await;
    assert_eq!((status, me["email"].as_str()), (200, Some(ALICE.0)));
    assert_eq!(server.get(Some(&reader), "/api/conversations").await.0, 200);
    let (status, refused) = server
        .json(
            Method::POST,
            &reader,
            "/api/memories",
            json!({"content": "oat milk"}),
        )
        .await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(
        refused["detail"],
        "this API key has the read scope; this request needs write"
    );
    assert_eq!(
        ws_greeting(&server, &reader).await["error"],
        "authentication_failed"
    );
    // A key cannot make keys, and a non-admin's key cannot be admin.
    let (status, _) = server
        .json(
            Method::POST,
            &reader,
            "/api/keys",
            json!({"name": "more", "scope": "read"}),
        )
        .await;
    assert_eq!(status, 403);
    let output = project.run(&[
        "keys", "create", "--user", ALICE.0, "--name", "x", "--scope", "admin",
    ]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("not an admin"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // A write key from the API, with a login: shown once, then writes, streams and SSE.
    let login = server.login(ALICE).await;
    let (status, made) = server
        .json(
            Method::POST,
            &login,
            "/api/keys",
            json!({"name": "Claude Desktop", "scope": "write", "expires": "90d"}),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let writer = made["key"].as_str().expect("the key").to_owned();
    assert_eq!(made["api_key"]["scope"], "write");
    assert!(made["api_key"]["expires_at"].is_string(), "{made}");
    let (status, memory) = server
        .json(
            Method::POST,
            &writer,
            "/api/memories",
            json!({"content": "buy oat milk"}),
        )
        .await;
    assert_eq!(status, 200, "{memory}");
    assert_eq!(ws_greeting(&server, &writer).await["type"], "ready");
    let sse = server
        .http
        .get(server.url("/api/live/stream"))
        .bearer_auth(&writer)
        .send()
        .await
        .expect("SSE");
    assert_eq!(sse.status(), 200);
    assert!(
        sse.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/event-stream")
    );
    drop(sse);
    let (status, refused) = server.get(Some(&writer), "/api/admin/users").await;
    assert_eq!(status, 403, "{refused}");

    // An admin's write key is not an admin key; an admin key is.
    let admin_writer = cli_key(
        &project,
        &["--user", ADMIN.0, "--name", "w", "--scope", "write"],
    );
    let (status, refused) = server.get(Some(&admin_writer), "/api/admin/users").await;
    assert_eq!(status, 403);
    assert_eq!(
        refused["detail"],
        "this API key has the write scope; this request needs admin"
    );
    let admin_key = cli_key(
        &project,
        &["--user", ADMIN.0, "--name", "ops", "--scope", "admin"],
    );
    assert_eq!(
        server.get(Some(&admin_key), "/api/admin/users").await.0,
        200
    );

    // Listed without the key, with the last use; everyone's for an admin only.
    let (_, listed) = server.get(Some(&login), "/api/keys").await;
    let keys = listed["keys"].as_array().expect("keys").clone();
    assert_eq!(keys.len(), 2, "{listed}");
    assert!(!listed.to_string().contains(&writer[4..]), "{listed}");
    assert!(
        keys.iter().all(|k| k["last_used_at"].is_string()),
        "{listed}"
    );
    assert_eq!(server.get(Some(&login), "/api/keys?all=true").await.0, 403);
    let (_, all) = server.get(Some(&admin_key), "/api/keys?all=true").await;
    assert_eq!(all["keys"].as_array().map(Vec::len), Some(4), "{all}");
    let listing = project.run(&["keys", "list", "--user", ALICE.0]);
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    assert!(
        listing.contains("Claude Desktop") && listing.contains("active"),
        "{listing}"
    );

    // Revoked: refused from the next request on.
    let id = made["api_key"]["id"].as_str().expect("id");
    let (status, revoked) = server
        .json(
            Method::DELETE,
            &login,
            &format!("/api/keys/{id}"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(server.get(Some(&writer), "/api/users/me").await.0, 401);
    assert_eq!(
        ws_greeting(&server, &writer).await["error"],
        "authentication_failed"
    );
    let revoke = project.run(&["keys", "revoke", "no-such-id"]);
    assert!(!revoke.status.success());

    // Expired: accepted until its time, then refused.
    let brief = cli_key(
        &project,
        &["--user", ALICE.0, "--name", "brief", "--expires", "2s"],
    );
    assert_eq!(server.get(Some(&brief), "/api/users/me").await.0, 200);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(server.get(Some(&brief), "/api/users/me").await.0, 401);
    let listing = project.run(&["keys", "list", "--user", ALICE.0]);
    assert!(String::from_utf8_lossy(&listing.stdout).contains("expired"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_keys_share_a_rate_limit_answered_429_with_retry_after() {
    let project = Project::with_plugins("plugins: {}\n", &[]);
    project.add_user(ALICE);
    let server = project.serve(&["--api-rate-limit", "5"], &[]);
    let first = cli_key(&project, &["--user", ALICE.0, "--name", "one"]);
    let second = cli_key(&project, &["--user", ALICE.0, "--name", "two"]);
    for n in 0..5 {
        let key = if n % 2 == 0 { &first } else { &second };
        assert_eq!(
            server.get(Some(key), "/api/users/me").await.0,
            200,
            "request {n}"
        );
    }
    for key in [&first, &second] {
        let response = server
            .http
            .get(server.url("/api/users/me"))
            .bearer_auth(key)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 429);
        let retry_after: u64 = response.headers()["retry-after"]
            .to_str()
            .ok()
            .and_then(|s| s.parse().ok())
            .expect("Retry-After in seconds");
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        let body: Value = response.json().await.expect("json");
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("more than 5 requests a minute")),
            "{body}"
        );
    }
    // A login is a person, not a program: not counted.
    let login = server.login(ALICE).await;
    for _ in 0..10 {
        assert_eq!(server.get(Some(&login), "/api/users/me").await.0, 200);
    }
}
