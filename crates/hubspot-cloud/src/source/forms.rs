//! `form_submissions`: every form of `GET /marketing/v3/forms`, then each form's submissions
//! from `GET /form-integrations/v1/submissions/forms/{formGuid}`, which HubSpot answers newest
//! first (50 a page) with no time filter.
//!
//! **Incremental, per form.** `_sync_state` holds one cursor per form
//! (`form_submissions:{formGuid}`): the newest `submittedAt` of a completed read. A run reads
//! a form's pages until a submission older than that cursor minus `lag` (the trailing window
//! every collection re-reads, for answers that show late), so an unchanged form costs one
//! request.
//!
//! **Crash safety.** Each page's rows commit in one transaction; the cursor commits only with
//! the form's last page. Newest first, what a run has read is a range from the newest
//! submission down to its current page, not adjoining the previous cursor: a cursor saved mid-way
//! would claim the gap below the page as read, and a crash there would lose it. So a run cut
//! short re-reads the form from its newest submission, and the key makes the replay write the
//! same rows (upserts), never duplicates.
//!
//! **Key.** `(form_id, submitted_at, submission_key)`: `submission_key` is a UUID v5 of the
//! submission's page URL and values as answered, stable across reads (the v1 answer carries no
//! id of its own). Two submissions of one form in the same millisecond with the same page and
//! values are indistinguishable and are one row.
//!
//! **Contact.** `contact_email` is the `email` field; `contact_id` the contact whose synced
//! identity (primary or secondary email, a merged-away contact's resolving to the survivor)
//! has that address when the submission is written: sync contacts first (the default order
//! does). An id found once is kept.

use serde_json::{Map, Value, json};

use super::db::Db;
use super::state::{self, SyncState};
use super::store::{self, SubmissionRow, Written};
use super::{Ctx, SyncError, TableReport};
use crate::client::{FormSubmission, MarketingForm};
use hubspot_core::date::format_iso_ms;

/// The collection's name: its table, its `_sync_state` key and its `--collections` name.
pub const COLLECTION: &str = "form_submissions";

/// The `_sync_state` collection holding form `form_id`'s cursor.
pub fn state_key(form_id: &str) -> String {
    format!("{COLLECTION}:{form_id}")
}

/// Names submission keys (any fixed UUID works; this one is this project's).
const KEY_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6d1e_4c0a_52b3_4f7e_9a41_0c8f_3d2b_7e15);

/// The row of one submission of `form`.
pub fn submission_row(form: &MarketingForm, s: &FormSubmission) -> SubmissionRow {
    let content = json!([s.page_url, s.values]).to_string();
    let mut values = Map::new();
    for (name, value) in &s.values {
        // A multi-select answers its name once per choice: `;`-joined, as HubSpot stores it.
        let joined = match values.get(name).and_then(Value::as_str) {
            Some(prev) => format!("{prev};{value}"),
            None => value.clone(),
        };
        values.insert(name.clone(), Value::String(joined));
    }
    let contact_email = s
        .values
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("email"))
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    SubmissionRow {
        form_id: form.id.clone(),
        submitted_at: format_iso_ms(s.submitted_at_ms),
        submission_key: uuid::Uuid::new_v5(&KEY_NAMESPACE, content.as_bytes()).to_string(),
        form_name: form.name.clone(),
        page_url: s.page_url.clone(),
        page_title: s.page_title.clone(),
        values: Value::Object(values),
        contact_email,
        contact_id: None,
    }
}

