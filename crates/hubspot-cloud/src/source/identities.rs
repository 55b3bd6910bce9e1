//! `contact_identity_profiles` and `contact_identities`: the identities HubSpot keeps per
//! contact (primary and secondary emails, the lead guid, …), which only the v1 contacts API
//! answers (`GET /contacts/v1/contact/vids/batch/`, ≤ 100 vids a call).
//!
//! They are read with the contacts' links (see [`super::associations`]): for each committed
//! contacts page, before it commits and written in its transaction, and in the periodic full
//! pass (the initial sync reads them there). A contact answers one profile of its own and one
//! per contact merged into it, so:
//! - a profile row is keyed by the contact it was made for (`contact_id`, its `vid`) and points
//!   at the contact that answers it now (`canonical_contact_id`);
//! - after a merge, the merged-away contacts keep their own profile and identities (their old
//!   addresses, still `is_primary` within that profile), their `canonical_contact_id` the
//!   survivor: "every address of contact S" is the identities of the profiles whose
//!   `canonical_contact_id` is S;
//! - reading a profile replaces its identities: one HubSpot no longer answers gets
//!   `is_deleted = 1` (and 0 again if it comes back);
//! - an archived contact answers nothing: its identities stay as last read, like its links.

use super::db::Sql;
use super::store::{self, LinksWritten};
use super::{Ctx, SyncError};
use crate::client::{IdentityProfile, MAX_VIDS};

/// The identity profiles of the contacts `ids` (every profile each one answers).
pub(super) async fn read(ctx: &Ctx<'_>, ids: &[String]) -> Result<Vec<IdentityProfile>, SyncError> {
    let mut out = Vec::new();
    for chunk in ids.chunks(MAX_VIDS) {
        out.extend(ctx.paced(|| ctx.client.identity_profiles(chunk)).await?);
    }
    Ok(out)
}

/// Writes read profiles inside the caller's transaction.
pub(super) async fn write(
    sql: Sql<'_>,
    profiles: &[IdentityProfile],
    received_at: &str,
    written: &mut LinksWritten,
) -> Result<(), SyncError> {
    for p in profiles {
        let w = store::replace_identities(sql, p, received_at).await?;
        written.inserted += w.inserted;
        written.updated += w.updated;
        written.deleted += w.deleted;
    }
    Ok(())
}
