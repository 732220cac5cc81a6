//! Basic auth over `basic_auth_users`: the `Authorization: Basic` header, bcrypt off the
//! runtime thread with a bounded cache of successful verifications, and the 401 answer.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use hyper::{HeaderMap, Response, StatusCode};

/// The `WWW-Authenticate` challenge of a 401 (realm `irsa-doctor`).
pub const CHALLENGE: &str = "Basic realm=\"irsa-doctor\"";
/// Paths that never need credentials: the kubelet's probes cannot send any.
pub const OPEN_PATHS: [&str; 3] = ["/healthz", "/readyz", "/startupz"];
/// Successful verifications remembered; past this the cache starts over (bounded memory).
pub const AUTH_CACHE_CAPACITY: usize = 256;
/// bcrypt runs at once: each takes tens of milliseconds of a core by design, so an
/// unauthenticated flood queues here instead of occupying every blocking thread.
const MAX_CONCURRENT_BCRYPT: usize = 2;
/// A valid bcrypt hash (of a random password) verified for unknown users, so that a wrong
/// user name costs as much time as a wrong password and does not reveal which users exist.
const DUMMY_HASH: &str = "$2y$10$sK1B8D1VpqJvcReIvbQ9TOR744LfGooDvU/gtMNt6JDzZfN9INuu2";

/// The cache key of one successful verification: a digest of the user, the presented
/// password and the stored hash, so a changed password or a changed hash never hits, and
/// the cache never holds a password.
pub fn cache_key(user: &str, password: &[u8], stored_hash: &str) -> [u8; 32] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
    for part in [user.as_bytes(), password, stored_hash.as_bytes()] {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part);
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(ctx.finish().as_ref());
    key
}

/// `user:password` from an `Authorization: Basic` header value, if it is one.
pub fn basic_credentials(header: &[u8]) -> Option<(String, Vec<u8>)> {
    let header = std::str::from_utf8(header).ok()?.trim();
    let (scheme, token) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

/// A bounded set of cache keys; full means start over (simple, and never unbounded).
#[derive(Debug, Default)]
pub struct VerifiedCache {
    keys: HashSet<[u8; 32]>,
}

impl VerifiedCache {
    /// Whether `key` was verified before.
    pub fn contains(&self, key: &[u8; 32]) -> bool {
        self.keys.contains(key)
    }

    /// Remembers `key`, dropping everything first when full.
    pub fn insert(&mut self, key: [u8; 32]) {
        if self.keys.len() >= AUTH_CACHE_CAPACITY {
            self.keys.clear();
        }
        self.keys.insert(key);
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Basic auth over `basic_auth_users`, with the verification cache.
pub struct Auth {
    users: BTreeMap<String, String>,
    cache: Mutex<VerifiedCache>,
    bcrypt_slots: Arc<tokio::sync::Semaphore>,
}

impl Auth {
    /// Basic auth for `users` (user → bcrypt hash); `None` when there are none.
    pub fn new(users: BTreeMap<String, String>) -> Option<Auth> {
        (!users.is_empty()).then(|| Auth {
            users,
            cache: Mutex::new(VerifiedCache::default()),
            bcrypt_slots: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_BCRYPT)),
        })
    }

    /// Whether the request's `Authorization` header names a user with the right password.
    pub async fn allows(&self, headers: &HeaderMap) -> bool {
        let Some((user, password)) = headers
            .get(AUTHORIZATION)
            .and_then(|v| basic_credentials(v.as_bytes()))
        else {
            return false;
        };
        let (known, hash) = match self.users.get(&user) {
            Some(h) => (true, h.clone()),
            None => (false, DUMMY_HASH.to_owned()),
        };
        let key = cache_key(&user, &password, &hash);
        if known && self.lock().contains(&key) {
            return true;
        }
        // bcrypt is CPU-bound for tens of milliseconds: off the (single) runtime thread, so
        // /healthz and scrapes keep being answered while it runs.
        let Ok(_slot) = self.bcrypt_slots.acquire().await else {
            return false;
        };
        let verified = tokio::task::spawn_blocking(move || bcrypt::verify(&password, &hash))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(false);
        let ok = known && verified;
        if ok {
            self.lock().insert(key);
        }
        ok
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VerifiedCache> {
        // A poisoned cache only ever held digests; its contents are still valid.
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The answer to a request without valid credentials.
pub fn unauthorized() -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(b"unauthorized\n")));
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static(CHALLENGE));
    r
}

/// The HTTP server's gate: `Some(401)` for a request that needs credentials and lacks them.
pub async fn gate(
    auth: Option<&Auth>,
    path: &str,
    headers: &HeaderMap,
) -> Option<Response<Full<Bytes>>> {
    let auth = auth?;
    if OPEN_PATHS.contains(&path) || auth.allows(headers).await {
        return None;
    }
    Some(unauthorized())
}

#[cfg(test)]
mod tests;
