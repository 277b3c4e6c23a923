//! A validating one-pass JSON scanner for history lines.
//!
//! A history line is a flat JSON object whose `records` / `partitions` field is an array of flat objects. The
//! scanner checks the whole line against the JSON grammar (RFC 8259: strings with their escapes and no control
//! characters, numbers, literals, nested values of unknown fields up to `NESTING_DEPTH_MAX`) and, in the same pass,
//! records where the value of every field the history format knows begins and ends. Nothing is decoded or
//! allocated except the element list of `records` / `partitions`; the reader decodes only the fields an operation
//! needs. serde_json stays the reference: `tests/reader.rs` checks that this scanner accepts exactly the lines
//! serde_json accepts (duplicate known fields aside, which this scanner rejects).

/// Nested arrays/objects deeper than this are rejected (serde_json's default recursion limit is 128).
pub(crate) const NESTING_DEPTH_MAX: usize = 128;

/// One JSON value, as text borrowed from the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Raw<'a> {
    /// A string: the text between the quotes, not unescaped; `escaped` when it contains a backslash.
    String {
        inner: &'a str,
        escaped: bool,
    },
    /// A number, exactly as written (grammar already checked).
    Number(&'a str),
    Bool(bool),
    Null,
    /// An object or array (validated), whole text.
    Object(&'a str),
    Array(&'a str),
}

impl<'a> Raw<'a> {
    /// A short description for error messages: the kind and, when short, the text.
    pub(crate) fn describe(&self) -> String {
        const SHOWN_CHARS_MAX: usize = 40;
        let (kind, text) = match self {
            Raw::String { inner, .. } => ("string", format!("\"{inner}\"")),
            Raw::Number(text) => ("number", (*text).to_string()),
            Raw::Bool(value) => ("boolean", value.to_string()),
            Raw::Null => return "null".to_string(),
            Raw::Object(text) => ("object", (*text).to_string()),
            Raw::Array(text) => ("array", (*text).to_string()),
        };
        if text.chars().count() <= SHOWN_CHARS_MAX {
            format!("{kind} {text}")
        } else {
            let shown: String = text.chars().take(SHOWN_CHARS_MAX).collect();
            format!("{kind} {shown}...")
        }
    }
}

/// An element of `records` / `partitions`: its fields when it is an object, else the value itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Element<'a> {
    Fields(ElementFields<'a>),
    Other(Raw<'a>),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ElementFields<'a> {
    pub(crate) topic: Option<Raw<'a>>,
    pub(crate) partition: Option<Raw<'a>>,
    pub(crate) offset: Option<Raw<'a>>,
    pub(crate) value: Option<Raw<'a>>,
}

/// A top-level field whose value is an array: its elements as far as they are flat objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArrayField<'a> {
    pub(crate) raw: Raw<'a>,
    /// `Some` when `raw` is an array.
    pub(crate) elements: Option<Vec<Element<'a>>>,
}

/// The fields of an event line that some operation uses; every other field is validated and skipped.
#[derive(Debug, Default)]
pub(crate) struct EventFields<'a> {
    pub(crate) time: Option<Raw<'a>>,
    pub(crate) process: Option<Raw<'a>>,
    pub(crate) event_type: Option<Raw<'a>>,
    pub(crate) f: Option<Raw<'a>>,
    pub(crate) topic: Option<Raw<'a>>,
    pub(crate) key: Option<Raw<'a>>,
    pub(crate) value: Option<Raw<'a>>,
    pub(crate) partition: Option<Raw<'a>>,
    pub(crate) offset: Option<Raw<'a>>,
    pub(crate) pid: Option<Raw<'a>>,
    pub(crate) epoch: Option<Raw<'a>>,
    pub(crate) sequence: Option<Raw<'a>>,
    pub(crate) acks: Option<Raw<'a>>,
    pub(crate) leader_epoch: Option<Raw<'a>>,
    pub(crate) error: Option<Raw<'a>>,
    pub(crate) records: Option<ArrayField<'a>>,
    pub(crate) next_available: Option<Raw<'a>>,
    pub(crate) high_watermark: Option<Raw<'a>>,
    pub(crate) log_start_offset: Option<Raw<'a>>,
    pub(crate) api: Option<Raw<'a>>,
    pub(crate) broker: Option<Raw<'a>>,
    pub(crate) progress: Option<Raw<'a>>,
    pub(crate) partitions: Option<ArrayField<'a>>,
    pub(crate) from: Option<Raw<'a>>,
    pub(crate) to: Option<Raw<'a>>,
    pub(crate) reason: Option<Raw<'a>>,
    pub(crate) count: Option<Raw<'a>>,
    pub(crate) fault: Option<Raw<'a>>,
    pub(crate) target: Option<Raw<'a>>,
    pub(crate) group: Option<Raw<'a>>,
    pub(crate) generation: Option<Raw<'a>>,
    pub(crate) member: Option<Raw<'a>>,
    pub(crate) leader: Option<Raw<'a>>,
    pub(crate) protocol: Option<Raw<'a>>,
    pub(crate) lost: Option<Raw<'a>>,
    pub(crate) retention_ms: Option<Raw<'a>>,
}

/// The field names of the history format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Time,
    Process,
    Type,
    F,
    Topic,
    Key,
    Value,
    Partition,
    Offset,
    Pid,
    Epoch,
    Sequence,
    Acks,
    LeaderEpoch,
    Error,
    Records,
    NextAvailable,
    HighWatermark,
    LogStartOffset,
    Api,
    Broker,
    Progress,
    Partitions,
    From,
    To,
    Reason,
    Count,
    Fault,
    Target,
    Group,
    Generation,
    Member,
    Leader,
    Protocol,
    Lost,
    RetentionMs,
    Unknown,
}

impl Field {
    /// Dispatches on the length first, then compares fixed-size arrays (integer compares, no `memcmp`).
    #[inline(always)]
    fn of(key: &[u8]) -> Field {
        fn is<const N: usize>(key: &[u8], name: &[u8; N]) -> bool {
            <&[u8; N]>::try_from(key).is_ok_and(|key| key == name)
        }
        match key.len() {
            1 if key[0] == b'f' => Field::F,
            2 if is(key, b"to") => Field::To,
            3 if is(key, b"key") => Field::Key,
            3 if is(key, b"pid") => Field::Pid,
            3 if is(key, b"api") => Field::Api,
            4 if is(key, b"time") => Field::Time,
            4 if is(key, b"type") => Field::Type,
            4 if is(key, b"from") => Field::From,
            4 if is(key, b"acks") => Field::Acks,
            4 if is(key, b"lost") => Field::Lost,
            5 if is(key, b"topic") => Field::Topic,
            5 if is(key, b"value") => Field::Value,
            5 if is(key, b"epoch") => Field::Epoch,
            5 if is(key, b"error") => Field::Error,
            5 if is(key, b"count") => Field::Count,
            5 if is(key, b"fault") => Field::Fault,
            5 if is(key, b"group") => Field::Group,
            6 if is(key, b"offset") => Field::Offset,
            6 if is(key, b"broker") => Field::Broker,
            6 if is(key, b"reason") => Field::Reason,
            6 if is(key, b"target") => Field::Target,
            6 if is(key, b"member") => Field::Member,
            6 if is(key, b"leader") => Field::Leader,
            7 if is(key, b"process") => Field::Process,
            7 if is(key, b"records") => Field::Records,
            8 if is(key, b"sequence") => Field::Sequence,
            8 if is(key, b"progress") => Field::Progress,
            8 if is(key, b"protocol") => Field::Protocol,
            9 if is(key, b"partition") => Field::Partition,
            10 if is(key, b"partitions") => Field::Partitions,
            10 if is(key, b"generation") => Field::Generation,
            12 if is(key, b"leader_epoch") => Field::LeaderEpoch,
            12 if is(key, b"retention_ms") => Field::RetentionMs,
            14 if is(key, b"next_available") => Field::NextAvailable,
            14 if is(key, b"high_watermark") => Field::HighWatermark,
            16 if is(key, b"log_start_offset") => Field::LogStartOffset,
            _ => Field::Unknown,
        }
    }
}

/// Why a line is not acceptable JSON (or not an object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScanError {
    /// Not JSON: `message` at byte `at` of the line.
    Malformed { at: usize, message: String },
    /// Valid JSON, but not an object.
    NotAnObject { found: String },
}

