//! `notes-api`: run it next to `tokenauth serve`.
//!
//! Environment: `TOKENAUTH_ISSUER` (default `http://127.0.0.1:8080`), `NOTES_AUDIENCE` (default:
//! the issuer, which is tokenauth's default audience), `NOTES_LISTEN` (default `127.0.0.1:3000`).
//! With `NOTES_CLIENT_ID` and `NOTES_CLIENT_SECRET` (from `tokenauth client add notes-api
//! --permission revocations`) it subscribes to the revocation feed, so a logout is refused here
//! within a second.

use anyhow::Context as _;
use tokenauth_verify::Verifier;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let issuer =
        std::env::var("TOKENAUTH_ISSUER").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let audience = std::env::var("NOTES_AUDIENCE").unwrap_or_else(|_| issuer.clone());
    let listen = std::env::var("NOTES_LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let mut builder = Verifier::builder(issuer.clone(), audience).discover();
    if let (Ok(id), Ok(secret)) = (
        std::env::var("NOTES_CLIENT_ID"),
        std::env::var("NOTES_CLIENT_SECRET"),
    ) {
        builder = builder.revocation_feed(id, secret);
    }
    let verifier = builder
        .build()
        .await
        .with_context(|| format!("fetching keys from {issuer} (is tokenauth serve running?)"))?;
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    tracing::info!(%listen, %issuer, "notes-api listening");
    axum::serve(listener, notes_api::app(verifier)).await?;
    Ok(())
}
