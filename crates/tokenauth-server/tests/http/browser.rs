//! The built-in web UI in a real headless Chromium, driven through chromedriver (WebDriver):
//! sign up, reload, sessions, silent refresh once the server sees the access token expired, no
//! token visible to page scripts, revoke, log out, log in, log out everywhere.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them); without them the
//! browser test says `SKIPPED` and passes. `TOKENAUTH_UI_SCREENSHOT=<path>` saves a PNG of the
//! logged-in UI there, 1100x800 (how docs/ui.png is made; a relative path starts in
//! crates/tokenauth-server).

use crate::common;

use std::io::Write as _;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::process::free_port;
use common::{Options, PASSWORD, TestServer, jwt_parts};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tokenauth_core::Clock as _;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The contract's policy for the UI, verbatim.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// How long the UI may take to reach a state (it runs on a local server).
const PATIENCE: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ui_files_are_served_with_their_types_and_security_headers() {
    let server = TestServer::start().await;
    for (path, content_type, marker) in [
        ("/", "text/html; charset=utf-8", "<form id=\"login-form\""),
        (
            "/ui/app.js",
            "text/javascript; charset=utf-8",
            "TokenAuthClient",
        ),
        (
            "/ui/tokenauth-client.js",
            "text/javascript; charset=utf-8",
            "X-Token-Transport",
        ),
        ("/ui/app.css", "text/css; charset=utf-8", ".sessions"),
    ] {
        let response = server.client.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(
            header("content-type").as_deref(),
            Some(content_type),
            "{path}"
        );
        assert_eq!(
            header("content-security-policy").as_deref(),
            Some(CSP),
            "{path}"
        );
        assert_eq!(header("x-frame-options").as_deref(), Some("DENY"), "{path}");
        assert_eq!(header("referrer-policy").as_deref(), Some("no-referrer"));
        assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
        assert_eq!(
            header("strict-transport-security"),
            None,
            "http issuer: {path}"
        );
        assert!(response.text().await.unwrap().contains(marker), "{path}");
    }

    let https = TestServer::start_with(Options::default().configure(move |c| {
        c.issuer = "https://auth.example.test".to_owned();
        c.audience = "https://auth.example.test".to_owned();
    }))
    .await;
    let response = https.client.get(https.url("/")).send().await.unwrap();
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=31536000"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_ui_signs_up_refreshes_silently_and_logs_out_in_chromium() {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        eprintln!(
            "SKIPPED: browser tests need chromium and chromedriver (apt-get install chromium chromium-driver)"
        );
        return;
    }
    // The test server's clock only moves when told to: the 3 s tokens expire exactly when the
    // test advances it, not while Chromium starts. The reuse grace covers a refresh answer a
    // navigation may cut off (the browser keeps the previous refresh cookie) across advances.
    let server = TestServer::start_with(Options::default().configure(move |c| {
        c.access_token_ttl = Duration::from_secs(3);
        c.refresh_reuse_grace = Duration::from_secs(300);
    }))
    .await;
    let driver = ChromeDriver::start().await;
    let browser = driver.browser().await;
    let mut step = "start";
    let outcome = walk_through_the_ui(&server, &browser, &mut step).await;
    let _ = browser.close().await;
    if let Err(error) = outcome {
        panic!("{step}: {error}");
    }
}

/// The scenario; `step` names the part under way, for the failure message.
async fn walk_through_the_ui(
    server: &TestServer,
    browser: &Client,
    step: &mut &'static str,
) -> Result<(), String> {
    let email = "ada@example.com";
    *step = "sign up";
    sign_up(server, browser, email).await?;
    *step = "reload while logged in";
    let (session_id, user_id) = reload_while_logged_in(browser, email).await?;
    *step = "tokens hidden from scripts";
    tokens_are_hidden_from_scripts(browser).await?;
    *step = "silent refresh on page load";
    silent_refresh_on_page_load(server, browser, email, &session_id).await?;
    *step = "silent refresh while the UI runs";
    silent_refresh_while_the_ui_runs(server, browser).await?;
    *step = "revoke another session";
    revoke_another_session(server, browser, email).await?;
    *step = "log out";
    log_out(browser).await?;
    *step = "log in, log out everywhere";
    log_in_and_out_everywhere(browser, email).await?;
    let sessions = server.state.auth.sessions(user_id).await.map_err(debug)?;
    check(
        sessions.is_empty(),
        "no session is left after logging out everywhere",
    )
}

