#!/usr/bin/env python3
"""The application of tests/csm.rs, with nothing of irsa-doctor's own code: real boto3
(and the AWS CLI, run by the test itself) calling moto with IAM enforcement, and
reporting its calls over client-side monitoring (AWS_CSM_ENABLED, AWS_CSM_PORT).

Usage:
  csm_app.py setup ENDPOINT...      create the role, its policy, the buckets and the secret
                                    in each moto; prints {"role_arn": ...}
  csm_app.py enforce ENDPOINT N     moto enforces IAM after the next N requests
  csm_app.py run ENDPOINT SCRIPT    run SCRIPT's calls as the application (credentials
                                    from the environment, as the default chain finds them)
SCRIPT is a comma-separated list of: put-allowed, get-allowed, put-other, get-secret.
Every call's outcome is printed as JSON; denials are expected, not errors.
"""
import json
import sys
import urllib.request

import boto3
import botocore.exceptions

ROLE = "app-role"
BUCKET = "acme-backups"
OTHER_BUCKET = "other-bucket"
SECRET = "db-password"


def admin(endpoint, service):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def setup(endpoints):
    out = {}
    for endpoint in endpoints:
        iam = admin(endpoint, "iam")
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE"},
            "Action": "sts:AssumeRoleWithWebIdentity"}]}
        role = iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        iam.put_role_policy(RoleName=ROLE, PolicyName="backups", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [
                {"Sid": "WriteBackups", "Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"],
                 "Resource": f"arn:aws:s3:::{BUCKET}/*"},
                {"Sid": "ListBackups", "Effect": "Allow", "Action": "s3:ListBucket",
                 "Resource": f"arn:aws:s3:::{BUCKET}"},
                {"Sid": "ReadOwnRole", "Effect": "Allow", "Action": [
                    "iam:GetRole", "iam:ListRolePolicies", "iam:GetRolePolicy",
                    "iam:ListAttachedRolePolicies", "iam:GetPolicy", "iam:GetPolicyVersion"],
                 "Resource": "*"}]}))
        s3 = admin(endpoint, "s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.create_bucket(Bucket=OTHER_BUCKET)
        admin(endpoint, "secretsmanager").create_secret(Name=SECRET, SecretString="s3cr3t")
        out["role_arn"] = role
    print(json.dumps(out))


def enforce(endpoint, n):
    req = urllib.request.Request(f"{endpoint}/moto-api/reset-auth", data=str(n).encode(),
                                 headers={"Content-Type": "text/plain"}, method="POST")
    urllib.request.urlopen(req, timeout=10).read()
    print(json.dumps({"enforcing_after": n}))


def run(endpoint, script):
    session = boto3.session.Session(region_name="us-east-1")
    s3 = session.client("s3", endpoint_url=endpoint)
    secrets = session.client("secretsmanager", endpoint_url=endpoint)
    calls = {
        "put-allowed": lambda: s3.put_object(Bucket=BUCKET, Key="db/backup.sql", Body=b"dump"),
        "get-allowed": lambda: s3.get_object(Bucket=BUCKET, Key="db/backup.sql")["Body"].read(),
        "put-other": lambda: s3.put_object(Bucket=OTHER_BUCKET, Key="backup.sql", Body=b"dump"),
        "get-secret": lambda: secrets.get_secret_value(SecretId=SECRET),
    }
    results = []
    for name in script.split(","):
        try:
            calls[name]()
            results.append({"call": name, "ok": True})
        except botocore.exceptions.ClientError as e:
            results.append({"call": name, "ok": False, "code": e.response["Error"]["Code"],
                            "message": e.response["Error"].get("Message", "")})
        except botocore.exceptions.BotoCoreError as e:
            results.append({"call": name, "ok": False, "code": type(e).__name__, "message": str(e)})
    print(json.dumps(results))


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "setup" and len(sys.argv) >= 3:
        setup(sys.argv[2:])
    elif cmd == "enforce" and len(sys.argv) == 4:
        enforce(sys.argv[2], int(sys.argv[3]))
    elif cmd == "run" and len(sys.argv) == 4:
        run(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
