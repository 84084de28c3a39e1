//! The one HTTP service of the process: decides for each request whether it is for
//! socket.io, the bundled browser client, the backend API or (in demo mode) the demo
//! page, and adds the CORS headers browsers need for socket.io.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use engineioxide::service::NotFoundService;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, header};
use hyper::body::Incoming;
use socketioxide::service::SocketIoService;
use tower::ServiceExt;

use super::backend;
use super::bundle::BundleFile;
use super::head;
use super::limits::Closer;

/// The path socketioxide is built with; public paths are rewritten to it.
pub const INTERNAL_SOCKET_IO_PATH: &str = "/socket.io";

/// Where browsers reach socket.io. The ILIAS room client connects at
/// `<sub_directory>`, the on-screen chat at `<sub_directory>/socket.io`; without a
/// sub-directory both use `/socket.io`. Never `/`, which would swallow `/backend`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketIoPaths {
    /// Public base paths, longest first.
    bases: Vec<String>,
}

/// What a request is for.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    Bundle(BundleFile),
    SocketIo(Uri),
    Other,
}

impl SocketIoPaths {
    /// The paths for a `sub_directory` (already normalised: leading slash, no trailing).
    pub fn new(sub_directory: Option<&str>) -> SocketIoPaths {
        let bases = match sub_directory {
            Some(sub) => vec![format!("{sub}/socket.io"), sub.to_string()],
            None => vec![INTERNAL_SOCKET_IO_PATH.to_string()],
        };
        SocketIoPaths { bases }
    }

    /// The path the on-screen chat uses (for logs and the demo page).
    pub fn primary(&self) -> &str {
        &self.bases[0]
    }

    fn classify(&self, uri: &Uri) -> Target {
        let path = uri.path();
        if path == "/backend" || path.starts_with("/backend/") {
            return Target::Other;
        }
        for base in &self.bases {
            let Some(rest) = path.strip_prefix(base.as_str()) else {
                continue;
            };
            if let Some(file) = rest.strip_prefix('/').and_then(BundleFile::from_file_name) {
                return Target::Bundle(file);
            }
            if rest.is_empty() || rest.starts_with('/') {
                return match rewrite(uri, rest) {
                    Some(uri) => Target::SocketIo(uri),
                    None => Target::Other,
                };
            }
        }
        Target::Other
    }
}

fn rewrite(uri: &Uri, rest: &str) -> Option<Uri> {
    let path = format!("{INTERNAL_SOCKET_IO_PATH}{rest}");
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    path_and_query.parse().ok()
}

/// The HTTP service handed to every connection.
#[derive(Clone)]
pub struct Dispatch {
    inner: Arc<Inner>,
    /// Socket.io requests get 503: the connection was accepted from the descriptors
    /// kept for ILIAS PHP's backend calls.
    refuse_browsers: bool,
    /// Closes the connection this service is for; handed to socket.io in the request
    /// extensions (the login deadline uses it).
    closer: Option<Closer>,
}

struct Inner {
    paths: SocketIoPaths,
    socket_io: SocketIoService<NotFoundService>,
    routes: Router,
}

impl Dispatch {
    /// `routes` must already contain the backend router (and, in demo mode, the demo
    /// page); unmatched paths get a JSON 404.
    pub fn new(
        paths: SocketIoPaths,
        socket_io: SocketIoService<NotFoundService>,
        routes: Router,
    ) -> Dispatch {
        Dispatch {
            inner: Arc::new(Inner {
                paths,
                socket_io,
                routes: routes.fallback(backend::not_found),
            }),
            refuse_browsers: false,
            closer: None,
        }
    }

    /// The service for one connection, which `closer` closes.
    pub fn for_connection(mut self, closer: Closer) -> Dispatch {
        self.closer = Some(closer);
        self
    }

    /// The service for a connection on which browsers are refused (503, connection
    /// closed) and backend calls served.
    pub fn refusing_browsers(mut self) -> Dispatch {
        self.refuse_browsers = true;
        self
    }

