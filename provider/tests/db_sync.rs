//! `staging_sanitized_db_sync` driven by the real terraform binary: real PostgreSQL 15 for
//! both sides, connection URLs in Secrets Manager (moto), a plan that lists every column,
//! PII guard at plan time, re-sync on triggers, and no password anywhere Terraform writes.
use std::path::Path;

use anyhow::Result;
use serde_json::Value as Json;
use stagecraft_testkit::databases::{self, Postgres};
use stagecraft_testkit::localaws::LocalAws;
use stagecraft_testkit::terraform::{ProviderSource, Workspace};

const PROD_SCHEMA: &str = r#"
CREATE TABLE users (
  id serial PRIMARY KEY,
  email text NOT NULL UNIQUE,
  full_name text NOT NULL,
  phone text,
  plan text NOT NULL DEFAULT 'free'
);
CREATE TABLE messages (
  id serial PRIMARY KEY,
  user_id int NOT NULL REFERENCES users(id),
  body text NOT NULL,
  sent_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO users (email, full_name, phone, plan)
SELECT 'person' || g || '@realmail.com', 'Real Person ' || g, '+4930' || (1000000 + g), CASE WHEN g % 3 = 0 THEN 'pro' ELSE 'free' END
FROM generate_series(1, 200) g;
INSERT INTO messages (user_id, body) SELECT 1 + (g % 200), 'private message number ' || g FROM generate_series(1, 500) g;
"#;

struct Setup {
    pg: Postgres,
    aws: LocalAws,
    ws: Workspace,
    source_arn: String,
    target_arn: String,
}

fn create_secret(aws: &LocalAws, name: &str, url: &str) -> Result<String> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let cfg = aws.sdk_config().await;
        let sm = aws_sdk_secretsmanager::Client::new(&cfg);
        let out = sm
            .create_secret()
            .name(name)
            .secret_string(serde_json::json!({ "url": url }).to_string())
            .send()
            .await?;
        Ok(out.arn.unwrap())
    })
}

fn setup() -> Result<Setup> {
    let pg = Postgres::start()?;
    pg.create_database("prod")?;
    pg.create_database("staging")?;
    pg.psql_script("prod", PROD_SCHEMA)?;
    pg.grant_readonly("prod", "public")?;
    pg.psql(
        "staging",
        "CREATE TABLE old_data (id int); INSERT INTO old_data VALUES (1);",
    )?;
    let aws = LocalAws::start()?;
    let source_arn = create_secret(
        &aws,
        "togetherhood/production/sync-source",
        &pg.readonly_url("prod"),
    )?;
    let target_arn = create_secret(
        &aws,
        "togetherhood/staging/sync-target",
        &pg.admin_url("staging"),
    )?;
    let mut ws = Workspace::new(ProviderSource::DevOverride {
        address: "stagecraft/staging".into(),
        dir: Path::new(env!("CARGO_BIN_EXE_terraform-provider-staging"))
            .parent()
            .unwrap()
            .to_path_buf(),
    })?;
    for (k, v) in aws.env() {
        ws.set_env(&k, &v);
    }
    Ok(Setup {
        pg,
        aws,
        ws,
        source_arn,
        target_arn,
    })
}

fn config(s: &Setup, extra: &str) -> String {
    config_for(&s.source_arn, &s.target_arn, extra)
}

fn config_for(source_arn: &str, target_arn: &str, extra: &str) -> String {
    format!(
        r#"terraform {{
  required_providers {{
    staging = {{ source = "stagecraft/staging" }}
  }}
}}

provider "staging" {{
  region = "us-east-1"
}}

resource "staging_sanitized_db_sync" "prod_to_staging" {{
  source_secret_arn = "{}"
  target_secret_arn = "{}"
  preset            = "default_pii"

  rule {{
    table     = "messages"
    column    = "body"
    transform = "template"
    value     = "Test message {{id}}"
  }}
  {extra}
}}
"#,
        source_arn, target_arn
    )
}

fn state_values(ws: &Workspace) -> Result<Json> {
    Ok(ws.resources()?["staging_sanitized_db_sync.prod_to_staging"]["values"].clone())
}

