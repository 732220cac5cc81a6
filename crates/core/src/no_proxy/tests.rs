use super::*;

/// One row per matching rule: (rule, NO_PROXY, host, port, bypasses?).
#[test]
#[rustfmt::skip]
fn matcher_rules() {
    let cases: &[(&str, &str, &str, Option<u16>, bool)] = &[
        ("exact IPv4", "169.254.169.254", "169.254.169.254", Some(80), true),
        ("other IPv4", "169.254.169.254", "169.254.170.23", Some(80), false),
        ("exact host, case-insensitive", "Example.COM", "example.com", Some(443), true),
        ("bare domain covers a subdomain", "amazonaws.com", "sts.us-east-1.amazonaws.com", Some(443), true),
        ("bare domain covers itself", "amazonaws.com", "amazonaws.com", Some(443), true),
        ("suffix needs a dot boundary", "amazonaws.com", "notamazonaws.com", Some(443), false),
        (".suffix covers a subdomain", ".amazonaws.com", "sts.eu-west-1.amazonaws.com", Some(443), true),
        (".suffix covers the domain itself (curl, hyper-util)", ".amazonaws.com", "amazonaws.com", Some(443), true),
        ("*.suffix", "*.amazonaws.com", "sts.amazonaws.com", Some(443), true),
        ("domain entry never covers an IP", "amazonaws.com", "169.254.169.254", Some(80), false),
        ("IPv4 CIDR", "169.254.0.0/16", "169.254.170.23", Some(80), true),
        ("IPv4 CIDR, outside", "169.254.0.0/16", "169.253.1.1", Some(80), false),
        ("IPv4 /32", "169.254.169.254/32", "169.254.169.254", Some(80), true),
        ("IPv4 /0", "0.0.0.0/0", "10.1.2.3", Some(80), true),
        ("IPv6 CIDR", "fd00:ec2::/64", "fd00:ec2::23", Some(80), true),
        ("IPv6 CIDR, bracketed host", "fd00:ec2::/64", "[fd00:ec2::254]", Some(80), true),
        ("IPv6 CIDR, outside", "fd00:ec2::/64", "fd00:ec3::23", Some(80), false),
        ("IPv4 CIDR never covers IPv6", "169.254.0.0/16", "fd00:ec2::23", Some(80), false),
        ("bare IPv6", "fd00:ec2::23", "fd00:ec2::23", Some(80), true),
        ("bracketed IPv6 entry", "[fd00:ec2::23]", "fd00:ec2::23", Some(80), true),
        ("bracketed IPv6 entry and host", "[fd00:ec2::23]", "[fd00:ec2::23]", Some(80), true),
        ("IPv6 written differently", "fd00:ec2:0::23", "fd00:ec2::23", Some(80), true),
        ("host:port, same port", "169.254.170.23:80", "169.254.170.23", Some(80), true),
        ("host:port, other port", "169.254.170.23:8080", "169.254.170.23", Some(80), false),
        ("host:port, unknown port", "169.254.170.23:80", "169.254.170.23", None, false),
        ("[v6]:port, same port", "[fd00:ec2::23]:80", "fd00:ec2::23", Some(80), true),
        ("[v6]:port, other port", "[fd00:ec2::23]:81", "fd00:ec2::23", Some(80), false),
        ("domain:port", "example.com:443", "api.example.com", Some(443), true),
        ("domain:port, other port", "example.com:443", "api.example.com", Some(80), false),
        ("star", "*", "169.254.169.254", Some(80), true),
        ("star among others", "localhost, *", "fd00:ec2::23", Some(80), true),
        ("whitespace around entries", "  localhost ,\t169.254.169.254  ", "169.254.169.254", Some(80), true),
        ("empty entries", ",,169.254.170.23,,", "169.254.170.23", Some(80), true),
        ("empty list", "", "169.254.169.254", Some(80), false),
        ("only commas", " , ,", "169.254.169.254", Some(80), false),
        ("bad CIDR is ignored", "169.254.0.0/40", "169.254.169.254", Some(80), false),
        ("trailing dot on host", "example.com", "api.example.com.", Some(443), true),
    ];
    for (rule, no_proxy, host, port, want) in cases {
        assert_eq!(
            bypasses(no_proxy, host, *port),
            *want,
            "{rule}: NO_PROXY={no_proxy:?} host={host:?} port={port:?}"
        );
    }
}

fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |k| {
        pairs
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    }
}

