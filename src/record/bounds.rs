//! A check that every length a record's fields claim lies inside the record, made before the
//! record is parsed: the MCAP parser allocates what a string, byte array or map of a damaged
//! record claims (gigabytes) before it finds the record too short.

/// A cursor over a record's body.
struct Fields<'a> {
    body: &'a [u8],
    at: usize,
}

impl Fields<'_> {
    fn skip(&mut self, n: usize) -> Option<()> {
        self.at = self.at.checked_add(n)?;
        (self.at <= self.body.len()).then_some(())
    }

    fn u32(&mut self) -> Option<usize> {
        let bytes = self.body.get(self.at..self.at.checked_add(4)?)?;
        self.at += 4;
        Some(u32::from_le_bytes(bytes.try_into().ok()?) as usize)
    }

    fn u64(&mut self) -> Option<usize> {
        let bytes = self.body.get(self.at..self.at.checked_add(8)?)?;
        self.at += 8;
        usize::try_from(u64::from_le_bytes(bytes.try_into().ok()?)).ok()
    }

    /// A string or byte array with a u32 length.
    fn string(&mut self) -> Option<()> {
        let n = self.u32()?;
        self.skip(n)
    }

    /// A byte array with a u64 length.
    fn bytes(&mut self) -> Option<()> {
        let n = self.u64()?;
        self.skip(n)
    }

    /// A map or array of fixed-size entries, with its length in bytes.
    fn fixed(&mut self) -> Option<()> {
        let n = self.u32()?;
        self.skip(n)
    }

    /// A map of strings to strings, with its length in bytes.
    fn strings(&mut self) -> Option<()> {
        let n = self.u32()?;
        let end = self.at.checked_add(n)?;
        if end > self.body.len() {
            return None;
        }
        while self.at < end {
            self.string()?;
            self.string()?;
        }
        (self.at == end).then_some(())
    }
}

/// Whether every length the fields of a record of `opcode` claim fits in `body`.
pub(super) fn lengths_fit(opcode: u8, body: &[u8]) -> bool {
    let mut f = Fields { body, at: 0 };
    let fits = match opcode {
        // Header: profile, library.
        0x01 => f.string().and_then(|_| f.string()),
        // Schema: id, name, encoding, data.
        0x03 => f
            .skip(2)
            .and_then(|_| f.string())
            .and_then(|_| f.string())
            .and_then(|_| f.string()),
        // Channel: id, schema id, topic, message encoding, metadata.
        0x04 => f
            .skip(4)
            .and_then(|_| f.string())
            .and_then(|_| f.string())
            .and_then(|_| f.strings()),
        // Chunk: times, uncompressed size and CRC, compression, records.
        0x06 => f.skip(28).and_then(|_| f.string()).and_then(|_| f.bytes()),
        // Message index: channel, (time, offset) pairs.
        0x07 => f.skip(2).and_then(|_| f.fixed()),
        // Chunk index: times, offset, length, message index offsets, their length,
        // compression, sizes.
        0x08 => f
            .skip(32)
            .and_then(|_| f.fixed())
            .and_then(|_| f.skip(8))
            .and_then(|_| f.string())
            .and_then(|_| f.skip(16)),
        // Attachment: times, name, media type, data.
        0x09 => f
            .skip(16)
            .and_then(|_| f.string())
            .and_then(|_| f.string())
            .and_then(|_| f.bytes()),
        // Attachment index: offset, length, times, size, name, media type.
        0x0A => f.skip(40).and_then(|_| f.string()).and_then(|_| f.string()),
        // Statistics: counts and times, chunk counts per channel.
        0x0B => f.skip(42).and_then(|_| f.fixed()),
        // Metadata: name, entries.
        0x0C => f.string().and_then(|_| f.strings()),
        // Metadata index: offset, length, name.
        0x0D => f.skip(16).and_then(|_| f.string()),
        _ => Some(()),
    };
    fits.is_some()
}

/// [`mcap::parse_record`] after [`lengths_fit`].
pub(super) fn parse_record(opcode: u8, body: &[u8]) -> Result<mcap::records::Record<'_>, String> {
    if !lengths_fit(opcode, body) {
        return Err(format!(
            "a length in a record (opcode {opcode:#04x}) runs past its {} bytes",
            body.len()
        ));
    }
    mcap::parse_record(opcode, body).map_err(|e| e.to_string())
}