/// Marks (high bit of the byte) the bytes of `word` that end or escape a string: `"`, `\\`, or a control character
/// (< 0x20). The lowest mark is exact (the classic "has a zero byte" / "has a byte less than n" bit tricks can
/// only over-mark above a real hit), which is all the scanner uses.
#[inline]
pub(crate) fn special_bytes(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_bytes = |value: u64| value.wrapping_sub(ONES) & !value & HIGHS;
    let quotes = zero_bytes(word ^ (ONES * u64::from(b'"')));
    let backslashes = zero_bytes(word ^ (ONES * u64::from(b'\\')));
    let controls = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    quotes | backslashes | controls
}

/// Where the first `"`, `\\` or control character is in `bytes` from `at` on (`bytes.len()` when there is
/// none): eight bytes at a time, then byte by byte for the last few.
#[inline(always)]
pub(crate) fn first_special(bytes: &[u8], mut at: usize) -> usize {
    while let Some(chunk) = bytes.get(at..at + 8) {
        let mask = special_bytes(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        if mask != 0 {
            return at + (mask.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    while let Some(&byte) = bytes.get(at) {
        if byte == b'"' || byte == b'\\' || byte < 0x20 {
            return at;
        }
        at += 1;
    }
    bytes.len()
}

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

/// Scans one line into its known fields. `fields` must be empty (`EventFields::default()`); it is filled in place,
/// as it is too large to move around cheaply for every line.
pub(crate) fn scan_event<'a>(line: &'a str, fields: &mut EventFields<'a>) -> Result<(), ScanError> {
    let mut scanner = Scanner {
        text: line,
        bytes: line.as_bytes(),
        at: 0,
    };
    let scanned = (|| {
        scanner.skip_whitespace();
        if scanner.peek() != Some(b'{') {
            let value = scanner.value(0)?;
            scanner.end()?;
            return Err(Box::new(ScanError::NotAnObject {
                found: value.describe(),
            }));
        }
        scanner.event_object(fields)?;
        scanner.end()
    })();
    scanned.map_err(|error| *error)
}

/// The scanner's result: the error is boxed, so the `Ok` path moves small values only.
type Scan<T> = Result<T, Box<ScanError>>;

impl<'a> Scanner<'a> {
    fn malformed<T>(&self, message: impl Into<String>) -> Scan<T> {
        Err(Box::new(ScanError::Malformed {
            at: self.at,
            message: message.into(),
        }))
    }

    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    #[inline(always)]
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    fn end(&mut self) -> Scan<()> {
        self.skip_whitespace();
        if self.at != self.bytes.len() {
            return self.malformed("trailing characters after the JSON value");
        }
        Ok(())
    }

    #[inline(always)]
    fn expect(&mut self, byte: u8, what: &str) -> Scan<()> {
        if self.bytes.get(self.at) == Some(&byte) {
            self.at += 1;
            return Ok(());
        }
        self.expect_after_whitespace(byte, what)
    }

    #[cold]
    fn expect_after_whitespace(&mut self, byte: u8, what: &str) -> Scan<()> {
        self.skip_whitespace();
        if self.peek() != Some(byte) {
            return match self.peek() {
                None => self.malformed(format!("unexpected end of line, expected {what}")),
                Some(_) => self.malformed(format!("expected {what}")),
            };
        }
        self.at += 1;
        Ok(())
    }

    /// The top-level object, capturing the known fields.
    #[inline]
    fn event_object(&mut self, fields: &mut EventFields<'a>) -> Scan<()> {
        self.at += 1; // '{'
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.skip_whitespace_before(b'"');
            let key_at = self.at;
            let key = self.key()?;
            self.expect(b':', "`:` after an object key")?;
            // The value's own scan skips the whitespace before it.
            let field = Field::of(key.as_bytes());
            let slot = match field {
                Field::Time => Some(&mut fields.time),
                Field::Process => Some(&mut fields.process),
                Field::Type => Some(&mut fields.event_type),
                Field::F => Some(&mut fields.f),
                Field::Topic => Some(&mut fields.topic),
                Field::Key => Some(&mut fields.key),
                Field::Value => Some(&mut fields.value),
                Field::Partition => Some(&mut fields.partition),
                Field::Offset => Some(&mut fields.offset),
                Field::Pid => Some(&mut fields.pid),
                Field::Epoch => Some(&mut fields.epoch),
                Field::Sequence => Some(&mut fields.sequence),
                Field::Acks => Some(&mut fields.acks),
                Field::LeaderEpoch => Some(&mut fields.leader_epoch),
                Field::Error => Some(&mut fields.error),
                Field::NextAvailable => Some(&mut fields.next_available),
                Field::HighWatermark => Some(&mut fields.high_watermark),
                Field::LogStartOffset => Some(&mut fields.log_start_offset),
                Field::Api => Some(&mut fields.api),
                Field::Broker => Some(&mut fields.broker),
                Field::Progress => Some(&mut fields.progress),
                Field::From => Some(&mut fields.from),
                Field::To => Some(&mut fields.to),
                Field::Reason => Some(&mut fields.reason),
                Field::Count => Some(&mut fields.count),
                Field::Fault => Some(&mut fields.fault),
                Field::Target => Some(&mut fields.target),
                Field::Group => Some(&mut fields.group),
                Field::Generation => Some(&mut fields.generation),
                Field::Member => Some(&mut fields.member),
                Field::Leader => Some(&mut fields.leader),
                Field::Protocol => Some(&mut fields.protocol),
                Field::Lost => Some(&mut fields.lost),
                Field::RetentionMs => Some(&mut fields.retention_ms),
                Field::Records | Field::Partitions | Field::Unknown => None,
            };
            let duplicate = || ScanError::Malformed {
                at: key_at,
                message: format!("duplicate field `{key}`"),
            };
            match (slot, field) {
                (Some(slot), _) => {
                    if slot.is_some() {
                        return Err(Box::new(duplicate()));
                    }
                    *slot = Some(self.value(1)?);
                }
                (None, Field::Records) => {
                    if fields.records.is_some() {
                        return Err(Box::new(duplicate()));
                    }
                    fields.records = Some(self.array_field()?);
                }
                (None, Field::Partitions) => {
                    if fields.partitions.is_some() {
                        return Err(Box::new(duplicate()));
                    }
                    fields.partitions = Some(self.array_field()?);
                }
                (None, _) => {
                    self.value(1)?;
                }
            }
            if self.member_end()? {
                return Ok(());
            }
        }
    }

    /// Skips whitespace unless the next byte is `expected` (the common case: no whitespace at all).
    #[inline(always)]
    fn skip_whitespace_before(&mut self, expected: u8) {
        if self.peek() != Some(expected) {
            self.skip_whitespace();
        }
    }

    /// After a member of a flat object: `,` (more follow: `false`) or `}` (the object ends: `true`).
    #[inline(always)]
    fn member_end(&mut self) -> Scan<bool> {
        if !matches!(self.peek(), Some(b',' | b'}')) {
            self.skip_whitespace();
        }
        match self.peek() {
            Some(b',') => {
                self.at += 1;
                Ok(false)
            }
            Some(b'}') => {
                self.at += 1;
                Ok(true)
            }
            None => self.malformed("unexpected end of line inside an object"),
            Some(_) => self.malformed("expected `,` or `}` after an object value"),
        }
    }

    /// An object key, unescaped only when it has escapes.
    #[inline(always)]
    fn key(&mut self) -> Scan<std::borrow::Cow<'a, str>> {
        if self.peek() != Some(b'"') {
            return match self.peek() {
                None => self.malformed("unexpected end of line, expected an object key"),
                Some(_) => self.malformed("expected a string as object key"),
            };
        }
        // Fast path: a plain key of up to 15 bytes, found with one or two 8-byte words.
        let start = self.at;
        for word_index in 0..2 {
            let from = start + 1 + 8 * word_index;
            let Some(chunk) = self.bytes.get(from..from + 8) else {
                break;
            };
            let mask = special_bytes(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
            if mask == 0 {
                continue;
            }
            let end = from + (mask.trailing_zeros() / 8) as usize;
            if self.bytes[end] != b'"' {
                break;
            }
            self.at = end + 1;
            return Ok(std::borrow::Cow::Borrowed(&self.text[start + 1..end]));
        }
        let (inner, escaped) = self.string()?;
        if !escaped {
            return Ok(std::borrow::Cow::Borrowed(inner));
        }
        // The escapes are well-formed (checked by `string`); a key that still does not decode (a lone surrogate)
        // cannot name a known field, so it stays raw, like serde_json treats a key it ignores.
        match serde_json::from_str::<String>(&self.text[start..self.at]) {
            Ok(key) => Ok(std::borrow::Cow::Owned(key)),
            Err(_) => Ok(std::borrow::Cow::Borrowed(inner)),
        }
    }

    /// A value of `records` / `partitions`: an array is split into its elements.
    #[inline]
    fn array_field(&mut self) -> Scan<ArrayField<'a>> {
        self.skip_whitespace_before(b'[');
        if self.peek() != Some(b'[') {
            let raw = self.value(1)?;
            return Ok(ArrayField {
                raw,
                elements: None,
            });
        }
        let start = self.at;
        self.at += 1;
        let mut elements = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.at += 1;
        } else {
            loop {
                self.skip_whitespace();
                if self.peek() == Some(b'{') {
                    elements.push(Element::Fields(self.element_object()?));
                } else {
                    elements.push(Element::Other(self.value(2)?));
                }
                self.skip_whitespace();
                match self.peek() {
                    Some(b',') => self.at += 1,
                    Some(b']') => {
                        self.at += 1;
                        break;
                    }
                    None => return self.malformed("unexpected end of line inside an array"),
                    Some(_) => return self.malformed("expected `,` or `]` after an array element"),
                }
            }
        }
        Ok(ArrayField {
            raw: Raw::Array(&self.text[start..self.at]),
            elements: Some(elements),
        })
    }

    /// An element object of `records` / `partitions` (depth 2).
    #[inline]
    fn element_object(&mut self) -> Scan<ElementFields<'a>> {
        let mut fields = ElementFields::default();
        self.at += 1; // '{'
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(fields);
        }
        loop {
            self.skip_whitespace_before(b'"');
            let key_at = self.at;
            let key = self.key()?;
            self.expect(b':', "`:` after an object key")?;
            let slot = match Field::of(key.as_bytes()) {
                Field::Topic => Some(&mut fields.topic),
                Field::Partition => Some(&mut fields.partition),
                Field::Offset => Some(&mut fields.offset),
                Field::Value => Some(&mut fields.value),
                _ => None,
            };
            match slot {
                Some(slot) => {
                    if slot.is_some() {
                        return Err(Box::new(ScanError::Malformed {
                            at: key_at,
                            message: format!("duplicate field `{key}`"),
                        }));
                    }
                    *slot = Some(self.value(3)?);
                }
                None => {
                    self.value(3)?;
                }
            }
            if self.member_end()? {
                return Ok(fields);
            }
        }
    }

    /// Any JSON value at nesting `depth` (the top-level object is depth 0).
    #[inline(always)]
    fn value(&mut self, depth: usize) -> Scan<Raw<'a>> {
        self.skip_whitespace();
        let start = self.at;
        match self.peek() {
            None => self.malformed("unexpected end of line, expected a value"),
            Some(b'"') => {
                let (inner, escaped) = self.string()?;
                Ok(Raw::String { inner, escaped })
            }
            Some(b'-' | b'0'..=b'9') => {
                self.number()?;
                Ok(Raw::Number(&self.text[start..self.at]))
            }
            Some(b't') => self.literal("true", Raw::Bool(true)),
            Some(b'f') => self.literal("false", Raw::Bool(false)),
            Some(b'n') => self.literal("null", Raw::Null),
            Some(b'{') => {
                self.skip_container(depth, b'{', b'}')?;
                Ok(Raw::Object(&self.text[start..self.at]))
            }
            Some(b'[') => {
                self.skip_container(depth, b'[', b']')?;
                Ok(Raw::Array(&self.text[start..self.at]))
            }
            Some(_) => self.malformed("expected a value"),
        }
    }

    #[inline]
    fn literal(&mut self, word: &str, raw: Raw<'a>) -> Scan<Raw<'a>> {
        if self.bytes[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(raw)
        } else {
            self.malformed("expected a value")
        }
    }

    /// An object or array (any content), validated.
    fn skip_container(&mut self, depth: usize, open: u8, close: u8) -> Scan<()> {
        if depth >= NESTING_DEPTH_MAX {
            return self.malformed("nesting too deep");
        }
        debug_assert_eq!(self.peek(), Some(open));
        self.at += 1;
        self.skip_whitespace();
        if self.peek() == Some(close) {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.skip_whitespace();
            if open == b'{' {
                self.key()?;
                self.expect(b':', "`:` after an object key")?;
            }
            self.value(depth + 1)?;
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(byte) if byte == close => {
                    self.at += 1;
                    return Ok(());
                }
                None => return self.malformed("unexpected end of line inside a nested value"),
                Some(_) if open == b'{' => {
                    return self.malformed("expected `,` or `}` after an object value")
                }
                Some(_) => return self.malformed("expected `,` or `]` after an array element"),
            }
        }
    }

    /// A string starting at the opening quote: (text between the quotes, has a backslash).
    #[inline(always)]
    fn string(&mut self) -> Scan<(&'a str, bool)> {
        debug_assert_eq!(self.peek(), Some(b'"'));
        let bytes = self.bytes;
        let start = self.at + 1;
        let mut at = start;
        let mut escaped = false;
        loop {
            at = first_special(bytes, at);
            let Some(&byte) = bytes.get(at) else {
                self.at = at;
                return self.malformed("unterminated string");
            };
            match byte {
                b'"' => {
                    self.at = at + 1;
                    return Ok((&self.text[start..at], escaped));
                }
                b'\\' => {
                    escaped = true;
                    at += 1;
                    match bytes.get(at) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => at += 1,
                        Some(b'u') => {
                            at += 1;
                            for _ in 0..4 {
                                match bytes.get(at) {
                                    Some(digit) if digit.is_ascii_hexdigit() => at += 1,
                                    _ => {
                                        self.at = at;
                                        return self.malformed("invalid \\u escape in string");
                                    }
                                }
                            }
                        }
                        _ => {
                            self.at = at;
                            return self.malformed("invalid escape in string");
                        }
                    }
                }
                _ => {
                    self.at = at;
                    return self.malformed("control character in string");
                }
            }
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    #[inline(always)]
    fn number(&mut self) -> Scan<()> {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.at += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return self.malformed("invalid number: leading zero");
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            _ => return self.malformed("invalid number"),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return self.malformed("invalid number: no digit after the decimal point");
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return self.malformed("invalid number: no digit in the exponent");
            }
            self.digits();
        }
        Ok(())
    }

    #[inline(always)]
    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_known_fields_and_skips_others() {
        let line = r#" {"time": 5 , "process":"p\"1","x":{"a":[1,{"b":null}]},"type":"ok","f":"poll",
            "records":[{"topic":"t","partition":0,"offset":3,"value":"v","extra":[]}, 7]} "#;
        let mut fields = EventFields::default();
        scan_event(line, &mut fields).unwrap();
        assert_eq!(fields.time, Some(Raw::Number("5")));
        assert_eq!(
            fields.process,
            Some(Raw::String {
                inner: "p\\\"1",
                escaped: true
            })
        );
        let records = fields.records.unwrap();
        let elements = records.elements.unwrap();
        assert_eq!(elements.len(), 2);
        match &elements[0] {
            Element::Fields(element) => assert_eq!(element.offset, Some(Raw::Number("3"))),
            Element::Other(_) => panic!("an object element"),
        }
        assert_eq!(elements[1], Element::Other(Raw::Number("7")));
    }

    #[test]
    fn special_bytes_are_found_exactly() {
        for special in [b'"', b'\\', 0x00, 0x1f, 0x0a] {
            for position in 0..8 {
                for filler in [b'a', 0x20, 0xff, b'"', 0x00] {
                    let mut word = [b'a'; 8];
                    word[position] = special;
                    // Anything may follow the first special byte.
                    for later in word.iter_mut().skip(position + 1) {
                        *later = filler;
                    }
                    let mask = special_bytes(u64::from_le_bytes(word));
                    assert_eq!(
                        mask.trailing_zeros() / 8,
                        position as u32,
                        "{special:#x} at {position}, then {filler:#x}"
                    );
                }
            }
        }
        for plain in [b' ', b'!', b'#', b'[', b']', 0x7f, 0x80, 0xff, b'a', b'0'] {
            assert_eq!(
                special_bytes(u64::from_le_bytes([plain; 8])),
                0,
                "{plain:#x}"
            );
        }
        let mixed = u64::from_le_bytes([0x20, 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0xc3, 0xa9]);
        assert_eq!(special_bytes(mixed), 0);
    }

    #[test]
    fn field_names_are_recognised_exactly() {
        for (name, field) in [
            ("time", Field::Time),
            ("f", Field::F),
            ("next_available", Field::NextAvailable),
            ("high_watermark", Field::HighWatermark),
            ("log_start_offset", Field::LogStartOffset),
            ("group", Field::Group),
            ("generation", Field::Generation),
            ("member", Field::Member),
            ("leader", Field::Leader),
            ("protocol", Field::Protocol),
            ("lost", Field::Lost),
            ("retention_ms", Field::RetentionMs),
        ] {
            assert_eq!(Field::of(name.as_bytes()), field);
        }
        for unknown in [
            "",
            "g",
            "tim",
            "times",
            "Time",
            "partitionz",
            "next_availablE",
            "high_watermarks",
            "log_start",
            "log_start_offsets",
            "groups",
            "generations",
            "los",
        ] {
            assert_eq!(Field::of(unknown.as_bytes()), Field::Unknown, "{unknown}");
        }
    }

    #[test]
    fn rejects_what_json_rejects() {
        for bad in [
            "",
            "{",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":-}",
            "{\"a\":1e}",
            "{\"a\":tru}",
            "{\"a\":\"\\x\"}",
            "{\"a\":\"\\u12g4\"}",
            "{\"a\":\"tab\there\"}",
            "{\"a\":[1,]}",
            "{\"a\":1} x",
            "{a:1}",
            "{\"time\":1,\"time\":2}",
        ] {
            let scanned = scan_event(bad, &mut EventFields::default());
            assert!(
                matches!(scanned, Err(ScanError::Malformed { .. })),
                "{bad:?} must be malformed"
            );
        }
        let scanned = scan_event("[1]", &mut EventFields::default());
        assert_eq!(
            scanned,
            Err(ScanError::NotAnObject {
                found: "array [1]".to_string()
            })
        );
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
        assert!(matches!(
            scan_event(&deep, &mut EventFields::default()),
            Err(ScanError::Malformed { .. })
        ));
    }
}
