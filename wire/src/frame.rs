//! Kafka's framing: every request and response is a 4-byte big-endian size followed by that many
//! bytes. [`FrameDecoder`] cuts a byte stream, arriving in arbitrary pieces, into frames.
//!
//! A negative size, or one above the maximum (Kafka's `socket.request.max.bytes`, 100 MiB by
//! default), is an error after which the connection must be closed, as Kafka's
//! `NetworkReceive` does (`InvalidReceiveException`). A partial frame stays buffered until the
//! rest arrives; nothing is allocated ahead for a declared size.

use bytes::{Buf, Bytes, BytesMut};

/// Kafka's default `socket.request.max.bytes`: 100 MiB.
pub const MAX_FRAME_BYTES: usize = 100 * 1024 * 1024;

/// Why a byte stream is not a sequence of Kafka frames. The connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("invalid frame size {size}: negative")]
    Negative { size: i32 },
    #[error("invalid frame size {size}: larger than the maximum {max}")]
    TooLarge { size: usize, max: usize },
}

/// Cuts a byte stream into frames (the bytes after each size field).
#[derive(Debug)]
pub struct FrameDecoder {
    buffer: BytesMut,
    max: usize,
    failed: Option<FrameError>,
}

impl FrameDecoder {
    pub fn new(max: usize) -> FrameDecoder {
        FrameDecoder {
            buffer: BytesMut::new(),
            max,
            failed: None,
        }
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_none() {
            self.buffer.extend_from_slice(bytes);
        }
    }

    /// Bytes buffered and not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed, or the error that ends
    /// the stream (returned again on every later call).
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        if self.buffer.len() < 4 {
            return Ok(None);
        }
        let size = i32::from_be_bytes([
            self.buffer[0],
            self.buffer[1],
            self.buffer[2],
            self.buffer[3],
        ]);
        let error = if size < 0 {
            Some(FrameError::Negative { size })
        } else if size as usize > self.max {
            Some(FrameError::TooLarge {
                size: size as usize,
                max: self.max,
            })
        } else {
            None
        };
        if let Some(error) = error {
            self.buffer = BytesMut::new();
            self.failed = Some(error.clone());
            return Err(error);
        }
        let size = size as usize;
        if self.buffer.len() < 4 + size {
            return Ok(None);
        }
        self.buffer.advance(4);
        Ok(Some(self.buffer.split_to(size).freeze()))
    }
}

/// `body` with its size in front: one frame.
pub fn encode_frame(body: &[u8]) -> Bytes {
    let mut frame = BytesMut::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as i32).to_be_bytes());
    frame.extend_from_slice(body);
    frame.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn partial_frames_wait_for_the_rest() {
        let mut decoder = FrameDecoder::new(MAX_FRAME_BYTES);
        let frame = encode_frame(b"hello");
        decoder.push(&frame[..3]);
        assert_eq!(decoder.next_frame(), Ok(None));
        decoder.push(&frame[3..6]);
        assert_eq!(decoder.next_frame(), Ok(None));
        decoder.push(&frame[6..]);
        assert_eq!(decoder.next_frame(), Ok(Some(Bytes::from_static(b"hello"))));
        assert_eq!(decoder.next_frame(), Ok(None));
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn empty_frames_are_frames() {
        let mut decoder = FrameDecoder::new(MAX_FRAME_BYTES);
        decoder.push(&[0, 0, 0, 0, 0, 0, 0, 1, 7]);
        assert_eq!(decoder.next_frame(), Ok(Some(Bytes::new())));
        assert_eq!(decoder.next_frame(), Ok(Some(Bytes::from_static(&[7]))));
    }

    #[test]
    fn a_negative_size_is_an_error_that_sticks() {
        let mut decoder = FrameDecoder::new(MAX_FRAME_BYTES);
        decoder.push(&(-1i32).to_be_bytes());
        assert_eq!(decoder.next_frame(), Err(FrameError::Negative { size: -1 }));
        decoder.push(&encode_frame(b"x"));
        assert_eq!(decoder.next_frame(), Err(FrameError::Negative { size: -1 }));
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn a_size_above_the_maximum_is_an_error() {
        let mut decoder = FrameDecoder::new(MAX_FRAME_BYTES);
        decoder.push(&((MAX_FRAME_BYTES + 1) as i32).to_be_bytes());
        assert_eq!(
            decoder.next_frame(),
            Err(FrameError::TooLarge {
                size: MAX_FRAME_BYTES + 1,
                max: MAX_FRAME_BYTES
            })
        );
        // Exactly the maximum is allowed (and waits for its bytes).
        let mut decoder = FrameDecoder::new(MAX_FRAME_BYTES);
        decoder.push(&(MAX_FRAME_BYTES as i32).to_be_bytes());
        assert_eq!(decoder.next_frame(), Ok(None));
    }

    proptest! {
        #[test]
        fn arbitrary_streams_never_panic(
            stream in proptest::collection::vec(any::<u8>(), 0..512),
            cuts in proptest::collection::vec(0usize..512, 0..8),
            max in 0usize..64,
        ) {
            let mut decoder = FrameDecoder::new(max);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(stream.len())).collect();
            cuts.sort_unstable();
            let mut start = 0;
            let mut total = 0;
            for end in cuts.into_iter().chain([stream.len()]) {
                decoder.push(&stream[start..end]);
                start = end;
                loop {
                    match decoder.next_frame() {
                        Ok(Some(frame)) => {
                            prop_assert!(frame.len() <= max);
                            total += frame.len() + 4;
                        }
                        Ok(None) => break,
                        Err(_) => break,
                    }
                }
            }
            prop_assert!(total <= stream.len());
        }

        #[test]
        fn valid_frames_round_trip_however_split(
            bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8),
            cuts in proptest::collection::vec(0usize..600, 0..10),
        ) {
            let mut stream = Vec::new();
            for body in &bodies {
                stream.extend_from_slice(&encode_frame(body));
            }
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(stream.len())).collect();
            cuts.sort_unstable();
            let mut decoder = FrameDecoder::new(MAX_FRAME_BYTES);
            let mut decoded = Vec::new();
            let mut start = 0;
            for end in cuts.into_iter().chain([stream.len()]) {
                decoder.push(&stream[start..end]);
                start = end;
                while let Some(frame) = decoder.next_frame().expect("valid frames") {
                    decoded.push(frame.to_vec());
                }
            }
            prop_assert_eq!(decoded, bodies);
            prop_assert_eq!(decoder.buffered(), 0);
        }
    }
}
