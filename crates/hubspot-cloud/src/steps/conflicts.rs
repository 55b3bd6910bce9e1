//! A 409 that names the existing record ("Contact already exists. Existing ID: 123": the email
//! is that contact's secondary address, say) means the upsert's key is taken: write the input
//! to that record by id instead, all such inputs of a batch in one update.

use super::Written;
use crate::client::{ApiError, ErrorKind, UpdateInput, UpsertInput};
use crate::delivery::{CallError, Pacer};

/// Rewrites `written[k]` for every input that hit such a conflict.
pub async fn resolve(
    pacer: &Pacer,
    object_type: &str,
    inputs: &[UpsertInput],
    written: &mut Written,
) {
    let conflicts: Vec<(usize, String)> = written
        .iter()
        .enumerate()
        .filter_map(|(k, r)| match r {
            Err(CallError::Api(ApiError {
                kind:
                    ErrorKind::Conflict {
                        existing_id: Some(id),
                    },
                ..
            })) => Some((k, id.clone())),
            _ => None,
        })
        .collect();
    if conflicts.is_empty() {
        return;
    }
    let updates: Vec<UpdateInput> = conflicts
        .iter()
        .map(|(k, id)| UpdateInput {
            id: id.clone(),
            properties: inputs[*k].properties.clone(),
        })
        .collect();
    let api = pacer.api();
    let result = pacer.call(|| api.update(object_type, &updates)).await;
    for (n, (k, _)) in conflicts.into_iter().enumerate() {
        written[k] = match &result {
            Ok(per_input) => per_input[n].clone().map_err(CallError::Api),
            Err(e) => Err(e.clone()),
        };
    }
}
