#!/usr/bin/env python3
"""Gives moto's `s3-backup` role (made by moto_setup.py) the policies of one scenario of
the backup CronJob (manifests/examples/backup-cronjob), with boto3's IAM client only.

Usage: moto_access.py ENDPOINT SCENARIO, SCENARIO one of:
  allowed   inline backup-secrets (secret + key), managed BackupWriter (s3), boundary allowing all three
  missing   the same statements granting neighbouring actions (DescribeSecret, Encrypt, GetObject)
  denied    allowed + managed BackupFreeze denying the three explicitly
  boundary  allowed, but the boundary allows only reading the role itself
Every run first removes what an earlier scenario attached.
"""
import json
import sys

import boto3

ROLE = "s3-backup"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-creds-*"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PREFIX = "arn:aws:s3:::acme-backups/db/*"
READ_OWN_ROLE = ["iam:GetRole", "iam:ListRolePolicies", "iam:GetRolePolicy",
                 "iam:ListAttachedRolePolicies", "iam:GetPolicy", "iam:GetPolicyVersion"]


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(sid, action, resource):
    return {"Sid": sid, "Effect": "Allow", "Action": action, "Resource": resource}


def reset(iam):
    for name in iam.list_role_policies(RoleName=ROLE)["PolicyNames"]:
        iam.delete_role_policy(RoleName=ROLE, PolicyName=name)
    for p in iam.list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=ROLE, PolicyArn=p["PolicyArn"])
    boundary = iam.get_role(RoleName=ROLE)["Role"].get("PermissionsBoundary")
    if boundary:
        iam.delete_role_permissions_boundary(RoleName=ROLE)
    for p in iam.list_policies(Scope="Local")["Policies"]:
        iam.delete_policy(PolicyArn=p["Arn"])


def managed(iam, name, document):
    return iam.create_policy(PolicyName=name, PolicyDocument=document)["Policy"]["Arn"]


def main(endpoint, scenario):
    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    reset(iam)
    missing = scenario == "missing"
    iam.put_role_policy(RoleName=ROLE, PolicyName="backup-secrets", PolicyDocument=doc(
        allow("ReadDbSecret", "secretsmanager:DescribeSecret" if missing else "secretsmanager:GetSecretValue", SECRET),
        allow("DecryptDbSecret", "kms:Encrypt" if missing else "kms:Decrypt", KEY),
        allow("ReadOwnRole", READ_OWN_ROLE, "*"),
    ))
    writer = managed(iam, "BackupWriter", doc(
        allow("PutDumps", "s3:GetObject" if missing else "s3:PutObject", PREFIX)))
    iam.attach_role_policy(RoleName=ROLE, PolicyArn=writer)
    if scenario == "denied":
        freeze = managed(iam, "BackupFreeze", doc({
            "Sid": "Freeze", "Effect": "Deny",
            "Action": ["secretsmanager:GetSecretValue", "kms:Decrypt", "s3:PutObject"],
            "Resource": "*"}))
        iam.attach_role_policy(RoleName=ROLE, PolicyArn=freeze)
    ceiling = ["secretsmanager:*", "kms:Decrypt", "s3:PutObject"] + READ_OWN_ROLE
    if scenario == "boundary":
        ceiling = READ_OWN_ROLE
    boundary = managed(iam, "BackupBoundary", doc(allow("WorkloadCeiling", ceiling, "*")))
    iam.put_role_permissions_boundary(RoleName=ROLE, PermissionsBoundary=boundary)
    print(json.dumps({"scenario": scenario, "boundary": boundary}))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[2] not in ("allowed", "missing", "denied", "boundary"):
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
