//! `tokenauth client add` and `client list` on the real binary, and the printed credentials
//! used against a running `tokenauth serve`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;

use base64::Engine as _;
use common::process::{Server, json_of, run_expecting, stdout, tokenauth, workdir};
use serde_json::Value;

#[tokio::test]
async fn client_add_prints_credentials_that_work_against_the_server() {
    let (_temp, dir) = workdir();
    // Only `serve` and `migrate` create a database; the other commands refuse a missing one.
    run_expecting(tokenauth(&dir).arg("migrate"), 0);
    let added = json_of(&run_expecting(
        tokenauth(&dir).args(["client", "add", "billing", "--json"]),
        0,
    ));
    let id = added["client_id"].as_str().unwrap().to_owned();
    let secret = added["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(added["name"], "billing");
    assert!(secret.len() >= 43, "256-bit secret: {secret}");

    let listed = json_of(&run_expecting(
        tokenauth(&dir).args(["client", "list", "--json"]),
        0,
    ));
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["client_id"], id.as_str());
    let text = stdout(&run_expecting(tokenauth(&dir).args(["client", "list"]), 0));
    assert!(text.contains(&id) && text.contains("billing"), "{text}");
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
