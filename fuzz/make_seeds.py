#!/usr/bin/env python3
"""Writes the seed corpus under fuzz/corpus/<target>/. Run once (already run; the
output is committed). Re-running rewrites the same files.

- token: a real RS256 EKS token as `irsa-doctor demo`'s kubelet wrote it (signed by
  the emulator's issuer; decoding never checks signatures), then variants of it:
  24 h and 1 h lifetimes, expired, not yet valid, `aud` as a string, the API server's
  kube-api-access token with `warnafter`, an EKS Pod Identity token, fractional and
  out-of-range NumericDates, wrong claim types, padding, standard base64, wrong part
  counts, empty, whitespace, garbage and non-UTF-8 bytes.
- trust_policy: every policy in src/trust_policy/tests.rs (the standard EKS one,
  StringLike wildcards, Deny statements, NotPrincipal, NotAction, ...), the standard
  one URL-encoded as GetRole returns it, and broken ones.
- http: raw requests: every endpoint with GET/HEAD/POST/PUT, query strings, Accept
  headers, pipelined requests, bodies, chunked bodies, Expect: 100-continue, huge and
  many headers, HTTP/1.0, absolute-form targets, and invalid bytes.
"""
import base64
import json
import os
import re
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

# Written by `irsa-doctor demo` (the emulator's kubelet and issuer), 2026-11-23.
REAL_TOKEN = (
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImY1ZGYxOTg1NzhmN2VkZTEwYTcwMjYyMWNiZTIyYTc1YjVmM2Y0NWQiLCJ0eXAiOiJKV1Qi"
    "fQ.eyJhdWQiOlsic3RzLmFtYXpvbmF3cy5jb20iXSwiZXhwIjoxNzk1NDI4NTYyLCJpYXQiOjE3OTU0Mjg1MDIsImlzcyI6Imh0d"
    "HBzOi8vb2lkYy5la3MudXMtZWFzdC0xLmFtYXpvbmF3cy5jb20vaWQvRVhBTVBMRSIsImp0aSI6ImQxNzU3Mzk1LTU2MTgtNDNmN"
    "C04ZDUxLWM4M2E5MGQzOGExMyIsImt1YmVybmV0ZXMuaW8iOnsibmFtZXNwYWNlIjoiZGVtbyIsIm5vZGUiOnsibmFtZSI6ImlwL"
    "TEwLTAtMS0yLmVjMi5pbnRlcm5hbCIsInVpZCI6IjlkOGQ2ZDViLThjZGQtNDVkNy1iZGZhLWY0M2M5ODgwN2M4NCJ9LCJwb2QiO"
    "nsibmFtZSI6IndlYi03ZDlmIiwidWlkIjoiOWQzOWQxNWItN2Q2Yi00ZDg3LTlhZTQtZjY1N2I2MzM3YjQwIn0sInNlcnZpY2VhY"
    "2NvdW50Ijp7Im5hbWUiOiJkZW1vLXNhIiwidWlkIjoiYzcwMDRkZDctZmM4MC00ZjEwLThmN2QtYzI2MWE3YjA2NDExIn19LCJuY"
    "mYiOjE3OTU0Mjg1MDIsInN1YiI6InN5c3RlbTpzZXJ2aWNlYWNjb3VudDpkZW1vOmRlbW8tc2EifQ.TzQgxfh9X5tPjnJkSsKlVh"
    "bY4_fc1zVxoPL2mK-ejyZkF_A1a4zJ7M0q4hndojjWVl_p9y1eDnDBxdNyMFhQE7xLDC3-IZcfy3CkTNq1NcxwPRz0FPaNMp2Lu8"
    "e4aPTBT6B2Vs5iuyrxQ_I0Wz39EI1HkFw6ApFXYgKwZxlpS3x5oLru2q5tnSEx4Vxk_33GF5hnEf_vUSbhPd07jYPX94qNs_MHFE"
    "WiKqIC2MNcPZc7tUQ_Ra8QAjzLuKHJhvHrOQpw3I9-S_3T0GyjiCKU88rHYsmFrDuRZAu4Dkqi109KXaVnAyvgVP8KK7a07jnePI"
    "W54It7u0wUrKNdCfR_uA"
)