    async fn handle(self, mut request: Request<Incoming>) -> Response<Body> {
        match self.inner.paths.classify(request.uri()) {
            Target::Bundle(_) | Target::SocketIo(_) if self.refuse_browsers => over_capacity(),
            Target::Bundle(file) => file.response(),
            Target::SocketIo(uri) => {
                *request.uri_mut() = uri;
                if let Some(closer) = &self.closer {
                    request.extensions_mut().insert(closer.clone());
                }
                self.socket_io(request).await
            }
            Target::Other => {
                if let Some(uri) = backend::normalize(request.uri()) {
                    *request.uri_mut() = uri;
                }
                match self.inner.routes.clone().oneshot(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                }
            }
        }
    }

    async fn socket_io(&self, request: Request<Incoming>) -> Response<Body> {
        let origin = request.headers().get(header::ORIGIN).cloned();
        if request.method() == Method::OPTIONS {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::NO_CONTENT;
            let requested = request
                .headers()
                .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
                .cloned();
            let headers = response.headers_mut();
            add_cors(headers, origin);
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, OPTIONS"),
            );
            if let Some(requested) = requested {
                headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested);
            }
            return response;
        }
        let service = self.inner.socket_io.clone();
        // engineioxide keeps this head for the session's life: not hyper's buffer too.
        let request = head::detached(request);
        let response = match hyper::service::Service::call(&service, request).await {
            Ok(response) => response.map(Body::new),
            Err(never) => match never {},
        };
        let mut response = response;
        add_cors(response.headers_mut(), origin);
        response
    }
}

/// 503 for a browser while descriptors are short; the connection is closed so that
/// its descriptor goes back to the backend reserve at once.
fn over_capacity() -> Response<Body> {
    let mut response = Response::new(Body::from("the chat server is at its connection limit\n"));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
    response
}

/// Any origin may use socket.io, with credentials, as in the original's CORS setup.
/// The origin is echoed because browsers refuse `*` together with credentials.
fn add_cors(headers: &mut HeaderMap, origin: Option<HeaderValue>) {
    match origin {
        Some(origin) => {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
        }
        None => {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
    }
}

impl hyper::service::Service<Request<Incoming>> for Dispatch {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.handle(request).await) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(paths: &SocketIoPaths, uri: &str) -> Target {
        paths.classify(&uri.parse().expect("uri"))
    }

    fn socket_io(uri: &str) -> Target {
        Target::SocketIo(uri.parse().expect("uri"))
    }

    #[test]
    fn default_path_is_socket_io() {
        let paths = SocketIoPaths::new(None);
        assert_eq!(
            classify(&paths, "/socket.io/?EIO=4&transport=polling"),
            socket_io("/socket.io/?EIO=4&transport=polling")
        );
        assert_eq!(
            classify(&paths, "/socket.io/socket.io.js"),
            Target::Bundle(BundleFile::Full)
        );
        assert_eq!(classify(&paths, "/socket.iox"), Target::Other);
        assert_eq!(classify(&paths, "/backend/Heartbeat/x"), Target::Other);
        assert_eq!(classify(&paths, "/"), Target::Other);
    }

    #[test]
    fn sub_directory_serves_both_client_paths_but_not_the_default() {
        let paths = SocketIoPaths::new(Some("/chat"));
        assert_eq!(
            classify(&paths, "/chat/?EIO=4"),
            socket_io("/socket.io/?EIO=4")
        );
        assert_eq!(
            classify(&paths, "/chat/socket.io/?EIO=4"),
            socket_io("/socket.io/?EIO=4")
        );
        assert_eq!(
            classify(&paths, "/chat/socket.io.min.js"),
            Target::Bundle(BundleFile::Minified)
        );
        assert_eq!(
            classify(&paths, "/chat/socket.io/socket.io.js"),
            Target::Bundle(BundleFile::Full)
        );
        assert_eq!(classify(&paths, "/socket.io/?EIO=4"), Target::Other);
        assert_eq!(classify(&paths, "/chatroom"), Target::Other);
    }
}
