//! Turning SDK errors into diagnostics that name the operation and AWS's own code and message.
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::tfplugin::Diagnostic;

/// `operation` is what we were doing ("reading the caller identity").
pub fn diagnostic<E, R>(operation: &str, err: &SdkError<E, R>) -> Diagnostic
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let detail = match err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            format!(
                "AWS returned {}: {}",
                e.code().unwrap_or("an error"),
                e.message().unwrap_or("(no message)")
            )
        }
        SdkError::TimeoutError(_) => "The request timed out.".to_string(),
        SdkError::DispatchFailure(f) => format!("The request could not be sent: {f:?}"),
        other => format!("{other}"),
    };
    Diagnostic::error(format!("AWS error while {operation}"), detail)
}

/// The AWS error code of a service error (`ResourceNotFoundException`, …), if it is one.
pub fn code<E, R>(err: &SdkError<E, R>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(se) => se.err().code(),
        _ => None,
    }
}

/// True when the error says the object does not exist (each service has its own code).
pub fn is_not_found<E, R>(err: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    matches!(
        code(err),
        Some(
            "ResourceNotFoundException"
                | "DBInstanceNotFound"
                | "DBInstanceNotFoundFault"
                | "DBSnapshotNotFound"
        )
    )
}