def b64(obj_or_bytes):
    raw = obj_or_bytes if isinstance(obj_or_bytes, bytes) else json.dumps(obj_or_bytes, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def tokens(real):
    header_b64, claims_b64, sig = real.strip().split(".")
    header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
    claims = json.loads(base64.urlsafe_b64decode(claims_b64 + "=" * (-len(claims_b64) % 4)))
    iat = claims["iat"]

    def tok(c, h=header, s=sig):
        return f"{b64(h)}.{b64(c)}.{s}"

    def with_(**kw):
        c = json.loads(json.dumps(claims))
        for k, v in kw.items():
            k = k.replace("_dot_", ".")
            if v is None:
                c.pop(k, None)
            else:
                c[k] = v
        return c

    write("token", "eks-demo-60s", real + "\n")
    write("token", "eks-24h", tok(with_(exp=iat + 86400)) + "\n")
    write("token", "eks-1h", tok(with_(exp=iat + 3600)))
    write("token", "eks-expired", tok(with_(iat=iat - 90000, nbf=iat - 90000, exp=iat - 3600)))
    write("token", "eks-not-yet-valid", tok(with_(iat=iat + 7200, nbf=iat + 7200, exp=iat + 7200 + 86400)))
    write("token", "eks-aud-string", tok(with_(aud="sts.amazonaws.com")))
    write("token", "eks-aud-wrong", tok(with_(aud=["api", "https://kubernetes.default.svc"])))
    write("token", "eks-no-kubernetes", tok(with_(**{"kubernetes_dot_io": None, "jti": None})))
    kube = json.loads(json.dumps(claims["kubernetes.io"]))
    kube["warnafter"] = iat + 3607
    write("token", "kube-api-warnafter", tok(with_(
        aud=["https://kubernetes.default.svc.cluster.local", "k3s"],
        exp=iat + 31536000 + 7, iss="https://kubernetes.default.svc.cluster.local",
        **{"kubernetes_dot_io": kube})))
    stale = json.loads(json.dumps(kube))
    stale["warnafter"] = iat - 100000
    write("token", "kube-api-warnafter-stale", tok(with_(exp=iat + 31536000, **{"kubernetes_dot_io": stale})))
    write("token", "pod-identity", tok(with_(aud=["pods.eks.amazonaws.com"], iss="https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE")))
    write("token", "fractional-dates", tok(with_(iat=iat + 0.5, nbf=iat + 0.25, exp=iat + 86400.75)))
    write("token", "huge-dates", tok(with_(iat=-1e300, nbf=1e300, exp=1.7976931348623157e308)))
    write("token", "negative-dates", tok(with_(iat=-9223372036854775808, nbf=-1, exp=-62135596800)))
    write("token", "i64-edge-dates", tok(with_(iat=9223372036854775807, exp=-9223372036854775808)))
    write("token", "year-10000", tok(with_(exp=253402300800, iat=253402300799)))
    write("token", "wrong-types", tok(with_(aud=42, sub=["x"], exp="tomorrow")))
    write("token", "null-claims", tok({"iss": None, "sub": None, "aud": None, "exp": None, "kubernetes.io": None}))
    write("token", "kubernetes-wrong-shape", tok(with_(**{"kubernetes_dot_io": {"pod": "web", "node": [1], "warnafter": "soon"}})))
    write("token", "header-no-alg", tok(claims, h={"typ": "JWT"}))
    write("token", "header-alg-none", tok(claims, h={"alg": "none"}, s=""))
    write("token", "unicode-claims", tok(with_(sub="system:serviceaccount:ünïcødé:😀", iss="https://例え.jp/id/\u0000")))
    write("token", "claims-array", f"{b64(header)}.{b64([1, 2, 3])}.{sig}")
    write("token", "claims-not-json", f"{b64(header)}.{b64(b'not json')}.{sig}")
    write("token", "padded", f"{b64(header)}==.{b64(claims)}=.{sig}")
    std = base64.b64encode(json.dumps(claims).encode()).decode()
    write("token", "standard-base64", f"{b64(header)}.{std}.{sig}")
    write("token", "two-parts", f"{b64(header)}.{b64(claims)}")
    write("token", "four-parts", f"{b64(header)}.{b64(claims)}.{sig}.extra")
    write("token", "jwe-five-parts", "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d")
    write("token", "empty", "")
    write("token", "whitespace", " \n\t\r\n")
    write("token", "dots", "..")
    write("token", "pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    write("token", "non-utf8", b"\xff\xfe\x00eyJ.\x80\x81.\xc3\x28")
    deep = b64(b'{"a":' * 200 + b"1" + b"}" * 200)
    write("token", "deep-json", f"{deep}.{b64(claims)}.{sig}")
    write("token", "many-audiences", tok(with_(aud=[f"aud-{i}" for i in range(300)])))


def policies():
    src = open(os.path.join(HERE, "..", "src", "trust_policy", "tests.rs"), encoding="utf-8").read()
    ident = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
    std = re.search(r'const STANDARD: &str = r#"(.*?)"#;', src, re.S).group(1)
    template = re.search(r'fn allow_with\(condition: &str\) -> String \{\s*r#"(.*?)"#', src, re.S).group(1)
    found = [std]
    for cond in re.findall(r'allow_with\(r#"(.*?)"#\)', src, re.S):
        found.append(template.replace("$COND", cond))
    found += re.findall(r'\bs\(r#"(.*?)"#\)', src, re.S)
    seen = set()
    n = 0
    for p in found:
        p = p.replace("$ID", ident)
        if p in seen:
            continue
        seen.add(p)
        n += 1
        write("trust_policy", f"tests-{n:03}.json", p)
    standard = std.replace("$ID", ident)
    write("trust_policy", "standard-url-encoded", urllib.parse.quote(standard, safe=""))
    write("trust_policy", "standard-bom", "\ufeff" + standard + "\n")
    write("trust_policy", "eks-demo-issuer", standard.replace(ident, "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE")
          .replace("payments:s3-backup", "demo:demo-sa"))
    write("trust_policy", "stringlike-stars", json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": f"arn:aws:iam::111122223333:oidc-provider/{ident}"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringLike": {f"{ident}:sub": "*a*?*b*c*", f"{ident}:aud": ["sts.*", "*"]}}}]}))
    write("trust_policy", "bad-percent", "%7B%22Version%22%3A%2")
    write("trust_policy", "not-json", "Version: 2012-10-17")
    write("trust_policy", "json-array", "[1,2,3]")
    write("trust_policy", "empty-statement", '{"Statement": []}')
    write("trust_policy", "statement-wrong-type", '{"Statement": "Allow"}')
    write("trust_policy", "deep", '{"Statement": ' + "[" * 150 + "]" * 150 + "}")


