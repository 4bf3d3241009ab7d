//! The few X.509 fields the cert method reads that webpki does not expose: the subject's common
//! name, validity, basic constraints, extended key usage and key identifiers. A small DER reader
//! over a certificate webpki has already parsed (or that is refused when it does not parse).

/// One DER element: its tag byte and its contents.
struct Tlv<'a> {
    tag: u8,
    body: &'a [u8],
}

/// Reads the next element of `input` (definite lengths up to 4 bytes, as DER allows).
fn next<'a>(input: &mut &'a [u8]) -> Option<Tlv<'a>> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, after) = rest.split_at(n);
        rest = after;
        bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    if rest.len() < len {
        return None;
    }
    let (body, after) = rest.split_at(len);
    *input = after;
    Some(Tlv { tag, body })
}

/// Reads an element that must carry `tag`.
fn expect<'a>(input: &mut &'a [u8], tag: u8) -> Option<&'a [u8]> {
    let t = next(input)?;
    (t.tag == tag).then_some(t.body)
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const OCTET_STRING: u8 = 0x04;
const BOOLEAN: u8 = 0x01;

const CN: &[u8] = &[0x55, 0x04, 0x03];
const BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
const EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
const SUBJECT_KEY_ID: &[u8] = &[0x55, 0x1d, 0x0e];
const AUTHORITY_KEY_ID: &[u8] = &[0x55, 0x1d, 0x23];
/// id-kp-clientAuth, 1.3.6.1.5.5.7.3.2.
const CLIENT_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02];

/// What the cert method reads of one certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Info {
    /// The serial number, big-endian as encoded.
    pub serial: Vec<u8>,
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// The subject's first common name, when it is a string.
    pub common_name: Option<String>,
    /// Basic constraints say this is a CA.
    pub is_ca: bool,
    /// The extended key usage lists id-kp-clientAuth.
    pub client_auth: bool,
    /// Subject key identifier.
    pub subject_key_id: Option<Vec<u8>>,
    /// Authority key identifier (its keyIdentifier).
    pub authority_key_id: Option<Vec<u8>>,
}

/// Parses the fields of a DER certificate; `None` when it is not one.
pub fn parse(der: &[u8]) -> Option<Info> {
    let mut input = der;
    let mut cert = expect(&mut input, SEQUENCE)?;
    if !input.is_empty() {
        return None;
    }
    let mut tbs = expect(&mut cert, SEQUENCE)?;
    let mut first = next(&mut tbs)?;
    if first.tag == 0xa0 {
        first = next(&mut tbs)?;
    }
    if first.tag != 0x02 {
        return None;
    }
    let mut info = Info { serial: first.body.to_vec(), ..Info::default() };
    expect(&mut tbs, SEQUENCE)?; // signature algorithm
    expect(&mut tbs, SEQUENCE)?; // issuer
    let mut validity = expect(&mut tbs, SEQUENCE)?;
    info.not_before = time(next(&mut validity)?)?;
    info.not_after = time(next(&mut validity)?)?;
    info.common_name = common_name(expect(&mut tbs, SEQUENCE)?);
    expect(&mut tbs, SEQUENCE)?; // subject public key info
    while let Some(t) = next(&mut tbs) {
        if t.tag == 0xa3 {
            let mut seq = t.body;
            extensions(expect(&mut seq, SEQUENCE)?, &mut info)?;
        }
    }
    Some(info)
}

fn common_name(mut name: &[u8]) -> Option<String> {
    while let Some(mut rdn) = expect(&mut name, SET) {
        while let Some(mut atv) = expect(&mut rdn, SEQUENCE) {
            let oid = expect(&mut atv, OID)?;
            let value = next(&mut atv)?;
            // UTF8String, PrintableString, IA5String, T61String (read as Latin-1-free ASCII).
            if oid == CN && matches!(value.tag, 0x0c | 0x13 | 0x16 | 0x14) {
                return std::str::from_utf8(value.body).ok().map(str::to_string);
            }
        }
    }
    None
}

