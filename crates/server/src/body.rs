//! Reading request bodies: within a size limit (refused before reading
//! when `Content-Length` already says it is over), within a time limit
//! (a client that stalls mid-body is answered 408 and dropped), gzip
//! included for ingest. Handlers check the key before they call these
//! whenever the key is in a header, so an unauthenticated client cannot
//! make the server hold its body.

use crate::error::{ApiError, ErrorCode};
use axum::body::Body;
use axum::http::{HeaderMap, header};
use http_body_util::BodyExt;
use std::io::Read;
use std::time::Duration;
use tidings_model::message::MAX_BATCH_BYTES;

fn too_large(code: ErrorCode, size: usize, limit: usize) -> ApiError {
    let message = if code == ErrorCode::RequestTooLarge {
        format!("request is over {size} bytes; the limit is 500 KB (512000 bytes) per request, so split the batch")
    } else {
        format!("the body is over {size} bytes; the limit is {limit} bytes")
    };
    ApiError::new(code, message)
}

/// The body's bytes as sent, at most `limit` of them, within `timeout`;
/// `code` names the refusal of a body over the limit.
pub async fn read_bytes(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    timeout: Duration,
    code: ErrorCode,
) -> Result<Vec<u8>, ApiError> {
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    if let Some(n) = declared.filter(|&n| n > limit as u64) {
        return Err(too_large(code, n as usize, limit));
    }
    let read = async {
        let mut body = body;
        let mut buf = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame =
                frame.map_err(|e| ApiError::new(ErrorCode::UnreadableBody, format!("could not read the body: {e}")))?;
            if let Some(data) = frame.data_ref() {
                buf.extend_from_slice(data);
                if buf.len() > limit {
                    return Err(too_large(code, buf.len(), limit));
                }
            }
        }
        Ok(buf)
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(r) => r,
        Err(_) => Err(ApiError::new(
            ErrorCode::RequestTimeout,
            format!("the body did not arrive within {} s; nothing was stored", timeout.as_secs()),
        )),
    }
}

/// An ingest body as text, refusing more than 500 KB after decompression
/// (and 2 MB on the wire).
pub async fn read_text(headers: &HeaderMap, body: Body, timeout: Duration) -> Result<String, ApiError> {
    let buf = read_bytes(headers, body, MAX_BATCH_BYTES * 4, timeout, ErrorCode::RequestTooLarge).await?;
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
        return Err(too_large(ErrorCode::RequestTooLarge, bytes.len(), MAX_BATCH_BYTES));
    }
    String::from_utf8(bytes).map_err(|e| {
        ApiError::new(
            ErrorCode::MalformedJson,
            format!("the body is not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
        )
    })
}
