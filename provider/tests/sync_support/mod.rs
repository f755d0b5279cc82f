//! What the PostgreSQL and MySQL sync tests share: a sync that must fail its verification, and
//! the checks read out of its report.

use terraform_provider_staging::sync::{
    self, Check, CheckKind, RuleSet, SyncError, SyncOptions, SyncReport,
};

/// Runs a sync that must fail verification; returns the error's text and the report.
pub async fn failed_verification(
    source: &str,
    target: &str,
    rules: &RuleSet,
) -> (String, SyncReport) {
    let err = sync::run(source, target, rules, &SyncOptions::default())
        .await
        .unwrap_err();
    let text = err.to_string();
    let SyncError::Verification(report) = err else {
        panic!("expected a verification failure, got {text}")
    };
    (text, *report)
}

/// The report's only failed check, which must be `kind` on `table` and `subject`.
pub fn only_failure(report: &SyncReport, kind: CheckKind, table: &str, subject: &str) -> Check {
    let failed = report.verification.failures();
    assert_eq!(failed.len(), 1, "{failed:?}");
    let f = failed[0];
    assert_eq!(
        (&f.kind, f.table.as_str(), f.subject.as_str()),
        (&kind, table, subject)
    );
    f.clone()
}

/// The check of `kind` on `table` and `subject` (empty for table-level checks).
pub fn check(report: &SyncReport, kind: CheckKind, table: &str, subject: &str) -> Check {
    report
        .verification
        .checks
        .iter()
        .find(|c| c.kind == kind && c.table == table && c.subject == subject)
        .unwrap_or_else(|| panic!("no {kind:?} check of {table} {subject}"))
        .clone()
}

/// Both engines' test schemas hold 3000 messages; `leaky` fixes messages.content to a value
/// one of them holds. The leak probe of such a constant rule reads each distinct value once
/// (PostgreSQL grouped, MySQL in one aggregate pass), and must still count every row that
/// holds the leak; the same pass counts the rows. Returns the error's text and the report.
pub async fn assert_every_leaking_row_counted(
    source: &str,
    target: &str,
    leaky: &RuleSet,
) -> (String, SyncReport) {
    let (text, report) = failed_verification(source, target, leaky).await;
    let leak = only_failure(&report, CheckKind::LeakProbe, "messages", "content");
    assert!(
        leak.detail.starts_with("3000 of 3000 target values"),
        "{}",
        leak.detail
    );
    let count = check(&report, CheckKind::RowCount, "messages", "");
    assert!(count.passed, "{count:?}");
    assert_eq!(count.detail, "source 3000 rows, target 3000");
    (text, report)
}

/// An engine's view of a sync held at its last step, for
/// [`assert_source_released_once_read`].
pub trait HeldAtRetention {
    /// Blocks the drop of backup `oldest` on the target: a transaction that read one of its
    /// tables, and holds it until [`release`](Self::release).
    async fn hold(&mut self, oldest: &str);
    /// Ends the transaction that holds the backup.
    async fn release(&mut self);
    /// Whether a sync waits to drop the held backup.
    fn sync_waits(&self) -> bool;
    /// The sync's sessions on the source: how many are connected, and how many of those hold a
    /// transaction or a snapshot.
    fn source_sessions(&self) -> (u64, u64);
}

/// The source is read in one snapshot, and only while it is read: a first sync (retention 1,
/// so the second drops the first's backup), then a second one held at dropping that backup.
/// While it waits there, the sync must still be connected to the source, but hold no
/// transaction or snapshot there.
pub async fn assert_source_released_once_read(
    source: &str,
    target: &str,
    rules: RuleSet,
    held: &mut impl HeldAtRetention,
) {
    let opts = SyncOptions::default();
    let first = sync::run(source, target, &rules, &opts).await.unwrap();
    let oldest = first
        .backup
        .expect("staging before the first sync is backed up");
    held.hold(&oldest).await;
    let (src, tgt) = (source.to_string(), target.to_string());
    let run = tokio::spawn(async move { sync::run(&src, &tgt, &rules, &opts).await });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !held.sync_waits() {
        assert!(
            !run.is_finished(),
            "the run ended before dropping the oldest backup"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the run never reached its retention"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (connected, holding) = held.source_sessions();
    assert_ne!(
        connected, 0,
        "the sync is no longer connected to the source"
    );
    assert_eq!(holding, 0, "a source transaction of the sync is still open");
    held.release().await;
    let second = run.await.unwrap().unwrap();
    assert_eq!(second.backups_dropped, vec![oldest]);
}
