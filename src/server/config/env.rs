//! The environment layer of the server configuration: one table gives every key of the file
//! its `COFFER_<SECTION>_<KEY>` variable (and `_FILE` form), and unknown `COFFER_*` variables
//! are named in a warning.

use std::collections::BTreeMap;

/// How a variable's text becomes the TOML value the file would hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string (also paths, durations such as `"10s"`, and the storage URL).
    Text,
    /// `true`/`false` (also `1`/`0`, `TRUE`, `True`, …).
    Bool,
    /// A whole number.
    Integer,
    /// A list of strings: comma-separated, or a JSON array of strings (the rule of
    /// `params::string_list`).
    List,
    /// An array of tables (`[[audit_device]]`, `[[alert]]`): a JSON array of objects, which
    /// replaces every table of that name in the file. Such a variable is best given in its
    /// `_FILE` form when its tables hold a key (an alert rule's `hmac_key`).
    Tables,
}

impl Kind {
    /// What a value of this kind looks like, for an error that must not quote the value.
    pub fn expected(self) -> &'static str {
        match self {
            Kind::Text => "a string",
            Kind::Bool => "true or false",
            Kind::Integer => "a whole number in range",
            Kind::List => "a comma-separated list or a JSON array of strings",
            Kind::Tables => "a JSON array of objects of the right fields",
        }
    }
}

/// One key of the config file and the variable that sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvKey {
    /// The variable without its `COFFER_` prefix: `<SECTION>_<KEY>` in upper case.
    pub var: &'static str,
    /// The `[section]`, or `""` for a key at the top of the file.
    pub section: &'static str,
    /// The key as written in the file.
    pub key: &'static str,
    /// How the text is read.
    pub kind: Kind,
}

const fn k(var: &'static str, section: &'static str, key: &'static str, kind: Kind) -> EnvKey {
    EnvKey { var, section, key, kind }
}

/// Every key of the config file. A unit test compares it with the fields the file's structs
/// accept, so a key added to the file without a variable fails the build's tests.
pub const KEYS: &[EnvKey] = &[
    k("DISABLE_MLOCK", "", "disable_mlock", Kind::Bool),
    k("LISTENER_ADDRESS", "listener", "address", Kind::Text),
    k("LISTENER_TLS_CERT_FILE", "listener", "tls_cert_file", Kind::Text),
    k("LISTENER_TLS_KEY_FILE", "listener", "tls_key_file", Kind::Text),
    k("LISTENER_TLS_DISABLE", "listener", "tls_disable", Kind::Bool),
    k("LISTENER_MAX_REQUEST_SIZE", "listener", "max_request_size", Kind::Integer),
    k("LISTENER_MAX_JSON_DEPTH", "listener", "max_json_depth", Kind::Integer),
    k("LISTENER_HTTP_READ_HEADER_TIMEOUT", "listener", "http_read_header_timeout", Kind::Text),
    k("LISTENER_HTTP_IDLE_TIMEOUT", "listener", "http_idle_timeout", Kind::Text),
    k("LISTENER_HTTP_READ_TIMEOUT", "listener", "http_read_timeout", Kind::Text),
    k("LISTENER_MAX_REQUEST_DURATION", "listener", "max_request_duration", Kind::Text),
    k("LISTENER_MAX_CONNECTIONS", "listener", "max_connections", Kind::Integer),
    k("STORAGE_URL", "storage", "url", Kind::Text),
    k("STORAGE_MAX_CONNECTIONS", "storage", "max_connections", Kind::Integer),
    k("STORAGE_ACQUIRE_TIMEOUT", "storage", "acquire_timeout", Kind::Text),
    k("STORAGE_IDLE_TIMEOUT", "storage", "idle_timeout", Kind::Text),
    k("SEAL_TYPE", "seal", "type", Kind::Text),
    k("SEAL_KEY_FILE", "seal", "key_file", Kind::Text),
    k("SEAL_GENERATE_ROOT", "seal", "generate_root", Kind::Bool),
    k("LOG_LEVEL", "log", "level", Kind::Text),
    k("LOG_FORMAT", "log", "format", Kind::Text),
    k("AUDIT_TIMEOUT", "audit", "timeout", Kind::Text),
    k("AUDIT_CHECKPOINT_ENTRIES", "audit", "checkpoint_entries", Kind::Integer),
    k("AUDIT_CHECKPOINT_INTERVAL", "audit", "checkpoint_interval", Kind::Text),
    k("AUDIT_FILE_DIR", "audit", "file_dir", Kind::Text),
    k("AUDIT_MAX_ENTRY_SIZE", "audit", "max_entry_size", Kind::Integer),
    k("AUDIT_DEVICE", "", "audit_device", Kind::Tables),
    k("HA_LEASE_TTL", "ha", "lease_ttl", Kind::Text),
    k("HA_NODE_NAME", "ha", "node_name", Kind::Text),
    k("OUTBOUND_ALLOWED_URLS", "outbound", "allowed_urls", Kind::List),
    k("AUTH_ARGON2_QUEUE", "auth", "argon2_queue", Kind::Integer),
    k("CACHE_SIZE", "cache", "size", Kind::Integer),
    k("CACHE_MULTI_NODE", "cache", "multi_node", Kind::Bool),
    k("AWS_ACCOUNT_ID", "aws", "account_id", Kind::Text),
    k("AWS_MOUNT", "aws", "mount", Kind::Text),
    k("TELEMETRY_UNAUTHENTICATED_METRICS_ACCESS", "telemetry", "unauthenticated_metrics_access", Kind::Bool),
    k("ALERT", "", "alert", Kind::Tables),
    k("SNAPSHOT_MAX_SIZE", "snapshot", "max_size", Kind::Integer),
    k("SNAPSHOT_INTERVAL", "snapshot", "interval", Kind::Text),
    k("SNAPSHOT_DIRECTORY", "snapshot", "directory", Kind::Text),
    k("SNAPSHOT_RETAIN", "snapshot", "retain", Kind::Integer),
    k("BOOTSTRAP_FILE", "bootstrap", "file", Kind::Text),
    k("BOOTSTRAP_REVOKE_ROOT", "bootstrap", "revoke_root", Kind::Bool),
];