fn extensions(mut list: &[u8], info: &mut Info) -> Option<()> {
    while let Some(mut ext) = expect(&mut list, SEQUENCE) {
        let oid = expect(&mut ext, OID)?;
        let mut value = next(&mut ext)?;
        if value.tag == BOOLEAN {
            value = next(&mut ext)?;
        }
        if value.tag != OCTET_STRING {
            return None;
        }
        let mut inner = value.body;
        match oid {
            BASIC_CONSTRAINTS => {
                let mut bc = expect(&mut inner, SEQUENCE)?;
                if let Some(t) = next(&mut bc) {
                    info.is_ca = t.tag == BOOLEAN && t.body.first().is_some_and(|b| *b != 0);
                }
            }
            EXT_KEY_USAGE => {
                let mut usages = expect(&mut inner, SEQUENCE)?;
                while let Some(u) = expect(&mut usages, OID) {
                    info.client_auth |= u == CLIENT_AUTH;
                }
            }
            SUBJECT_KEY_ID => info.subject_key_id = Some(expect(&mut inner, OCTET_STRING)?.to_vec()),
            AUTHORITY_KEY_ID => {
                let mut aki = expect(&mut inner, SEQUENCE)?;
                if let Some(t) = next(&mut aki).filter(|t| t.tag == 0x80) {
                    info.authority_key_id = Some(t.body.to_vec());
                }
            }
            _ => {}
        }
    }
    Some(())
}

/// UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) as Unix seconds.
fn time(t: Tlv<'_>) -> Option<i64> {
    let s = std::str::from_utf8(t.body).ok()?;
    let digits = s.strip_suffix('Z')?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let full = match (t.tag, digits.len()) {
        (0x17, 12) => {
            let yy: i32 = digits.get(..2)?.parse().ok()?;
            format!("{}{}", if yy >= 50 { 19 } else { 20 }, digits)
        }
        (0x18, 14) => digits.to_string(),
        _ => return None,
    };
    let dt = chrono::NaiveDateTime::parse_from_str(&full, "%Y%m%d%H%M%S").ok()?;
    Some(dt.and_utc().timestamp())
}

/// A serial number in decimal, as Vault shows it in `serial_number`.
pub fn serial_decimal(serial: &[u8]) -> String {
    let mut n: Vec<u8> = serial.iter().copied().skip_while(|b| *b == 0).collect();
    let mut out = Vec::new();
    while !n.is_empty() {
        let mut rem = 0u32;
        for b in n.iter_mut() {
            let cur = (rem << 8) | u32::from(*b);
            *b = u8::try_from(cur / 10).unwrap_or(0);
            rem = cur % 10;
        }
        out.push(char::from_digit(rem, 10).unwrap_or('0'));
        n = n.into_iter().skip_while(|b| *b == 0).collect();
    }
    if out.is_empty() {
        return "0".into();
    }
    out.iter().rev().collect()
}

/// Bytes as colon-separated lowercase hex (`67:84:0f`), as Vault shows key identifiers.
pub fn colon_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_print_in_decimal() {
        assert_eq!(serial_decimal(&[0x00]), "0");
        assert_eq!(serial_decimal(&[0x01, 0x00]), "256");
        assert_eq!(serial_decimal(&[0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), "18446744073709551615");
    }

    #[test]
    fn fields_of_an_rcgen_certificate() {
        let mut p = rcgen::CertificateParams::new(vec!["app.example.com".into()]).unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, "app1");
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        p.not_before = rcgen::date_time_ymd(2026, 1, 2);
        p.not_after = rcgen::date_time_ymd(2027, 1, 2);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        let info = parse(cert.der()).unwrap();
        assert_eq!(info.common_name.as_deref(), Some("app1"));
        assert!(info.client_auth);
        assert!(!info.is_ca);
        assert_eq!(info.not_before, 1_767_312_000);
        assert_eq!(info.not_after, 1_798_848_000);

        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name = rcgen::DistinguishedName::new();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let info = parse(ca.self_signed(&key).unwrap().der()).unwrap();
        assert!(info.is_ca);
        assert!(!info.client_auth);
        assert_eq!(info.common_name, None);
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        for bad in [&[][..], &[0x30, 0x05, 0x01], &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff], &[0x31, 0x00]] {
            assert!(parse(bad).is_none());
        }
    }
}