#[test]
fn syncs_sanitized_data_and_resyncs_on_triggers() -> Result<()> {
    let s = setup()?;
    s.ws.write("main.tf", &config(&s, "triggers = { release = \"1\" }"))?;

    // The plan lists every column and its fate.
    let plan = s.ws.run(&["plan"])?.ok()?;
    let squeezed = plan.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    for line in [
        r#""users.email" = "template \"staging+user{id}@example.com\" (preset)""#,
        r#""messages.body" = "template \"Test message {id}\" (rule)""#,
        r#""users.plan" = "copy""#,
    ] {
        assert!(
            squeezed.contains(line),
            "missing {line} in:\n{}",
            plan.stdout
        );
    }

    let apply = s.ws.apply()?.ok()?;
    let v = state_values(&s.ws)?;
    assert_eq!(v["rows_copied"], 700);
    assert_eq!(v["table_rows"]["users"], 200);
    assert!(
        v["backup"].as_str().is_some_and(|b| !b.is_empty()),
        "previous staging data kept: {v}"
    );
    let emails =
        s.pg.psql("staging", "SELECT email FROM users ORDER BY id LIMIT 2")?;
    assert_eq!(
        emails.trim(),
        "staging+user1@example.com\nstaging+user2@example.com"
    );
    assert_eq!(
        s.pg.psql(
            "staging",
            "SELECT count(*) FROM users WHERE email LIKE '%realmail%' OR full_name LIKE 'Real%'"
        )?
        .trim(),
        "0"
    );
    assert_eq!(
        s.pg.psql(
            "staging",
            "SELECT plan, count(*) FROM users GROUP BY plan ORDER BY plan"
        )?,
        s.pg.psql(
            "prod",
            "SELECT plan, count(*) FROM users GROUP BY plan ORDER BY plan"
        )?,
        "unsanitized columns equal the source"
    );
    assert_eq!(
        s.pg.psql("staging", "SELECT body FROM messages WHERE id = 7")?
            .trim(),
        "Test message 7"
    );
    let (changes, p) = s.ws.plan_has_changes()?;
    assert!(!changes, "second plan must be empty:\n{}", p.stdout);

    // Staging changes after the sync (a tester's data): the next sync keeps them as backup.
    s.pg.psql(
        "staging",
        "INSERT INTO users (email, full_name, plan) VALUES ('qa-marker@example.com', 'QA', 'free')",
    )?;

    // New triggers re-sync.
    let first = v["last_synced_at"].as_str().unwrap().to_string();
    s.ws.write("main.tf", &config(&s, "triggers = { release = \"2\" }"))?;
    let (changes, p) = s.ws.plan_has_changes()?;
    assert!(
        changes && p.stdout.contains("last_synced_at"),
        "{}",
        p.stdout
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    s.ws.apply()?.ok()?;
    assert_ne!(
        state_values(&s.ws)?["last_synced_at"].as_str().unwrap(),
        first
    );
    let marker = "SELECT count(*) FROM users WHERE email = 'qa-marker@example.com'";
    assert_eq!(
        s.pg.psql("staging", marker)?.trim(),
        "0",
        "staging now holds the fresh copy"
    );

    // No password in state, plan output or trace logs.
    let final_config = &config(&s, "triggers = { release = \"2\" }\n  rule {\n    table     = \"users\"\n    column    = \"ssn\"\n    transform = \"hash\"\n  }");
    let mut ws = s.ws;
    ws.set_env("TF_LOG", "trace");
    let traced = ws.run(&["plan"])?;
    for text in [
        ws.read("terraform.tfstate")?,
        apply.output(),
        p.output(),
        traced.output(),
    ] {
        for secret in [databases::ADMIN_PASSWORD, databases::READER_PASSWORD] {
            assert!(!text.contains(secret), "a database password leaked");
        }
    }
    ws.remove_env("TF_LOG");

    // A new unruled PII column on production fails the next plan, naming it.
    s.pg.psql("prod", "ALTER TABLE users ADD COLUMN ssn text; UPDATE users SET ssn = '123-45-' || lpad(id::text, 4, '0'); GRANT SELECT ON users TO PUBLIC;")?;
    let run = ws.run(&["plan"])?;
    assert!(!run.success());
    assert!(run.output().contains("users.ssn"), "{}", run.output());

    // The documented way back: restore-backup puts the previous staging data in place.
    let backup = state_values(&ws)?["backup"].as_str().unwrap().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_terraform-provider-staging"))
        .args(["restore-backup", "--backup", &backup])
        .env("STAGECRAFT_TARGET_URL", s.pg.admin_url("staging"))
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        s.pg.psql("staging", marker)?.trim(),
        "1",
        "the previous staging data is back"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains(databases::ADMIN_PASSWORD));

    // Destroy forgets: staging keeps its data, production is untouched. (Terraform plans
    // before it destroys, so the configuration must pass the PII check: rule the new column.)
    ws.write("main.tf", final_config)?;
    ws.destroy()?.ok()?;
    assert!(ws.resources()?.is_empty());
    assert_eq!(
        s.pg.psql("staging", "SELECT count(*) FROM users")?.trim(),
        "201"
    );
    assert_eq!(
        s.pg.psql("prod", "SELECT count(*) FROM users")?.trim(),
        "200"
    );
    drop(s.aws);
    Ok(())
}

