//! The sync engine against a real MariaDB 10.11 (MySQL protocol): a production-shaped `prod`
//! database synced into `staging` on the same server, read through a SELECT-only user.

use std::time::Duration;

mod sync_support;

use stagecraft_testkit::databases::{MariaDb, ADMIN_PASSWORD, ADMIN_USER};
use sync_support::{
    assert_every_leaking_row_counted, assert_source_released_once_read, failed_verification,
    HeldAtRetention,
};
use terraform_provider_staging::sync::{
    self, Check, CheckKind, Progress, RuleSet, SyncError, SyncOptions, Transform,
};

const KEY: &[u8] = b"test-hash-key-0123456789";

/// ENUM/SET, JSON, BLOB, DECIMAL/DOUBLE, DATETIME(6)/TIMESTAMP, a STORED generated column,
/// AUTO_INCREMENT, a composite key, a table without a key, NULLs and 4-byte Unicode.
const SCHEMA: &str = r#"
CREATE TABLE partners (
  id INT AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(100) NOT NULL,
  email VARCHAR(191) UNIQUE,
  phone VARCHAR(40),
  status ENUM('Active', 'Inactive') NOT NULL DEFAULT 'Active'
) ENGINE=InnoDB;
CREATE TABLE users (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  email VARCHAR(191) NOT NULL UNIQUE,
  phone VARCHAR(40),
  first_name VARCHAR(80),
  last_name VARCHAR(80),
  full_name VARCHAR(170) AS (CONCAT_WS(' ', first_name, last_name)) STORED,
  role ENUM('Admin', 'Instructor', 'Member') NOT NULL DEFAULT 'Member',
  partner_id INT NULL,
  settings JSON,
  avatar BLOB,
  avatar_url VARCHAR(255),
  password_hash VARCHAR(100),
  balance DECIMAL(12, 2) NOT NULL DEFAULT 0,
  score DOUBLE,
  created_at DATETIME(6) NOT NULL,
  last_login TIMESTAMP NULL,
  FOREIGN KEY (partner_id) REFERENCES partners (id)
) ENGINE=InnoDB;
CREATE TABLE messages (
  id BIGINT AUTO_INCREMENT PRIMARY KEY,
  sender_id BIGINT UNSIGNED NOT NULL,
  recipient_id BIGINT UNSIGNED NULL,
  content TEXT NOT NULL,
  media_url VARCHAR(255),
  status ENUM('queued', 'sent', 'read') NOT NULL,
  metadata JSON,
  sent_at DATETIME,
  KEY sender_sent (sender_id, sent_at),
  FOREIGN KEY (sender_id) REFERENCES users (id),
  FOREIGN KEY (recipient_id) REFERENCES users (id) ON DELETE SET NULL
) ENGINE=InnoDB;
CREATE TABLE sessions (
  id CHAR(36) PRIMARY KEY,
  user_id BIGINT UNSIGNED NOT NULL,
  token CHAR(64) NOT NULL UNIQUE,
  ip_address VARCHAR(45),
  user_agent VARCHAR(255),
  expires_at DATETIME,
  FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB;
CREATE TABLE api_tokens (
  user_id BIGINT UNSIGNED NOT NULL,
  name VARCHAR(50) NOT NULL,
  token VARCHAR(100) NOT NULL UNIQUE,
  scopes SET('read', 'write', 'admin') NOT NULL,
  PRIMARY KEY (user_id, name),
  FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB;
CREATE TABLE audit_log (
  at DATETIME(3) NOT NULL,
  actor_email VARCHAR(191),
  action VARCHAR(40) NOT NULL,
  details JSON
) ENGINE=InnoDB;

INSERT INTO partners (name, email, phone, status)
SELECT CONCAT('Partner Ünïcode ', seq), CONCAT('partner', seq, '@partners-corp.org'),
       IF(seq % 4 = 0, NULL, CONCAT('+44 20 7946 ', LPAD(seq, 4, '0'))),
       IF(seq % 5 = 0, 'Inactive', 'Active')
FROM seq_1_to_20;

INSERT INTO users (email, phone, first_name, last_name, role, partner_id, settings, avatar,
                   avatar_url, password_hash, balance, score, created_at, last_login)
SELECT CONCAT('user', seq, '@corp-example.org'),
       IF(seq % 7 = 0, NULL, CONCAT('+1 (415) 555-', LPAD(seq, 4, '0'))),
       ELT(seq % 5 + 1, 'Zoë', 'José', '李', 'Ольга', 'Ann 🎉'),
       IF(seq % 11 = 0, NULL, CONCAT('Ñúñez-', seq)),
       ELT(seq % 3 + 1, 'Admin', 'Instructor', 'Member'),
       IF(seq % 3 = 0, NULL, seq % 20 + 1),
       JSON_OBJECT('theme', IF(seq % 2 = 0, 'dark', 'light'), 'note', CONCAT('café ☕ ', seq)),
       IF(seq % 3 = 0, NULL, UNHEX(CONCAT(MD5(seq), '00090a0d5c27'))),
       IF(seq % 3 = 0, NULL, CONCAT('https://cdn.example.net/avatars/', seq, '.png')),
       CONCAT('$2b$10$', MD5(seq)),
       seq * 1.25, seq / 7,
       TIMESTAMP('2024-01-01 00:00:00') + INTERVAL seq HOUR + INTERVAL seq MICROSECOND,
       IF(seq % 4 = 0, NULL, TIMESTAMP('2024-06-01 00:00:00') + INTERVAL seq MINUTE)
FROM seq_1_to_500;

INSERT INTO messages (sender_id, recipient_id, content, media_url, status, metadata, sent_at)
SELECT seq % 500 + 1, IF(seq % 10 = 0, NULL, (seq * 7) % 500 + 1),
       CONCAT('Hello ', seq, ' from a real person — secret ünïcode 🎉\twith a tab\nand a newline \\ backslash'),
       IF(seq % 4 = 0, CONCAT('https://media.example.net/m/', seq, '.jpg'), NULL),
       ELT(seq % 3 + 1, 'queued', 'sent', 'read'),
       IF(seq % 5 = 0, NULL, JSON_OBJECT('len', seq, 'kind', 'text')),
       TIMESTAMP('2024-02-01 00:00:00') + INTERVAL seq MINUTE
FROM seq_1_to_3000;

INSERT INTO sessions (id, user_id, token, ip_address, user_agent, expires_at)
SELECT CONCAT(LEFT(MD5(seq), 8), '-', MID(MD5(seq), 9, 4), '-4', MID(MD5(seq), 14, 3), '-a',
              MID(MD5(seq), 18, 3), '-', RIGHT(MD5(seq), 12)),
       seq % 500 + 1, CONCAT(MD5(CONCAT(seq, 'tok')), MD5(CONCAT(seq, 'x'))),
       CONCAT('10.0.', seq DIV 256, '.', seq % 256), CONCAT('Mozilla/5.0 (test agent ', seq, ')'),
       TIMESTAMP('2025-01-01 00:00:00') + INTERVAL seq DAY
FROM seq_1_to_800;

INSERT INTO api_tokens (user_id, name, token, scopes)
SELECT seq % 150 + 1, CONCAT('key', seq DIV 150), CONCAT('sk_live_', MD5(seq), 'Z9'),
       IF(seq % 2 = 0, 'read,write', 'read,admin')
FROM seq_1_to_300;

INSERT INTO audit_log (at, actor_email, action, details)
SELECT TIMESTAMP('2024-03-01 00:00:00') + INTERVAL seq SECOND,
       CASE WHEN seq % 4 = 0 THEN CONCAT('partner', seq % 20 + 1, '@partners-corp.org')
            WHEN seq % 9 = 0 THEN NULL
            ELSE CONCAT('user', seq % 500 + 1, '@corp-example.org') END,
       'login', JSON_OBJECT('ok', seq % 2 = 0)
FROM seq_1_to_400;
"#;

fn setup() -> MariaDb {
    setup_on(MariaDb::start().expect("start mariadb"))
}

fn setup_on(my: MariaDb) -> MariaDb {
    my.sql("CREATE DATABASE prod; CREATE DATABASE staging;")
        .unwrap();
    my.sql_in("prod", SCHEMA).unwrap();
    my.grant_readonly("prod").unwrap();
    my.sql_in(
        "staging",
        "CREATE TABLE old_staging_marker (note VARCHAR(100)); \
         INSERT INTO old_staging_marker VALUES ('staging before the sync');",
    )
    .unwrap();
    my
}

fn rules() -> RuleSet {
    RuleSet::default_pii()
        .with_hash_key(KEY)
        .with_rule("partners", "email", Transform::Hash)
        .with_rule("audit_log", "actor_email", Transform::Hash)
}

/// Runs a sync of prod into staging that must fail verification; the checks that failed.
async fn failed_checks(my: &MariaDb, rules: &RuleSet) -> Vec<Check> {
    let (_, report) =
        failed_verification(&my.readonly_url("prod"), &my.admin_url("staging"), rules).await;
    report
        .verification
        .failures()
        .into_iter()
        .cloned()
        .collect()
}

fn q(my: &MariaDb, db: &str, sql: &str) -> String {
    my.sql_in(db, sql).unwrap().trim().to_string()
}

fn checksum(my: &MariaDb, db: &str, table: &str, cols: &str) -> String {
    let quoted: Vec<String> = cols
        .split(',')
        .map(|c| format!("QUOTE({})", c.trim()))
        .collect();
    q(
        my,
        db,
        &format!(
            "SET SESSION group_concat_max_len = 1073741824; \
             SELECT MD5(COALESCE(GROUP_CONCAT(r ORDER BY r SEPARATOR '\\n'), '')) FROM \
             (SELECT CONCAT_WS('|', {}) AS r FROM {table}) x",
            quoted.join(", ")
        ),
    )
}

const KEPT: &[(&str, &str)] = &[
    ("partners", "id, name, status"),
    (
        "users",
        "id, role, partner_id, settings, avatar, balance, score, created_at, last_login",
    ),
    (
        "messages",
        "id, sender_id, recipient_id, status, metadata, sent_at",
    ),
    ("sessions", "id, user_id, user_agent, expires_at"),
    ("api_tokens", "user_id, name, scopes"),
    ("audit_log", "at, action, details"),
];

fn table_list(my: &MariaDb, db: &str) -> String {
    q(
        my,
        "",
        &format!(
            "SELECT COALESCE(GROUP_CONCAT(TABLE_NAME ORDER BY TABLE_NAME), '') FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = '{db}'"
        ),
    )
}

fn all_checksums(my: &MariaDb, db: &str) -> String {
    table_list(my, db)
        .split(',')
        .filter(|t| !t.is_empty())
        .map(|t| {
            format!(
                "{t}={}",
                q(my, db, &format!("CHECKSUM TABLE `{t}` EXTENDED"))
            )
        })
        .collect::<Vec<_>>()
        .join(";")
}

fn databases(my: &MariaDb) -> String {
    q(
        my,
        "",
        "SELECT COALESCE(GROUP_CONCAT(SCHEMA_NAME ORDER BY SCHEMA_NAME), '') FROM information_schema.SCHEMATA \
         WHERE SCHEMA_NAME LIKE 'staging\\_\\_%'",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_sanitizes_keeps_the_rest_and_backs_up_staging() {
    let my = setup();
    let prod_before = all_checksums(&my, "prod");
    let opts = SyncOptions::default();
    let report = sync::run(
        &my.readonly_url("prod"),
        &my.admin_url("staging"),
        &rules(),
        &opts,
    )
    .await
    .expect("sync");
    assert!(report.verification.passed, "{}", report.to_json());
    let rows = |t: &str| report.table(t).unwrap().rows;
    assert_eq!(
        (rows("users"), rows("messages"), rows("sessions")),
        (500, 3000, 800)
    );
    assert_eq!(
        (rows("api_tokens"), rows("audit_log"), rows("partners")),
        (300, 400, 20)
    );
    assert_eq!(report.table("messages").unwrap().method, "load_data");
    let json = report.to_json();
    assert!(!json.contains(ADMIN_PASSWORD) && !json.contains("reader-pw"));
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

    let bad = |sql: &str| q(&my, "staging", &format!("SELECT COUNT(*) FROM {sql}"));
    assert_eq!(
        bad("users WHERE email <> CONCAT('staging+user', id, '@example.com')"),
        "0"
    );
    assert_eq!(
        bad("users WHERE phone IS NOT NULL AND phone <> CONCAT('+1555000', id)"),
        "0"
    );
    assert_eq!(
        bad("users WHERE phone IS NULL"),
        q(
            &my,
            "prod",
            "SELECT COUNT(*) FROM users WHERE phone IS NULL"
        )
    );
    assert_eq!(
        bad("users WHERE first_name <> CONCAT('Test User ', id)"),
        "0"
    );
    assert_eq!(
        bad("users WHERE full_name <> CONCAT_WS(' ', first_name, last_name)"),
        "0"
    );
    assert_eq!(bad("users WHERE avatar_url IS NOT NULL"), "0");
    assert_eq!(
        bad("messages WHERE content NOT LIKE 'This is a test message.%'"),
        "0"
    );
    assert_eq!(bad("messages WHERE media_url IS NOT NULL"), "0");
    assert_eq!(bad("sessions WHERE token NOT REGEXP '^[0-9a-f]{64}$'"), "0");
    assert_eq!(bad("sessions WHERE ip_address <> '192.0.2.1'"), "0");
    assert_eq!(
        bad("api_tokens WHERE token <> CONCAT('test_token_', user_id, '-', name)"),
        "0"
    );
    assert_eq!(
        bad("partners WHERE email IS NOT NULL AND email NOT REGEXP '^u_[0-9a-f]{16}@example\\\\.com$'"),
        "0"
    );
    let join = "SELECT COUNT(*) FROM audit_log a JOIN partners p ON p.email = a.actor_email";
    assert_eq!(q(&my, "staging", join), q(&my, "prod", join));
    assert_ne!(q(&my, "staging", join), "0");
    let leaked = q(
        &my,
        "",
        "SELECT COUNT(*) FROM staging.sessions s JOIN prod.sessions p ON p.token = s.token",
    );
    assert_eq!(leaked, "0");

    for (t, cols) in KEPT {
        assert_eq!(
            checksum(&my, "staging", t, cols),
            checksum(&my, "prod", t, cols),
            "{t} ({cols})"
        );
    }
    // Table definitions (keys, FKs, generated column, enums) came along unchanged.
    for t in [
        "users",
        "messages",
        "sessions",
        "api_tokens",
        "audit_log",
        "partners",
    ] {
        let def = |db: &str| {
            let d = q(&my, db, &format!("SHOW CREATE TABLE `{t}`"));
            // AUTO_INCREMENT counters differ by design (staging is past its max id).
            d.split_whitespace()
                .filter(|w| !w.starts_with("AUTO_INCREMENT="))
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(def("staging"), def("prod"), "{t}");
    }
    // FKs point at the live staging tables, not at the backup.
    assert_eq!(
        q(
            &my,
            "",
            "SELECT COUNT(*) FROM information_schema.REFERENTIAL_CONSTRAINTS \
             WHERE CONSTRAINT_SCHEMA = 'staging' AND UNIQUE_CONSTRAINT_SCHEMA <> 'staging'"
        ),
        "0"
    );
    assert_eq!(
        q(&my, "", "SELECT COUNT(*) FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = 'staging'"),
        "5"
    );
    // AUTO_INCREMENT past the copied ids.
    let id = q(
        &my,
        "staging",
        "INSERT INTO users (email, created_at) VALUES ('new@example.com', NOW()); SELECT LAST_INSERT_ID();",
    );
    assert!(id.parse::<i64>().unwrap() > 500, "{id}");

    let backup = report.backup.clone().expect("backup");
    assert!(backup.starts_with("staging__sds_bak_"), "{backup}");
    assert_eq!(
        q(&my, &backup, "SELECT note FROM old_staging_marker"),
        "staging before the sync"
    );
    assert_eq!(databases(&my), backup, "no shadow left, one backup");
    assert_eq!(
        all_checksums(&my, "prod"),
        prod_before,
        "the source was only read"
    );

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before = checksum(&my, "staging", "partners WHERE id <= 20", "id, email");
    let report2 = sync::run(
        &my.readonly_url("prod"),
        &my.admin_url("staging"),
        &rules(),
        &opts,
    )
    .await
    .expect("second sync");
    assert_eq!(report2.backups_dropped, vec![backup]);
    assert_eq!(
        checksum(&my, "staging", "partners WHERE id <= 20", "id, email"),
        before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_reports_unruled_pii_and_the_run_refuses() {
    let my = setup();
    let opts = SyncOptions::default();
    let clean = sync::inspect(&my.readonly_url("prod"), &rules(), &opts)
        .await
        .unwrap();
    assert!(
        clean.unsanitized_pii.is_empty(),
        "{:?}",
        clean.unsanitized_pii
    );
    assert_eq!(
        clean.table("api_tokens").unwrap().primary_key,
        vec!["user_id", "name"]
    );
    assert!(clean.table("audit_log").unwrap().primary_key.is_empty());
    assert!(clean
        .table("users")
        .unwrap()
        .columns
        .iter()
        .any(|c| c.name == "full_name" && c.generated.is_some()));

    my.sql_in(
        "prod",
        "ALTER TABLE users ADD COLUMN ssn VARCHAR(11), ADD COLUMN misc TEXT; \
         UPDATE users SET ssn = CONCAT(LPAD(id, 3, '0'), '-45-6789'), misc = CONCAT('person', id, '@mail.example.org');",
    )
    .unwrap();
    let s = sync::inspect(&my.readonly_url("prod"), &rules(), &opts)
        .await
        .unwrap();
    let found: Vec<_> = s
        .unsanitized_pii
        .iter()
        .map(|f| format!("{}.{}", f.table, f.column))
        .collect();
    assert_eq!(found, vec!["users.ssn", "users.misc"]);
    let before = all_checksums(&my, "staging");
    let err = sync::run(
        &my.readonly_url("prod"),
        &my.admin_url("staging"),
        &rules(),
        &opts,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("users.ssn"), "{err}");
    assert_eq!(all_checksums(&my, "staging"), before);
    assert_eq!(databases(&my), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_equal_to_source_is_refused_whatever_the_host_name() {
    let my = setup();
    let before = all_checksums(&my, "prod");
    for host in ["127.0.0.1", "localhost"] {
        let target = my.url(ADMIN_USER, ADMIN_PASSWORD, host, "prod");
        let err = sync::run(
            &my.readonly_url("prod"),
            &target,
            &rules(),
            &SyncOptions::default(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, SyncError::SameDatabase(_)), "{host}: {err}");
        assert!(!err.to_string().contains(ADMIN_PASSWORD));
    }
    assert_eq!(all_checksums(&my, "prod"), before);
    let err = sync::run(
        &my.url("reader", "wrong-password-xyz", "127.0.0.1", "prod"),
        &my.admin_url("staging"),
        &rules(),
        &SyncOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(!err.to_string().contains("wrong-password-xyz"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_sync_leaves_staging_unchanged_and_the_next_run_cleans_up() {
    let my = setup();
    let opts = SyncOptions::default();
    sync::run(
        &my.readonly_url("prod"),
        &my.admin_url("staging"),
        &rules(),
        &opts,
    )
    .await
    .unwrap();
    my.sql_in("prod", "UPDATE partners SET name = CONCAT(name, ' v2')")
        .unwrap();
    let before = all_checksums(&my, "staging");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let kill_opts = SyncOptions {
        parallelism: 1,
        progress: Some(tx),
        ..SyncOptions::default()
    };
    let (src, tgt) = (my.readonly_url("prod"), my.admin_url("staging"));
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
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(all_checksums(&my, "staging"), before);
    assert!(
        databases(&my).contains("staging__sds_new"),
        "{}",
        databases(&my)
    );

    let r = sync::run(
        &my.readonly_url("prod"),
        &my.admin_url("staging"),
        &rules(),
        &opts,
    )
    .await
    .unwrap();
    assert_eq!(
        r.stale_shadows_dropped,
        vec!["staging__sds_new".to_string()]
    );
    assert_eq!(
        q(
            &my,
            "staging",
            "SELECT COUNT(*) FROM partners WHERE name LIKE '% v2'"
        ),
        "20"
    );
}

/// The target's reader of a backup, and what the server says about the sync's sessions.
struct Held<'a> {
    my: &'a MariaDb,
    holder: Option<mysql_async::Conn>,
}

impl HeldAtRetention for Held<'_> {
    async fn hold(&mut self, oldest: &str) {
        use mysql_async::prelude::Queryable;
        let mut c = mysql_async::Conn::from_url(self.my.admin_url("staging"))
            .await
            .unwrap();
        // A read in an open transaction holds the table's metadata lock until it ends.
        c.query_drop("START TRANSACTION").await.unwrap();
        c.query_drop(format!("SELECT * FROM `{oldest}`.old_staging_marker"))
            .await
            .unwrap();
        self.holder = Some(c);
    }

    async fn release(&mut self) {
        use mysql_async::prelude::Queryable;
        let mut c = self.holder.take().expect("held");
        c.query_drop("COMMIT").await.unwrap();
    }

    fn sync_waits(&self) -> bool {
        q(
            self.my,
            "",
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
             WHERE INFO LIKE 'DROP DATABASE%' AND STATE LIKE 'Waiting for%lock'",
        ) == "1"
    }

    fn source_sessions(&self) -> (u64, u64) {
        let count = |sql: &str| -> u64 { q(self.my, "", sql).parse().unwrap() };
        (
            count("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'reader'"),
            count(
                "SELECT COUNT(*) FROM information_schema.INNODB_TRX t \
                 JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id \
                 WHERE p.USER = 'reader'",
            ),
        )
    }
}

/// Once the tables are read, the sync's source connection holds no transaction there (on
/// production, an open snapshot keeps InnoDB from purging old row versions), although the run
/// goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_source_snapshot_is_released_once_the_data_is_read() {
    let my = setup();
    let (src, tgt) = (my.readonly_url("prod"), my.admin_url("staging"));
    let mut held = Held {
        my: &my,
        holder: None,
    };
    assert_source_released_once_read(&src, &tgt, rules(), &mut held).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_verification_and_restore_backup() {
    let my = setup();
    let opts = SyncOptions::default();
    // A fixed "phone" equal to a real user's phone: the leak probe fails the run.
    let leaky = rules().with_rule(
        "users",
        "phone",
        Transform::Fixed("+1 (415) 555-0001".into()),
    );
    let failed = failed_checks(&my, &leaky).await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(
        (failed[0].kind.clone(), failed[0].subject.as_str()),
        (CheckKind::LeakProbe, "phone")
    );
    assert_eq!(table_list(&my, "staging"), "old_staging_marker");
    assert_eq!(databases(&my), "");

    // A good run, then restore the backup, then undo the restore.
    let r = sync::run(
        &my.readonly_url("prod"),
        &my.admin_url("staging"),
        &rules(),
        &opts,
    )
    .await
    .unwrap();
    let synced = all_checksums(&my, "staging");
    let displaced = sync::restore_backup(&my.admin_url("staging"), &r.backup.unwrap(), &opts)
        .await
        .unwrap();
    assert_eq!(table_list(&my, "staging"), "old_staging_marker");
    assert_eq!(
        q(&my, "staging", "SELECT note FROM old_staging_marker"),
        "staging before the sync"
    );
    sync::restore_backup(&my.admin_url("staging"), &displaced, &opts)
        .await
        .unwrap();
    assert_eq!(all_checksums(&my, "staging"), synced);
    assert_eq!(
        sync::list_backups(&my.admin_url("staging"), &opts)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// A constant rule's column is probed in one aggregate pass (its single value looked up once):
/// a leak must still count every row that holds it, and the pass still counts the rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grouped_leak_probe_counts_every_leaking_row() {
    let my = setup();
    // Read as hex: the mariadb client escapes tabs, newlines and backslashes in its output.
    let hex = q(
        &my,
        "prod",
        "SELECT HEX(content) FROM messages WHERE id = 1",
    );
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let leaked = String::from_utf8(bytes).unwrap();
    assert!(leaked.starts_with("Hello 1 from a real person"), "{leaked}");
    let leaky = rules().with_rule("messages", "content", Transform::Fixed(leaked));
    assert_every_leaking_row_counted(&my.readonly_url("prod"), &my.admin_url("staging"), &leaky)
        .await;
    assert_eq!(databases(&my), "", "the shadow is dropped after a failure");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dangling_foreign_keys_fail_verification() {
    let my = setup();
    // Production holds a session of a user who does not exist (written with checks off): the
    // copy, loaded with checks off too, must not hide it.
    my.sql_in(
        "prod",
        "SET foreign_key_checks = 0; \
         INSERT INTO sessions (id, user_id, token) VALUES \
         ('00000000-0000-4000-a000-000000000001', 999999, REPEAT('f', 64)), \
         ('00000000-0000-4000-a000-000000000002', 999999, REPEAT('e', 64));",
    )
    .unwrap();
    let failed = failed_checks(&my, &rules()).await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(
        (failed[0].kind.clone(), failed[0].table.as_str()),
        (CheckKind::ForeignKey, "sessions")
    );
    assert!(
        failed[0].detail.starts_with("1 orphan key values"),
        "{}",
        failed[0].detail
    );
    assert_eq!(table_list(&my, "staging"), "old_staging_marker");
}

/// A rule that gives two rows of a unique column the same value fails the load (MariaDB loads
/// in bulk with unique_checks = 0, and a duplicate must still stop it), names the table, and
/// leaves staging as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_that_duplicates_a_unique_key_fails_the_load() {
    let my = setup();
    let before = all_checksums(&my, "staging");
    let colliding = rules().with_rule(
        "users",
        "email",
        Transform::Fixed("everyone@example.com".into()),
    );
    // LOAD DATA, and the multi-row INSERTs used where the server refuses LOAD DATA.
    for load_data in [true, false] {
        let opts = SyncOptions {
            mysql_load_data: load_data,
            ..SyncOptions::default()
        };
        let err = sync::run(
            &my.readonly_url("prod"),
            &my.admin_url("staging"),
            &colliding,
            &opts,
        )
        .await
        .expect_err("two users cannot share an email");
        let message = err.to_string();
        assert!(message.contains("users"), "{message}");
        assert!(message.contains("duplicate"), "{message}");
        assert!(!message.contains("everyone@example.com"), "{message}");
        assert_eq!(all_checksums(&my, "staging"), before);
        assert_eq!(databases(&my), "", "the shadow is dropped after a failure");
    }
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
async fn tls_ssl_modes_required_verify_ca_and_verify_identity() {
    let (ca_pem, cert_pem, key_pem) = test_pki("right");
    let (other_ca_pem, _, _) = test_pki("wrong");
    let my = setup_on(MariaDb::start_with_tls(&cert_pem, &key_pem).expect("start mariadb"));
    // TCP clients must use TLS from here on (the harness's client uses the socket).
    my.sql("SET GLOBAL require_secure_transport = ON").unwrap();
    let certs = tempfile::tempdir().unwrap();
    let ca = certs.path().join("ca.pem");
    let other_ca = certs.path().join("other-ca.pem");
    std::fs::write(&ca, &ca_pem).unwrap();
    std::fs::write(&other_ca, &other_ca_pem).unwrap();
    let enc = |p: &std::path::Path| p.display().to_string().replace('/', "%2F");
    let src = |params: &str| format!("{}&{params}", my.readonly_url("prod"));
    let tgt = |host: &str, params: &str| {
        format!(
            "{}&{params}",
            my.url(ADMIN_USER, ADMIN_PASSWORD, host, "staging")
        )
    };

    let err = sync::run(
        &src("ssl-mode=DISABLED"),
        &tgt("127.0.0.1", "ssl-mode=DISABLED"),
        &rules(),
        &SyncOptions::default(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("secure") || err.contains("1045") || err.contains("3159"),
        "{err}"
    );

    let r = sync::run(
        &src("ssl-mode=REQUIRED"),
        &tgt("127.0.0.1", "ssl-mode=REQUIRED"),
        &rules(),
        &SyncOptions::default(),
    )
    .await
    .expect("sync with ssl-mode=REQUIRED");
    assert!(r.verification.passed);

    let r = sync::run(
        &src(&format!("ssl-mode=VERIFY_CA&ssl-ca={}", enc(&ca))),
        &tgt(
            "localhost",
            &format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={}", enc(&ca)),
        ),
        &rules(),
        &SyncOptions::default(),
    )
    .await
    .expect("sync with VERIFY_CA / VERIFY_IDENTITY");
    assert!(r.verification.passed);

    let err = sync::run(
        &src("ssl-mode=REQUIRED"),
        &tgt(
            "localhost",
            &format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={}", enc(&other_ca)),
        ),
        &rules(),
        &SyncOptions::default(),
    )
    .await
    .unwrap_err()
    .to_string();
    eprintln!("wrong root: {err}");
    assert!(
        err.contains("certificate") || err.contains("UnknownIssuer"),
        "{err}"
    );
    assert!(!err.contains(ADMIN_PASSWORD), "{err}");
}
