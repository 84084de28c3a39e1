//! The socket.io browser client (npm `socket.io-client` 4.8.1, the version ILIAS 9
//! ships), served like the original's `serveClient` at `<socket.io path>/socket.io.js`.
//! The files are vendored unmodified under `assets/` with their MIT licence.

use axum::body::Body;
use http::{HeaderValue, Response, StatusCode, header};

/// One of the bundled files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleFile {
    Full,
    Minified,
    EsModule,
}

impl BundleFile {
    /// The file a request path ends with, if any.
    pub fn from_file_name(name: &str) -> Option<BundleFile> {
        match name {
            "socket.io.js" => Some(BundleFile::Full),
            "socket.io.min.js" => Some(BundleFile::Minified),
            "socket.io.esm.min.js" => Some(BundleFile::EsModule),
            _ => None,
        }
    }

    fn contents(self) -> &'static str {
        match self {
            BundleFile::Full => include_str!("assets/vendor/socket.io-client/socket.io.js"),
            BundleFile::Minified => include_str!("assets/vendor/socket.io-client/socket.io.min.js"),
            BundleFile::EsModule => {
                include_str!("assets/vendor/socket.io-client/socket.io.esm.min.js")
            }
        }
    }

    /// The HTTP response carrying the file.
    pub fn response(self) -> Response<Body> {
        let mut response = Response::new(Body::from(self.contents()));
        *response.status_mut() = StatusCode::OK;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/javascript; charset=utf-8"),
        );
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=86400"),
        );
        response
    }
}