/// How far to advance the clock for the server to call an access token expired: past its
/// lifetime and the verifier's leeway.
fn past_access_expiry(server: &TestServer) -> Duration {
    let settings = server.state.auth.settings();
    settings.access_token_ttl + settings.clock_leeway + Duration::from_secs(1)
}

/// Signs up with the UI's form: the signed-in view shows `email`.
async fn sign_up(server: &TestServer, browser: &Client, email: &str) -> Result<(), String> {
    browser.goto(&server.url("/")).await.map_err(debug)?;
    visible(browser, "#signed-out").await?;
    fill(browser, "#signup-email", email).await?;
    fill(browser, "#signup-password", PASSWORD).await?;
    click(browser, "#signup-form button[type=submit]").await?;
    visible(browser, "#signed-in").await?;
    expect_text(browser, "#whoami-email", email).await
}

/// A reload finds the session in the cookies: still signed in as `email`, the current session
/// in the list is the one of who am I, and marked. The session and user ids shown.
async fn reload_while_logged_in(
    browser: &Client,
    email: &str,
) -> Result<(String, tokenauth_core::UserId), String> {
    browser.refresh().await.map_err(debug)?;
    visible(browser, "#signed-in").await?;
    expect_text(browser, "#whoami-email", email).await?;
    let session_id = text(browser, "#whoami-session").await?;
    let user_id = text(browser, "#whoami-id").await?.parse().map_err(debug)?;
    let current = find(browser, "#sessions li.current").await?;
    check(
        current
            .attr("data-session-id")
            .await
            .map_err(debug)?
            .as_deref()
            == Some(&session_id),
        "the current session in the list is the one of who am I",
    )?;
    check(
        current
            .text()
            .await
            .map_err(debug)?
            .contains("this session"),
        "the current session is marked",
    )?;
    Ok((session_id, user_id))
}

/// The tokens are in HttpOnly cookies: the browser has them, page scripts do not.
async fn tokens_are_hidden_from_scripts(browser: &Client) -> Result<(), String> {
    let page_cookies = browser
        .execute("return document.cookie", vec![])
        .await
        .map_err(debug)?;
    let page_cookies = page_cookies.as_str().unwrap_or_default();
    check(
        !page_cookies.contains("eyJ") && !page_cookies.contains("tokenauth"),
        &format!("document.cookie shows no token: {page_cookies:?}"),
    )
}

/// Silent refresh on page load. Off the UI (no timer runs), the server sees the access token
/// expire; a bare request says so; the UI, loaded again, refreshes and retries by itself and
/// shows the same `email` and `session_id`, with a token issued after the expiry.
async fn silent_refresh_on_page_load(
    server: &TestServer,
    browser: &Client,
    email: &str,
    session_id: &str,
) -> Result<(), String> {
    // WebDriver lists the cookies a page's URL gets: only on /v1/refresh both show.
    browser
        .goto(&server.url("/v1/refresh"))
        .await
        .map_err(debug)?;
    let (access, refresh) = token_cookies(browser).await?;
    check(
        access.is_some() && refresh.is_some(),
        "both token cookies are set",
    )?;
    server.advance(past_access_expiry(server));
    let bare = browser
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch('/v1/me', {headers: {'X-Token-Transport': 'cookie'}})
               .then(async r => done({status: r.status, body: await r.json()}));",
            vec![],
        )
        .await
        .map_err(debug)?;
    check(
        bare["status"] == 401 && bare["body"]["error"] == "token_expired",
        &format!("the expired access cookie is refused: {bare}"),
    )?;
    browser.goto(&server.url("/")).await.map_err(debug)?;
    visible(browser, "#signed-in").await?;
    expect_text(browser, "#whoami-email", email).await?;
    expect_text(browser, "#whoami-session", session_id).await?;
    no_error(browser).await?;
    issued_after_advance(server, browser).await
}