#[test]
fn target_equal_to_source_is_refused() -> Result<()> {
    let s = setup()?;
    // The same server and database, reached under another host name.
    let target = create_secret(
        &s.aws,
        "togetherhood/staging/wrong-target",
        &s.pg.admin_url("prod").replace("127.0.0.1", "localhost"),
    )?;
    let cfg = config(&s, "").replace(&s.target_arn, &target);
    s.ws.write("main.tf", &cfg)?;
    let before = s.pg.psql(
        "prod",
        "SELECT md5(string_agg(email, ',' ORDER BY id)) FROM users",
    )?;
    let run = s.ws.apply()?;
    assert!(!run.success());
    assert!(
        run.output().contains("the target is the source"),
        "{}",
        run.output()
    );
    assert_eq!(
        s.pg.psql(
            "prod",
            "SELECT md5(string_agg(email, ',' ORDER BY id)) FROM users"
        )?,
        before,
        "production untouched"
    );
    assert!(
        s.ws.resources()?.is_empty(),
        "nothing recorded for a sync that never ran"
    );
    Ok(())
}

/// The same resource on MySQL (MariaDB 10.11): the seed 000 engine.
#[test]
fn syncs_mysql_through_terraform() -> Result<()> {
    use stagecraft_testkit::databases::MariaDb;
    let db = MariaDb::start()?;
    db.sql(
        "CREATE DATABASE prod; CREATE DATABASE staging;
         CREATE TABLE prod.users (id INT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(255) NOT NULL UNIQUE,
           full_name VARCHAR(255) NOT NULL, phone VARCHAR(32), plan ENUM('free','pro') NOT NULL DEFAULT 'free');
         CREATE TABLE prod.messages (id INT AUTO_INCREMENT PRIMARY KEY, user_id INT NOT NULL, body TEXT NOT NULL,
           FOREIGN KEY (user_id) REFERENCES prod.users(id));",
    )?;
    let mut inserts =
        String::from("INSERT INTO prod.users (email, full_name, phone, plan) VALUES ");
    inserts.push_str(
        &(1..=120)
            .map(|i| {
                format!(
                    "('p{i}@realmail.com', 'Real Person {i}', '+4930{}', '{}')",
                    1_000_000 + i,
                    if i % 3 == 0 { "pro" } else { "free" }
                )
            })
            .collect::<Vec<_>>()
            .join(","),
    );
    inserts.push_str("; INSERT INTO prod.messages (user_id, body) VALUES ");
    inserts.push_str(
        &(1..=300)
            .map(|i| format!("({}, 'private message {i}')", 1 + i % 120))
            .collect::<Vec<_>>()
            .join(","),
    );
    db.sql(&inserts)?;
    db.grant_readonly("prod")?;

    let aws = LocalAws::start()?;
    let source_arn = create_secret(
        &aws,
        "app/production/mysql-source",
        &db.readonly_url("prod"),
    )?;
    let target_arn = create_secret(&aws, "app/staging/mysql-target", &db.admin_url("staging"))?;
    let mut ws = Workspace::new(ProviderSource::DevOverride {
        address: "stagecraft/staging".into(),
        dir: Path::new(env!("CARGO_BIN_EXE_terraform-provider-staging"))
            .parent()
            .unwrap()
            .to_path_buf(),
    })?;
    for (k, v) in aws.env() {
        ws.set_env(&k, &v);
    }
    ws.write("main.tf", &config_for(&source_arn, &target_arn, ""))?;
    ws.apply()?.ok()?;
    let v = state_values(&ws)?;
    assert_eq!(v["rows_copied"], 420);
    assert_eq!(
        v["schema_name"], "prod",
        "MySQL: the database named in the source URL"
    );
    assert_eq!(
        db.sql("SELECT email FROM staging.users WHERE id = 5")?
            .trim(),
        "staging+user5@example.com"
    );
    assert_eq!(
        db.sql("SELECT body FROM staging.messages WHERE id = 9")?
            .trim(),
        "Test message 9"
    );
    assert_eq!(
        db.sql("SELECT plan, count(*) FROM staging.users GROUP BY plan ORDER BY plan")?,
        db.sql("SELECT plan, count(*) FROM prod.users GROUP BY plan ORDER BY plan")?
    );
    let (changes, p) = ws.plan_has_changes()?;
    assert!(!changes, "second plan must be empty:\n{}", p.stdout);
    assert!(!ws.state_file()?.contains(databases::ADMIN_PASSWORD));
    ws.destroy()?.ok()?;
    drop(aws);
    Ok(())
}