/// `COFFER_*` variables that are not config keys, without the prefix: the client CLI's
/// (`src/cli/client`) and `--dev`'s. A unit test checks that `src/cli` names no other.
pub const NOT_CONFIG: &[&str] = &[
    "ADDR",
    "TOKEN",
    "CACERT",
    "CLIENT_CERT",
    "CLIENT_KEY",
    "SKIP_VERIFY",
    "FORMAT",
    "DEV_ROOT_TOKEN_ID",
    "DEV_AWS_ACCESS_KEY_ID",
    "DEV_AWS_SECRET_ACCESS_KEY",
    "DEV_AWS_ACCOUNT_ID",
];

/// Test hooks (`COFFER_TEST_*`) are not config keys either.
pub const TEST_PREFIX: &str = "TEST_";

/// Values read from the environment, each with its key.
pub type Values = Vec<(EnvKey, toml::Value)>;

/// The values `env` sets, each with its key, and warnings naming (never showing) the `COFFER_*`
/// variables that set nothing. `env` maps full variable names to values.
pub fn values(env: &BTreeMap<String, String>) -> Result<(Values, Vec<String>), Vec<String>> {
    let mut errors = Vec::new();
    let warnings = env
        .keys()
        .filter_map(|name| name.strip_prefix("COFFER_"))
        .filter(|name| !known(name))
        .map(|name| format!("unknown environment variable COFFER_{name} ignored (it is no config key)"))
        .collect();
    let mut out = Vec::new();
    for key in KEYS {
        let var = key.var;
        let direct = env.get(&format!("COFFER_{var}"));
        let file = env.get(&format!("COFFER_{var}_FILE"));
        let text = match (direct, file) {
            (Some(_), Some(_)) => {
                errors.push(format!("both COFFER_{var} and COFFER_{var}_FILE are set; use one"));
                continue;
            }
            (Some(v), None) => v.clone(),
            (None, Some(path)) => match std::fs::read_to_string(path) {
                Ok(v) => v.trim_end_matches(['\n', '\r']).to_string(),
                Err(e) => {
                    errors.push(format!("COFFER_{var}_FILE: cannot read {path}: {e}"));
                    continue;
                }
            },
            (None, None) => continue,
        };
        match value(key.kind, text) {
            Ok(v) => out.push((*key, v)),
            Err(e) => errors.push(format!("COFFER_{var}: {e}")),
        }
    }
    if errors.is_empty() {
        Ok((out, warnings))
    } else {
        Err(errors)
    }
}

/// Whether `name` (without `COFFER_`) is a variable Coffer reads.
fn known(name: &str) -> bool {
    let base = name.strip_suffix("_FILE").unwrap_or(name);
    KEYS.iter().any(|k| k.var == name || k.var == base) || NOT_CONFIG.contains(&name) || name.starts_with(TEST_PREFIX)
}