/// Silent refresh while the UI runs: expire again, then ask for the list. It is drawn again
/// without an error, with a token issued after the expiry, and the current session was used
/// (refreshed) after the expiry.
async fn silent_refresh_while_the_ui_runs(
    server: &TestServer,
    browser: &Client,
) -> Result<(), String> {
    server.advance(past_access_expiry(server));
    browser
        .execute(
            "document.querySelectorAll('#sessions li').forEach(li => li.dataset.stale = '1')",
            vec![],
        )
        .await
        .map_err(debug)?;
    click(browser, "#sessions-reload").await?;
    wait_for(browser, "the list is drawn again", |b| async move {
        Ok(b.find_all(Locator::Css("#sessions li[data-stale]"))
            .await
            .map_err(debug)?
            .is_empty()
            && !b
                .find_all(Locator::Css("#sessions li.current"))
                .await
                .map_err(debug)?
                .is_empty())
    })
    .await?;
    no_error(browser).await?;
    issued_after_advance(server, browser).await?;
    let last_used = find(browser, "#sessions li.current time:last-of-type")
        .await?
        .attr("datetime")
        .await
        .map_err(debug)?
        .unwrap_or_default();
    let last_used: jiff::Timestamp = last_used.parse().map_err(debug)?;
    check(
        last_used.as_millisecond() >= server.clock.now().as_millis(),
        "the session was used (refreshed) after the access token expired",
    )
}

/// Another device logs in as `email`; it shows up in the list and can be revoked from here.
/// Saves the screenshot `TOKENAUTH_UI_SCREENSHOT` asks for, with both sessions listed.
async fn revoke_another_session(
    server: &TestServer,
    browser: &Client,
    email: &str,
) -> Result<(), String> {
    let other = server
        .client
        .post(server.url("/v1/login"))
        .header("user-agent", "curl/8.11.1")
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .map_err(debug)?;
    check(other.status() == 200, "a second login")?;
    click(browser, "#sessions-reload").await?;
    wait_for_sessions(browser, "two sessions", 2).await?;
    if let Ok(path) = std::env::var("TOKENAUTH_UI_SCREENSHOT") {
        viewport(browser, 1100, 800).await?;
        let png = browser.screenshot().await.map_err(debug)?;
        std::fs::write(&path, png).map_err(debug)?;
        eprintln!("screenshot of the logged-in UI saved to {path}");
    }
    click(browser, "#sessions li:not(.current) button.revoke").await?;
    wait_for_sessions(browser, "one session left", 1).await?;
    no_error(browser).await
}

/// Log out: back to the forms, the cookies are gone, and a reload stays logged out.
async fn log_out(browser: &Client) -> Result<(), String> {
    click(browser, "#logout").await?;
    visible(browser, "#signed-out").await?;
    check(
        token_cookies(browser).await?.0.is_none(),
        "logout clears the access cookie",
    )?;
    browser.refresh().await.map_err(debug)?;
    visible(browser, "#signed-out").await?;
    no_error(browser).await
}

/// Logs in as `email` with the form, then logs out everywhere: back to the forms, also after
/// a reload.
async fn log_in_and_out_everywhere(browser: &Client, email: &str) -> Result<(), String> {
    fill(browser, "#email", email).await?;
    fill(browser, "#password", PASSWORD).await?;
    click(browser, "#login-form button[type=submit]").await?;
    visible(browser, "#signed-in").await?;
    expect_text(browser, "#whoami-email", email).await?;
    click(browser, "#logout-all").await?;
    visible(browser, "#signed-out").await?;
    browser.refresh().await.map_err(debug)?;
    visible(browser, "#signed-out").await?;
    no_error(browser).await
}

/// The access cookie holds a token issued at or after the server's current (advanced) time.
async fn issued_after_advance(server: &TestServer, browser: &Client) -> Result<(), String> {
    let (access, _) = token_cookies(browser).await?;
    let access = access.ok_or("no access cookie")?;
    let iat = jwt_parts(&access).1["iat"].as_i64().unwrap_or_default();
    check(
        iat >= server.clock.now().as_secs(),
        "the access cookie holds a token refreshed after the expiry",
    )
}

