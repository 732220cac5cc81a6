//! The two STS actions the fake answers: `AssumeRoleWithWebIdentity`, judged in STS's
//! own order with irsa-doctor's trust evaluator, and `GetCallerIdentity`, by the SigV4 key.

use std::collections::HashMap;

use hyper::StatusCode;
use hyper::header::{AUTHORIZATION, HeaderMap};

use super::{Answer, Identity, State};
use crate::issuer::unix_now;
use crate::server::{
    lock, random_secret, random_session_token, random_upper_alnum, rfc3339, xml_escape,
};

impl State {
    /// Evaluates the token the way STS does, in STS's order: parse, provider, audience, expiry, trust policy.
    pub(super) fn assume_role_with_web_identity(
        &self,
        params: &HashMap<String, String>,
        request_id: &str,
    ) -> Answer {
        let invalid = |message: &str| {
            Answer::error(
                StatusCode::BAD_REQUEST,
                "InvalidIdentityToken",
                message,
                request_id,
            )
        };
        let param = |name: &str| params.get(name).filter(|v| !v.is_empty());
        let (role_arn, session, token) = match (
            param("RoleArn"),
            param("RoleSessionName"),
            param("WebIdentityToken"),
        ) {
            (Some(r), Some(s), Some(t)) => (r, s, t),
            (r, s, _) => {
                let missing = if r.is_none() {
                    "roleArn"
                } else if s.is_none() {
                    "roleSessionName"
                } else {
                    "webIdentityToken"
                };
                return Answer::error(
                    StatusCode::BAD_REQUEST,
                    "ValidationError",
                    &format!(
                        "1 validation error detected: Value null at '{missing}' failed to satisfy constraint: Member must not be null"
                    ),
                    request_id,
                );
            }
        };
        let config = lock(&self.config).clone();
        let now = unix_now();

        let Ok(decoded) = irsa_doctor_core::token::decode(token) else {
            return invalid("Couldn't parse the web identity token");
        };
        let claims = decoded.claims;
        // The same evaluator irsa-doctor uses, so the demo's denials are the real explanations.
        let trusted =
            irsa_doctor_core::policy::trust::parse(&config.trust_policy_json().to_string())
                .map(|policy| irsa_doctor_core::policy::trust::evaluate(&policy, &claims).verdict)
                .is_ok_and(|v| v == irsa_doctor_core::policy::trust::Verdict::Allowed);
        let issuer = claims.issuer.unwrap_or_default();
        if issuer != config.issuer {
            return invalid(&format!(
                "No OpenIDConnect provider found in your account for {issuer}"
            ));
        }
        if !claims.audiences.contains(&config.audience) {
            return invalid("Incorrect token audience");
        }
        let Some(expires_at) = claims.expires_at else {
            return invalid("Missing a required claim: exp");
        };
        if expires_at <= now {
            return Answer::error(
                StatusCode::BAD_REQUEST,
                "ExpiredTokenException",
                &format!(
                    "Token expired: current date/time {now} must be before the expiration date/time {expires_at}"
                ),
                request_id,
            );
        }
        let subject = claims.subject.unwrap_or_default();
        // STS does not say which condition failed, or whether the role exists: one message for all.
        if *role_arn != config.role_arn() || !trusted {
            return Answer::error(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                "Not authorized to perform sts:AssumeRoleWithWebIdentity",
                request_id,
            );
        }

        let ttl = params
            .get("DurationSeconds")
            .and_then(|d| d.parse::<i64>().ok())
            .unwrap_or_else(|| i64::try_from(config.credentials_ttl.as_secs()).unwrap_or(3600));
        let access_key_id = format!("ASIA{}", random_upper_alnum(16));
        let identity = Identity {
            arn: format!(
                "arn:{}:sts::{}:assumed-role/{}/{session}",
                config.partition, config.account_id, config.role_name
            ),
            user_id: format!("{}:{session}", self.role_id),
            account: config.account_id.clone(),
        };
        lock(&self.identities).insert(access_key_id.clone(), identity.clone());

        let result = format!(
            "<Credentials>\
             <AccessKeyId>{access_key_id}</AccessKeyId>\
             <SecretAccessKey>{secret}</SecretAccessKey>\
             <SessionToken>{session_token}</SessionToken>\
             <Expiration>{expiration}</Expiration>\
             </Credentials>\
             <SubjectFromWebIdentityToken>{subject}</SubjectFromWebIdentityToken>\
             <AssumedRoleUser><AssumedRoleId>{user_id}</AssumedRoleId><Arn>{arn}</Arn></AssumedRoleUser>\
             <Provider>{provider}</Provider>\
             <Audience>{audience}</Audience>",
            secret = random_secret(),
            session_token = random_session_token(),
            expiration = rfc3339(now.saturating_add(ttl)),
            subject = xml_escape(&subject),
            user_id = xml_escape(&identity.user_id),
            arn = xml_escape(&identity.arn),
            provider = xml_escape(&issuer),
            audience = xml_escape(&config.audience),
        );
        Answer::success("AssumeRoleWithWebIdentity", &result, request_id)
    }

    /// Answers who the SigV4 `Credential=` key belongs to; the signature itself is not checked.
    pub(super) fn get_caller_identity(
        &self,
        headers: &HeaderMap,
        caller_override: Option<&str>,
        request_id: &str,
    ) -> Answer {
        let Some(access_key_id) = sigv4_access_key_id(headers) else {
            return Answer::error(
                StatusCode::FORBIDDEN,
                "MissingAuthenticationToken",
                "Request is missing Authentication Token",
                request_id,
            );
        };
        let identity = match caller_override {
            Some(arn) => Identity::for_arn(arn),
            None => match lock(&self.identities).get(&access_key_id).cloned() {
                Some(identity) => identity,
                None => {
                    return Answer::error(
                        StatusCode::FORBIDDEN,
                        "InvalidClientTokenId",
                        "The security token included in the request is invalid.",
                        request_id,
                    );
                }
            },
        };
        let result = format!(
            "<Arn>{}</Arn><UserId>{}</UserId><Account>{}</Account>",
            xml_escape(&identity.arn),
            xml_escape(&identity.user_id),
            xml_escape(&identity.account),
        );
        Answer::success("GetCallerIdentity", &result, request_id)
    }
}

/// The access key id from `Authorization: AWS4-HMAC-SHA256 Credential=AKID/date/region/sts/aws4_request, ...`.
pub(super) fn sigv4_access_key_id(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let fields = value.strip_prefix("AWS4-HMAC-SHA256")?;
    let credential = fields
        .split(',')
        .find_map(|field| field.trim().strip_prefix("Credential="))?;
    let access_key_id = credential.split('/').next()?.trim();
    (!access_key_id.is_empty()).then(|| access_key_id.to_owned())
}
