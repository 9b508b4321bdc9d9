//! How long a fetched JWKS may be used: `Cache-Control: max-age` minus `Age`.

use std::time::Duration;

use reqwest::header::{AGE, CACHE_CONTROL, HeaderMap};

/// The freshness lifetime the response grants, if it states one.
///
/// `max-age=N` (case-insensitive, quotes tolerated) gives `N` seconds less
/// any `Age`; `no-store` or `no-cache` give zero. With several `max-age`
/// directives the smallest wins. `None` when no directive applies, so the
/// caller uses its default.
pub(crate) fn freshness(headers: &HeaderMap) -> Option<Duration> {
    let mut lifetime: Option<u64> = None;
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',') {
            let directive = directive.trim();
            let seconds = match directive.split_once('=') {
                Some((name, arg)) if name.trim().eq_ignore_ascii_case("max-age") => {
                    match arg.trim().trim_matches('"').parse::<u64>() {
                        Ok(seconds) => seconds,
                        Err(_) => continue,
                    }
                }
                None if directive.eq_ignore_ascii_case("no-store")
                    || directive.eq_ignore_ascii_case("no-cache") =>
                {
                    0
                }
                _ => continue,
            };
            lifetime = Some(lifetime.map_or(seconds, |l| l.min(seconds)));
        }
    }
    let age = headers
        .get(AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    lifetime.map(|l| Duration::from_secs(l.saturating_sub(age)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn with(cache: &[&'static str], age: Option<&'static str>) -> Option<Duration> {
        let mut headers = HeaderMap::new();
        for value in cache {
            headers.append(CACHE_CONTROL, HeaderValue::from_static(value));
        }
        if let Some(age) = age {
            headers.insert(AGE, HeaderValue::from_static(age));
        }
        freshness(&headers)
    }

    #[test]
    fn directives() {
        let secs = |s| Some(Duration::from_secs(s));
        assert_eq!(with(&["public, max-age=300"], None), secs(300));
        assert_eq!(with(&["Max-Age = \"60\""], None), secs(60));
        assert_eq!(with(&["max-age=300", "max-age=30"], None), secs(30));
        assert_eq!(with(&["public, max-age=300"], Some("100")), secs(200));
        assert_eq!(with(&["max-age=30"], Some("100")), secs(0));
        assert_eq!(with(&["no-store"], None), secs(0));
        assert_eq!(with(&["public", "s-maxage=9"], None), None);
        assert_eq!(with(&["max-age=-1, max-age=x"], None), None);
        assert_eq!(with(&[], None), None);
    }
}
