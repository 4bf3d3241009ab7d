//! AWS's published SigV4 test-suite vectors (AKIDEXAMPLE, 20150830T123600Z, us-east-1, service
//! `service`), and the canonical pieces on their own: URI, query, header values, the HMAC.

use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use secrecy::SecretString;

use super::canonical::{
    canonical_query, canonical_request, canonical_request_of, canonical_uri, payload_hash, string_to_sign, Header,
};
use super::*;

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const AMZ_DATE: &str = "20150830T123600Z";
const SCOPE: &str = "20150830/us-east-1/service/aws4_request";
const HOST: &str = "example.amazonaws.com";
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn suite_now() -> DateTime<Utc> {
    "2015-08-30T12:36:00Z".parse().unwrap()
}

/// One vector: the request as sent (the suite's own `host` and `x-amz-date` are added) and the
/// signature AWS publishes for it, over every header it has.
struct Vector {
    name: &'static str,
    method: &'static str,
    uri: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    signature: &'static str,
}

const VECTORS: &[Vector] = &[
    Vector {
        name: "get-vanilla",
        method: "GET",
        uri: "/",
        headers: &[],
        body: "",
        signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    },
    Vector {
        name: "get-vanilla-empty-query-key",
        method: "GET",
        uri: "/?Param1=value1",
        headers: &[],
        body: "",
        signature: "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
    },
    Vector {
        name: "get-vanilla-query-order-key-case",
        method: "GET",
        uri: "/?Param2=value2&Param1=value1",
        headers: &[],
        body: "",
        signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
    },
    Vector {
        name: "get-vanilla-query-unreserved",
        method: "GET",
        uri: "/?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        headers: &[],
        body: "",
        signature: "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
    },
    Vector {
        name: "get-vanilla-utf8-query",
        method: "GET",
        uri: "/?%E1%88%B4=bar",
        headers: &[],
        body: "",
        signature: "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
    },
    Vector {
        name: "get-unreserved",
        method: "GET",
        uri: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        headers: &[],
        body: "",
        signature: "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
    },
    Vector {
        // Three headers of one name: their values joined with `,` in the order sent.
        name: "get-header-key-duplicate",
        method: "GET",
        uri: "/",
        headers: &[("my-header1", "value2"), ("my-header1", "value2"), ("my-header1", "value1")],
        body: "",
        signature: "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
    },
    Vector {
        name: "get-header-value-multiline",
        method: "GET",
        uri: "/",
        headers: &[("my-header1", "value1"), ("my-header1", "value2"), ("my-header1", "value3")],
        body: "",
        signature: "ba17b383a53190154eb5fa66a1b836cc297cc0a3d70a5d00705980573d8ff790",
    },
    Vector {
        name: "get-header-value-order",
        method: "GET",
        uri: "/",
        headers: &[("my-header1", "value4"), ("my-header1", "value1"), ("my-header1", "value3"), ("my-header1", "value2")],
        body: "",
        signature: "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01",
    },
    Vector {
        name: "get-header-value-trim",
        method: "GET",
        uri: "/",
        headers: &[("My-Header1", "  value1 \t"), ("My-Header2", "\"a   b   c\"")],
        body: "",
        signature: "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
    },
    Vector {
        name: "post-vanilla",
        method: "POST",
        uri: "/",
        headers: &[],
        body: "",
        signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
    },
    Vector {
        name: "post-header-key-sort",
        method: "POST",
        uri: "/",
        headers: &[("My-Header1", "value1")],
        body: "",
        signature: "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
    },
    Vector {
        name: "post-header-value-case",
        method: "POST",
        uri: "/",
        headers: &[("My-Header1", "VALUE1")],
        body: "",
        signature: "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d",
    },
    Vector {
        name: "post-vanilla-query",
        method: "POST",
        uri: "/?Param1=value1",
        headers: &[],
        body: "",
        signature: "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
    },
    Vector {
        name: "post-vanilla-query-nonunreserved",
        method: "POST",
        uri: "/?%40%23%24%25%5E=&%2B=%2F%2C%3F%3E%3C%60%22%3B%3A%5C%7C%5D%5B%7B%7D",
        headers: &[],
        body: "",
        signature: "66c82657c86e26fb25238d0e69f011edc4c6df5ae71119d7cb98ed9b87393c1e",
    },
    Vector {
        name: "post-vanilla-query-space",
        method: "POST",
        uri: "/?p",
        headers: &[],
        body: "",
        signature: "e71688addb58a26418614085fb730ba3faa623b461c17f48f2fbdb9361b94a9b",
    },
    Vector {
        name: "post-x-www-form-urlencoded",
        method: "POST",
        uri: "/",
        headers: &[("Content-Type", "application/x-www-form-urlencoded")],
        body: "Param1=value1",
        signature: "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
    },
    Vector {
        name: "post-x-www-form-urlencoded-parameters",
        method: "POST",
        uri: "/",
        headers: &[("Content-Type", "application/x-www-form-urlencoded; charset=utf8")],
        body: "Param1=value1",
        signature: "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe",
    },
];

