use super::*;
use crate::web_config::tests::HASH;

#[test]
fn cache_keys_change_with_every_input() {
    let base = cache_key("prometheus", b"secret", HASH);
    // Each row changes one input: the key must differ from the base.
    let other_hash = HASH.replace("YvA", "YvB");
    let cases: [(&str, &[u8], &str); 5] = [
        ("prometheus", b"secret2", HASH),
        ("prometheus2", b"secret", HASH),
        ("prometheus", b"secret", &other_hash),
        ("prometheu", b"ssecret", HASH),
        ("", b"prometheus:secret", HASH),
    ];
    for (user, password, hash) in cases {
        assert_ne!(
            cache_key(user, password, hash),
            base,
            "{user} {password:?} {hash}"
        );
    }
    assert_eq!(
        cache_key("prometheus", b"secret", HASH),
        base,
        "deterministic"
    );
}

#[test]
fn cache_is_bounded() {
    let mut cache = VerifiedCache::default();
    for i in 0..(AUTH_CACHE_CAPACITY * 3) {
        cache.insert(cache_key("u", i.to_string().as_bytes(), HASH));
        assert!(cache.len() <= AUTH_CACHE_CAPACITY);
    }
    let last = cache_key(
        "u",
        (AUTH_CACHE_CAPACITY * 3 - 1).to_string().as_bytes(),
        HASH,
    );
    assert!(cache.contains(&last));
}

#[test]
fn basic_credentials_parsing() {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    // (header, expected user and password)
    type Parsed<'a> = Option<(&'a str, &'a [u8])>;
    let cases: Vec<(String, Parsed)> = vec![
        (
            format!("Basic {}", b64("prometheus:secret")),
            Some(("prometheus", b"secret")),
        ),
        (format!("basic {}", b64("u:pa:ss")), Some(("u", b"pa:ss"))),
        (format!("Basic {}", b64("u:")), Some(("u", b""))),
        (format!("Basic {}", b64("nocolon")), None),
        (format!("Bearer {}", b64("u:p")), None),
        ("Basic !!!".into(), None),
        ("Basic".into(), None),
    ];
    for (header, want) in cases {
        let got = basic_credentials(header.as_bytes());
        assert_eq!(
            got.as_ref().map(|(u, p)| (u.as_str(), p.as_slice())),
            want,
            "{header}"
        );
    }
}

#[tokio::test]
async fn auth_verifies_and_caches() {
    let auth = Auth::new(BTreeMap::from([("prometheus".into(), HASH.into())])).unwrap();
    let headers = |user: &str, pass: &str| {
        let mut h = HeaderMap::new();
        let v = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {v}")).unwrap(),
        );
        h
    };
    assert!(!auth.allows(&HeaderMap::new()).await);
    assert!(!auth.allows(&headers("prometheus", "wrong")).await);
    assert!(!auth.allows(&headers("nobody", "secret")).await);
    assert!(auth.lock().is_empty(), "failures are not cached");
    assert!(auth.allows(&headers("prometheus", "secret")).await);
    assert_eq!(auth.lock().len(), 1);
    assert!(
        auth.allows(&headers("prometheus", "secret")).await,
        "cached"
    );
    assert_eq!(auth.lock().len(), 1);
    assert!(Auth::new(BTreeMap::new()).is_none());
    assert!(
        gate(Some(&auth), "/healthz", &HeaderMap::new())
            .await
            .is_none()
    );
    assert!(
        gate(Some(&auth), "/readyz", &HeaderMap::new())
            .await
            .is_none()
    );
    let denied = gate(Some(&auth), "/metrics", &HeaderMap::new())
        .await
        .unwrap();
    assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(denied.headers().get(WWW_AUTHENTICATE).unwrap(), CHALLENGE);
    assert!(gate(None, "/metrics", &HeaderMap::new()).await.is_none());
}
