//! `tokenauth client add` and `client list` on the real binary, and the printed credentials
//! used against a running `tokenauth serve`: with `introspect` and `revoke_any` a client acts on
//! any token; without them, on none of a user's (RFC 7009 §2.1).

use crate::common;

use std::fs;

use base64::Engine as _;
use common::process::{Server, json_of, run_expecting, stdout, tokenauth, workdir};
use serde_json::{Value, json};

#[tokio::test]
async fn client_add_prints_credentials_that_work_against_the_server() {
    let (_temp, dir) = workdir();
    // Only `serve` and `migrate` create a database; the other commands refuse a missing one.
    run_expecting(tokenauth(&dir).arg("migrate"), 0);
    let added = json_of(&run_expecting(
        tokenauth(&dir).args([
            "client",
            "add",
            "billing",
            "--json",
            "--permission",
            "introspect",
            "--permission",
            "revoke_any",
        ]),
        0,
    ));
    let id = added["client_id"].as_str().unwrap().to_owned();
    let secret = added["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(added["name"], "billing");
    assert_eq!(added["permissions"], json!(["introspect", "revoke_any"]));
    assert!(secret.len() >= 43, "256-bit secret: {secret}");

    let listed = json_of(&run_expecting(
        tokenauth(&dir).args(["client", "list", "--json"]),
        0,
    ));
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["client_id"], id.as_str());
    assert_eq!(
        listed[0]["permissions"],
        json!(["introspect", "revoke_any"])
    );
    let text = stdout(&run_expecting(tokenauth(&dir).args(["client", "list"]), 0));
    assert!(text.contains(&id) && text.contains("billing"), "{text}");
    assert!(text.contains("introspect,revoke_any"), "{text}");
    assert!(!listed.to_string().contains(&secret) && !text.contains(&secret));
    run_expecting(tokenauth(&dir).args(["client", "add", "  "]), 1);

    let server = Server::start(&dir).await;
    let body = server.signup("client@example.com").await;
    let refresh = body["refresh_token"].as_str().unwrap();
    let engine = base64::engine::general_purpose::STANDARD;
    let oauth = |path: &str, secret: &str| {
        server
            .client
            .post(server.url(path))
            .header(
                "authorization",
                format!("Basic {}", engine.encode(format!("{id}:{secret}"))),
            )
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={refresh}"))
    };

    let wrong = oauth("/oauth2/introspect", "wrong").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let introspected: Value = oauth("/oauth2/introspect", &secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspected["active"], true, "{introspected}");
    let revoked = oauth("/oauth2/revoke", &secret).send().await.unwrap();
    assert_eq!(revoked.status(), 200);
    let (status, answer) = server.refresh(refresh).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (401, Some("session_revoked"))
    );

    // The secret is in neither the log nor the database.
    assert!(!server.log_text().contains(&secret));
    server.stop();
    for entry in fs::read_dir(dir.join("tokenauth-data")).unwrap() {
        let bytes = fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }
}

/// The real binary: a client registered without permissions can neither revoke a user's
/// refresh token (200, and the token still refreshes) nor introspect it (`active: false`), nor
/// read the revocation feed (403); `--permission` with an unknown name is refused.
#[tokio::test]
async fn a_client_without_permissions_cannot_touch_a_users_tokens() {
    let (_temp, dir) = workdir();
    // Only `serve` and `migrate` create a database; the other commands refuse a missing one.
    run_expecting(tokenauth(&dir).arg("migrate"), 0);
    let bare = json_of(&run_expecting(
        tokenauth(&dir).args(["client", "add", "bare", "--json"]),
        0,
    ));
    assert_eq!(bare["permissions"], json!([]));
    let text = stdout(&run_expecting(tokenauth(&dir).args(["client", "list"]), 0));
    assert!(text.contains("none"), "{text}");
    let refused = run_expecting(
        tokenauth(&dir).args(["client", "add", "x", "--permission", "admin"]),
        2,
    );
    assert!(
        common::process::stderr(&refused).contains("revoke_any"),
        "lists the permissions"
    );

    let server = Server::start(&dir).await;
    let body = server.signup("victim@example.com").await;
    let refresh = body["refresh_token"].as_str().unwrap();
    let access = body["access_token"].as_str().unwrap();
    let (id, secret) = (
        bare["client_id"].as_str().unwrap(),
        bare["client_secret"].as_str().unwrap(),
    );
    let oauth = |path: &str, token: &str| {
        server
            .client
            .post(server.url(path))
            .basic_auth(id, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
    };
    for token in [refresh, access] {
        let introspected: Value = oauth("/oauth2/introspect", token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(introspected, json!({"active": false}));
        let revoked = oauth("/oauth2/revoke", token).send().await.unwrap();
        assert_eq!(revoked.status(), 200, "silently, as RFC 7009 asks");
    }
    assert_eq!(server.get("/v1/me", Some(access)).await.0, 200);
    let (status, answer) = server.refresh(refresh).await;
    assert_eq!(status, 200, "the session lives on: {answer}");
    let feed = server
        .client
        .get(server.url("/v1/revocations"))
        .basic_auth(id, Some(secret))
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), 403);
    server.stop();
}
