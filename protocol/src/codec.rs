//! Checked decoding of the broker's on-disk formats: a cursor that answers `None` instead of
//! panicking when the bytes run out. Encoders write with `bytes::BufMut` (big-endian).

/// A read cursor over a byte slice. Every getter returns `None` when too few bytes remain.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, position: 0 }
    }

    pub fn position(&self) -> usize {
        self.position
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.position
    }

    pub fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        if self.remaining() < len {
            return None;
        }
        let slice = &self.bytes[self.position..self.position + len];
        self.position += len;
        Some(slice)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)
            .map(|slice| slice.try_into().expect("length checked"))
    }

    pub fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|bytes| bytes[0])
    }

    pub fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_be_bytes)
    }

    pub fn i16(&mut self) -> Option<i16> {
        self.array().map(i16::from_be_bytes)
    }

    pub fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }

    pub fn i32(&mut self) -> Option<i32> {
        self.array().map(i32::from_be_bytes)
    }

    pub fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_be_bytes)
    }

    pub fn i64(&mut self) -> Option<i64> {
        self.array().map(i64::from_be_bytes)
    }

    /// A string written as a u16 length and UTF-8 bytes.
    pub fn string(&mut self) -> Option<String> {
        let len = self.u16()? as usize;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).ok()
    }
}

/// Writes a string as a u16 length and its UTF-8 bytes. Panics on a string longer than
/// `u16::MAX` bytes: callers bound their names before they get here.
pub fn put_string(buf: &mut impl bytes::BufMut, value: &str) {
    let len = u16::try_from(value.len()).expect("string longer than u16::MAX bytes");
    buf.put_u16(len);
    buf.put_slice(value.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    #[test]
    fn reads_what_was_written_and_stops_at_the_end() {
        let mut buf = Vec::new();
        buf.put_u32(7);
        buf.put_i64(-3);
        put_string(&mut buf, "orders");
        let mut reader = Reader::new(&buf);
        assert_eq!(reader.u32(), Some(7));
        assert_eq!(reader.i64(), Some(-3));
        assert_eq!(reader.string().as_deref(), Some("orders"));
        assert_eq!(reader.remaining(), 0);
        assert_eq!(reader.u8(), None);
        let mut short = Reader::new(&buf[..2]);
        assert_eq!(short.u32(), None);
        assert_eq!(short.position(), 0);
    }
}
