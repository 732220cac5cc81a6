//! `HTTP(S)_PROXY` / `NO_PROXY` as the SDKs' HTTP stacks read them, and which
//! credential endpoints a pod really calls (pure, std only).
//!
//! How the stacks read the variables:
//! - Go `golang.org/x/net/http/httpproxy` (`FromEnvironment`, used by the Go
//!   SDKs through `net/http`; read from its source, not run here): `HTTP_PROXY`
//!   else `http_proxy` for `http://` URLs, `HTTPS_PROXY` else `https_proxy` for
//!   `https://`, `NO_PROXY` else `no_proxy`. Entries: `*`, IP, CIDR,
//!   `host:port` (that port only), domain (itself and subdomains), `.domain`
//!   (subdomains). Loopback is never proxied.
//! - Rust `hyper_util::client::proxy::matcher` (`Matcher::from_env`): the same
//!   upper-then-lower order (`get_first_env(&["NO_PROXY", "no_proxy"])`); IPs,
//!   CIDRs, and domains where `google.com` and `.google.com` both match the
//!   domain and its subdomains (curl's rule). `*` covers names but not IP
//!   literals, and bracketed or `host:port` entries never match an IP.
//! - Python `urllib.request` (botocore's `utils.should_bypass_proxies` calls
//!   `proxy_bypass` with the URL's netloc): the *lowercase* variable wins when
//!   both are set; entries are DNS suffixes only (no CIDR: botocore says so in a
//!   comment), IPv6 matches only bracketed (`[fd00:ec2::23]`), a `host:port`
//!   entry only a URL that spells that port, and `*` only as the whole value.
//!
//! `tests/no_proxy_peers.rs` pins hyper-util's and urllib's answers next to
//! ours, row by row. So when both spellings are set, `NO_PROXY` wins here: it is
//! what the Go and Rust stacks read, and a pod that sets both differently is
//! already broken for one of them. The matcher is the union of the stacks'
//! rules: a configuration one of them honours raises nothing (no false alarm
//! on a healthy pod), and the finding's remediation names entries every stack
//! honours.
//!
//! Plain-`http://` endpoints (IMDS, the Pod Identity agent) are sent through
//! `HTTP_PROXY`/`http_proxy` only: `HTTPS_PROXY` never applies to them.

use std::net::IpAddr;

/// Proxy variables the stacks read for `http://` URLs, upper case first.
pub const HTTP_PROXY_VARS: [&str; 2] = ["HTTP_PROXY", "http_proxy"];
/// Proxy variables the stacks read for `https://` URLs, upper case first.
pub const HTTPS_PROXY_VARS: [&str; 2] = ["HTTPS_PROXY", "https_proxy"];
/// `NO_PROXY` spellings, in the order that decides which wins.
pub const NO_PROXY_VARS: [&str; 2] = ["NO_PROXY", "no_proxy"];

/// The proxy environment: which variables are set (names only: proxy URLs may
/// carry credentials) and the effective `NO_PROXY`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyEnv {
    /// Set (non-empty) proxy variables, `HTTPS_PROXY`, `https_proxy`, `HTTP_PROXY`, `http_proxy` order.
    pub proxy_vars: Vec<&'static str>,
    /// The effective `NO_PROXY` list.
    pub no_proxy: Option<String>,
    /// Which spelling it came from.
    pub no_proxy_var: Option<&'static str>,
}

/// Reads the proxy variables through `lookup` (empty values count as unset, as in Go and urllib).
pub fn read_proxy_env(lookup: impl Fn(&str) -> Option<String>) -> ProxyEnv {
    let set = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
    let proxy_vars = HTTPS_PROXY_VARS
        .into_iter()
        .chain(HTTP_PROXY_VARS)
        .filter(|k| set(k).is_some())
        .collect();
    let (no_proxy_var, no_proxy) = NO_PROXY_VARS
        .into_iter()
        .find_map(|k| set(k).map(|v| (k, v)))
        .unzip();
    ProxyEnv {
        proxy_vars,
        no_proxy,
        no_proxy_var,
    }
}