/// Syncs every form's new submissions into `db`.
pub(super) async fn run(ctx: &Ctx<'_>, db: &mut Db) -> Result<TableReport, SyncError> {
    store::ensure_form_submissions(db.sql()).await?;
    store::ensure_identities(db.sql()).await?;
    let started = ctx.now_ms();
    let mut report = TableReport::new(COLLECTION);
    let mut after: Option<String> = None;
    loop {
        let (forms, next) = ctx
            .paced(|| ctx.client.list_forms(after.as_deref()))
            .await?;
        for form in &forms {
            sync_form(ctx, db, form, &mut report).await?;
        }
        match next {
            Some(a) => after = Some(a),
            None => break,
        }
    }
    ctx.save_whole_run(db.sql(), COLLECTION, started).await?;
    report.complete = true;
    Ok(report)
}

/// Reads `form`'s submissions newest first down to its cursor minus the lag, a transaction per
/// page, the cursor with the last one.
async fn sync_form(
    ctx: &Ctx<'_>,
    db: &mut Db,
    form: &MarketingForm,
    report: &mut TableReport,
) -> Result<(), SyncError> {
    let key = state_key(&form.id);
    let prior = match ctx.options.full_refresh {
        true => None,
        false => state::load(db.sql(), ctx.portal, &key).await?,
    };
    let lag = ctx.options.lag.as_millis() as i64;
    let stop_ms = prior.map(|s| s.cursor_ms - lag);
    let mut newest = prior.map_or(0, |s| s.cursor_ms);
    let started = ctx.now_ms();
    let mut after: Option<String> = None;
    loop {
        let (page, next) = ctx
            .paced(|| ctx.client.form_submissions(&form.id, after.as_deref()))
            .await?;
        let mut done = next.is_none();
        let tx = db.transaction().await?;
        let now = ctx.now_iso();
        for s in &page {
            if stop_ms.is_some_and(|stop| s.submitted_at_ms < stop) {
                // Newest first: the rest of the form is older still.
                done = true;
                break;
            }
            newest = newest.max(s.submitted_at_ms);
            let mut row = submission_row(form, s);
            if let Some(email) = &row.contact_email {
                row.contact_id = store::contact_for_email(tx.sql(), email).await?;
            }
            match store::upsert_submission(tx.sql(), &row, &now).await? {
                Written::Inserted => report.inserted += 1,
                Written::Updated => report.updated += 1,
                Written::Unchanged => {}
            }
        }
        if done {
            let finished = ctx.now_ms();
            state::save(
                tx.sql(),
                ctx.portal,
                &key,
                &SyncState {
                    cursor_ms: newest,
                    last_run_started_ms: Some(started),
                    last_success_ms: Some(finished),
                    ..SyncState::default()
                },
            )
            .await?;
        }
        tx.commit().await?;
        ctx.committed(page.len());
        if done {
            return Ok(());
        }
        after = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> MarketingForm {
        MarketingForm {
            id: "f1".into(),
            name: Some("Demo".into()),
        }
    }

    fn submission(values: &[(&str, &str)]) -> FormSubmission {
        FormSubmission {
            submitted_at_ms: 1_700_000_000_000,
            page_url: Some("https://example.com/a".into()),
            page_title: None,
            values: values
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn the_key_is_stable_and_tells_different_submissions_of_one_millisecond_apart() {
        let a = submission_row(&form(), &submission(&[("email", "a@x.com")]));
        let again = submission_row(&form(), &submission(&[("email", "a@x.com")]));
        let b = submission_row(&form(), &submission(&[("email", "b@x.com")]));
        assert_eq!(a.submission_key, again.submission_key);
        assert_ne!(a.submission_key, b.submission_key);
        assert_eq!(a.submitted_at, "2023-11-14T22:13:20.000Z");
        assert_eq!(a.contact_email.as_deref(), Some("a@x.com"));
    }

    #[test]
    fn a_multi_select_answers_one_value_joined() {
        let r = submission_row(
            &form(),
            &submission(&[("Email", "a@x.com"), ("topics", "x"), ("topics", "y")]),
        );
        assert_eq!(r.values, json!({"Email": "a@x.com", "topics": "x;y"}));
        assert_eq!(r.contact_email.as_deref(), Some("a@x.com"));
    }
}
