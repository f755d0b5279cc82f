//! Per-RPC context: cancellation from `Stop`, the operation's deadline from `timeouts {}`, and
//! the configured provider's data.
//!
//! Terraform imposes no deadlines of its own, so every long wait in a resource goes through
//! [`Ctx::sleep`] or [`Ctx::run`], which end early on Stop or when the deadline passes. The
//! resource then returns what it has created so far with the error (partial state), instead of
//! being dropped mid-flight and leaking remote objects.
use std::any::Any;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::diagnostics::{Diagnostic, Diagnostics};

/// Why a wait ended before its work did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Interrupt {
    /// Terraform called `Stop` (the user pressed Ctrl-C).
    Stopped,
    /// The operation's `timeouts {}` value passed.
    TimedOut { operation: String, after: Duration },
}

impl Interrupt {
    pub fn to_diagnostic(&self) -> Diagnostic {
        match self {
            Interrupt::Stopped => Diagnostic::error(
                "Operation interrupted",
                "Terraform asked the provider to stop. Everything created so far is recorded in \
                 the state; run apply again to finish.",
            ),
            Interrupt::TimedOut { operation, after } => Diagnostic::error(
                format!(
                    "Timed out after {} waiting for {operation}",
                    humantime::format_duration(*after)
                ),
                "The operation did not finish within its timeout (see the timeouts block). \
                 Everything created so far is recorded in the state; run apply again to resume.",
            ),
        }
    }
}

impl From<Interrupt> for Diagnostics {
    fn from(i: Interrupt) -> Self {
        i.to_diagnostic().into()
    }
}

/// The context of one RPC.
#[derive(Clone)]
pub struct Ctx {
    cancel: CancellationToken,
    deadline: Option<(Instant, String, Duration)>,
    data: Option<Arc<dyn Any + Send + Sync>>,
}

impl Ctx {
    pub fn new(cancel: CancellationToken, data: Option<Arc<dyn Any + Send + Sync>>) -> Self {
        Ctx {
            cancel,
            deadline: None,
            data,
        }
    }

    /// A context that is never cancelled, for tests and command-line tools.
    pub fn background() -> Self {
        Self::new(CancellationToken::new(), None)
    }

    /// The same context with an operation deadline (`operation` names it in messages).
    pub fn with_timeout(&self, operation: &str, after: Duration) -> Self {
        let mut c = self.clone();
        c.deadline = Some((Instant::now() + after, operation.to_string(), after));
        c
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.deadline.as_ref().map(|d| d.0)
    }

    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancel
    }

    /// The data the provider produced in `Configure`, downcast to the provider's type.
    pub fn data<T: Any + Send + Sync>(&self) -> Result<Arc<T>, Diagnostics> {
        self.data
            .clone()
            .and_then(|d| d.downcast::<T>().ok())
            .ok_or_else(|| {
                Diagnostic::error(
                    "Provider not configured",
                    "The provider was used before Configure succeeded (or with unknown configuration values).",
                )
                .into()
            })
    }

    /// `Err` once Stop was called or the deadline has passed.
    pub fn check(&self) -> Result<(), Interrupt> {
        if self.cancel.is_cancelled() {
            return Err(Interrupt::Stopped);
        }
        if let Some((at, op, after)) = &self.deadline {
            if Instant::now() >= *at {
                return Err(Interrupt::TimedOut {
                    operation: op.clone(),
                    after: *after,
                });
            }
        }
        Ok(())
    }

    /// Resolves when Stop is called or the deadline passes.
    pub async fn interrupted(&self) -> Interrupt {
        match &self.deadline {
            Some((at, op, after)) => tokio::select! {
                _ = self.cancel.cancelled() => Interrupt::Stopped,
                _ = tokio::time::sleep_until(*at) => Interrupt::TimedOut { operation: op.clone(), after: *after },
            },
            None => {
                self.cancel.cancelled().await;
                Interrupt::Stopped
            }
        }
    }

    /// Runs `fut` unless interrupted first; an interrupted future is dropped.
    pub async fn run<F: Future>(&self, fut: F) -> Result<F::Output, Interrupt> {
        self.check()?;
        tokio::select! {
            biased;
            i = self.interrupted() => Err(i),
            out = fut => Ok(out),
        }
    }

    pub async fn sleep(&self, d: Duration) -> Result<(), Interrupt> {
        self.run(tokio::time::sleep(d)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn deadline_interrupts_a_sleep() {
        let ctx = Ctx::background().with_timeout("create", Duration::from_secs(5));
        let err = ctx.sleep(Duration::from_secs(60)).await.unwrap_err();
        assert!(matches!(err, Interrupt::TimedOut { ref operation, .. } if operation == "create"));
        assert!(err.to_diagnostic().summary.contains("5s"));
    }

    #[tokio::test]
    async fn stop_interrupts_and_check_reports_it() {
        let token = CancellationToken::new();
        let ctx = Ctx::new(token.clone(), None);
        assert!(ctx.check().is_ok());
        let waiter = tokio::spawn({
            let ctx = ctx.clone();
            async move { ctx.sleep(Duration::from_secs(3600)).await }
        });
        token.cancel();
        assert_eq!(waiter.await.unwrap(), Err(Interrupt::Stopped));
        assert_eq!(ctx.check(), Err(Interrupt::Stopped));
    }

    #[test]
    fn data_downcasts_or_explains() {
        let ctx = Ctx::new(CancellationToken::new(), Some(Arc::new(42u32)));
        assert_eq!(*ctx.data::<u32>().unwrap(), 42);
        let err = ctx.data::<String>().unwrap_err();
        assert!(err.to_string().contains("not configured"));
    }
}
