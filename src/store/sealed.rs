//! Sealed values in SQL: a [`Sealed`] blob binds and reads as the `BLOB`/`bytea` column it is
//! kept in, so row types carry it as it is and stores never see plaintext; in a text entry it is
//! kept in the [`TextForm`] its kind has always used.

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

/// How a text entry holds a sealed blob (each kind keeps the form it was first written in, so
/// stored entries stay readable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextForm {
    /// Lowercase hex (the database engine's connections and static roles).
    Hex,
    /// Standard base64 (cubbyholes, audit device keys).
    Base64,
}

impl TextForm {
    /// The entry text of `value`.
    pub fn encode(self, value: &Sealed) -> String {
        match self {
            TextForm::Hex => hex::encode(value.as_bytes()),
            TextForm::Base64 => {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.encode(value.as_bytes())
            }
        }
    }

    /// The blob an entry's text holds; a fault when the text is not in this form.
    pub fn decode(self, text: &str) -> crate::store::StoreResult<Sealed> {
        let bytes = match self {
            TextForm::Hex => hex::decode(text).map_err(|_| "hex"),
            TextForm::Base64 => {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.decode(text).map_err(|_| "base64")
            }
        };
        bytes
            .map(Sealed::from_stored)
            .map_err(|form| crate::store::StoreError::Backend(format!("a sealed entry is not {form} text")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_form_reads_back_what_it_wrote_and_refuses_the_other() {
        let blob = Sealed::from_stored(vec![1, 0, 0, 0, 7, 0xff, 0x10]);
        for form in [TextForm::Hex, TextForm::Base64] {
            assert_eq!(form.decode(&form.encode(&blob)).unwrap().as_bytes(), blob.as_bytes());
        }
        assert_eq!(TextForm::Hex.encode(&blob), "01000000 07ff10".replace(' ', ""));
        assert!(TextForm::Hex.decode("AQAAAAf/EA==").is_err());
        assert!(TextForm::Base64.decode("not base64!").is_err());
    }
}
