//! The 10,000 most common passwords, compiled into the binary (origin and licence in
//! `data/README.md`), refused as new passwords.

use std::collections::HashSet;
use std::sync::LazyLock;

/// The list, one password per line, lowercase, in NFKC.
const LIST: &str = include_str!("../data/common-passwords-10k.txt");

/// How many passwords the list holds.
pub const COMMON_PASSWORD_COUNT: usize = 10_000;

/// Built on first use (about a millisecond), then shared.
static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| LIST.lines().collect());

/// Whether `password` (already in NFKC, as [`crate::user::Password`] holds it) is one of the
/// 10,000 most common passwords, ignoring case.
pub fn is_common(password: &str) -> bool {
    if password.bytes().all(|b| !b.is_ascii_uppercase()) {
        return COMMON.contains(password);
    }
    // The list is lowercase, so folding the candidate makes the lookup case-insensitive; the
    // folded copy is wiped when dropped, like the password itself.
    let folded = zeroize::Zeroizing::new(password.to_lowercase());
    COMMON.contains(folded.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_holds_ten_thousand_distinct_lowercase_nfkc_entries() {
        use unicode_normalization::UnicodeNormalization as _;
        let lines: Vec<&str> = LIST.lines().collect();
        assert_eq!(lines.len(), COMMON_PASSWORD_COUNT);
        assert_eq!(COMMON.len(), COMMON_PASSWORD_COUNT, "no duplicates");
        for line in lines {
            assert!(!line.is_empty() && line.trim() == line, "{line:?}");
            assert_eq!(line.to_lowercase(), line);
            assert_eq!(line.nfkc().collect::<String>(), line);
        }
    }

    #[test]
    #[ignore = "a measurement: cargo test -p tokenauth-core --release -- --ignored --nocapture"]
    fn measure_build_and_lookup() {
        let started = std::time::Instant::now();
        let set: HashSet<&str> = LIST.lines().collect();
        let built = started.elapsed();
        let _ = is_common("warm up the shared set");
        let started = std::time::Instant::now();
        let mut hits = 0;
        for _ in 0..100 {
            for candidate in ["correct horse battery staple", "Password123", "qwertyuiop"] {
                hits += usize::from(is_common(candidate));
            }
        }
        let per_lookup = started.elapsed() / 300;
        println!(
            "build {built:?} ({} entries), lookup {per_lookup:?}, {hits} hits",
            set.len()
        );
    }

    #[test]
    fn lookups_ignore_case() {
        assert!(is_common("password123"));
        assert!(is_common("PassWord123"));
        assert!(is_common("QWERTYUIOP"));
        assert!(!is_common("correct horse battery staple"));
        assert!(!is_common("password123 but longer"));
        assert!(!is_common(""));
    }
}