#[test]
fn reading_the_proxy_environment() {
    type Row = (
        &'static str,
        &'static [(&'static str, &'static str)],
        &'static [&'static str],
        Option<&'static str>,
        Option<&'static str>,
    );
    let cases: &[Row] = &[
        ("nothing", &[], &[], None, None),
        (
            "all four proxies",
            &[
                ("http_proxy", "http://p:3128"),
                ("HTTPS_PROXY", "http://p:3128"),
                ("https_proxy", "http://p:3128"),
                ("HTTP_PROXY", "http://p:3128"),
            ],
            &["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"],
            None,
            None,
        ),
        (
            "empty values are unset",
            &[("HTTP_PROXY", ""), ("NO_PROXY", " ")],
            &[],
            None,
            None,
        ),
        (
            "lowercase no_proxy alone",
            &[("http_proxy", "http://p"), ("no_proxy", "169.254.0.0/16")],
            &["http_proxy"],
            Some("169.254.0.0/16"),
            Some("no_proxy"),
        ),
        (
            "NO_PROXY wins over no_proxy (Go httpproxy, hyper-util)",
            &[("NO_PROXY", "upper"), ("no_proxy", "lower")],
            &[],
            Some("upper"),
            Some("NO_PROXY"),
        ),
    ];
    for (name, vars, want_vars, want_no, want_var) in cases {
        let p = read_proxy_env(env(vars));
        assert_eq!(p.proxy_vars, *want_vars, "{name}");
        assert_eq!(p.no_proxy.as_deref(), *want_no, "{name}");
        assert_eq!(p.no_proxy_var, *want_var, "{name}");
    }
}

#[test]
fn remediation_entries_every_stack_honours() {
    assert_eq!(entries_for("169.254.170.23"), ["169.254.170.23"]);
    assert_eq!(
        entries_for("fd00:ec2::23"),
        ["fd00:ec2::23", "[fd00:ec2::23]"]
    );
    assert_eq!(
        entries_for("[fd00:ec2::23]"),
        ["fd00:ec2::23", "[fd00:ec2::23]"]
    );
    assert_eq!(entries_for("agent.local"), ["agent.local"]);
    for e in entries_for("fd00:ec2::23") {
        assert!(bypasses(&e, "fd00:ec2::23", Some(80)), "{e}");
    }
}

#[test]
fn plain_http_endpoints_use_http_proxy_only() {
    let all = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"];
    assert_eq!(proxy_vars_for(&all, "http"), ["HTTP_PROXY", "http_proxy"]);
    assert_eq!(
        proxy_vars_for(&all, "HTTPS"),
        ["HTTPS_PROXY", "https_proxy"]
    );
    assert!(proxy_vars_for(&["HTTPS_PROXY"], "http").is_empty());
    assert!(proxy_vars_for(&all, "ftp").is_empty());
}

#[test]
fn endpoint_parsing() {
    type Parsed<'a> = Option<(&'a str, &'a str, Option<u16>)>;
    let cases: &[(&str, Parsed)] = &[
        (
            "http://169.254.170.23/v1/credentials",
            Some(("http", "169.254.170.23", Some(80))),
        ),
        (
            "http://[fd00:ec2::23]/v1/credentials",
            Some(("http", "fd00:ec2::23", Some(80))),
        ),
        (
            "http://[fd00:ec2::23]:8080",
            Some(("http", "fd00:ec2::23", Some(8080))),
        ),
        (
            "http://127.0.0.1:41234",
            Some(("http", "127.0.0.1", Some(41234))),
        ),
        (
            "HTTPS://Agent.Local/x?y",
            Some(("https", "agent.local", Some(443))),
        ),
        (
            "http://169.254.169.254",
            Some(("http", "169.254.169.254", Some(80))),
        ),
        ("169.254.169.254", None),
        ("http://:80/", None),
        ("http://host:notaport/", None),
    ];
    for (url, want) in cases {
        let got = parse_endpoint("x", url);
        let got = got
            .as_ref()
            .map(|e| (e.scheme.as_str(), e.host.as_str(), e.port));
        assert_eq!(got, *want, "{url}");
    }
}

