-- Small configuration objects (ACL policies, token roles, auth method roles and users) as JSON
-- rows keyed by kind and name. Nothing secret is stored here in the clear: password hashes are
-- Argon2id, secret-ids are HMACs. `name` is listed by prefix, hence the "C" collation.
create table entry (
    kind  text not null,
    name  text collate "C" not null,
    value text not null,
    primary key (kind, name)
);
