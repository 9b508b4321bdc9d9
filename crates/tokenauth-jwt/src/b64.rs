//! Strict base64url without padding (RFC 7515 §2): `=` and non-canonical
//! trailing bits are rejected. Uses base64's runtime-detected SIMD engine
//! (same config as `URL_SAFE_NO_PAD`) where available.

use base64::Engine as _;
use base64::engine::general_purpose::NO_PAD;

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
static URL_SAFE_NO_PAD: std::sync::LazyLock<base64::engine::Simd> =
    std::sync::LazyLock::new(|| base64::engine::Simd::url_safe(NO_PAD));
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Appends the base64url (no padding) encoding of `input` to `out`.
pub(crate) fn encode_into(input: &[u8], out: &mut String) {
    URL_SAFE_NO_PAD.encode_string(input, out);
}

/// Encodes `input` as base64url without padding.
pub(crate) fn encode(input: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(input)
}

/// Decodes strict base64url without padding.
pub(crate) fn decode(input: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(input).ok()
}

/// Decodes into `buf`, returning the filled prefix; `None` on bad input or
/// if `buf` may be too small.
pub(crate) fn decode_into<'b>(input: &str, buf: &'b mut [u8]) -> Option<&'b [u8]> {
    let n = URL_SAFE_NO_PAD.decode_slice(input, buf).ok()?;
    buf.get(..n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_alphabet_and_padding() {
        assert_eq!(decode("YWI").unwrap(), b"ab");
        assert!(decode("YWI=").is_none());
        assert!(decode("YW+/").is_none());
        assert!(decode("YWJ").is_none(), "non-canonical trailing bits");
        assert_eq!(encode(b"\xfb\xff"), "-_8");
        let mut buf = [0u8; 3];
        assert_eq!(decode_into("YWI", &mut buf).unwrap(), b"ab");
        assert!(decode_into("YWJjZGVm", &mut buf).is_none());
    }
}
