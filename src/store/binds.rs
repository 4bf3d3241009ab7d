//! Row binding and row mapping shared by both SQL stores: each row's fields bound in the order of
//! the statements in [`super::sql`], written once and implemented for both drivers' queries.

use sqlx::postgres::{PgArguments, Postgres};
use sqlx::query::Query;

use super::leases::SecretLeaseRow;
use super::rotation::RotationRow;
use super::sqlite::lite::LiteArgs;
use super::{KvMetadataRow, KvRead, KvVersionRow, MountRow, TokenRow};

/// Binds a row's fields, in the column order of the matching statement.
pub(crate) trait BindRow<'q>: Sized {
    /// [`super::sql::MOUNT_INSERT`]: all eleven columns.
    fn bind_mount(self, m: &'q MountRow) -> Self;
    /// [`super::sql::token_cols`]: all nineteen columns.
    fn bind_token(self, t: &'q TokenRow) -> Self;
    /// [`super::sql::KV_METADATA_PUT`]: all ten columns.
    fn bind_metadata(self, m: &'q KvMetadataRow) -> Self;
    /// [`super::sql::KV_VERSION_INSERT`] after `mount_id, path`.
    fn bind_version(self, v: &'q KvVersionRow) -> Self;
    /// [`super::sql::SECRET_LEASE_INSERT`]: all fifteen columns.
    fn bind_secret_lease(self, l: &'q SecretLeaseRow) -> Self;
    /// A rotation row's state columns, `config` to `abandoned`, in table order (insert and update).
    fn bind_rotation_state(self, r: &'q RotationRow) -> Self;
}

macro_rules! bind_row_for {
    ($($query:ty),*) => {$(
        impl<'q> BindRow<'q> for $query {
            fn bind_mount(self, m: &'q MountRow) -> Self {
                self.bind(&m.id)
                    .bind(&m.table_name)
                    .bind(&m.path)
                    .bind(&m.kind)
                    .bind(&m.description)
                    .bind(&m.accessor)
                    .bind(&m.config)
                    .bind(&m.options)
                    .bind(m.local)
                    .bind(m.seal_wrap)
                    .bind(&m.created_at)
            }

            fn bind_token(self, t: &'q TokenRow) -> Self {
                self.bind(&t.hash)
                    .bind(&t.accessor)
                    .bind(&t.parent_hash)
                    .bind(&t.policies)
                    .bind(&t.meta)
                    .bind(&t.display_name)
                    .bind(&t.path)
                    .bind(&t.token_type)
                    .bind(t.creation_time)
                    .bind(t.ttl)
                    .bind(t.explicit_max_ttl)
                    .bind(t.period)
                    .bind(t.num_uses)
                    .bind(t.expire_time)
                    .bind(t.renewable)
                    .bind(t.orphan)
                    .bind(&t.bound_cidrs)
                    .bind(&t.identity)
                    .bind(t.max_ttl)
            }

            fn bind_metadata(self, m: &'q KvMetadataRow) -> Self {
                self.bind(&m.mount_id)
                    .bind(&m.path)
                    .bind(m.max_versions)
                    .bind(m.cas_required)
                    .bind(m.delete_version_after)
                    .bind(&m.custom_metadata)
                    .bind(&m.created_time)
                    .bind(&m.updated_time)
                    .bind(m.current_version)
                    .bind(m.oldest_version)
            }

            fn bind_version(self, v: &'q KvVersionRow) -> Self {
                self.bind(v.version)
                    .bind(&v.created_time)
                    .bind(&v.deletion_time)
                    .bind(v.destroyed)
                    .bind(v.key_term)
                    .bind(&v.ciphertext)
            }

            fn bind_secret_lease(self, l: &'q SecretLeaseRow) -> Self {
                self.bind(&l.id)
                    .bind(&l.mount_id)
                    .bind(&l.path)
                    .bind(&l.role)
                    .bind(&l.token_hash)
                    .bind(l.issue_time)
                    .bind(l.expire_time)
                    .bind(l.max_expire)
                    .bind(l.last_renewal)
                    .bind(l.renewable)
                    .bind(l.key_term)
                    .bind(&l.secret)
                    .bind(l.attempts)
                    .bind(l.next_attempt)
                    .bind(&l.last_error)
            }

            fn bind_rotation_state(self, r: &'q RotationRow) -> Self {
                self.bind(&r.config)
                    .bind(r.key_term)
                    .bind(r.scheduled)
                    .bind(r.fire_at)
                    .bind(r.next_rotation_at)
                    .bind(r.due_at)
                    .bind(r.claim_epoch)
                    .bind(&r.step)
                    .bind(r.step_done)
                    .bind(&r.cause)
                    .bind(&r.version_token)
                    .bind(r.from_version)
                    .bind(r.pending_version)
                    .bind(&r.new_value)
                    .bind(r.attempts)
                    .bind(r.started_at)
                    .bind(r.last_rotated_at)
                    .bind(&r.last_outcome)
                    .bind(&r.last_error)
                    .bind(r.succeeded)
                    .bind(r.failed)
                    .bind(r.abandoned)
            }
        }
    )*};
}

bind_row_for!(LiteArgs, Query<'q, Postgres, PgArguments>);

/// [`super::sql::KV_READ`]'s row: the metadata and the columns of the joined version (all null
/// if none).
#[derive(sqlx::FromRow)]
pub(crate) struct Joined {
    #[sqlx(flatten)]
    meta: KvMetadataRow,
    v_version: Option<i64>,
    v_created_time: Option<String>,
    v_deletion_time: Option<String>,
    v_destroyed: Option<bool>,
    v_key_term: Option<i64>,
    v_ciphertext: Option<Vec<u8>>,
}

impl Joined {
    /// The metadata and the version, if one was joined.
    pub(crate) fn split(self) -> KvRead {
        let v = match (self.v_version, self.v_created_time) {
            (Some(version), Some(created_time)) => Some(KvVersionRow {
                version,
                created_time,
                deletion_time: self.v_deletion_time,
                destroyed: self.v_destroyed.unwrap_or(false),
                key_term: self.v_key_term,
                ciphertext: self.v_ciphertext.map(super::Sealed::from_stored),
            }),
            _ => None,
        };
        (self.meta, v)
    }
}

/// [`super::sql::KV_BELOW_TERM`]'s row: a version with its key.
#[derive(sqlx::FromRow)]
pub(crate) struct KeyedVersion {
    mount_id: String,
    path: String,
    #[sqlx(flatten)]
    v: KvVersionRow,
}

impl KeyedVersion {
    /// The mount id, the path and the version.
    pub(crate) fn split(self) -> (String, String, KvVersionRow) {
        (self.mount_id, self.path, self.v)
    }
}
