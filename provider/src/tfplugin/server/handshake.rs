//! Process start-up as go-plugin expects it: magic cookie, protocol negotiation, a unix
//! socket, optional AutoMTLS, the handshake line on stdout, and exit on
//! `GRPCController.Shutdown`. Also the reattach (debug / in-process) variant.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{UnixListener, UnixStream};
use tokio_stream::wrappers::{ReceiverStream, UnixListenerStream};
use tokio_util::sync::CancellationToken;
use tonic::transport::server::Connected;
use tonic::{Request, Response, Status};

use super::service::ProviderService;
use super::tls;
use crate::tfplugin::proto::plugin as goplugin;
use crate::tfplugin::proto::tfplugin5 as pb;
use crate::tfplugin::provider::Provider;

/// The cookie Terraform (and OpenTofu) set; go-plugin's way to tell "started by Terraform" from
/// "started by a person".
pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
pub const MAGIC_COOKIE_VALUE: &str =
    "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
const PROTOCOL_VERSION: u32 = 5;
/// Same limit as terraform-plugin-go: big plans must not hit tonic's 4 MiB default.
const MAX_MESSAGE: usize = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error(
        "This binary is a plugin. These are not meant to be executed directly.\n\
         Please execute the program that consumes these plugins, which will\n\
         load any plugins automatically.\n\
         (To run it by hand for debugging, use --debug.)"
    )]
    NotLaunchedByTerraform,
    #[error("Terraform asked for plugin protocol versions {0:?}; this provider speaks only protocol 5. Use Terraform ≥ 0.12 or OpenTofu.")]
    UnsupportedProtocol(String),
    #[error("cannot listen on a unix socket: {0}")]
    Listen(#[from] std::io::Error),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("gRPC server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// Which provider address the process serves (for reattach output).
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// `NAMESPACE/TYPE`, e.g. `stagecraft/staging`.
    pub address: String,
}

impl ServeConfig {
    /// The full addresses Terraform and OpenTofu resolve `NAMESPACE/TYPE` to.
    fn full_addresses(&self) -> Vec<String> {
        if self.address.matches('/').count() >= 2 {
            vec![self.address.clone()]
        } else {
            vec![
                format!("registry.terraform.io/{}", self.address),
                format!("registry.opentofu.org/{}", self.address),
            ]
        }
    }

    fn reattach_json(&self, socket: &Path) -> String {
        let entry = serde_json::json!({
            "Protocol": "grpc",
            "ProtocolVersion": PROTOCOL_VERSION,
            "Pid": std::process::id(),
            "Test": true,
            "Addr": {"Network": "unix", "String": socket.to_string_lossy()},
        });
        let map: serde_json::Map<_, _> = self
            .full_addresses()
            .into_iter()
            .map(|a| (a, entry.clone()))
            .collect();
        serde_json::Value::Object(map).to_string()
    }
}

struct Controller {
    shutdown: CancellationToken,
}

#[tonic::async_trait]
impl goplugin::grpc_controller_server::GrpcController for Controller {
    async fn shutdown(
        &self,
        _req: Request<goplugin::Empty>,
    ) -> Result<Response<goplugin::Empty>, Status> {
        tracing::debug!("Shutdown requested by Terraform");
        self.shutdown.cancel();
        Ok(Response::new(goplugin::Empty {}))
    }
}

/// A TLS connection tonic can serve (tonic's own impl needs its TLS features; ours keeps the
/// rustls configuration in our hands).
struct TlsConn(tokio_rustls::server::TlsStream<UnixStream>);

impl Connected for TlsConn {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}
impl AsyncRead for TlsConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}
impl AsyncWrite for TlsConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

fn router(
    service: Arc<ProviderService>,
    shutdown: CancellationToken,
) -> tonic::transport::server::Router {
    let provider = pb::provider_server::ProviderServer::from_arc(service)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    tonic::transport::Server::builder()
        .add_service(provider)
        .add_service(goplugin::grpc_controller_server::GrpcControllerServer::new(
            Controller { shutdown },
        ))
}

/// A private directory holding the socket; removed (with the socket) when dropped.
fn socket_dir() -> std::io::Result<tempfile::TempDir> {
    let base = std::env::var_os("PLUGIN_UNIX_SOCKET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    tempfile::Builder::new()
        .prefix("plugin-staging")
        .tempdir_in(base)
}

fn bind(dir: &Path) -> std::io::Result<(UnixListener, PathBuf)> {
    let path = dir.join("plugin.sock");
    let listener = UnixListener::bind(&path)?;
    if let Ok(group) = std::env::var("PLUGIN_UNIX_SOCKET_GROUP") {
        tracing::debug!(
            group,
            "PLUGIN_UNIX_SOCKET_GROUP is set; socket group changes are not supported, ignoring"
        );
    }
    Ok((listener, path))
}

/// Keeps Ctrl-C from killing the provider mid-RPC: Terraform relays it as `Stop`, and the
/// provider must live to record what it created.
fn ignore_sigint() {
    if let Ok(mut sig) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()) {
        tokio::spawn(async move {
            while sig.recv().await.is_some() {
                tracing::debug!("SIGINT ignored; waiting for Terraform's Stop");
            }
        });
    }
}

