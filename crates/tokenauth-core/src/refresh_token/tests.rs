//! The token format: what makes a token, what recognises it, and that nothing else does.

use super::*;

fn secret() -> RotationSecret {
    RotationSecret::new(&[1; 32])
}

fn session() -> SessionId {
    SessionId::from_uuid(Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef))
}

/// The 56 bytes of a token.
fn decoded(token: &RefreshToken) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(token.expose()).expect("base64url")
}

fn encoded(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `text` is refused as an invalid token.
fn refused(text: &str) -> bool {
    matches!(secret().verify(text), Err(AuthError::InvalidToken))
}

#[test]
fn a_token_names_its_session_and_generation() {
    for generation in [0, 1, 2, 1 << 40, u64::MAX] {
        let token = secret().token(session(), generation);
        assert_eq!(token.expose().len(), TOKEN_CHARS);
        assert!(
            token
                .expose()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(
            secret().verify(token.expose()).ok(),
            Some(PresentedRefreshToken::Session {
                session_id: session(),
                generation,
            })
        );
        let bytes = decoded(&token);
        assert_eq!(&bytes[..16], session().as_uuid().as_bytes());
        assert_eq!(&bytes[16..24], &generation.to_be_bytes());
    }
}

#[test]
fn tokens_are_deterministic_and_differ_by_secret_session_and_generation() {
    let token = |secret: &RotationSecret, session: SessionId, generation: u64| {
        secret.token(session, generation).expose().to_owned()
    };
    let (one, two) = (secret(), RotationSecret::new(&[2; 32]));
    let other = SessionId::from_uuid(Uuid::from_u128(7));
    let base = token(&one, session(), 3);
    assert_eq!(base, token(&one, session(), 3));
    for different in [
        token(&two, session(), 3),
        token(&one, other, 3),
        token(&one, session(), 4),
    ] {
        assert_ne!(base, different);
    }
}

#[test]
fn every_altered_byte_is_refused() {
    let token = secret().token(session(), 5);
    let bytes = decoded(&token);
    for index in 0..bytes.len() {
        for flip in [0x01, 0x80, 0xff] {
            let mut altered = bytes.clone();
            altered[index] ^= flip;
            assert!(refused(&encoded(&altered)), "byte {index} ^ {flip:#04x}");
        }
    }
}

#[test]
fn a_token_made_under_another_secret_is_refused() {
    let foreign = RotationSecret::new(&[2; 32]).token(session(), 0);
    assert!(refused(foreign.expose()));
}

#[test]
fn another_session_or_generation_under_the_same_tag_is_refused() {
    let bytes = decoded(&secret().token(session(), 5));
    let mut moved = bytes.clone();
    moved[..16].copy_from_slice(Uuid::from_u128(9).as_bytes());
    let mut later = bytes;
    later[16..24].copy_from_slice(&6_u64.to_be_bytes());
    for forged in [moved, later] {
        assert!(refused(&encoded(&forged)));
    }
}

#[test]
fn malformed_tokens_are_refused() {
    let token = secret().token(session(), 1);
    let text = token.expose();
    // The last character holds two padding bits, which must be zero.
    let last = text.as_bytes()[TOKEN_CHARS - 1];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let value = alphabet
        .iter()
        .position(|&c| c == last)
        .expect("in alphabet");
    let non_canonical = format!(
        "{}{}",
        &text[..TOKEN_CHARS - 1],
        char::from(alphabet[value | 1])
    );
    for bad in [
        String::new(),
        "short".to_owned(),
        text[..TOKEN_CHARS - 1].to_owned(),
        format!("{text}A"),
        format!("{}=", &text[..TOKEN_CHARS - 1]),
        format!("{}+", &text[..TOKEN_CHARS - 1]),
        format!("{}/", &text[..TOKEN_CHARS - 1]),
        format!("{}é", &text[..TOKEN_CHARS - 2]),
        "a".repeat(44),
        format!("{}=", "a".repeat(42)),
        "é".repeat(22),
        non_canonical,
    ] {
        assert!(refused(&bad), "{bad:?}");
    }
}

#[test]
fn a_legacy_token_is_known_by_its_hash() {
    let legacy = "A".repeat(LEGACY_TOKEN_CHARS);
    assert_eq!(
        secret().verify(&legacy).ok(),
        Some(PresentedRefreshToken::Legacy(RefreshTokenHash::of(&legacy)))
    );
    assert_ne!(
        RefreshTokenHash::of(&legacy),
        RefreshTokenHash::of(&"B".repeat(LEGACY_TOKEN_CHARS))
    );
}

#[test]
fn debug_never_shows_the_token_or_the_secret() {
    let token = secret().token(session(), 0);
    assert!(!format!("{token:?}").contains(token.expose()));
    assert_eq!(format!("{:?}", secret()), "RotationSecret(<redacted>)");
}
