//! KV rows packed into one byte string each for the cache (one allocation instead of one per
//! field), and unpacked into the store's row types on a hit.

use crate::crypto::barrier::Sealed;
use crate::store::{KvMetadataRow, KvVersionRow};

/// Appends fields, little-endian, strings with a 32-bit length.
struct Packer(Vec<u8>);

impl Packer {
    fn int(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    fn flag(&mut self, v: bool) {
        self.0.push(u8::from(v));
    }

    fn bytes(&mut self, v: &[u8]) {
        // Rows hold nothing near 4 GiB (requests are bounded far below); saturate rather than wrap.
        let len = u32::try_from(v.len()).unwrap_or(u32::MAX);
        self.0.extend_from_slice(&len.to_le_bytes());
        self.0.extend(v.iter().take(len as usize));
    }

    fn opt_int(&mut self, v: Option<i64>) {
        self.flag(v.is_some());
        self.int(v.unwrap_or(0));
    }

    fn opt_bytes(&mut self, v: Option<&[u8]>) {
        self.flag(v.is_some());
        self.bytes(v.unwrap_or_default());
    }

    fn done(self) -> Box<[u8]> {
        self.0.into_boxed_slice()
    }
}

/// Reads fields back in the order they were packed; `None` on anything short or malformed.
struct Unpacker<'a>(&'a [u8]);

impl Unpacker<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn int(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn flag(&mut self) -> Option<bool> {
        Some(*self.take(1)?.first()? != 0)
    }

    fn bytes(&mut self) -> Option<Vec<u8>> {
        let len = u32::from_le_bytes(self.take(4)?.try_into().ok()?);
        Some(self.take(usize::try_from(len).ok()?)?.to_vec())
    }

    fn string(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?).ok()
    }

    fn opt_int(&mut self) -> Option<Option<i64>> {
        let some = self.flag()?;
        let v = self.int()?;
        Some(some.then_some(v))
    }

    fn opt_bytes(&mut self) -> Option<Option<Vec<u8>>> {
        let some = self.flag()?;
        let v = self.bytes()?;
        Some(some.then_some(v))
    }
}

/// A metadata row without its mount id and path (the cache key holds them).
pub fn pack_meta(m: &KvMetadataRow) -> Box<[u8]> {
    let mut p = Packer(Vec::with_capacity(64 + m.created_time.len() + m.updated_time.len()));
    p.int(m.max_versions);
    p.flag(m.cas_required);
    p.int(m.delete_version_after);
    p.opt_bytes(m.custom_metadata.as_deref().map(str::as_bytes));
    p.bytes(m.created_time.as_bytes());
    p.bytes(m.updated_time.as_bytes());
    p.int(m.current_version);
    p.int(m.oldest_version);
    p.done()
}

/// The metadata row of `mount_id` and `path` packed by [`pack_meta`].
pub fn unpack_meta(mount_id: &str, path: &str, packed: &[u8]) -> Option<KvMetadataRow> {
    let mut u = Unpacker(packed);
    Some(KvMetadataRow {
        mount_id: mount_id.to_string(),
        path: path.to_string(),
        max_versions: u.int()?,
        cas_required: u.flag()?,
        delete_version_after: u.int()?,
        custom_metadata: u.opt_bytes()?.map(String::from_utf8).transpose().ok()?,
        created_time: u.string()?,
        updated_time: u.string()?,
        current_version: u.int()?,
        oldest_version: u.int()?,
    })
}

/// A version row (its number is kept beside it, unpacked).
pub fn pack_version(v: &KvVersionRow) -> Box<[u8]> {
    let size = 48 + v.created_time.len() + v.ciphertext.as_ref().map_or(0, |c| c.as_bytes().len());
    let mut p = Packer(Vec::with_capacity(size));
    p.bytes(v.created_time.as_bytes());
    p.opt_bytes(v.deletion_time.as_deref().map(str::as_bytes));
    p.flag(v.destroyed);
    p.opt_int(v.key_term);
    p.opt_bytes(v.ciphertext.as_ref().map(Sealed::as_bytes));
    p.done()
}

/// Version `version` packed by [`pack_version`].
pub fn unpack_version(version: i64, packed: &[u8]) -> Option<KvVersionRow> {
    let mut u = Unpacker(packed);
    Some(KvVersionRow {
        version,
        created_time: u.string()?,
        deletion_time: u.opt_bytes()?.map(String::from_utf8).transpose().ok()?,
        destroyed: u.flag()?,
        key_term: u.opt_int()?,
        ciphertext: u.opt_bytes()?.map(Sealed::from_stored),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_come_back_as_they_went_in() {
        let m = KvMetadataRow {
            mount_id: "m".into(),
            path: "a/b".into(),
            max_versions: 3,
            cas_required: true,
            delete_version_after: 60,
            custom_metadata: Some("{\"k\":\"v\"}".into()),
            created_time: "2026-12-06T00:00:00Z".into(),
            updated_time: "2026-12-06T00:00:01Z".into(),
            current_version: 7,
            oldest_version: 5,
        };
        assert_eq!(unpack_meta("m", "a/b", &pack_meta(&m)), Some(m.clone()));
        let bare = KvMetadataRow { custom_metadata: None, ..m };
        assert_eq!(unpack_meta("m", "a/b", &pack_meta(&bare)), Some(bare));
        let v = KvVersionRow {
            version: 7,
            created_time: "2026-12-06T00:00:00Z".into(),
            deletion_time: Some("2026-12-07T00:00:00Z".into()),
            destroyed: false,
            key_term: Some(2),
            ciphertext: Some(Sealed::from_stored(vec![1, 2, 3])),
        };
        assert_eq!(unpack_version(7, &pack_version(&v)), Some(v.clone()));
        let gone = KvVersionRow { deletion_time: None, destroyed: true, key_term: None, ciphertext: None, ..v };
        assert_eq!(unpack_version(7, &pack_version(&gone)), Some(gone));
    }

    #[test]
    fn a_short_or_damaged_packing_is_a_miss_not_a_panic() {
        let v = KvVersionRow {
            version: 1,
            created_time: "t".into(),
            deletion_time: None,
            destroyed: false,
            key_term: Some(1),
            ciphertext: Some(Sealed::from_stored(vec![9; 40])),
        };
        let packed = pack_version(&v);
        for n in 0..packed.len() {
            assert_eq!(unpack_version(1, &packed[..n]), None, "cut at {n}");
        }
        assert_eq!(unpack_meta("m", "p", &[0xff; 3]), None);
    }
}
