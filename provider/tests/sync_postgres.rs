//! The sync engine against a real PostgreSQL 15: a production-shaped `prod` database synced
//! into `staging` on the same server (different database, so the identity check lets it
//! through), read through a SELECT-only role.

use std::time::Duration;

mod sync_support;

use stagecraft_testkit::databases::{Postgres, ADMIN_PASSWORD, ADMIN_USER};
use sync_support::{
    assert_every_leaking_row_counted, assert_source_released_once_read, check, failed_verification,
    only_failure, HeldAtRetention,
};
use terraform_provider_staging::sync::{
    self, CheckKind, PiiPolicy, Progress, RuleSet, SyncError, SyncOptions, Transform,
};

const KEY: &[u8] = b"test-hash-key-0123456789";

/// Enums, JSON/JSONB, arrays (including an array of an enum, which forces the text-COPY path),
/// bytea, inet, uuid, a generated column, serial / bigserial / identity columns, a composite
/// key, a table without a key, a view, NULLs and Unicode.
const SCHEMA: &str = r#"
CREATE TYPE user_role AS ENUM ('admin', 'instructor', 'member');
CREATE TYPE message_status AS ENUM ('queued', 'sent', 'delivered', 'read');
CREATE TABLE partners (
  id serial PRIMARY KEY,
  name text NOT NULL,
  contact_email text UNIQUE,
  contact_phone text,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused'))
);
CREATE TABLE users (
  id bigserial PRIMARY KEY,
  email text NOT NULL UNIQUE,
  phone text,
  first_name text,
  last_name text,
  display_name text GENERATED ALWAYS AS (coalesce(first_name, '') || ' ' || coalesce(last_name, '')) STORED,
  role user_role NOT NULL DEFAULT 'member',
  partner_id int REFERENCES partners(id),
  settings jsonb NOT NULL DEFAULT '{}',
  tags text[],
  role_history user_role[],
  avatar_url text,
  password_hash text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE messages (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sender_id bigint NOT NULL REFERENCES users(id),
  recipient_id bigint REFERENCES users(id) ON DELETE SET NULL,
  content text NOT NULL,
  media_url text,
  status message_status NOT NULL,
  metadata json,
  attachment bytea,
  sent_at timestamptz
);
CREATE INDEX messages_sender_sent ON messages (sender_id, sent_at);
CREATE TABLE sessions (
  id uuid PRIMARY KEY,
  user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  token text NOT NULL UNIQUE,
  ip_address inet,
  user_agent text,
  expires_at timestamptz
);
CREATE TABLE api_tokens (
  user_id bigint NOT NULL REFERENCES users(id),
  name text NOT NULL,
  token text NOT NULL,
  scopes text[] NOT NULL DEFAULT '{}',
  PRIMARY KEY (user_id, name)
);
CREATE UNIQUE INDEX api_tokens_token_idx ON api_tokens (token);
CREATE TABLE audit_log (
  at timestamptz NOT NULL,
  actor_email text,
  action text NOT NULL,
  details jsonb
);
CREATE VIEW active_users AS SELECT id, email FROM users WHERE role <> 'admin';

INSERT INTO partners (name, contact_email, contact_phone, status)
SELECT 'Partner Ünïcode ' || i, 'partner' || i || '@partners-corp.org',
       CASE WHEN i % 4 = 0 THEN NULL ELSE '+44 20 7946 ' || lpad(i::text, 4, '0') END,
       CASE WHEN i % 5 = 0 THEN 'paused' ELSE 'active' END
FROM generate_series(1, 20) i;

INSERT INTO users (email, phone, first_name, last_name, role, partner_id, settings, tags,
                   role_history, avatar_url, password_hash, created_at)
SELECT 'user' || i || '@corp-example.org',
       CASE WHEN i % 7 = 0 THEN NULL ELSE '+1 (415) 555-' || lpad(i::text, 4, '0') END,
       (ARRAY['Zoë', 'José', '李', 'Ольга', 'Ann'])[i % 5 + 1],
       CASE WHEN i % 11 = 0 THEN NULL ELSE 'Ñúñez-' || i END,
       (ARRAY['admin', 'instructor', 'member'])[i % 3 + 1]::user_role,
       CASE WHEN i % 3 = 0 THEN NULL ELSE i % 20 + 1 END,
       jsonb_build_object('theme', CASE WHEN i % 2 = 0 THEN 'dark' ELSE 'light' END,
                          'lang', 'fr', 'note', 'café ☕ ' || i),
       CASE WHEN i % 6 = 0 THEN NULL ELSE ARRAY['tag' || (i % 4), 'tëst'] END,
       ARRAY['member', (ARRAY['admin', 'instructor', 'member'])[i % 3 + 1]]::user_role[],
       CASE WHEN i % 3 = 0 THEN NULL ELSE 'https://cdn.example.net/avatars/' || i || '.png' END,
       '$2b$10$' || md5(i::text),
       timestamptz '2024-01-01 00:00:00+00' + i * interval '1 hour'
FROM generate_series(1, 500) i;

INSERT INTO messages (sender_id, recipient_id, content, media_url, status, metadata, attachment, sent_at)
SELECT i % 500 + 1,
       CASE WHEN i % 10 = 0 THEN NULL ELSE (i * 7) % 500 + 1 END,
       'Hello ' || i || E' from a real person — secret ünïcode 🎉\twith a tab',
       CASE WHEN i % 4 = 0 THEN 'https://media.example.net/m/' || i || '.jpg' END,
       (ARRAY['queued', 'sent', 'delivered', 'read'])[i % 4 + 1]::message_status,
       CASE WHEN i % 5 = 0 THEN NULL ELSE json_build_object('len', i, 'kind', 'text') END,
       CASE WHEN i % 3 = 0 THEN decode(md5(i::text), 'hex') END,
       timestamptz '2024-02-01 00:00:00+00' + i * interval '1 minute'
FROM generate_series(1, 3000) i;

INSERT INTO sessions (id, user_id, token, ip_address, user_agent, expires_at)
SELECT md5('session' || i)::uuid, i % 500 + 1, md5(i || 'tok') || md5(i || 'x'),
       ('10.0.' || (i / 256) || '.' || (i % 256))::inet,
       'Mozilla/5.0 (test agent ' || i || ')',
       timestamptz '2025-01-01 00:00:00+00' + i * interval '1 day'
FROM generate_series(1, 800) i;

INSERT INTO api_tokens (user_id, name, token, scopes)
SELECT i % 150 + 1, 'key' || (i / 150), 'sk_live_' || md5(i::text) || 'Z9',
       ARRAY['read', CASE WHEN i % 2 = 0 THEN 'write' ELSE 'admin' END]
FROM generate_series(1, 300) i;

INSERT INTO audit_log (at, actor_email, action, details)
SELECT timestamptz '2024-03-01 00:00:00+00' + i * interval '1 second',
       CASE WHEN i % 4 = 0 THEN 'partner' || (i % 20 + 1) || '@partners-corp.org'
            WHEN i % 9 = 0 THEN NULL
            ELSE 'user' || (i % 500 + 1) || '@corp-example.org' END,
       'login', jsonb_build_object('ok', i % 2 = 0)
FROM generate_series(1, 400) i;
"#;

/// What staging held before its first sync (becomes the first backup).
const OLD_STAGING: &str = "CREATE TABLE old_staging_marker (note text); \
    INSERT INTO old_staging_marker VALUES ('staging before the sync');";

fn setup() -> Postgres {
    let pg = Postgres::start().expect("start postgres");
    pg.create_database("prod").unwrap();
    pg.create_database("staging").unwrap();
    pg.psql_script("prod", SCHEMA).unwrap();
    pg.grant_readonly("prod", "public").unwrap();
    pg.psql("staging", OLD_STAGING).unwrap();
    pg
}

fn rules() -> RuleSet {
    RuleSet::default_pii()
        .with_hash_key(KEY)
        // Hash keeps joins: audit_log.actor_email and partners.contact_email hash alike.
        .with_rule("partners", "contact_email", Transform::Hash)
        .with_rule("audit_log", "actor_email", Transform::Hash)
}

fn q(pg: &Postgres, db: &str, sql: &str) -> String {
    pg.psql(db, sql).unwrap().trim().to_string()
}

/// md5 over the given columns of every row, in a total order.
fn checksum(pg: &Postgres, db: &str, table: &str, cols: &str) -> String {
    q(
        pg,
        db,
        &format!(
            "SELECT md5(coalesce(string_agg(r::text, '|' ORDER BY r::text), '')) \
             FROM (SELECT {cols} FROM {table}) r"
        ),
    )
}

/// Every unsanitized column per table.
const KEPT: &[(&str, &str)] = &[
    ("partners", "id, name, status"),
    (
        "users",
        "id, role, partner_id, settings, tags, role_history, created_at",
    ),
    (
        "messages",
        "id, sender_id, recipient_id, status, metadata::text, attachment, sent_at",
    ),
    ("sessions", "id, user_id, user_agent, expires_at"),
    ("api_tokens", "user_id, name, scopes"),
    ("audit_log", "at, action, details"),
];

/// Which tables the live staging schema holds (by OID: a swap would change them) and which
/// sync schemas exist.
fn staging_fingerprint(pg: &Postgres) -> String {
    q(
        pg,
        "staging",
        "SELECT string_agg(c.relname || ':' || c.oid, ',' ORDER BY c.relname) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind = 'r' AND n.nspname = 'public'",
    )
}

fn sync_schemas(pg: &Postgres) -> String {
    q(
        pg,
        "staging",
        "SELECT coalesce(string_agg(nspname, ',' ORDER BY nspname), '') FROM pg_namespace \
         WHERE nspname LIKE 'public\\_\\_%'",
    )
}

fn all_public_checksums(pg: &Postgres, db: &str) -> String {
    let tables = q(
        pg,
        db,
        "SELECT string_agg(relname, ' ' ORDER BY relname) FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND relkind = 'r'",
    );
    tables
        .split_whitespace()
        .map(|t| format!("{t}={}", checksum(pg, db, t, "*")))
        .collect::<Vec<_>>()
        .join(";")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_sanitizes_keeps_the_rest_and_backs_up_staging() {
    let pg = setup();
    let prod_before = all_public_checksums(&pg, "prod");
    let opts = SyncOptions::default();
    let report = sync::run(
        &pg.readonly_url("prod"),
        &pg.admin_url("staging"),
        &rules(),
        &opts,
    )
    .await
    .expect("sync");

    // Report: counts, verification, JSON, no password anywhere.
    assert!(report.verification.passed, "{}", report.to_json());
    let rows = |t: &str| report.table(t).unwrap().rows;
    assert_eq!(rows("users"), 500);
    assert_eq!(rows("messages"), 3000);
    assert_eq!(rows("sessions"), 800);
    assert_eq!(rows("api_tokens"), 300);
    assert_eq!(rows("audit_log"), 400);
    assert_eq!(rows("partners"), 20);
    assert_eq!(report.rows_copied, 5020);
    let json = report.to_json();
    assert!(!json.contains(ADMIN_PASSWORD) && !json.contains("reader-pw"));
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed["tables"].as_array().unwrap().len(), 6);
    for kind in [
        CheckKind::RowCount,
        CheckKind::ForeignKey,
        CheckKind::Unique,
        CheckKind::Sequence,
        CheckKind::LeakProbe,
        CheckKind::Swap,
    ] {
        assert!(
            report.verification.checks.iter().any(|c| c.kind == kind),
            "no {kind:?} check"
        );
    }
    // users has an enum array: text COPY; messages: binary.
    assert_eq!(report.table("users").unwrap().method, "text_copy");
    assert_eq!(report.table("messages").unwrap().method, "binary_copy");
    // sessions.ip_address (inet) gets a fixed address: the target encodes it once, and the
    // table still loads in binary rather than as text.
    assert_eq!(report.table("sessions").unwrap().method, "binary_copy");
    assert!(report
        .columns_sanitized
        .contains(&"users.email".to_string()));

    // Every sanitized value follows its rule.
    let bad = |sql: &str| q(&pg, "staging", &format!("SELECT count(*) FROM {sql}"));
    assert_eq!(
        bad("users WHERE email <> 'staging+user' || id || '@example.com'"),
        "0"
    );
    assert_eq!(
        bad("users WHERE phone IS NOT NULL AND phone <> '+1555000' || id"),
        "0"
    );
    assert_eq!(
        bad("users WHERE phone IS NULL"),
        q(
            &pg,
            "prod",
            "SELECT count(*) FROM users WHERE phone IS NULL"
        )
    );
    assert_eq!(bad("users WHERE first_name <> 'Test User ' || id"), "0");
    assert_eq!(
        bad("users WHERE last_name IS NOT NULL AND last_name <> 'Test User ' || id"),
        "0"
    );
    // The generated column was recomputed from the sanitized names.
    assert_eq!(
        bad("users WHERE display_name <> first_name || ' ' || coalesce(last_name, '')"),
        "0"
    );
    assert_eq!(bad("users WHERE avatar_url IS NOT NULL"), "0");
    assert_eq!(
        bad("users WHERE password_hash IS NOT NULL AND password_hash <> '!sanitized-password'"),
        "0"
    );
    assert_eq!(
        bad("messages WHERE content NOT LIKE 'This is a test message.%'"),
        "0"
    );
    assert_eq!(bad("messages WHERE media_url IS NOT NULL"), "0");
    assert_eq!(bad("sessions WHERE token !~ '^[0-9a-f]{64}$'"), "0");
    assert_eq!(bad("sessions WHERE ip_address <> '192.0.2.1'::inet"), "0");
    assert_eq!(
        bad("api_tokens WHERE token <> 'test_token_' || user_id || '-' || name"),
        "0"
    );
    assert_eq!(
        bad("partners WHERE contact_email IS NOT NULL AND contact_email !~ '^u_[0-9a-f]{16}@example\\.com$'"),
        "0"
    );
    assert_eq!(
        bad("partners WHERE contact_phone IS NOT NULL AND contact_phone <> '+1555000' || id"),
        "0"
    );
    // Keyed hash is deterministic across tables: the audit-log ↔ partner join survives.
    let join =
        "SELECT count(*) FROM audit_log a JOIN partners p ON p.contact_email = a.actor_email";
    assert_eq!(q(&pg, "staging", join), q(&pg, "prod", join));
    assert_ne!(q(&pg, "staging", join), "0");
    // No source token made it.
    let leaked = q(
        &pg,
        "prod",
        "SELECT count(*) FROM sessions WHERE token IN (SELECT token FROM sessions)",
    );
    assert_eq!(leaked, "800"); // sanity of the query on the source itself
    let prod_tokens = q(&pg, "prod", "SELECT string_agg(token, ',') FROM sessions");
    let staging_tokens = q(
        &pg,
        "staging",
        "SELECT string_agg(token, ',') FROM sessions",
    );
    let prod_set: std::collections::HashSet<_> = prod_tokens.split(',').collect();
    assert!(staging_tokens.split(',').all(|t| !prod_set.contains(t)));

    // Every unsanitized column equals the source.
    for (t, cols) in KEPT {
        assert_eq!(
            checksum(&pg, "staging", t, cols),
            checksum(&pg, "prod", t, cols),
            "{t} ({cols})"
        );
    }

    // Constraints, indexes, views came along; FKs and uniques hold.
    let cons =
        "SELECT string_agg(d, E'\\n' ORDER BY d) FROM (SELECT conrelid::regclass::text || ':' \
                || conname || ':' || pg_get_constraintdef(oid) AS d \
                FROM pg_constraint WHERE connamespace = 'public'::regnamespace) x";
    assert_eq!(q(&pg, "staging", cons), q(&pg, "prod", cons));
    let idx = "SELECT string_agg(indexdef, E'\\n' ORDER BY indexdef) FROM pg_indexes WHERE schemaname = 'public'";
    assert_eq!(q(&pg, "staging", idx), q(&pg, "prod", idx));
    assert_eq!(
        q(&pg, "staging", "SELECT count(*) FROM active_users"),
        q(&pg, "prod", "SELECT count(*) FROM active_users")
    );

    // Sequences are past the copied ids: inserts without ids work.
    let id = q(
        &pg,
        "staging",
        "INSERT INTO users (email) VALUES ('new@example.com') RETURNING id",
    );
    assert!(id.parse::<i64>().unwrap() > 500, "{id}");
    q(
        &pg,
        "staging",
        "INSERT INTO messages (sender_id, content, status) VALUES (1, 'x', 'sent')",
    );
    q(&pg, "staging", "INSERT INTO partners (name) VALUES ('n')");

    // The old staging data is the backup.
    let backup = report.backup.clone().expect("backup");
    assert!(backup.starts_with("public__sds_bak_"), "{backup}");
    assert_eq!(
        q(
            &pg,
            "staging",
            &format!("SELECT note FROM \"{backup}\".old_staging_marker")
        ),
        "staging before the sync"
    );
    assert_eq!(
        sync::list_backups(&pg.admin_url("staging"), &opts)
            .await
            .unwrap(),
        vec![backup.clone()]
    );

    // The source was only read.
    assert_eq!(all_public_checksums(&pg, "prod"), prod_before);

    // A second run: same hashed values (same key), the first backup is rotated out.
    tokio::time::sleep(Duration::from_millis(1100)).await; // backup names have 1 s resolution
    let before = checksum(
        &pg,
        "staging",
        "partners WHERE id <= 20",
        "id, contact_email",
    );
    let report2 = sync::run(
        &pg.readonly_url("prod"),
        &pg.admin_url("staging"),
        &rules(),
        &opts,
    )
    .await
    .expect("second sync");
    assert_eq!(report2.backups_dropped, vec![backup]);
    assert_eq!(
        checksum(
            &pg,
            "staging",
            "partners WHERE id <= 20",
            "id, contact_email"
        ),
        before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_plans_every_column_and_reports_unruled_pii() {
    let pg = setup();
    let opts = SyncOptions::default();
    let clean = sync::inspect(&pg.readonly_url("prod"), &rules(), &opts)
        .await
        .unwrap();
    assert!(
        clean.unsanitized_pii.is_empty(),
        "{:?}",
        clean.unsanitized_pii
    );
    let users = clean.table("users").unwrap();
    assert_eq!(users.primary_key, vec!["id"]);
    assert!(users
        .columns
        .iter()
        .any(|c| c.name == "display_name" && c.generated.is_some()));
    assert_eq!(
        clean.table("api_tokens").unwrap().primary_key,
        vec!["user_id", "name"]
    );
    assert!(clean.table("audit_log").unwrap().primary_key.is_empty());
    assert!(clean
        .sequences
        .iter()
        .any(|s| s.owned_by.as_deref() == Some("users.id")));
    let summary = clean.plan_summary();
    assert!(
        summary.contains("staging+user{id}@example.com"),
        "{summary}"
    );
    assert!(summary.contains("generated: recomputed"), "{summary}");

    // Production grows an SSN column and a free-text column full of e-mail addresses.
    pg.psql(
        "prod",
        "ALTER TABLE users ADD COLUMN ssn text, ADD COLUMN misc text; \
         UPDATE users SET ssn = lpad(id::text, 3, '0') || '-45-6789', misc = 'person' || id || '@mail.example.org'; \
         GRANT SELECT ON users TO reader;",
    )
    .unwrap();
    let s = sync::inspect(&pg.readonly_url("prod"), &rules(), &opts)
        .await
        .unwrap();
    let found: Vec<_> = s
        .unsanitized_pii
        .iter()
        .map(|f| format!("{}.{}", f.table, f.column))
        .collect();
    assert_eq!(found, vec!["users.ssn", "users.misc"]);
    assert!(
        s.unsanitized_pii[1].reason.contains("e-mail"),
        "{:?}",
        s.unsanitized_pii
    );
    assert!(s.plan_summary().contains("users.ssn looks like PII"));

    // A run refuses, naming the column, and does not touch staging.
    let before = staging_fingerprint(&pg);
    let err = sync::run(
        &pg.readonly_url("prod"),
        &pg.admin_url("staging"),
        &rules(),
        &opts,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SyncError::UnsanitizedPii(_)));
    assert!(err.to_string().contains("users.ssn"), "{err}");
    assert_eq!(staging_fingerprint(&pg), before);
    assert_eq!(sync_schemas(&pg), "");

    // With rules (or the warn policy) it goes through.
    let ruled = rules()
        .with_rule("users", "ssn", Transform::Null)
        .with_rule("users", "misc", Transform::Hash);
    assert!(sync::inspect(&pg.readonly_url("prod"), &ruled, &opts)
        .await
        .unwrap()
        .unsanitized_pii
        .is_empty());
    let warn = SyncOptions {
        unsanitized_pii: PiiPolicy::Warn,
        ..SyncOptions::default()
    };
    let r = sync::run(
        &pg.readonly_url("prod"),
        &pg.admin_url("staging"),
        &rules(),
        &warn,
    )
    .await
    .unwrap();
    assert!(
        r.warnings.iter().any(|w| w.contains("users.ssn")),
        "{:?}",
        r.warnings
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_equal_to_source_is_refused_whatever_the_host_name() {
    let pg = setup();
    let before = all_public_checksums(&pg, "prod");
    let via_localhost = pg.url(ADMIN_USER, ADMIN_PASSWORD, "localhost", "prod");
    for target in [pg.admin_url("prod"), via_localhost] {
        let err = sync::run(
            &pg.readonly_url("prod"),
            &target,
            &rules(),
            &SyncOptions::default(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, SyncError::SameDatabase(_)), "{err}");
        assert!(!err.to_string().contains(ADMIN_PASSWORD));
    }
    assert_eq!(all_public_checksums(&pg, "prod"), before);
    assert_eq!(
        q(
            &pg,
            "prod",
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'public\\_\\_%'"
        ),
        "0"
    );
    // Errors never carry the password.
    let err = sync::run(
        &pg.url("reader", "wrong-password-xyz", "127.0.0.1", "prod"),
        &pg.admin_url("staging"),
        &rules(),
        &SyncOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(!err.to_string().contains("wrong-password-xyz"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_sync_leaves_staging_unchanged_and_the_next_run_cleans_up() {
    let pg = setup();
    let opts = SyncOptions::default();
    sync::run(
        &pg.readonly_url("prod"),
        &pg.admin_url("staging"),
        &rules(),
        &opts,
    )
    .await
    .unwrap();
    pg.psql("prod", "UPDATE partners SET name = name || ' v2'")
        .unwrap();
    let before = all_public_checksums(&pg, "staging");
    let fp = staging_fingerprint(&pg);

    // Kill the second run as soon as its first table is committed in the shadow.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let kill_opts = SyncOptions {
        parallelism: 1,
        progress: Some(tx),
        ..SyncOptions::default()
    };
    let (src, tgt) = (pg.readonly_url("prod"), pg.admin_url("staging"));
    let task = tokio::spawn(async move { sync::run(&src, &tgt, &rules(), &kill_opts).await });
    loop {
        match rx.recv().await.expect("progress") {
            Progress::TableLoaded { .. } => break,
            Progress::Swapped { .. } => panic!("the run finished before it could be killed"),
            _ => {}
        }
    }
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    // Give the server a moment to notice the closed connections.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(all_public_checksums(&pg, "staging"), before);
    assert_eq!(staging_fingerprint(&pg), fp);
    // The half-built shadow is still there (a killed process cannot clean up), never swapped in.
    assert!(
        sync_schemas(&pg).contains("public__sds_new"),
        "{}",
        sync_schemas(&pg)
    );

    // The next run drops the stale shadow and completes.
    let r = sync::run(
        &pg.readonly_url("prod"),
        &pg.admin_url("staging"),
        &rules(),
        &opts,
    )
    .await
    .unwrap();
    assert_eq!(r.stale_shadows_dropped, vec!["public__sds_new".to_string()]);
    assert_eq!(
        q(
            &pg,
            "staging",
            "SELECT count(*) FROM partners WHERE name LIKE '% v2'"
        ),
        "20"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_verification_leaves_staging_unchanged() {
    let pg = setup();
    let before = staging_fingerprint(&pg);
    // A fixed "phone" that is some user's real phone number: the leak probe must catch it.
    let leaky = rules().with_rule(
        "users",
        "phone",
        Transform::Fixed("+1 (415) 555-0001".into()),
    );
    let (text, report) =
        failed_verification(&pg.readonly_url("prod"), &pg.admin_url("staging"), &leaky).await;
    only_failure(&report, CheckKind::LeakProbe, "users", "phone");
    assert!(!text.contains("555-0001"), "{text}");
    assert_eq!(staging_fingerprint(&pg), before);
    assert_eq!(
        sync_schemas(&pg),
        "",
        "the shadow is dropped after a failure"
    );
    assert_eq!(
        q(&pg, "staging", "SELECT note FROM old_staging_marker"),
        "staging before the sync"
    );
}

/// messages' ruled columns all have constant rules, so its leak probe reads the target grouped
/// (each distinct value once, with its count): a leak must still count every row that holds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grouped_leak_probe_counts_every_leaking_row() {
    let pg = setup();
    let leaked = q(&pg, "prod", "SELECT content FROM messages WHERE id = 1");
    assert!(leaked.starts_with("Hello 1 "), "{leaked}");
    let leaky = rules().with_rule("messages", "content", Transform::Fixed(leaked));
    let (text, report) = assert_every_leaking_row_counted(
        &pg.readonly_url("prod"),
        &pg.admin_url("staging"),
        &leaky,
    )
    .await;
    let media = check(&report, CheckKind::LeakProbe, "messages", "media_url");
    assert!(
        media.passed && media.detail.starts_with("0 of 0 "),
        "{media:?}"
    );
    assert!(!text.contains("Hello 1"), "{text}");
    assert_eq!(
        sync_schemas(&pg),
        "",
        "the shadow is dropped after a failure"
    );
}

/// A foreign key that production added NOT VALID (its old rows were never checked, and one
/// of them dangles) arrives NOT VALID: the sync copies production as it is and does not fail
/// for a key production itself never validated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_keys_not_valid_on_the_source_stay_not_valid() {
    let pg = setup();
    q(
        &pg,
        "prod",
        "ALTER TABLE audit_log ADD COLUMN partner_id int; \
         UPDATE audit_log SET partner_id = 999 WHERE action = 'login' AND at = \
           (SELECT min(at) FROM audit_log); \
         ALTER TABLE audit_log ADD CONSTRAINT audit_log_partner_fkey \
           FOREIGN KEY (partner_id) REFERENCES partners (id) NOT VALID",
    );
    let report = sync::run(
        &pg.readonly_url("prod"),
        &pg.admin_url("staging"),
        &rules(),
        &SyncOptions::default(),
    )
    .await
    .expect("sync");
    let fk = check(
        &report,
        CheckKind::ForeignKey,
        "audit_log",
        "audit_log_partner_fkey",
    );
    assert!(fk.passed, "{fk:?}");
    assert!(fk.detail.starts_with("NOT VALID on the source"), "{fk:?}");
    let state = "SELECT convalidated FROM pg_constraint WHERE conname = 'audit_log_partner_fkey'";
    assert_eq!(q(&pg, "staging", state), "f");
    assert_eq!(
        q(
            &pg,
            "staging",
            "SELECT count(*) FROM audit_log WHERE partner_id = 999"
        ),
        "1"
    );
    // Every key that is valid in production was validated in staging.
    let valid = check(
        &report,
        CheckKind::ForeignKey,
        "messages",
        "messages_sender_id_fkey",
    );
    assert!(valid.passed && valid.detail.ends_with("true"), "{valid:?}");
}

/// The target's reader of a backup, and what the server says about the sync's sessions.
struct Held<'a> {
    pg: &'a Postgres,
    holder: Option<tokio_postgres::Client>,
}

impl HeldAtRetention for Held<'_> {
    async fn hold(&mut self, oldest: &str) {
        let (c, conn) =
            tokio_postgres::connect(&self.pg.admin_url("staging"), tokio_postgres::NoTls)
                .await
                .unwrap();
        tokio::spawn(conn);
        c.batch_execute(&format!(
            "BEGIN; LOCK TABLE \"{oldest}\".old_staging_marker IN ACCESS SHARE MODE"
        ))
        .await
        .unwrap();
        self.holder = Some(c);
    }

    async fn release(&mut self) {
        let c = self.holder.take().expect("held");
        c.batch_execute("COMMIT").await.unwrap();
    }

    fn sync_waits(&self) -> bool {
        q(
            self.pg,
            "staging",
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
             AND query LIKE 'DROP SCHEMA%'",
        ) == "1"
    }

    fn source_sessions(&self) -> (u64, u64) {
        let count = |cond: &str| -> u64 {
            q(
                self.pg,
                "prod",
                &format!(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = 'prod' \
                     AND usename = 'reader' AND ({cond})"
                ),
            )
            .parse()
            .unwrap()
        };
        (
            count("true"),
            count("xact_start IS NOT NULL OR backend_xmin IS NOT NULL"),
        )
    }
}

/// Once the tables are copied, no connection of the sync holds a transaction or a snapshot on
/// the source (on production, an open snapshot holds back vacuum for as long as it lives),
/// although the run goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_source_snapshot_is_released_once_the_data_is_read() {
    let pg = setup();
    let (src, tgt) = (pg.readonly_url("prod"), pg.admin_url("staging"));
    let mut held = Held {
        pg: &pg,
        holder: None,
    };
    assert_source_released_once_read(&src, &tgt, rules(), &mut held).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_backup_brings_back_the_previous_data() {
    let pg = setup();
    let opts = SyncOptions::default();
    let r = sync::run(
        &pg.readonly_url("prod"),
        &pg.admin_url("staging"),
        &rules(),
        &opts,
    )
    .await
    .unwrap();
    let synced = all_public_checksums(&pg, "staging");
    let backup = r.backup.unwrap();
    let displaced = sync::restore_backup(&pg.admin_url("staging"), &backup, &opts)
        .await
        .unwrap();
    assert_eq!(
        q(&pg, "staging", "SELECT note FROM old_staging_marker"),
        "staging before the sync"
    );
    assert_eq!(
        q(&pg, "staging", "SELECT count(*) FROM pg_class WHERE relname = 'users' AND relnamespace = 'public'::regnamespace"),
        "0"
    );
    // And back again: the restore displaced the synced data into a backup of its own.
    sync::restore_backup(&pg.admin_url("staging"), &displaced, &opts)
        .await
        .unwrap();
    assert_eq!(all_public_checksums(&pg, "staging"), synced);
    let err = sync::restore_backup(&pg.admin_url("staging"), "public__sds_bak_nope", &opts)
        .await
        .unwrap_err();
    assert!(matches!(err, SyncError::BackupNotFound(_)));
}

/// A throwaway CA and a server certificate it signed (SANs localhost and 127.0.0.1), as PEM:
/// (CA certificate, server certificate, server key).
fn test_pki(org: &str) -> (String, String, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, format!("{org} test CA"));
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let cert = params.signed_by(&key, &issuer).unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_sslmodes_require_verify_ca_and_verify_full() {
    let (ca_pem, cert_pem, key_pem) = test_pki("right");
    let (other_ca_pem, _, _) = test_pki("wrong");
    let pg = Postgres::start_with_tls(&cert_pem, &key_pem).expect("start postgres with TLS");
    pg.create_database("prod").unwrap();
    pg.create_database("staging").unwrap();
    pg.psql_script("prod", SCHEMA).unwrap();
    pg.grant_readonly("prod", "public").unwrap();
    // TCP connections must use TLS from here on (the harness's psql uses the Unix socket).
    let hba = pg.socket_dir().join("data").join("pg_hba.conf");
    let conf = std::fs::read_to_string(&hba).unwrap();
    let conf: String = conf
        .lines()
        .map(|l| match l.strip_prefix("host ") {
            Some(rest) => format!("hostssl {rest}\n"),
            None => format!("{l}\n"),
        })
        .collect();
    std::fs::write(&hba, conf).unwrap();
    pg.psql("postgres", "SELECT pg_reload_conf()").unwrap();
    std::thread::sleep(Duration::from_millis(300));

    let certs = tempfile::tempdir().unwrap();
    let ca = certs.path().join("ca.pem");
    let other_ca = certs.path().join("other-ca.pem");
    std::fs::write(&ca, &ca_pem).unwrap();
    std::fs::write(&other_ca, &other_ca_pem).unwrap();
    let src = |params: &str| format!("{}?{params}", pg.readonly_url("prod"));
    let tgt = |host: &str, params: &str| {
        format!(
            "{}?{params}",
            pg.url(ADMIN_USER, ADMIN_PASSWORD, host, "staging")
        )
    };
    let enc = |p: &std::path::Path| p.display().to_string().replace('/', "%2F");

    // Plain TCP is now refused, so every success below went over TLS.
    let err = sync::run(
        &src("sslmode=disable"),
        &tgt("127.0.0.1", "sslmode=disable"),
        &rules(),
        &SyncOptions::default(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("no encryption") || err.contains("pg_hba"),
        "{err}"
    );

    // require: encrypted, no certificate check.
    let r = sync::run(
        &src("sslmode=require"),
        &tgt("127.0.0.1", "sslmode=require"),
        &rules(),
        &SyncOptions::default(),
    )
    .await
    .expect("sync with sslmode=require");
    assert!(r.verification.passed);
    assert_eq!(q(&pg, "staging", "SELECT count(*) FROM messages"), "3000");

    // prefer (the default) picks TLS when the server offers it.
    sync::run(
        &pg.readonly_url("prod"),
        &pg.admin_url("staging"),
        &rules(),
        &SyncOptions::default(),
    )
    .await
    .expect("sync with the default sslmode (prefer)");

    // verify-ca against the right root (the name is not checked), and verify-full by name.
    let r = sync::run(
        &src(&format!("sslmode=verify-ca&sslrootcert={}", enc(&ca))),
        &tgt(
            "127.0.0.1",
            &format!("sslmode=verify-full&sslrootcert={}", enc(&ca)),
        ),
        &rules(),
        &SyncOptions::default(),
    )
    .await
    .expect("sync with verify-ca / verify-full");
    assert!(r.verification.passed);

    // verify-full against a root that did not sign the server certificate: refused, clearly,
    // and without the password.
    let before = staging_fingerprint(&pg);
    let err = sync::run(
        &src("sslmode=require"),
        &tgt(
            "localhost",
            &format!("sslmode=verify-full&sslrootcert={}", enc(&other_ca)),
        ),
        &rules(),
        &SyncOptions::default(),
    )
    .await
    .unwrap_err()
    .to_string();
    eprintln!("wrong root: {err}");
    assert!(err.contains("certificate"), "{err}");
    assert!(err.contains("UnknownIssuer"), "{err}");
    assert!(err.contains("verify-full"), "{err}");
    assert!(!err.contains(ADMIN_PASSWORD), "{err}");
    assert_eq!(staging_fingerprint(&pg), before);

    // verify-full without sslrootcert uses the public webpki roots: a test CA is not one.
    let err = sync::run(
        &src("sslmode=require"),
        &tgt("localhost", "sslmode=verify-full"),
        &rules(),
        &SyncOptions::default(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("webpki"), "{err}");
}
