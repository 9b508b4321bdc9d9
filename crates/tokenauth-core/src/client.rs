//! Registered API clients: services that call `/oauth2/revoke` and `/oauth2/introspect`. Each
//! has a public id and a 256-bit random secret that is shown once and stored only as its
//! SHA-256 hash (the secret is high-entropy, so a fast hash is enough). What a client may do
//! beyond acting on tokens issued to it is its set of [`ClientPermission`]s.

use std::fmt;

use aws_lc_rs::{constant_time, digest, rand};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::Zeroizing;

use crate::clock::Timestamp;
use crate::error::AuthError;

/// Random bytes in a client secret (256 bits).
const SECRET_BYTES: usize = 32;
/// Random bytes in a client id (128 bits).
const ID_BYTES: usize = 16;
/// Longest accepted client id or secret, in bytes; longer input is rejected before hashing.
pub const MAX_CREDENTIAL_LEN: usize = 256;
/// Longest accepted client name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// A registered API client, every stored column.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiClient {
    /// Public identifier (`client_id`).
    pub client_id: String,
    /// Human-readable name given at registration.
    pub name: String,
    /// SHA-256 of the secret.
    pub secret_hash: ClientSecretHash,
    /// Registration time.
    pub created_at: Timestamp,
    /// When the client was disabled, if it was; a disabled client cannot authenticate.
    pub disabled_at: Option<Timestamp>,
    /// What the client may do beyond acting on tokens issued to it.
    pub permissions: ClientPermissions,
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient")
            .field("client_id", &self.client_id)
            .field("name", &self.name)
            .field("secret_hash", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("disabled_at", &self.disabled_at)
            .field("permissions", &self.permissions)
            .finish()
    }
}

impl ApiClient {
    /// Whether the client holds `permission`.
    pub fn may(&self, permission: ClientPermission) -> bool {
        self.permissions.contains(permission)
    }

    /// Whether the client may use `permission` on a token issued to `issued_to` (`None`: a
    /// first-party session, issued to no client): always for its own tokens, otherwise only
    /// with the permission. The one rule every OAuth endpoint asks.
    pub fn may_act_on(&self, permission: ClientPermission, issued_to: Option<&str>) -> bool {
        issued_to == Some(self.client_id.as_str()) || self.may(permission)
    }

    /// Whether `secret` is this client's secret and the client is enabled. Compares the hashes
    /// in constant time.
    pub fn accepts(&self, secret: &str) -> bool {
        self.disabled_at.is_none()
            && secret.len() <= MAX_CREDENTIAL_LEN
            && constant_time::verify_slices_are_equal(
                ClientSecretHash::of(secret).as_bytes(),
                self.secret_hash.as_bytes(),
            )
            .is_ok()
    }
}

/// Something a client may do to tokens that were not issued to it. First-party sessions (sign-up,
/// login) are issued to no client, so without these a client can revoke and introspect nothing
/// (RFC 7009 §2.1: a client may revoke only its own tokens).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ClientPermission {
    /// `/oauth2/introspect` answers about any token (a resource server's check).
    Introspect,
    /// `/oauth2/revoke` revokes the session of any token (an operator's or incident tool's).
    RevokeAny,
    /// `GET /v1/revocations`: the revocation feed (resource servers verifying tokens locally).
    Revocations,
}

impl ClientPermission {
    /// Every permission, in the order they are listed.
    pub const ALL: [ClientPermission; 3] = [
        ClientPermission::Introspect,
        ClientPermission::RevokeAny,
        ClientPermission::Revocations,
    ];

    /// The permission's name, as stored, printed and given to `--permission`.
    pub const fn name(self) -> &'static str {
        match self {
            ClientPermission::Introspect => "introspect",
            ClientPermission::RevokeAny => "revoke_any",
            ClientPermission::Revocations => "revocations",
        }
    }

    /// The permission called `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    const fn bit(self) -> u8 {
        match self {
            ClientPermission::Introspect => 1,
            ClientPermission::RevokeAny => 2,
            ClientPermission::Revocations => 4,
        }
    }
}

impl fmt::Display for ClientPermission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of [`ClientPermission`]s; empty by default.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientPermissions(u8);

impl ClientPermissions {
    /// No permission: the client acts only on tokens issued to it.
    pub const NONE: Self = Self(0);

    /// Every permission.
    pub fn all() -> Self {
        ClientPermission::ALL.into_iter().collect()
    }

    /// Whether `permission` is in the set.
    pub const fn contains(self, permission: ClientPermission) -> bool {
        self.0 & permission.bit() != 0
    }

    /// The permissions in the set, in [`ClientPermission::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = ClientPermission> {
        ClientPermission::ALL
            .into_iter()
            .filter(move |p| self.contains(*p))
    }

    /// The names, space-separated in [`ClientPermission::ALL`] order (empty for none): the
    /// stored form.
    pub fn to_names(self) -> String {
        self.iter()
            .map(ClientPermission::name)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Reads the stored form back.
    ///
    /// # Errors
    /// The first name that is no permission.
    pub fn from_names(names: &str) -> Result<Self, String> {
        names
            .split_ascii_whitespace()
            .map(|name| ClientPermission::from_name(name).ok_or_else(|| name.to_owned()))
            .collect()
    }
}

