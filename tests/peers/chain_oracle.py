#!/usr/bin/env python3
"""Differential oracle: which provider botocore's default credential chain picks.

Run with the environment to judge (and the config/credentials files it
names). Prints one JSON object: {"method": <botocore provider METHOD or null>,
"error": <exception text or null>, "botocore": <version>}.

No network is touched:
- IMDS is switched off (AWS_EC2_METADATA_DISABLED=true, forced below) unless
  AWS_EC2_METADATA_SERVICE_ENDPOINT points at loopback (the test's fake IMDS,
  or a closed port): then botocore really asks it, and a chain that falls
  through answers `iam-role` or nothing.
- web identity and assume-role providers return *deferred* credentials from
  load(): STS is only called on first use, which never happens here.
- credential_process runs the command the profile names (tests use `echo`
  of static JSON credentials).
- the container provider really fetches from AWS_CONTAINER_CREDENTIALS_FULL_URI:
  the test points it at its loopback fake agent (botocore accepts loopback
  hosts). Inspecting the provider without fetching was the alternative, but
  fetching proves botocore would really pick it, token header included.
"""
import json
import os
import sys

from urllib.parse import urlparse

_imds = urlparse(os.environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT", "")).hostname or ""
if _imds not in ("127.0.0.1", "::1", "localhost"):
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

try:
    import botocore
    import botocore.credentials
    import botocore.session
except ImportError as e:  # the Rust test turns this into a skip or a CI failure
    print(json.dumps({"method": None, "error": f"botocore not importable: {e}", "botocore": None}))
    sys.exit(3)


def main() -> int:
    out = {"method": None, "error": None, "botocore": botocore.__version__}
    try:
        session = botocore.session.get_session()
        resolver = botocore.credentials.create_credential_resolver(session)
        creds = resolver.load_credentials()
        if creds is not None:
            out["method"] = creds.method
    except Exception as e:  # a broken chain is an answer too (e.g. ProfileNotFound)
        out["error"] = f"{type(e).__name__}: {e}"
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
