//! Logging in against the real server: guesses are limited with backoff, a password change
//! ends older sessions, a restart with the same password keeps them, and short passwords
//! are refused.

mod support;

use support::{ALICE, Project};

const ADMIN: (&str, &str) = ("admin@example.com", "admin-password");

/// Posts the login form; the status and, for a refusal, the `Retry-After` header.
async fn attempt(server: &support::Server, email: &str, password: &str) -> (u16, Option<String>) {
    let response = server
        .http
        .post(server.url("/auth/jwt/login"))
        .form(&[("username", email), ("password", password)])
        .send()
        .await
        .expect("login");
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    (response.status().as_u16(), retry_after)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_are_limited_and_a_password_change_ends_older_sessions() {
    let project = Project::with_plugins("plugins: {}\n", &[]);
    project.add_user(ALICE);
    let env = [("ADMIN_EMAIL", ADMIN.0), ("ADMIN_PASSWORD", ADMIN.1)];
    let mut server = project.serve(&["--data-dir", "data"], &env);

    // Five wrong guesses are heard; the sixth attempt waits, even with the right password.
    for _ in 0..5 {
        assert_eq!(attempt(&server, ALICE.0, "not-her-password").await.0, 400);
    }
    let (status, retry_after) = attempt(&server, ALICE.0, ALICE.1).await;
    assert_eq!(status, 429);
    let wait: u64 = retry_after
        .as_deref()
        .and_then(|value| value.parse().ok())
        .expect("a Retry-After in seconds");
    assert!((1..=900).contains(&wait), "{wait}");
    // Another account is not held up by Alice's.
    let admin = server.login(ADMIN).await;
    assert_eq!(server.get(Some(&admin), "/api/users/me").await.0, 200);

    // A restart with the same ADMIN_PASSWORD keeps the admin's token; a new password ends it.
    server.kill();
    let mut server = project.serve(&["--data-dir", "data"], &env);
    assert_eq!(server.get(Some(&admin), "/api/users/me").await.0, 200);
    server.kill();
    let changed = [
        ("ADMIN_EMAIL", ADMIN.0),
        ("ADMIN_PASSWORD", "a-new-admin-password"),
    ];
    let server = project.serve(&["--data-dir", "data"], &changed);
    assert_eq!(
        server.get(Some(&admin), "/api/users/me").await.0,
        401,
        "a token from before the password change is refused"
    );
    let fresh = server.login((ADMIN.0, "a-new-admin-password")).await;
    assert_eq!(server.get(Some(&fresh), "/api/users/me").await.0, 200);
}

#[test]
fn passwords_shorter_than_twelve_characters_are_refused() {
    let project = Project::new();
    let added = project.run(&["user", "add", "ana@example.com", "--password", "short-pw"]);
    assert!(!added.status.success());
    let stderr = String::from_utf8_lossy(&added.stderr);
    assert!(
        stderr.contains("the password has 8 characters; at least 12 are needed"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_apps_cookie_session_works_only_from_its_own_pages() {
    let project = Project::with_plugins("plugins: {}\n", &[]);
    project.add_user(ALICE);
    let server = project.serve(&["--data-dir", "data"], &[]);
    let login = |password: &'static str| {
        server
            .http
            .post(server.url("/auth/cookie/login"))
            .form(&[("username", ALICE.0), ("password", password)])
            .send()
    };

    let wrong = login("not-her-password").await.expect("login");
    assert_eq!(wrong.status().as_u16(), 400);
    assert!(wrong.headers().get("set-cookie").is_none());

    let right = login(ALICE.1).await.expect("login");
    assert_eq!(right.status().as_u16(), 204);
    let set_cookie = right.headers()["set-cookie"].to_str().expect("ascii");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    let cookie = set_cookie.split(';').next().expect("name=value").to_owned();
    let me = |origin: Option<String>| {
        let mut request = server
            .http
            .get(server.url("/api/users/me"))
            .header("cookie", &cookie);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };
    let own_origin = server.url("").trim_end_matches('/').to_owned();
    assert_eq!(me(None).await.expect("me").status().as_u16(), 200);
    assert_eq!(
        me(Some(own_origin)).await.expect("me").status().as_u16(),
        200
    );
    assert_eq!(
        me(Some("https://evil.example".into()))
            .await
            .expect("me")
            .status()
            .as_u16(),
        403,
        "another site's page cannot use the cookie"
    );

    // A bearer token is not the browser's to attach, so any origin may use it.
    let token = server.login(ALICE).await;
    let bearer = server
        .http
        .get(server.url("/api/users/me"))
        .bearer_auth(&token)
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("me");
    assert_eq!(bearer.status().as_u16(), 200);

    let logout = server
        .http
        .post(server.url("/auth/cookie/logout"))
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status().as_u16(), 204);
    assert!(
        logout.headers()["set-cookie"]
            .to_str()
            .expect("ascii")
            .contains("Max-Age=0")
    );
}