/// The TOML value of `text` read as `kind`. Errors never show the text.
fn value(kind: Kind, text: String) -> Result<toml::Value, String> {
    match kind {
        Kind::Text => Ok(toml::Value::String(text)),
        Kind::Bool => match text.as_str() {
            "1" | "true" | "TRUE" | "True" => Ok(toml::Value::Boolean(true)),
            "0" | "false" | "FALSE" | "False" => Ok(toml::Value::Boolean(false)),
            _ => Err("expected true or false".to_string()),
        },
        Kind::Integer => {
            text.trim().parse::<i64>().map(toml::Value::Integer).map_err(|_| "expected a number".to_string())
        }
        Kind::List => {
            let data = serde_json::Map::from_iter([("list".to_string(), serde_json::Value::String(text))]);
            crate::base::params::string_list(&data, "list")
                .map(|items| toml::Value::Array(items.into_iter().map(toml::Value::String).collect()))
                .map_err(|_| "expected a comma-separated list or a JSON array of strings".to_string())
        }
        Kind::Tables => {
            let expected = "expected a JSON array of objects without nulls";
            match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(v @ serde_json::Value::Array(_)) => toml::Value::try_from(v).map_err(|_| expected.to_string()),
                _ => Err(expected.to_string()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::config::{
        RawAlert, RawAudit, RawAuditDevice, RawAuth, RawAws, RawBootstrap, RawCache, RawConfig, RawHa, RawListener,
        RawLog, RawOutbound, RawSeal, RawSnapshot, RawStorage, RawTelemetry,
    };
    use std::collections::BTreeSet;

    /// A deserializer that only records the field names serde asks a struct for.
    struct Probe<'a>(&'a mut &'static [&'static str]);

    #[derive(Debug)]
    struct Stop;

    impl std::fmt::Display for Stop {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("probe")
        }
    }

    impl std::error::Error for Stop {}

    impl serde::de::Error for Stop {
        fn custom<T: std::fmt::Display>(_: T) -> Self {
            Stop
        }
    }

    impl<'de> serde::Deserializer<'de> for Probe<'_> {
        type Error = Stop;

        fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }

        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            *self.0 = fields;
            Err(Stop)
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
            unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }

    /// The keys (serde field names, renames applied) that the struct `T` accepts.
    fn fields<T: serde::de::DeserializeOwned>() -> &'static [&'static str] {
        let mut out: &'static [&'static str] = &[];
        assert!(T::deserialize(Probe(&mut out)).is_err());
        assert!(!out.is_empty(), "{} is not a struct", std::any::type_name::<T>());
        out
    }

    #[test]
    fn every_key_the_file_accepts_has_exactly_one_variable() {
        // The sections of the file and the struct each is read into. A new `[section]` in
        // RawConfig that is missing here shows up below as a top-level key without a variable.
        let sections: BTreeMap<&str, &[&str]> = BTreeMap::from([
            ("listener", fields::<RawListener>()),
            ("storage", fields::<RawStorage>()),
            ("seal", fields::<RawSeal>()),
            ("log", fields::<RawLog>()),
            ("audit", fields::<RawAudit>()),
            ("ha", fields::<RawHa>()),
            ("outbound", fields::<RawOutbound>()),
            ("auth", fields::<RawAuth>()),
            ("cache", fields::<RawCache>()),
            ("aws", fields::<RawAws>()),
            ("telemetry", fields::<RawTelemetry>()),
            ("snapshot", fields::<RawSnapshot>()),
            ("bootstrap", fields::<RawBootstrap>()),
        ]);
        let mut accepted = BTreeSet::new();
        for top in fields::<RawConfig>() {
            match sections.get(top) {
                Some(keys) => accepted.extend(keys.iter().map(|k| (*top, *k))),
                None => {
                    accepted.insert(("", *top));
                }
            }
        }
        let table: BTreeSet<(&str, &str)> = KEYS.iter().map(|k| (k.section, k.key)).collect();
        assert_eq!(table.len(), KEYS.len(), "a key is listed twice");
        let missing: Vec<_> = accepted.difference(&table).collect();
        let extra: Vec<_> = table.difference(&accepted).collect();
        assert!(missing.is_empty(), "keys of the file without a COFFER_ variable in env::KEYS: {missing:?}");
        assert!(extra.is_empty(), "env::KEYS entries the file does not accept: {extra:?}");
        // `[[audit_device]]` is set whole, as JSON; its fields are those of the file's tables.
        assert_eq!(fields::<RawAuditDevice>(), ["name", "type", "description", "options"]);
        // `[[alert]]` too.
        assert_eq!(
            fields::<RawAlert>(),
            ["name", "kind", "threshold", "window", "max_per_minute", "webhook", "hmac_key"]
        );
    }

    #[test]
    fn variable_names_follow_section_and_key_and_cannot_be_confused() {
        for k in KEYS {
            let expected = if k.section.is_empty() { k.key.to_string() } else { format!("{}_{}", k.section, k.key) };
            assert_eq!(k.var, expected.to_ascii_uppercase(), "{k:?}");
            assert!(!k.var.starts_with(TEST_PREFIX) && !NOT_CONFIG.contains(&k.var), "{k:?}");
            for other in KEYS {
                assert_ne!(format!("{}_FILE", other.var), k.var, "COFFER_{} reads as a _FILE form", k.var);
            }
        }
    }

    #[test]
    fn every_variable_sets_its_key_with_a_value_of_its_kind() {
        let default = format!("{:?}", RawConfig::default());
        for k in KEYS {
            let text = match k.kind {
                Kind::Text => "/x/7s",
                Kind::Bool => "true",
                Kind::Integer => "5000",
                Kind::List => "https://a.example/,https://b.example/",
                Kind::Tables if k.key == "alert" => r#"[{"name":"s","kind":"sealed"}]"#,
                Kind::Tables => r#"[{"name":"f","type":"file","options":{"file_path":"stdout"}}]"#,
            };
            let env = BTreeMap::from([(format!("COFFER_{}", k.var), text.to_string())]);
            let (raw, warnings) = RawConfig::from_sources("", &env).unwrap_or_else(|e| panic!("{k:?}: {e:?}"));
            assert!(warnings.is_empty(), "{warnings:?}");
            assert_ne!(format!("{raw:?}"), default, "COFFER_{} changed nothing", k.var);
        }
    }

    #[test]
    fn the_example_config_and_the_readme_name_every_variable() {
        let example = include_str!("../../../config/coffer.example.toml");
        let readme = include_str!("../../../README.md");
        for k in KEYS {
            let var = format!("COFFER_{}", k.var);
            assert!(example.contains(&var), "config/coffer.example.toml does not name {var}");
            assert!(readme.contains(&format!("`{var}`")), "README.md's configuration table does not name {var}");
        }
    }

    #[test]
    fn the_cli_reads_no_coffer_variable_the_server_would_call_unknown() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cli");
        let mut dirs = vec![root];
        let mut seen = BTreeSet::new();
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for (i, _) in text.match_indices("COFFER_") {
                    let name: String = text[i + 7..]
                        .chars()
                        .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                        .collect();
                    if !name.is_empty() && !name.ends_with('_') {
                        seen.insert(name);
                    }
                }
            }
        }
        assert!(seen.contains("ADDR") && seen.contains("CACERT"), "{seen:?}");
        let unknown: Vec<_> = seen.iter().filter(|n| !known(n)).collect();
        assert!(unknown.is_empty(), "src/cli reads COFFER_ variables missing from env::NOT_CONFIG: {unknown:?}");
    }

    #[test]
    fn an_unknown_variable_is_named_in_a_warning_without_its_value() {
        let env = BTreeMap::from([
            ("COFFER_HA_NODENAME".to_string(), "s3cr3t-value".to_string()),
            ("COFFER_AUDIT_TIMEOUT_FILE".to_string(), "/nonexistent/x".to_string()),
            ("COFFER_ADDR".to_string(), "https://a".to_string()),
            ("COFFER_CACERT".to_string(), "/ca.pem".to_string()),
            ("COFFER_TEST_ROTATION_CRASH_AFTER".to_string(), "x".to_string()),
        ]);
        // The _FILE form of a real key is known (and here fails to read, naming only the path).
        let errors = values(&env).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("COFFER_AUDIT_TIMEOUT_FILE: cannot read /nonexistent/x"), "{errors:?}");
        let env: BTreeMap<_, _> = env.into_iter().filter(|(k, _)| !k.ends_with("_FILE")).collect();
        let (set, warnings) = values(&env).unwrap();
        assert!(set.is_empty());
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("COFFER_HA_NODENAME"), "{warnings:?}");
        assert!(!warnings[0].contains("s3cr3t"), "{warnings:?}");
    }
}
