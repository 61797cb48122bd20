//! Reading an answer's body with a size cap.

use bytes::{Bytes, BytesMut};

/// Why a body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Larger than the cap (declared or counted).
    TooLarge,
    /// The connection failed (or timed out) while reading.
    Transport(reqwest::Error),
}

/// Reads a body of at most `max` bytes: a declared `Content-Length` over it
/// is refused before reading, and the stream is counted as it arrives, so
/// nothing past the cap is ever buffered.
pub(crate) async fn read_limited(
    mut resp: reqwest::Response,
    max: usize,
) -> Result<Bytes, BodyError> {
    let declared = resp.content_length();
    if declared.is_some_and(|n| n > max as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut body =
        BytesMut::with_capacity(declared.map_or(0, |n| usize::try_from(n).unwrap_or(max).min(max)));
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Transport)? {
        if body.len().saturating_add(chunk.len()) > max {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
