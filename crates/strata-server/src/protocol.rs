//! The gRPC wire rules tonic leaves to the application, judged from a
//! request's headers and path before any service sees it: the content type
//! must be gRPC in protobuf, and every method but the client-streaming ones
//! takes exactly one request message (the overload layer's body wrapper
//! counts them from their length prefixes).

use tonic::Status;
use tonic::body::Body;

/// Methods whose request is a stream of messages; every other method
/// (unary, server streaming, and any unknown path) takes exactly one.
const STREAMING_REQUESTS: [&str; 3] = [
    "/strata.v1.IngestService/ApplyUpdates",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// Whether a call to `path` must carry exactly one request message.
pub fn takes_one_message(path: &str) -> bool {
    !STREAMING_REQUESTS.contains(&path)
}

/// The refusal of a request whose content type this server does not speak,
/// or `None` for `application/grpc` and `application/grpc+proto`.
///
/// Another gRPC encoding (`application/grpc+json`) is answered
/// UNIMPLEMENTED; a request that is not gRPC at all (no content type, or
/// another media type) gets HTTP 415, as the gRPC over HTTP/2 spec asks,
/// with the same grpc-status for clients that read it.
pub fn refuse_content_type(headers: &http::HeaderMap) -> Option<http::Response<Body>> {
    let Some(value) = headers.get(http::header::CONTENT_TYPE) else {
        return Some(not_grpc(
            "no content-type: a gRPC request has content-type application/grpc".into(),
        ));
    };
    let text = String::from_utf8_lossy(value.as_bytes());
    // Media types are case-insensitive; parameters (";...") do not matter here.
    let media_type = text.split(';').next().unwrap_or("").trim();
    let encoding = strip_prefix_ignore_case(media_type, "application/grpc")
        .filter(|rest| rest.is_empty() || rest.starts_with('+'));
    let Some(encoding) = encoding else {
        return Some(not_grpc(format!(
            "content-type {text:?} is not gRPC: send application/grpc"
        )));
    };
    if encoding.is_empty() || encoding.eq_ignore_ascii_case("+proto") {
        return None;
    }
    Some(
        Status::unimplemented(format!(
            "content-type {text:?} is not supported: this server speaks application/grpc (protobuf) only"
        ))
        .into_http(),
    )
}

fn not_grpc(message: String) -> http::Response<Body> {
    let mut response = Status::unimplemented(message).into_http();
    *response.status_mut() = http::StatusCode::UNSUPPORTED_MEDIA_TYPE;
    response
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(content_type: Option<&str>) -> Option<(http::StatusCode, String)> {
        let mut headers = http::HeaderMap::new();
        if let Some(value) = content_type {
            headers.insert(http::header::CONTENT_TYPE, value.parse().unwrap());
        }
        let response = refuse_content_type(&headers)?;
        let status = headers_status(response.headers());
        Some((response.status(), status))
    }

    fn headers_status(headers: &http::HeaderMap) -> String {
        headers["grpc-status"].to_str().unwrap().to_owned()
    }

    #[test]
    fn content_types() {
        for accepted in [
            "application/grpc",
            "application/grpc+proto",
            "Application/GRPC",
            "application/grpc; charset=utf-8",
        ] {
            assert_eq!(check(Some(accepted)), None, "{accepted}");
        }
        let unimplemented = "12".to_owned();
        assert_eq!(
            check(Some("application/grpc+json")),
            Some((http::StatusCode::OK, unimplemented.clone()))
        );
        for refused in [None, Some("application/json"), Some("application/grpcx")] {
            assert_eq!(
                check(refused),
                Some((
                    http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    unimplemented.clone()
                )),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn streaming_requests_may_carry_many_messages() {
        assert!(!takes_one_message("/strata.v1.IngestService/ApplyUpdates"));
        assert!(takes_one_message("/strata.v1.ProfileService/GetOffers"));
        assert!(takes_one_message(
            "/strata.v1.AdminService/WatchTransitions"
        ));
        assert!(takes_one_message("/grpc.health.v1.Health/Check"));
    }
}