/// Serves one provider process for Terraform (the normal mode). Returns after Shutdown.
pub async fn serve(provider: Arc<dyn Provider>, _cfg: ServeConfig) -> Result<(), HandshakeError> {
    if std::env::var(MAGIC_COOKIE_KEY).ok().as_deref() != Some(MAGIC_COOKIE_VALUE) {
        return Err(HandshakeError::NotLaunchedByTerraform);
    }
    if let Ok(versions) = std::env::var("PLUGIN_PROTOCOL_VERSIONS") {
        let offered: Vec<&str> = versions.split(',').map(str::trim).collect();
        if !offered.contains(&"5") {
            return Err(HandshakeError::UnsupportedProtocol(versions));
        }
    }
    ignore_sigint();
    let dir = socket_dir()?;
    let (listener, path) = bind(dir.path())?;
    let client_cert = std::env::var("PLUGIN_CLIENT_CERT").unwrap_or_default();
    let shutdown = CancellationToken::new();
    let service = Arc::new(ProviderService::new(provider));

    // Shutdown also cancels in-flight work so the graceful stop does not wait on it.
    let on_shutdown = {
        let shutdown = shutdown.clone();
        let service = service.clone();
        async move {
            shutdown.cancelled().await;
            service.stop_all();
        }
    };
    let router = router(service, shutdown.clone());

    if client_cert.trim().is_empty() {
        handshake_line(&path, "");
        tracing::debug!(
            "serving plaintext: Terraform sent no client certificate (TF_DISABLE_PLUGIN_TLS?)"
        );
        router
            .serve_with_incoming_shutdown(UnixListenerStream::new(listener), on_shutdown)
            .await?;
    } else {
        let identity = tls::ServerIdentity::generate()?;
        let acceptor =
            tokio_rustls::TlsAcceptor::from(Arc::new(tls::server_config(&identity, &client_cert)?));
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<TlsConn>>(16);
        let accept_stop = shutdown.clone();
        tokio::spawn(async move {
            loop {
                let stream = tokio::select! {
                    _ = accept_stop.cancelled() => break,
                    r = listener.accept() => match r { Ok((s, _)) => s, Err(e) => { tracing::warn!("accept failed: {e}"); continue } },
                };
                // Handshake off the accept loop, so one slow client cannot block others.
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match acceptor.accept(stream).await {
                        Ok(tls) => {
                            let _ = tx.send(Ok(TlsConn(tls))).await;
                        }
                        Err(e) => tracing::warn!("TLS handshake with Terraform failed: {e}"),
                    }
                });
            }
        });
        tracing::debug!("serving with AutoMTLS (client certificate pinned)");
        handshake_line(&path, &identity.handshake_field());
        router
            .serve_with_incoming_shutdown(ReceiverStream::new(rx), on_shutdown)
            .await?;
    }
    drop(dir);
    Ok(())
}

/// `CORE|APP|NETWORK|ADDRESS|PROTOCOL|CERT`: the first and only line on stdout.
fn handshake_line(socket: &Path, cert: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "1|{PROTOCOL_VERSION}|unix|{}|grpc|{cert}",
        socket.display()
    );
    let _ = out.flush();
}

/// A provider server running inside this process, for tests: Terraform attaches to it through
/// `TF_REATTACH_PROVIDERS` and never owns or stops it.
pub struct InProcessServer {
    reattach: String,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
    _dir: tempfile::TempDir,
}

impl InProcessServer {
    /// The value for `TF_REATTACH_PROVIDERS`.
    pub fn reattach_providers(&self) -> &str {
        &self.reattach
    }
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }
}

/// Starts a plaintext server on a fresh unix socket inside this process.
pub async fn start_in_process(
    provider: Arc<dyn Provider>,
    cfg: ServeConfig,
) -> Result<InProcessServer, HandshakeError> {
    let dir = socket_dir()?;
    let (listener, path) = bind(dir.path())?;
    let shutdown = CancellationToken::new();
    let service = Arc::new(ProviderService::new(provider));
    let router = router(service, CancellationToken::new());
    let stop = shutdown.clone();
    let task = tokio::spawn(async move {
        router
            .serve_with_incoming_shutdown(UnixListenerStream::new(listener), stop.cancelled_owned())
            .await
    });
    Ok(InProcessServer {
        reattach: cfg.reattach_json(&path),
        shutdown,
        task,
        _dir: dir,
    })
}

/// `--debug`: serve until Ctrl-C and tell the user how to attach Terraform.
pub async fn serve_debug(
    provider: Arc<dyn Provider>,
    cfg: ServeConfig,
) -> Result<(), HandshakeError> {
    let server = start_in_process(provider, cfg).await?;
    println!(
        "Provider started. To attach Terraform or OpenTofu, set in their environment:\n\n\tTF_REATTACH_PROVIDERS='{}'\n\nPress Ctrl-C to stop.",
        server.reattach_providers()
    );
    let _ = std::io::stdout().flush();
    let _ = tokio::signal::ctrl_c().await;
    server.shutdown().await;
    Ok(())
}
