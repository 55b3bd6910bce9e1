//! HubSpot ignores a lifecycle stage that moves backwards. After a write, read the stages
//! back; where the stored one differs from the one sent, clear it and set it again: two batch
//! updates for the whole batch (Segment's single-event path spends three calls per contact).

use serde_json::{Map, Value};

use crate::client::UpdateInput;
use crate::delivery::Pacer;

const STAGE: &str = "lifecyclestage";

/// Fixes the stages of records just written: `(record id, properties sent)`. Best effort: a
/// failure is logged, the write itself stands.
pub async fn fix(pacer: &Pacer, object_type: &str, written: &[(String, &Map<String, Value>)]) {
    let wanted: Vec<(&String, &Value)> = written
        .iter()
        .filter_map(|(id, props)| Some((id, props.get(STAGE)?)))
        .collect();
    if wanted.is_empty() {
        return;
    }
    let ids: Vec<String> = wanted.iter().map(|(id, _)| (*id).clone()).collect();
    let api = pacer.api();
    let Ok(read) = pacer
        .call(|| api.read(object_type, "hs_object_id", &ids, &[STAGE]))
        .await
    else {
        return;
    };
    let stale: Vec<(&String, &Value)> = wanted
        .into_iter()
        .filter(|(id, want)| {
            read.iter()
                .any(|r| &r.id == *id && r.properties.get(STAGE) != Some(*want))
        })
        .collect();
    if stale.is_empty() {
        return;
    }
    for set in [false, true] {
        let inputs: Vec<UpdateInput> = stale
            .iter()
            .map(|(id, want)| UpdateInput {
                id: (*id).clone(),
                properties: Map::from_iter([(
                    STAGE.to_owned(),
                    if set {
                        (*want).clone()
                    } else {
                        Value::from("")
                    },
                )]),
            })
            .collect();
        if let Err(e) = pacer.call(|| api.update(object_type, &inputs)).await {
            tracing::warn!(error = ?e, "could not move lifecycle stages backwards");
            return;
        }
    }
}