#[test]
fn which_endpoints_a_pod_uses() {
    let agent = "http://169.254.170.23/v1/credentials";
    let imds = "http://169.254.169.254";
    let base = EndpointUse {
        imds_endpoint: imds,
        ..Default::default()
    };
    let cases: &[(&str, EndpointUse, &[&str])] = &[
        ("IRSA with a region: nothing link-local", base, &[]),
        (
            "Pod Identity: its agent, from the actual URI",
            EndpointUse {
                pod_identity_uri: Some("http://[fd00:ec2::23]/v1/credentials"),
                ..base
            },
            &["fd00:ec2::23"],
        ),
        (
            "chain falls through to IMDS",
            EndpointUse {
                imds_for_credentials: true,
                ..base
            },
            &["169.254.169.254"],
        ),
        (
            "no region: IMDS for the region",
            EndpointUse {
                imds_for_region: true,
                ..base
            },
            &["169.254.169.254"],
        ),
        (
            "IMDS endpoint override",
            EndpointUse {
                imds_for_region: true,
                imds_endpoint: "http://[fd00:ec2::254]",
                ..base
            },
            &["fd00:ec2::254"],
        ),
        (
            "IMDS disabled",
            EndpointUse {
                imds_for_credentials: true,
                imds_disabled: true,
                ..base
            },
            &[],
        ),
        (
            "Pod Identity and no region",
            EndpointUse {
                pod_identity_uri: Some(agent),
                imds_for_region: true,
                ..base
            },
            &["169.254.170.23", "169.254.169.254"],
        ),
    ];
    for (name, u, want) in cases {
        let hosts: Vec<String> = credential_endpoints(u)
            .into_iter()
            .map(|e| e.host)
            .collect();
        assert_eq!(hosts, *want, "{name}");
    }
}

/// (case, endpoints used, proxy env, intercepted hosts with their variables)
#[test]
fn interception_table() {
    let agent = parse_endpoint("agent", "http://169.254.170.23/v1/credentials").unwrap();
    let agent6 = parse_endpoint("agent", "http://[fd00:ec2::23]/v1/credentials").unwrap();
    let imds = parse_endpoint("IMDS", "http://169.254.169.254").unwrap();
    let loopback = parse_endpoint("agent", "http://127.0.0.1:4000/creds").unwrap();
    let proxy = |vars: &[&'static str], no: Option<&str>| ProxyEnv {
        proxy_vars: vars.to_vec(),
        no_proxy: no.map(str::to_owned),
        no_proxy_var: no.map(|_| "NO_PROXY"),
    };
    type Row<'a> = (
        &'a str,
        Vec<Endpoint>,
        ProxyEnv,
        Vec<(&'a str, Vec<&'a str>)>,
    );
    let cases: Vec<Row> = vec![
        (
            "IRSA pod, HTTPS_PROXY, no NO_PROXY: nothing used",
            vec![],
            proxy(&["HTTPS_PROXY"], None),
            vec![],
        ),
        (
            "HTTPS_PROXY never carries plain-http IMDS",
            vec![imds.clone()],
            proxy(&["HTTPS_PROXY", "https_proxy"], None),
            vec![],
        ),
        (
            "HTTP_PROXY intercepts IMDS",
            vec![imds.clone()],
            proxy(&["HTTPS_PROXY", "HTTP_PROXY"], None),
            vec![("169.254.169.254", vec!["HTTP_PROXY"])],
        ),
        (
            "lowercase http_proxy intercepts the agent",
            vec![agent.clone()],
            proxy(&["http_proxy"], Some("localhost")),
            vec![("169.254.170.23", vec!["http_proxy"])],
        ),
        (
            "CIDR blocks cover both",
            vec![agent6.clone(), imds.clone()],
            proxy(&["HTTP_PROXY"], Some("169.254.0.0/16,fd00:ec2::/64")),
            vec![],
        ),
        (
            "bracketed IPv6",
            vec![agent6.clone()],
            proxy(&["http_proxy"], Some("[fd00:ec2::23]")),
            vec![],
        ),
        (
            "star",
            vec![agent.clone(), imds.clone()],
            proxy(&["HTTP_PROXY"], Some("*")),
            vec![],
        ),
        (
            "covers one of two",
            vec![agent.clone(), imds.clone()],
            proxy(&["HTTP_PROXY"], Some("169.254.169.254")),
            vec![("169.254.170.23", vec!["HTTP_PROXY"])],
        ),
        (
            "a loopback agent is proxied too (only Go exempts loopback)",
            vec![loopback.clone()],
            proxy(&["HTTP_PROXY"], None),
            vec![("127.0.0.1", vec!["HTTP_PROXY"])],
        ),
        (
            "loopback agent in NO_PROXY",
            vec![loopback],
            proxy(&["HTTP_PROXY"], Some("127.0.0.1")),
            vec![],
        ),
    ];
    for (name, endpoints, env, want) in cases {
        let got: Vec<(String, Vec<&str>)> = intercepted(&endpoints, &env)
            .into_iter()
            .map(|i| (i.endpoint.host, i.proxy_vars))
            .collect();
        let want: Vec<(String, Vec<&str>)> =
            want.into_iter().map(|(h, v)| (h.to_owned(), v)).collect();
        assert_eq!(got, want, "{name}");
    }
}