/// Resizes the window so that the page itself (the screenshot) is `width` x `height`.
async fn viewport(browser: &Client, width: u32, height: u32) -> Result<(), String> {
    browser
        .set_window_size(width, height)
        .await
        .map_err(debug)?;
    let page = browser
        .execute("return [window.innerWidth, window.innerHeight]", vec![])
        .await
        .map_err(debug)?;
    let inner = |i: usize| u32::try_from(page[i].as_u64().unwrap_or_default()).unwrap_or(0);
    browser
        .set_window_size(
            (2 * width).saturating_sub(inner(0)),
            (2 * height).saturating_sub(inner(1)),
        )
        .await
        .map_err(debug)
}

/// The values of the access and refresh cookies, checked to be HttpOnly.
async fn token_cookies(browser: &Client) -> Result<(Option<String>, Option<String>), String> {
    let mut access = None;
    let mut refresh = None;
    for cookie in browser.get_all_cookies().await.map_err(debug)? {
        let slot = match cookie.name() {
            "tokenauth_access" => &mut access,
            "tokenauth_refresh" => &mut refresh,
            _ => continue,
        };
        check(
            cookie.http_only() == Some(true),
            &format!("{} is HttpOnly", cookie.name()),
        )?;
        *slot = Some(cookie.value().to_owned());
    }
    Ok((access, refresh))
}

/// chromedriver on a free port, stopped (with its browsers) when dropped.
struct ChromeDriver {
    child: Child,
    port: u16,
}

impl ChromeDriver {
    async fn start() -> Self {
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Self { child, port };
        let deadline = Instant::now() + PATIENCE;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver listens on {port}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        driver
    }

    async fn browser(&self) -> Client {
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    "--window-size=1100,800",
                ],
            },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a Chromium session")
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // chromedriver's /shutdown quits the browsers it started; a kill alone would orphan them.
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
            let _ = stream.write_all(b"GET /shutdown HTTP/1.0\r\n\r\n");
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn debug(error: impl std::fmt::Debug) -> String {
    format!("{error:?}")
}

fn check(condition: bool, what: &str) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(format!("expected: {what}"))
    }
}

async fn find(browser: &Client, css: &str) -> Result<Element, String> {
    browser
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css(css))
        .await
        .map_err(|e| format!("{css}: {e:?}"))
}

/// Clicks the element `css` selects, once it is there.
async fn click(browser: &Client, css: &str) -> Result<(), String> {
    find(browser, css).await?.click().await.map_err(debug)
}

/// Waits until the sessions list has `count` entries (`what` names it for a timeout).
async fn wait_for_sessions(browser: &Client, what: &str, count: usize) -> Result<(), String> {
    wait_for(browser, what, |b| async move {
        Ok(b.find_all(Locator::Css("#sessions li"))
            .await
            .map_err(debug)?
            .len()
            == count)
    })
    .await
}

async fn text(browser: &Client, css: &str) -> Result<String, String> {
    find(browser, css).await?.text().await.map_err(debug)
}

async fn fill(browser: &Client, css: &str, value: &str) -> Result<(), String> {
    let input = find(browser, css).await?;
    input.clear().await.map_err(debug)?;
    input.send_keys(value).await.map_err(debug)
}

/// Waits until the element (a view) is shown: present without the `hidden` attribute.
async fn visible(browser: &Client, css: &str) -> Result<(), String> {
    find(browser, &format!("{css}:not([hidden])"))
        .await
        .map(drop)
}

async fn expect_text(browser: &Client, css: &str, expected: &str) -> Result<(), String> {
    let selector = css.to_owned();
    let wanted = expected.to_owned();
    wait_for(browser, &format!("{css} shows {expected:?}"), |b| {
        let (selector, wanted) = (selector.clone(), wanted.clone());
        async move { Ok(text(&b, &selector).await? == wanted) }
    })
    .await
}

async fn no_error(browser: &Client) -> Result<(), String> {
    let error = find(browser, "#error").await?;
    if error.attr("hidden").await.map_err(debug)?.is_some() {
        return Ok(());
    }
    Err(format!(
        "the UI shows an error: {}",
        error.text().await.map_err(debug)?
    ))
}

/// Polls `ready` until it says true, for at most [`PATIENCE`].
async fn wait_for<F, Fut>(browser: &Client, what: &str, ready: F) -> Result<(), String>
where
    F: Fn(Client) -> Fut,
    Fut: std::future::Future<Output = Result<bool, String>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if ready(browser.clone()).await? {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for: {what}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