/// The set proxy variables among `proxy_vars` that apply to a URL scheme (`http` or `https`).
pub fn proxy_vars_for(proxy_vars: &[&'static str], scheme: &str) -> Vec<&'static str> {
    let wanted: &[&str] = match scheme.to_ascii_lowercase().as_str() {
        "http" => &HTTP_PROXY_VARS,
        "https" => &HTTPS_PROXY_VARS,
        _ => &[],
    };
    proxy_vars
        .iter()
        .copied()
        .filter(|v| wanted.contains(v))
        .collect()
}

/// Whether `no_proxy` lets a request to `host` (bracketed IPv6 allowed) on `port` bypass the proxy.
/// `port` is the request's effective port; `None` means unknown, which no `host:port` entry matches.
pub fn bypasses(no_proxy: &str, host: &str, port: Option<u16>) -> bool {
    let host = unbracket(host.trim())
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let host_ip: Option<IpAddr> = host.parse().ok();
    no_proxy
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| entry_matches(entry, &host, host_ip, port))
}

fn unbracket(s: &str) -> &str {
    s.strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(s)
}

/// One `NO_PROXY` entry against a lowercased host.
fn entry_matches(entry: &str, host: &str, host_ip: Option<IpAddr>, port: Option<u16>) -> bool {
    if entry == "*" {
        return true;
    }
    if let Some((net, bits)) = entry.split_once('/') {
        return match (
            unbracket(net).parse::<IpAddr>(),
            bits.parse::<u8>(),
            host_ip,
        ) {
            (Ok(net), Ok(bits), Some(ip)) => in_cidr(ip, net, bits),
            _ => false,
        };
    }
    let (name, entry_port) = split_port(entry);
    if entry_port.is_some_and(|p| Some(p) != port) {
        return false;
    }
    let name = name.to_ascii_lowercase();
    if let Ok(ip) = name.parse::<IpAddr>() {
        return host_ip == Some(ip);
    }
    if host_ip.is_some() {
        // A domain entry never covers an IP literal (no DNS lookups in any stack).
        return false;
    }
    let domain = name
        .strip_prefix("*.")
        .or_else(|| name.strip_prefix('.'))
        .unwrap_or(&name)
        .trim_end_matches('.');
    !domain.is_empty()
        && (host == domain
            || host
                .strip_suffix(domain)
                .is_some_and(|rest| rest.ends_with('.')))
}

/// `host:port`, `[v6]:port`, `[v6]`, a bare IPv6 address (all colons, no port), or a name.
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((ip, tail)) => (ip, tail.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (entry, None),
        };
    }
    if entry.parse::<IpAddr>().is_ok() {
        return (entry, None);
    }
    match entry.rsplit_once(':') {
        Some((name, p)) if !name.contains(':') => match p.parse() {
            Ok(p) => (name, Some(p)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// A URL reduced to what proxy selection looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// What calls it (`EKS Pod Identity agent`, `IMDS`).
    pub purpose: &'static str,
    /// `http` or `https`, lowercase.
    pub scheme: String,
    /// Host without brackets.
    pub host: String,
    /// Effective port (explicit, else the scheme's default).
    pub port: Option<u16>,
    /// The URL as configured, for messages.
    pub url: String,
}

/// Parses `scheme://host[:port][/path]` (bracketed IPv6 allowed); `None` for anything else.
pub fn parse_endpoint(purpose: &'static str, url: &str) -> Option<Endpoint> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, tail) = v6.split_once(']')?;
        (host, tail.strip_prefix(':'))
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(p) => Some(p.parse().ok()?),
        None => match scheme.as_str() {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        },
    };
    Some(Endpoint {
        purpose,
        scheme,
        host: host.to_ascii_lowercase(),
        port,
        url: url.trim().to_owned(),
    })
}

/// `NO_PROXY` entries for `host` that every stack above honours: the address itself, and for
/// IPv6 also its bracketed form (urllib matches only that one; Go and hyper-util only the bare one).
pub fn entries_for(host: &str) -> Vec<String> {
    let host = unbracket(host);
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(_)) => vec![host.to_owned(), format!("[{host}]")],
        _ => vec![host.to_owned()],
    }
}

/// What decides which credential endpoints a pod's SDK calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointUse<'a> {
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI`, when EKS Pod Identity is configured (URI and token file).
    pub pod_identity_uri: Option<&'a str>,
    /// Whether the default credential chain falls through to IMDS (nothing earlier answers).
    pub imds_for_credentials: bool,
    /// Whether the SDK must ask IMDS for its region (none in the environment or profile).
    pub imds_for_region: bool,
    /// `AWS_EC2_METADATA_DISABLED=true`: the SDK never calls IMDS.
    pub imds_disabled: bool,
    /// The IMDS base URL the SDK would use.
    pub imds_endpoint: &'a str,
}

/// The credential endpoints this pod's SDK calls, Pod Identity agent first.
pub fn credential_endpoints(u: &EndpointUse<'_>) -> Vec<Endpoint> {
    let agent = u
        .pod_identity_uri
        .and_then(|uri| parse_endpoint("the EKS Pod Identity agent", uri));
    let imds = ((u.imds_for_credentials || u.imds_for_region) && !u.imds_disabled)
        .then(|| parse_endpoint("IMDS", u.imds_endpoint))
        .flatten();
    agent.into_iter().chain(imds).collect()
}

/// An endpoint a proxy would intercept, with the variables that send it there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intercepted {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// The set proxy variables that apply to its scheme.
    pub proxy_vars: Vec<&'static str>,
}

/// The endpoints among `endpoints` that a set proxy applies to and `NO_PROXY` does not cover.
pub fn intercepted(endpoints: &[Endpoint], proxy: &ProxyEnv) -> Vec<Intercepted> {
    let no_proxy = proxy.no_proxy.as_deref().unwrap_or("");
    endpoints
        .iter()
        .filter_map(|e| {
            let vars = proxy_vars_for(&proxy.proxy_vars, &e.scheme);
            // Loopback is not exempt: only Go skips the proxy for it; urllib and hyper-util do not.
            (!vars.is_empty() && !bypasses(no_proxy, &e.host, e.port)).then(|| Intercepted {
                endpoint: e.clone(),
                proxy_vars: vars,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