struct Built {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Built {
    fn of(v: &Vector) -> Self {
        let mut headers = HeaderMap::new();
        headers.append("host", HeaderValue::from_static(HOST));
        headers.append("x-amz-date", HeaderValue::from_static(AMZ_DATE));
        for (name, value) in v.headers {
            headers.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_static(value));
        }
        Built {
            method: v.method.parse().unwrap(),
            uri: v.uri.parse().unwrap(),
            headers,
            body: v.body.as_bytes().to_vec(),
        }
    }

    fn signed(&self) -> Signed<'_> {
        Signed { method: &self.method, uri: &self.uri, headers: &self.headers, body: &self.body }
    }

    /// Every header name the request has: the suite signs them all.
    fn names(&self) -> Vec<&str> {
        self.headers.keys().map(HeaderName::as_str).collect()
    }
}

fn expected_authorization(built: &Built, signature: &str) -> String {
    let mut names = built.names();
    names.sort();
    format!("AWS4-HMAC-SHA256 Credential={AKID}/{SCOPE}, SignedHeaders={}, Signature={signature}", names.join(";"))
}

#[test]
fn the_signer_gives_each_suite_signature() {
    for v in VECTORS {
        let built = Built::of(v);
        let got = authorization_header(AKID, SECRET, "us-east-1", "service", &built.signed(), &built.names()).unwrap();
        assert_eq!(got, expected_authorization(&built, v.signature), "{}", v.name);
    }
}

#[test]
fn the_verifier_accepts_each_suite_request() {
    let secret = SecretString::from(SECRET);
    for v in VECTORS {
        let mut built = Built::of(v);
        let header = expected_authorization(&built, v.signature);
        built.headers.insert("authorization", header.parse().unwrap());
        let auth = parse_authorization(&built.headers, &built.uri).unwrap();
        assert_eq!((auth.access_key_id.as_str(), auth.scope().as_str()), (AKID, SCOPE), "{}", v.name);
        verify(&auth, &built.signed(), &secret, "service", suite_now()).unwrap_or_else(|e| panic!("{}: {e}", v.name));

        // One bit of the signature off, and the same request is refused.
        let mut wrong = v.signature.to_string();
        wrong.replace_range(63.., if v.signature.ends_with('0') { "1" } else { "0" });
        built.headers.insert("authorization", expected_authorization(&built, &wrong).parse().unwrap());
        let auth = parse_authorization(&built.headers, &built.uri).unwrap();
        let err = verify(&auth, &built.signed(), &secret, "service", suite_now()).unwrap_err();
        assert_eq!(err.aws_code(), "InvalidSignatureException", "{}", v.name);
    }
}

fn canonical_and_string_to_sign(v: &Vector) -> (String, String) {
    let built = Built::of(v);
    let mut names = built.names();
    names.sort();
    let canonical = canonical_request_of(&built.signed(), &names, &payload_hash(&built.body)).unwrap();
    let to_sign = string_to_sign(AMZ_DATE, SCOPE, &canonical);
    (String::from_utf8(canonical).unwrap(), to_sign)
}

fn vector(name: &str) -> &'static Vector {
    VECTORS.iter().find(|v| v.name == name).unwrap()
}

