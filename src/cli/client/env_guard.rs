//! Environment variables that change how programs load or run (loader, interpreter, shell start-up,
//! trust and proxy settings): `coffer run` sets them from a secret only when `--env` names them.

/// Names matched exactly.
const EXACT: &[&str] = &[
    // The command search path and shell start-up.
    "PATH",
    "BASH_ENV",
    "ENV",
    "SHELLOPTS",
    "BASHOPTS",
    "PS4",
    "PROMPT_COMMAND",
    "IFS",
    "CDPATH",
    "ZDOTDIR",
    "HOME",
    "SHELL",
    // The C library's loader and locale machinery.
    "GCONV_PATH",
    "GLIBC_TUNABLES",
    "LOCPATH",
    "NLSPATH",
    "HOSTALIASES",
    "RESOLV_HOST_CONF",
    // Java.
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "CLASSPATH",
    // Ruby gems, PHP and Lua.
    "GEM_HOME",
    "GEM_PATH",
    "PHPRC",
    "PHP_INI_SCAN_DIR",
    // Programs that other programs run on their behalf.
    "EDITOR",
    "VISUAL",
    "PAGER",
    "BROWSER",
    "SSH_ASKPASS",
    "SUDO_ASKPASS",
    "GIT_ASKPASS",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_EXEC_PATH",
    "GIT_PAGER",
    "GIT_EDITOR",
    // Trust anchors and TLS or crypto modules.
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "CURL_CA_BUNDLE",
    "REQUESTS_CA_BUNDLE",
    "OPENSSL_CONF",
    "OPENSSL_ENGINES",
    "OPENSSL_MODULES",
    // The token of this very CLI.
    "COFFER_TOKEN",
    "VAULT_TOKEN",
];

/// Prefixes: every variable starting with one of them is guarded.
const PREFIXES: &[&str] = &[
    "LD_",        // LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT, …
    "DYLD_",      // the macOS loader
    "BASH_FUNC_", // exported shell functions
    "PYTHON",     // PYTHONPATH, PYTHONSTARTUP, PYTHONHOME, PYTHONWARNINGS, PYTHONBREAKPOINT, …
    "NODE_",      // NODE_OPTIONS, NODE_PATH, NODE_EXTRA_CA_CERTS, NODE_TLS_REJECT_UNAUTHORIZED, …
    "PERL",       // PERL5OPT, PERL5LIB, PERLLIB, PERL5DB, …
    "RUBY",       // RUBYOPT, RUBYLIB, …
    "LUA_",       // LUA_PATH, LUA_CPATH, LUA_INIT, …
    "GIT_CONFIG", // GIT_CONFIG_GLOBAL, GIT_CONFIG_COUNT, GIT_CONFIG_PARAMETERS, …
];

/// Whether `name` changes how programs load or run. Compared without regard to ASCII case, as
/// some platforms and programs read these names case-insensitively.
pub fn is_guarded(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    EXACT.contains(&upper.as_str())
        || PREFIXES.iter().any(|p| upper.starts_with(p))
        // Where traffic goes: HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY, …
        || upper.ends_with("_PROXY")
}

#[cfg(test)]
mod tests {
    use super::is_guarded;

    #[test]
    fn loader_interpreter_and_shell_variables_are_guarded() {
        for name in [
            "LD_PRELOAD",
            "LD_LIBRARY_PATH",
            "DYLD_INSERT_LIBRARIES",
            "PATH",
            "BASH_ENV",
            "ENV",
            "PYTHONPATH",
            "PYTHONSTARTUP",
            "PYTHONHOME",
            "NODE_OPTIONS",
            "NODE_PATH",
            "PERL5OPT",
            "PERL5LIB",
            "RUBYOPT",
            "RUBYLIB",
            "JAVA_TOOL_OPTIONS",
            "GLIBC_TUNABLES",
            "https_proxy",
            "ld_preload",
            "VAULT_TOKEN",
        ] {
            assert!(is_guarded(name), "{name}");
        }
        for name in ["API_KEY", "DB_PASSWORD", "PGPASSWORD", "DATABASE_URL", "PORT", "PATHS_FILE", "ENVIRONMENT"] {
            assert!(!is_guarded(name), "{name}");
        }
    }
}
