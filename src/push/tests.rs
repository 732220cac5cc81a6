use super::*;

const GROUP: &str = "/metrics/job/irsa-doctor/namespace/demo/workload/db-backup";

/// The `user:password` a target sends, decoded from its header.
fn credentials(t: &Target) -> Option<String> {
    let value = t.auth.as_ref()?.to_str().ok()?.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(value)
        .ok()?;
    String::from_utf8(raw).ok()
}

#[test]
fn targets() {
    #[rustfmt::skip]
    let ok: &[(&str, &str, Option<&str>)] = &[
        ("http://pushgateway:9091", "http://pushgateway:9091/metrics/job/irsa-doctor/namespace/demo/workload/db-backup", None),
        ("http://pushgateway:9091/", "http://pushgateway:9091/metrics/job/irsa-doctor/namespace/demo/workload/db-backup", None),
        ("HTTPS://pushgateway.monitoring.svc", "https://pushgateway.monitoring.svc/metrics/job/irsa-doctor/namespace/demo/workload/db-backup", None),
        ("https://gw.example.com/pushgateway/", "https://gw.example.com/pushgateway/metrics/job/irsa-doctor/namespace/demo/workload/db-backup", None),
        ("http://127.0.0.1:9091", "http://127.0.0.1:9091/metrics/job/irsa-doctor/namespace/demo/workload/db-backup", None),
        ("http://[::1]:9091", "http://[::1]:9091/metrics/job/irsa-doctor/namespace/demo/workload/db-backup", None),
        ("https://pusher:s3cret@gw:9091", "https://gw:9091/metrics/job/irsa-doctor/namespace/demo/workload/db-backup", Some("pusher:s3cret")),
        // Percent-encoded user info is decoded; an `@` left unencoded belongs to the password.
        ("https://pusher:p%40ss%2Fw%3Ard@gw", "https://gw/metrics/job/irsa-doctor/namespace/demo/workload/db-backup", Some("pusher:p@ss/w:rd")),
        ("https://pusher:p@ss@gw", "https://gw/metrics/job/irsa-doctor/namespace/demo/workload/db-backup", Some("pusher:p@ss")),
        ("https://pusher@gw", "https://gw/metrics/job/irsa-doctor/namespace/demo/workload/db-backup", Some("pusher:")),
        ("  http://gw:9091  ", "http://gw:9091/metrics/job/irsa-doctor/namespace/demo/workload/db-backup", None),
    ];
    for (url, shown, creds) in ok {
        let t = Target::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(t.group_url(GROUP).unwrap().to_string(), *shown, "{url}");
        assert!(shown.starts_with(t.shown()), "{url}: {}", t.shown());
        assert_eq!(credentials(&t).as_deref(), *creds, "{url}");
        assert_eq!(t.basic_auth(), creds.is_some(), "{url}");
        assert!(!format!("{t:?}").contains("s3cret"), "Debug leaks: {t:?}");
    }
    #[rustfmt::skip]
    let bad: &[(&str, TargetError)] = &[
        ("pushgateway:9091", TargetError::Scheme),
        ("ftp://gw", TargetError::Scheme),
        ("http://", TargetError::NoHost),
        ("http://user:pw@", TargetError::NoHost),
        ("http:///metrics", TargetError::NoHost),
        ("http://gw:9091?x=1", TargetError::Query),
        ("http://gw:9091/#top", TargetError::Query),
        // An unencoded `/` in the password ends the authority early: the rest would be a path
        // with the password in it, so it is refused rather than logged.
        ("https://pusher:pa/ss@gw", TargetError::Invalid),
        ("http://gw:notaport", TargetError::Invalid),
        ("http://g w", TargetError::Invalid),
        ("https://pusher:%ff@gw", TargetError::Invalid),
    ];
    for (url, want) in bad {
        let got = Target::parse(url).map(|t| t.shown().to_owned());
        assert_eq!(got, Err(want.clone()), "{url}");
        assert!(
            !want.to_string().contains("pa/ss"),
            "errors never repeat the URL"
        );
    }
}

#[test]
fn error_texts_are_scrubbed_of_the_password() {
    let t = Target::parse("https://pusher:hunter2@gw").unwrap();
    assert_eq!(
        t.scrub("401 for pusher:hunter2 (hunter2)"),
        "401 for pusher:<redacted> (<redacted>)"
    );
    // Both forms of a percent-encoded password: as decoded and as written in the URL.
    let encoded = Target::parse("https://pusher:p%40ss@gw").unwrap();
    assert_eq!(
        encoded.scrub("sent p@ss, echoed p%40ss"),
        "sent <redacted>, echoed <redacted>"
    );
    let none = Target::parse("https://gw").unwrap();
    assert_eq!(none.scrub("hunter2"), "hunter2");
}
