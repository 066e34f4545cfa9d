//! Throughput of the evidence locker on a generated image: ingest (three digests and a synced
//! write), verification (re-hash on read) and export into a bundle. Prints MiB/s; asserts
//! nothing about time. Size with `CORDON_BENCH_MIB` (default 256).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{self, Read};
use std::time::Instant;

use cordon_domain::{IncidentId, Person, SigningKey, Timestamp};
use cordon_evidence::{
    Compression, EvidenceItem, EvidenceStore, ExportConfig, LocalDirStore, RetentionState, StoreConfig, Tlp,
    export_bundle,
};

fn main() {
    let mib: u64 = std::env::var("CORDON_BENCH_MIB")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(256);
    let size = mib * 1024 * 1024;
    let dir = tempfile::TempDir::new().unwrap();
    let store = LocalDirStore::open(dir.path().join("evidence"), StoreConfig::default()).unwrap();

    let started = Instant::now();
    let ingested = store.put(Generated { position: 0, len: size }).unwrap();
    report("ingest", mib, started);

    let started = Instant::now();
    store.verify(&ingested.digests.sha256).unwrap();
    report("verify", mib, started);

    let digests = ingested.digests;
    let at = Timestamp::from_unix_millis(1_780_000_000_000);
    let item = EvidenceItem {
        incident: IncidentId::new("bench"),
        sha256: digests.sha256,
        sha1: digests.sha1,
        md5: digests.md5,
        size: digests.size,
        original_name: "generated.img".to_owned(),
        source: "generator".to_owned(),
        collected_by: Person::new("bench").unwrap(),
        collected_at: at,
        stored_at: at,
        tlp: Tlp::Clear,
        retention: RetentionState::Standard,
    };
    let config = ExportConfig {
        incident: IncidentId::new("bench"),
        exported_by: Person::new("bench").unwrap(),
        created_at: at,
        compression: Compression::None,
    };
    let key = SigningKey::from_bytes(&[1; 32]);
    let started = Instant::now();
    export_bundle(&store, &[item], &[], b"[]", &key, &config, io::sink()).unwrap();
    report("export", mib, started);
}

fn report(what: &str, mib: u64, started: Instant) {
    let seconds = started.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let rate = mib as f64 / seconds;
    println!("{what:<8} {mib} MiB in {seconds:.2} s: {rate:.0} MiB/s");
}

/// Pseudo-random looking bytes, generated as they are read.
struct Generated {
    position: u64,
    len: u64,
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let count = usize::try_from(self.len - self.position)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        for (offset, byte) in buf[..count].iter_mut().enumerate() {
            let at = self.position + offset as u64;
            *byte = (at.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8;
        }
        self.position += count as u64;
        Ok(count)
    }
}
