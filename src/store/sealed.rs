//! Sealed values in SQL: a [`Sealed`] blob binds and reads as the `BLOB`/`bytea` column it is
//! kept in, so row types carry it as it is and stores never see plaintext.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Encode, Type};

use crate::crypto::barrier::Sealed;

impl<DB: Database> Type<DB> for Sealed
where
    Vec<u8>: Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <Vec<u8> as Type<DB>>::type_info()
    }

    fn compatible(ty: &DB::TypeInfo) -> bool {
        <Vec<u8> as Type<DB>>::compatible(ty)
    }
}

impl<'q, DB: Database> Encode<'q, DB> for Sealed
where
    Vec<u8>: Encode<'q, DB>,
{
    fn encode_by_ref(&self, buf: &mut <DB as Database>::ArgumentBuffer<'q>) -> Result<IsNull, BoxDynError> {
        self.as_bytes().to_vec().encode(buf)
    }
}

impl<'r, DB: Database> Decode<'r, DB> for Sealed
where
    Vec<u8>: Decode<'r, DB>,
{
    fn decode(value: <DB as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        <Vec<u8> as Decode<'r, DB>>::decode(value).map(Sealed::from_stored)
    }
}
