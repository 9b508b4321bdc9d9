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

    let https =
        TestServer::start_with(Options::default().with("issuer", "https://auth.example.test"))
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
    let server = TestServer::start_with(
        Options::default()
            .with("access_token_ttl", "3s")
            .with("refresh_reuse_grace", "5m"),
    )
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
    let ui = server.url("/");
    let settings = server.state.auth.settings();
    // Past the access token's lifetime and the verifier's leeway: the server calls it expired.
    let expire = settings.access_token_ttl + settings.clock_leeway + Duration::from_secs(1);

    *step = "sign up";
    browser.goto(&ui).await.map_err(debug)?;
    visible(browser, "#signed-out").await?;
    fill(browser, "#signup-email", email).await?;
    fill(browser, "#signup-password", PASSWORD).await?;
    find(browser, "#signup-form button[type=submit]")
        .await?
        .click()
        .await
        .map_err(debug)?;
    visible(browser, "#signed-in").await?;
    expect_text(browser, "#whoami-email", email).await?;

    *step = "reload while logged in";
    // A reload finds the session in the cookies.
    browser.refresh().await.map_err(debug)?;
    visible(browser, "#signed-in").await?;
    expect_text(browser, "#whoami-email", email).await?;
    let session_id = text(browser, "#whoami-session").await?;
    let user_id: tokenauth_core::UserId =
        text(browser, "#whoami-id").await?.parse().map_err(debug)?;
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

    *step = "tokens hidden from scripts";
    // The tokens are in HttpOnly cookies: the browser has them, page scripts do not.
    let page_cookies = browser
        .execute("return document.cookie", vec![])
        .await
        .map_err(debug)?;
    let page_cookies = page_cookies.as_str().unwrap_or_default();
    check(
        !page_cookies.contains("eyJ") && !page_cookies.contains("tokenauth"),
        &format!("document.cookie shows no token: {page_cookies:?}"),
    )?;

    *step = "silent refresh on page load";
    // Silent refresh on page load. Off the UI (no timer runs), the server sees the access token
    // expire; a bare request says so; the UI, loaded again, refreshes and retries by itself.
    // (WebDriver lists the cookies a page's URL gets: only on /v1/refresh both show.)
    browser
        .goto(&server.url("/v1/refresh"))
        .await
        .map_err(debug)?;
    let (access, refresh) = token_cookies(browser).await?;
    check(
        access.is_some() && refresh.is_some(),
        "both token cookies are set",
    )?;
    server.advance(expire);
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
    browser.goto(&ui).await.map_err(debug)?;
    visible(browser, "#signed-in").await?;
    expect_text(browser, "#whoami-email", email).await?;
    expect_text(browser, "#whoami-session", &session_id).await?;
    no_error(browser).await?;
    issued_after_advance(server, browser).await?;

    *step = "silent refresh while the UI runs";
    // Silent refresh while the UI runs: expire again, then ask for the list.
    server.advance(expire);
    browser
        .execute(
            "document.querySelectorAll('#sessions li').forEach(li => li.dataset.stale = '1')",
            vec![],
        )
        .await
        .map_err(debug)?;
    find(browser, "#sessions-reload")
        .await?
        .click()
        .await
        .map_err(debug)?;
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
    )?;

    *step = "revoke another session";
    // Another device logs in; it shows up and can be revoked from here.
    let other = server
        .client
        .post(server.url("/v1/login"))
        .header("user-agent", "curl/8.11.1")
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .map_err(debug)?;
    check(other.status() == 200, "a second login")?;
    find(browser, "#sessions-reload")
        .await?
        .click()
        .await
        .map_err(debug)?;
    wait_for(browser, "two sessions", |b| async move {
        Ok(b.find_all(Locator::Css("#sessions li"))
            .await
            .map_err(debug)?
            .len()
            == 2)
    })
    .await?;
    if let Ok(path) = std::env::var("TOKENAUTH_UI_SCREENSHOT") {
        viewport(browser, 1100, 800).await?;
        let png = browser.screenshot().await.map_err(debug)?;
        std::fs::write(&path, png).map_err(debug)?;
        eprintln!("screenshot of the logged-in UI saved to {path}");
    }
    find(browser, "#sessions li:not(.current) button.revoke")
        .await?
        .click()
        .await
        .map_err(debug)?;
    wait_for(browser, "one session left", |b| async move {
        Ok(b.find_all(Locator::Css("#sessions li"))
            .await
            .map_err(debug)?
            .len()
            == 1)
    })
    .await?;
    no_error(browser).await?;

    *step = "log out";
    // Log out: back to the forms, the cookies are gone, and a reload stays logged out.
    find(browser, "#logout")
        .await?
        .click()
        .await
        .map_err(debug)?;
    visible(browser, "#signed-out").await?;
    check(
        token_cookies(browser).await?.0.is_none(),
        "logout clears the access cookie",
    )?;
    browser.refresh().await.map_err(debug)?;
    visible(browser, "#signed-out").await?;
    no_error(browser).await?;

    *step = "log in, log out everywhere";
    // Log in with the form, then log out everywhere.
    fill(browser, "#email", email).await?;
    fill(browser, "#password", PASSWORD).await?;
    find(browser, "#login-form button[type=submit]")
        .await?
        .click()
        .await
        .map_err(debug)?;
    visible(browser, "#signed-in").await?;
    expect_text(browser, "#whoami-email", email).await?;
    find(browser, "#logout-all")
        .await?
        .click()
        .await
        .map_err(debug)?;
    visible(browser, "#signed-out").await?;
    browser.refresh().await.map_err(debug)?;
    visible(browser, "#signed-out").await?;
    no_error(browser).await?;
    let sessions = server.state.auth.sessions(user_id).await.map_err(debug)?;
    check(
        sessions.is_empty(),
        "no session is left after logging out everywhere",
    )?;
    Ok(())
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
