//! Reading request bodies within the size limit, gzip included.

use crate::error::{ApiError, ErrorCode};
use axum::body::Body;
use axum::http::{HeaderMap, header};
use http_body_util::BodyExt;
use std::io::Read;
use tidings_model::message::MAX_BATCH_BYTES;

fn too_large(size: usize) -> ApiError {
    ApiError::new(
        ErrorCode::RequestTooLarge,
        format!("request is over {size} bytes; the limit is 500 KB (512000 bytes) per request, so split the batch"),
    )
}

/// The body as text, refusing more than 500 KB (after decompression).
pub async fn read_text(headers: &HeaderMap, body: Body) -> Result<String, ApiError> {
    let mut body = body;
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::new(ErrorCode::UnreadableBody, format!("could not read the body: {e}")))?;
        if let Some(data) = frame.data_ref() {
            buf.extend_from_slice(data);
            if buf.len() > MAX_BATCH_BYTES * 4 {
                return Err(too_large(buf.len()));
            }
        }
    }
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let bytes = if gzip {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&buf[..])
            .take(MAX_BATCH_BYTES as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| ApiError::new(ErrorCode::BadGzip, format!("the body is not valid gzip: {e}")))?;
        out
    } else {
        buf
    };
    if bytes.len() > MAX_BATCH_BYTES {
        return Err(too_large(bytes.len()));
    }
    String::from_utf8(bytes).map_err(|e| {
        ApiError::new(
            ErrorCode::MalformedJson,
            format!("the body is not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
        )
    })
}
