//! Reading a complete episode through its index (the summary section the writer finishes a
//! file with): any tick by seeking to the chunks that hold it, as replay's seek does.

use crate::error::Result;
use crate::record::bounds::parse_record;
use crate::record::reader::{Assembler, EpisodeReader, RECORD_LIMIT, Step, read_err};
use mcap::records::Record;
use mcap::sans_io::{LinearReadEvent, LinearReader, LinearReaderOptions};
use std::collections::HashMap;
use std::fs::File;
use std::io::Read;

/// Where the ticks of a complete episode are, from the file's summary section.
#[derive(Clone, Debug)]
pub struct EpisodeIndex {
    chunks: Vec<mcap::records::ChunkIndex>,
    topics: HashMap<u16, String>,
    dt_ns: u64,
    /// Ticks in the file (one more than the last tick).
    pub ticks: u64,
}

impl EpisodeReader {
    /// Reads the summary section of a complete file (the writer finished it).
    pub fn index(&self) -> Result<EpisodeIndex> {
        let path = &self.path;
        let mut file = File::open(path).map_err(|e| read_err(path, e))?;
        let len = file.metadata().map_err(|e| read_err(path, e))?.len();
        // Footer record (opcode, length, 20-byte body) and the closing magic.
        const FOOTER: u64 = 1 + 8 + 20 + 8;
        if len < FOOTER + 8 {
            return Err(read_err(
                path,
                "too short to hold an index; the file is incomplete",
            ));
        }
        let tail =
            read_at(&mut file, len - FOOTER, FOOTER as usize).map_err(|e| read_err(path, e))?;
        let footer = match parse_record(tail[0], &tail[9..29]) {
            Ok(Record::Footer(f)) if tail[29..] == *b"\x89MCAP0\r\n" => f,
            _ => {
                return Err(read_err(
                    path,
                    "no footer: the file is incomplete; stream it with steps() instead",
                ));
            }
        };
        if footer.summary_start == 0 || footer.summary_start >= len - FOOTER {
            return Err(read_err(path, "the file has no summary section"));
        }
        let summary_len = (len - FOOTER - footer.summary_start) as usize;
        if summary_len > RECORD_LIMIT {
            return Err(read_err(path, "summary section too large"));
        }
        let summary =
            read_at(&mut file, footer.summary_start, summary_len).map_err(|e| read_err(path, e))?;
        let (mut chunks, mut topics) = (Vec::new(), HashMap::new());
        let mut pos = 0usize;
        while pos + 9 <= summary.len() {
            let opcode = summary[pos];
            let n =
                u64::from_le_bytes(summary[pos + 1..pos + 9].try_into().expect("8 bytes")) as usize;
            let body = summary
                .get(pos + 9..(pos + 9).saturating_add(n))
                .ok_or_else(|| read_err(path, "summary record runs past the end"))?;
            match parse_record(opcode, body) {
                Ok(Record::ChunkIndex(c)) => chunks.push(c),
                Ok(Record::Channel(c)) => {
                    topics.insert(c.id, c.topic);
                }
                Ok(_) => {}
                Err(e) => return Err(read_err(path, format!("summary record: {e}"))),
            }
            pos += 9 + n;
        }
        let dt_ns = (self.scenario.dt_s * 1e9).round() as u64;
        let ticks = chunks
            .iter()
            .map(|c| (c.message_end_time / dt_ns.max(1)).saturating_add(1))
            .max()
            .unwrap_or(0);
        Ok(EpisodeIndex {
            chunks,
            topics,
            dt_ns,
            ticks,
        })
    }

    /// Tick `tick`, read through the index: only the chunks holding it are read.
    pub fn step_at(
        &self,
        index: &EpisodeIndex,
        tick: u64,
        decode_frames: bool,
    ) -> Result<Option<Step>> {
        let path = &self.path;
        let time = tick.saturating_mul(index.dt_ns);
        let mut file = File::open(path).map_err(|e| read_err(path, e))?;
        let mut assembler = Assembler::new(decode_frames);
        for chunk in index
            .chunks
            .iter()
            .filter(|c| c.message_start_time <= time && time <= c.message_end_time)
        {
            if chunk.chunk_length as usize > RECORD_LIMIT || chunk.chunk_length < 9 {
                return Err(read_err(path, "chunk length out of range"));
            }
            let bytes = read_at(
                &mut file,
                chunk.chunk_start_offset,
                chunk.chunk_length as usize,
            )
            .map_err(|e| read_err(path, e))?;
            let header = match parse_record(bytes[0], &bytes[9..]) {
                Ok(Record::Chunk { header, .. }) => header,
                _ => {
                    return Err(read_err(
                        path,
                        format!("no chunk at offset {}", chunk.chunk_start_offset),
                    ));
                }
            };
            // A decompressor allocates what the header claims before it decompresses.
            let claim = header.uncompressed_size;
            if claim > RECORD_LIMIT as u64 {
                let at = chunk.chunk_start_offset;
                let why =
                    format!("the chunk at {at} claims {claim} bytes; the limit is {RECORD_LIMIT}");
                return Err(read_err(path, why));
            }
            // The chunk's records through the streaming reader, which bounds every record's
            // length (mcap's chunk reader reserves whatever a damaged record claims).
            let options = LinearReaderOptions::default()
                .with_skip_start_magic(true)
                .with_skip_end_magic(true)
                .with_prevalidate_chunk_crcs(true)
                .with_record_length_limit(RECORD_LIMIT);
            let mut reader = LinearReader::new_with_options(options);
            let mut input = &bytes[..];
            while let Some(event) = reader.next_event() {
                match event.map_err(|e| read_err(path, e))? {
                    LinearReadEvent::ReadRequest(n) => {
                        let k = n.min(input.len());
                        reader.insert(n)[..k].copy_from_slice(&input[..k]);
                        input = &input[k..];
                        reader.notify_read(k);
                    }
                    LinearReadEvent::Record { data, opcode } => {
                        match parse_record(opcode, data).map_err(|e| read_err(path, e))? {
                            Record::Message { header, data } if header.log_time == time => {
                                let topic = index
                                    .topics
                                    .get(&header.channel_id)
                                    .ok_or_else(|| read_err(path, "message on unknown channel"))?;
                                assembler
                                    .message(topic, &data)
                                    .map_err(|e| read_err(path, format!("{topic}: {e}")))?;
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        Ok(assembler.ready.take())
    }
}

fn read_at(file: &mut File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    use std::io::{Seek, SeekFrom};
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0; len];
    file.read_exact(&mut buf)?;
    Ok(buf)
}
