//! Stopping cleanly: [`shutdown_signal`] for a server's graceful shutdown, and the flush when
//! the last handle of a tracer is dropped.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

/// How long dropping the last handle of a tracer waits for its sink to flush, at most.
pub(super) const FLUSH_ON_DROP: Duration = Duration::from_secs(5);

/// Resolves when the process is asked to stop: `SIGTERM` (what Kubernetes, systemd and
/// `docker stop` send) or Ctrl-C. Give it to a server's graceful shutdown, then shut the tracer
/// down, so that the spans of the requests that were in flight are exported:
///
/// ```no_run
/// use std::time::Duration;
/// use axum::{Router, routing::get};
/// use tracewire::Tracer;
/// use tracewire::http::ServerLayer;
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let tracer = Tracer::from_env().service_name("orders").build();
/// let app = Router::new()
///     .route("/", get(|| async { "hello" }))
///     .layer(ServerLayer::new(tracer.clone()));
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:3000").await?;
/// axum::serve(listener, app)
///     .with_graceful_shutdown(tracewire::shutdown_signal()) // in-flight requests finish
///     .await?;
/// let stats = tracer.shutdown(Duration::from_secs(5))?;     // and their spans are exported
/// println!("{} spans exported, {} lost", stats.sink.exported, stats.sink.dropped());
/// # Ok(()) }
/// ```
///
/// With tonic: `Server::builder()…serve_with_shutdown(addr, tracewire::shutdown_signal())`.
///
/// Inside a Tokio runtime the handlers are installed when this is called, so a signal that
/// comes before the future is first polled is not missed (nor does it kill the process);
/// called elsewhere, they are installed when it is first polled. If they cannot be installed,
/// it waits for the other signal, or forever.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let early = tokio::runtime::Handle::try_current()
        .ok()
        .map(|_| tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()));
    async move {
        let ctrl_c = pin!(tokio::signal::ctrl_c());
        #[cfg(unix)]
        {
            let terminate = early.unwrap_or_else(|| {
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            });
            let mut terminate = terminate.ok();
            let mut ctrl_c = ctrl_c;
            let mut ctrl_c_failed = false;
            std::future::poll_fn(|cx| {
                if !ctrl_c_failed {
                    match ctrl_c.as_mut().poll(cx) {
                        Poll::Ready(Ok(())) => return Poll::Ready(()),
                        Poll::Ready(Err(_)) => ctrl_c_failed = true,
                        Poll::Pending => {}
                    }
                }
                match terminate.as_mut().map(|t| t.poll_recv(cx)) {
                    Some(Poll::Ready(_)) => Poll::Ready(()),
                    _ => Poll::Pending,
                }
            })
            .await;
        }
        #[cfg(not(unix))]
        {
            if ctrl_c.await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}
