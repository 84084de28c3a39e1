//! The metrics listener: `GET /metrics` answers the text exposition; anything else is
//! 404. It has no TLS and no authentication, which is why it is off by default and
//! binds to loopback unless told otherwise.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::{Snapshot, render};

/// Reads the scrape-time gauges from the live state.
pub type SnapshotSource = Arc<dyn Fn() -> Snapshot + Send + Sync>;

/// The content type of the OpenMetrics text format, which Prometheus negotiates.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves the metrics on `listener` until the task is aborted.
pub async fn serve(listener: TcpListener, source: SnapshotSource) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "metrics listener: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let source = source.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| answer(request, source.clone()));
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%error, "metrics connection ended with an error");
            }
        });
    }
}

async fn answer(
    request: Request<Incoming>,
    source: SnapshotSource,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let wanted = matches!(*request.method(), Method::GET | Method::HEAD)
        && request.uri().path() == "/metrics";
    let response = if wanted {
        let text = render(&source());
        Response::builder()
            .header(header::CONTENT_TYPE, CONTENT_TYPE)
            .body(Full::new(Bytes::from(text)))
    } else {
        Response::builder()
            .status(StatusCode::NOT_FOUND)
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(Full::new(Bytes::from_static(b"Not found; try /metrics\n")))
    };
    Ok(response.unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))))
}