#[test]
fn get_vanilla_canonical_request_and_string_to_sign() {
    let (canonical, to_sign) = canonical_and_string_to_sign(vector("get-vanilla"));
    assert_eq!(canonical, format!("GET\n/\n\nhost:{HOST}\nx-amz-date:{AMZ_DATE}\n\nhost;x-amz-date\n{EMPTY_SHA256}"));
    assert_eq!(
        to_sign,
        format!(
            "AWS4-HMAC-SHA256\n{AMZ_DATE}\n{SCOPE}\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
        )
    );
}

#[test]
fn query_order_key_case_canonical_request_sorts_the_query() {
    let (canonical, to_sign) = canonical_and_string_to_sign(vector("get-vanilla-query-order-key-case"));
    assert_eq!(
        canonical,
        format!("GET\n/\nParam1=value1&Param2=value2\nhost:{HOST}\nx-amz-date:{AMZ_DATE}\n\nhost;x-amz-date\n{EMPTY_SHA256}")
    );
    assert!(to_sign.ends_with("\n816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0"));
}

#[test]
fn form_post_canonical_request_hashes_the_body() {
    let (canonical, to_sign) = canonical_and_string_to_sign(vector("post-x-www-form-urlencoded"));
    assert_eq!(
        canonical,
        format!(
            "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:{HOST}\nx-amz-date:{AMZ_DATE}\n\n\
             content-type;host;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"
        )
    );
    assert!(to_sign.ends_with("\n42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281"));
}

#[test]
fn header_values_are_trimmed_and_collapsed() {
    let (canonical, _) = canonical_and_string_to_sign(vector("get-header-value-trim"));
    assert!(canonical.contains("\nmy-header1:value1\nmy-header2:\"a b c\"\n"), "{canonical}");
    let (canonical, _) = canonical_and_string_to_sign(vector("get-header-key-duplicate"));
    assert!(canonical.contains("\nmy-header1:value2,value2,value1\n"), "{canonical}");
}

/// `get-utf8` sends the raw bytes of `/ሴ` on the request line, which `http::Uri` does not hold:
/// its canonical request is built from the parts.
#[test]
fn get_utf8_from_parts() {
    assert_eq!(canonical_uri("/ሴ"), "/%E1%88%B4");
    let headers = [
        Header { name: "host", values: vec![HOST.as_bytes()] },
        Header { name: "x-amz-date", values: vec![AMZ_DATE.as_bytes()] },
    ];
    let canonical = canonical_request("GET", "/ሴ", "", &headers, EMPTY_SHA256);
    let to_sign = string_to_sign(AMZ_DATE, SCOPE, &canonical);
    let signature = key::signature(SECRET.as_bytes(), "20150830", "us-east-1", "service", to_sign.as_bytes());
    assert_eq!(hex::encode(*signature), "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85");
}

#[test]
fn canonical_uri_encodes_each_wire_segment_again() {
    assert_eq!(canonical_uri(""), "/");
    assert_eq!(canonical_uri("/"), "/");
    // The client sent `/a b/ü` encoded once; the canonical URI encodes that again.
    assert_eq!(canonical_uri("/a%20b/%C3%BC"), "/a%2520b/%25C3%25BC");
    assert_eq!(canonical_uri("/a+b=c/~x"), "/a%2Bb%3Dc/~x");
    // Not normalised: what is signed is what the router sees.
    assert_eq!(canonical_uri("//a/./../b/"), "//a/./../b/");
}

#[test]
fn canonical_query_decodes_reencodes_and_sorts() {
    assert_eq!(canonical_query(""), "");
    assert_eq!(canonical_query("b=2&a=1&a=0"), "a=0&a=1&b=2");
    assert_eq!(canonical_query("k=%7e&K=%41"), "K=A&k=~");
    assert_eq!(canonical_query("flag&x="), "flag=&x=");
    assert_eq!(canonical_query("a=1&&b=2&"), "a=1&b=2");
    // `+` is a space, as the form decoder that reads the query takes it, so `+` and `%2B` differ.
    assert_eq!(canonical_query("k=a+b"), "k=a%20b");
    assert_eq!(canonical_query("k=a%2Bb"), "k=a%2Bb");
    assert_eq!(canonical_query("k=a=b"), "k=a%3Db");
}
