//! Records associated with their contacts: the contacts are looked up by email (one read per
//! 100), then associated in one batch call.

use crate::client::{ApiError, ErrorKind, MAX_BATCH_INPUTS};
use crate::delivery::{CallError, Pacer};

/// Associates each `(record id, contact email)` of `object_type` with the contact; returns, per
/// pair, whether it was done. A contact not in HubSpot yet (its identify may still be on its
/// way) is a transient failure, so the message is retried.
pub async fn associate_contacts(
    pacer: &Pacer,
    object_type: &str,
    wanted: &[(String, String)],
) -> Vec<Result<(), CallError>> {
    let mut out = Vec::with_capacity(wanted.len());
    for batch in wanted.chunks(MAX_BATCH_INPUTS) {
        out.extend(associate_batch(pacer, object_type, batch).await);
    }
    out
}

async fn associate_batch(
    pacer: &Pacer,
    object_type: &str,
    wanted: &[(String, String)],
) -> Vec<Result<(), CallError>> {
    let mut emails: Vec<String> = wanted.iter().map(|(_, e)| e.to_lowercase()).collect();
    emails.sort();
    emails.dedup();
    let api = pacer.api();
    let read = match pacer
        .call(|| api.read("contacts", "email", &emails, &["email"]))
        .await
    {
        Ok(r) => r,
        Err(e) => return vec![Err(e); wanted.len()],
    };
    let contact_id = |email: &str| {
        read.iter()
            .find(|r| {
                r.properties
                    .get("email")
                    .and_then(|v| v.as_str())
                    .is_some_and(|e| e.eq_ignore_ascii_case(email))
            })
            .map(|r| r.id.clone())
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut out: Vec<Result<(), CallError>> = wanted
        .iter()
        .map(|(record, email)| match contact_id(email) {
            Some(contact) => {
                let pair = (record.clone(), contact);
                if !pairs.contains(&pair) {
                    pairs.push(pair);
                }
                Ok(())
            }
            None => Err(CallError::Api(ApiError {
                kind: ErrorKind::Transient,
                status: None,
                message: format!("no HubSpot contact with email {email} to associate yet"),
                category: None,
            })),
        })
        .collect();
    if pairs.is_empty() {
        return out;
    }
    if let Err(e) = pacer
        .call(|| api.associate(object_type, "contacts", &pairs))
        .await
    {
        for r in out.iter_mut().filter(|r| r.is_ok()) {
            *r = Err(e.clone());
        }
    }
    out
}
