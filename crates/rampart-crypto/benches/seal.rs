//! Sealing and opening a typical field value (an email address and a 200-byte note) with a
//! tenant's data key, next to a SHA-256 of the same bytes (the audit chain's per-entry hash)
//! as the baseline measured in the same run.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rampart_crypto::keyring::{Key, TenantKeys};

fn bench(c: &mut Criterion) {
    let mut keys = TenantKeys::new();
    keys.insert(1, Key::generate(), true);
    let context = b"record/0190f0f0-0000-7000-8000-000000000000/email";
    for (name, value) in [
        ("email", b"someone.with.a.long.name@example.com".to_vec()),
        ("note_200b", vec![b'x'; 200]),
    ] {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(1));
        let sealed = keys.seal(context, &value).unwrap();
        g.bench_function("seal", |b| b.iter(|| keys.seal(context, &value).unwrap()));
        g.bench_function("open", |b| b.iter(|| keys.open(context, &sealed).unwrap()));
        g.bench_function("sha256_baseline", |b| {
            b.iter(|| rampart_crypto::sha256(&value))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