def http():
    reqs = {
        "get-metrics": b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9911\r\nUser-Agent: Prometheus/2.53.0\r\nAccept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\nAccept-Encoding: gzip\r\n\r\n",
        "get-debug": b"GET /debug HTTP/1.1\r\nHost: x\r\n\r\n",
        "get-debug-json-query": b"GET /debug?format=json HTTP/1.1\r\nHost: x\r\n\r\n",
        "get-debug-json-accept": b"GET /debug HTTP/1.1\r\nHost: x\r\nAccept: text/html, application/json;q=0.9\r\n\r\n",
        "get-debug-query-mix": b"GET /debug?x=1&FORMAT=JSON&format=text&&=&%ZZ HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n\r\n",
        "head-metrics": b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
        "post-probe": b"POST /debug/probe HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        "post-probe-twice": b"POST /debug/probe HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\nPOST /debug/probe HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        "post-probe-body": b"POST /debug/probe HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"a\": true}",
        "post-probe-chunked": b"POST /debug/probe HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "post-metrics-405": b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
        "put-debug-405": b"PUT /debug HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        "get-probe-405": b"GET /debug/probe HTTP/1.1\r\nHost: x\r\n\r\n",
        "delete-healthz": b"DELETE /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        "options-star": b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
        "connect": b"CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n",
        "get-readyz": b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n",
        "get-root": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "get-404": b"GET /debug/ HTTP/1.1\r\nHost: x\r\n\r\n",
        "get-encoded-path": b"GET /%64ebug?format=%6Ason HTTP/1.1\r\nHost: x\r\n\r\n",
        "get-dotdot": b"GET /../metrics HTTP/1.1\r\nHost: x\r\n\r\n",
        "absolute-form": b"GET http://evil.example/metrics?x HTTP/1.1\r\nHost: evil.example\r\n\r\n",
        "http10": b"GET /healthz HTTP/1.0\r\n\r\n",
        "http10-keepalive": b"GET /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /debug HTTP/1.0\r\n\r\n",
        "http09": b"GET /metrics\r\n\r\n",
        "http2-preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00",
        "pipelined-all": b"".join(
            f"{m} {p} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
            for m, p in [("GET", "/metrics"), ("HEAD", "/debug"), ("GET", "/debug?format=json"), ("GET", "/healthz"),
                         ("GET", "/readyz"), ("GET", "/nope"), ("PATCH", "/metrics"), ("GET", "/")]),
        "expect-continue": b"POST /debug/probe HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello",
        "content-length-huge": b"POST /debug/probe HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551615\r\n\r\n",
        "content-length-twice": b"POST /debug/probe HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "cl-and-te": b"POST /debug/probe HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
        "bad-chunk": b"POST /debug/probe HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "huge-header": b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n",
        "many-headers": b"GET /debug HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(150)) + b"\r\n",
        "many-accept": b"GET /debug HTTP/1.1\r\nHost: x\r\n" + b"Accept: text/plain\r\n" * 90 + b"Accept: APPLICATION/JSON\r\n\r\n",
        "long-path": b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        "long-query": b"GET /debug?" + b"format=json&" * 800 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        "obs-fold": b"GET /debug HTTP/1.1\r\nHost: x\r\nAccept: text/plain,\r\n application/json\r\n\r\n",
        "bare-lf": b"GET /metrics HTTP/1.1\nHost: x\n\n",
        "no-host": b"GET /metrics HTTP/1.1\r\n\r\n",
        "space-before-colon": b"GET /metrics HTTP/1.1\r\nHost : x\r\n\r\n",
        "invalid-bytes-header": b"GET /debug HTTP/1.1\r\nHost: x\r\nAccept: \xff\xfe\x00application/json\r\n\r\n",
        "invalid-bytes-path": b"GET /deb\x00ug\xc3\x28 HTTP/1.1\r\nHost: x\r\n\r\n",
        "lowercase-method": b"get /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
        "long-method": b"A" * 300 + b" /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
        "tls-client-hello": bytes.fromhex("16030100a5010000a10303") + os.urandom(0) + b"\x00" * 32 + b"\x00\x02\x13\x01\x01\x00",
        "garbage": b"\x00\x01\x02\x03\r\n\r\n\xff\xff",
        "empty": b"",
        "crlf-only": b"\r\n\r\n\r\n",
        "upgrade-websocket": b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        "connection-close-then-more": b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
        "partial-request-line": b"GET /metr",
        "partial-headers": b"GET /metrics HTTP/1.1\r\nHost: x\r\nAcc",
    }
    for name, data in reqs.items():
        write("http", name, data)


if __name__ == "__main__":
    real = REAL_TOKEN
    path = os.environ.get("REAL_TOKEN_FILE")
    if path:
        real = open(path).read().strip()
    elif real.count(".") != 2:
        raise SystemExit("set REAL_TOKEN_FILE to a token written by `irsa-doctor demo`")
    tokens(real)
    policies()
    http()
