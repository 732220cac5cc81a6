#!/usr/bin/env python3
"""Prepares moto for irsa-doctor's moto test, with nothing of irsa-doctor's own code:

- registers the cluster's OIDC provider and an IRSA role with its trust policy
  through boto3's IAM client, as `eksctl`/Terraform would;
- mints an EKS-shaped RS256 token with PyJWT (an independent JWT library)
  and writes it where the kubelet would.

Usage: moto_setup.py ENDPOINT TOKEN_PATH; prints {"role_arn", "issuer", "jwks"} as JSON,
the JWK set being the public half of the signing key, as the cluster would publish it.
"""
import json
import sys
import time
import uuid

import boto3
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/MOTOEXAMPLE"
SUBJECT = "system:serviceaccount:payments:s3-backup"


def main(endpoint: str, token_path: str) -> None:
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    host = ISSUER.removeprefix("https://")
    provider_arn = iam.create_open_id_connect_provider(
        Url=ISSUER,
        ClientIDList=["sts.amazonaws.com"],
        ThumbprintList=["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"],
    )["OpenIDConnectProviderArn"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{host}:sub": SUBJECT, f"{host}:aud": "sts.amazonaws.com"}},
        }],
    }
    role_arn = iam.create_role(
        RoleName="s3-backup", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    claims = {
        "aud": ["sts.amazonaws.com"],
        "exp": now + 86400, "iat": now, "nbf": now,
        "iss": ISSUER, "sub": SUBJECT, "jti": str(uuid.uuid4()),
        "kubernetes.io": {
            "namespace": "payments",
            "node": {"name": "ip-10-0-1-23.ec2.internal", "uid": str(uuid.uuid4())},
            "pod": {"name": "s3-backup-6cfbb89f59-nwz2l", "uid": str(uuid.uuid4())},
            "serviceaccount": {"name": "s3-backup", "uid": str(uuid.uuid4())},
        },
    }
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "moto-test-key"})
    with open(token_path, "w", encoding="ascii") as f:
        f.write(token)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "moto-test-key", "alg": "RS256", "use": "sig"})
    print(json.dumps({
        "role_arn": role_arn,
        "provider_arn": provider_arn,
        "issuer": ISSUER,
        "jwks": {"keys": [jwk]},
    }))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