impl FromIterator<ClientPermission> for ClientPermissions {
    fn from_iter<I: IntoIterator<Item = ClientPermission>>(iter: I) -> Self {
        Self(iter.into_iter().fold(0, |bits, p| bits | p.bit()))
    }
}

impl fmt::Debug for ClientPermissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// A client secret in plaintext, as shown once at registration. Wiped on drop, never printed
/// by `Debug`.
pub struct ClientSecret(Zeroizing<String>);

impl ClientSecret {
    /// A new random secret.
    ///
    /// # Errors
    /// [`AuthError::Internal`] if the system's random source fails.
    pub fn generate() -> Result<Self, AuthError> {
        random_text::<SECRET_BYTES>().map(Self)
    }

    /// The secret's text, to show to the operator once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash under which the secret is stored.
    pub fn hash(&self) -> ClientSecretHash {
        ClientSecretHash::of(&self.0)
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// The SHA-256 hash of a client secret: the only form in which secrets are stored.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ClientSecretHash([u8; 32]);

impl ClientSecretHash {
    /// The hash of `secret`.
    pub fn of(secret: &str) -> Self {
        let digest = digest::digest(&digest::SHA256, secret.as_bytes());
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest.as_ref());
        Self(bytes)
    }

    /// Wraps 32 bytes read back from storage.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 bytes, for storage.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for ClientSecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecretHash(<redacted>)")
    }
}

/// A new client id: `tac_` and 128 random bits in base64url.
///
/// # Errors
/// [`AuthError::Internal`] if the system's random source fails.
pub fn generate_client_id() -> Result<String, AuthError> {
    Ok(format!("tac_{}", random_text::<ID_BYTES>()?.as_str()))
}

/// Checks a client name given at registration: 1 to [`MAX_NAME_CHARS`] characters, no control
/// characters; surrounding whitespace is trimmed.
///
/// # Errors
/// [`AuthError::InvalidInput`] otherwise.
pub fn validate_client_name(name: &str) -> Result<String, AuthError> {
    let name = name.trim();
    let count = name.chars().count();
    if count == 0 || count > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(AuthError::InvalidInput {
            field: "name",
            reason: format!("must be 1-{MAX_NAME_CHARS} characters without control characters"),
        });
    }
    Ok(name.to_owned())
}

fn random_text<const N: usize>() -> Result<Zeroizing<String>, AuthError> {
    let mut bytes = Zeroizing::new([0u8; N]);
    rand::fill(bytes.as_mut()).map_err(|_| AuthError::Internal("random source failed".into()))?;
    Ok(Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes.as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_accepts_only_its_own_secret_while_enabled() {
        let secret = ClientSecret::generate().unwrap_or_else(|_| unreachable!());
        let mut client = ApiClient {
            client_id: "tac_x".into(),
            name: "x".into(),
            secret_hash: secret.hash(),
            created_at: Timestamp::from_millis(0),
            disabled_at: None,
            permissions: ClientPermissions::NONE,
        };
        assert!(client.accepts(secret.expose()));
        assert!(!client.accepts("wrong"));
        assert!(!client.accepts(&"a".repeat(MAX_CREDENTIAL_LEN + 1)));
        client.disabled_at = Some(Timestamp::from_millis(1));
        assert!(!client.accepts(secret.expose()));
        assert!(!format!("{client:?}").contains(secret.expose()));
    }

    #[test]
    fn a_client_acts_on_its_own_tokens_and_on_others_only_with_the_permission() {
        let secret = ClientSecret::generate().unwrap_or_else(|_| unreachable!());
        let mut client = ApiClient {
            client_id: "tac_x".into(),
            name: "x".into(),
            secret_hash: secret.hash(),
            created_at: Timestamp::from_millis(0),
            disabled_at: None,
            permissions: ClientPermissions::NONE,
        };
        for permission in ClientPermission::ALL {
            assert!(client.may_act_on(permission, Some("tac_x")));
            assert!(!client.may_act_on(permission, Some("tac_y")));
            assert!(!client.may_act_on(permission, None));
        }
        client.permissions = [ClientPermission::Introspect].into_iter().collect();
        assert!(client.may_act_on(ClientPermission::Introspect, None));
        assert!(!client.may_act_on(ClientPermission::RevokeAny, None));
    }

    #[test]
    fn permissions_round_trip_through_their_stored_names() {
        let some: ClientPermissions = [ClientPermission::Revocations, ClientPermission::Introspect]
            .into_iter()
            .collect();
        assert_eq!(some.to_names(), "introspect revocations");
        assert_eq!(ClientPermissions::from_names(&some.to_names()), Ok(some));
        assert!(some.contains(ClientPermission::Introspect));
        assert!(!some.contains(ClientPermission::RevokeAny));
        assert_eq!(
            ClientPermissions::from_names(""),
            Ok(ClientPermissions::NONE)
        );
        assert_eq!(
            ClientPermissions::from_names(" introspect  revoke_any revocations "),
            Ok(ClientPermissions::all())
        );
        assert_eq!(
            ClientPermissions::from_names("introspect admin"),
            Err("admin".to_owned())
        );
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            validate_client_name("  billing ").ok().as_deref(),
            Some("billing")
        );
        assert!(validate_client_name("   ").is_err());
        assert!(validate_client_name("a\nb").is_err());
        assert!(validate_client_name(&"x".repeat(MAX_NAME_CHARS + 1)).is_err());
    }
}
