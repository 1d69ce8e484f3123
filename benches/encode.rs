//! Encoder throughput on the decode benchmarks' frames, against a `memchr` NUL scan of the
//! encoded bytes. Run with `cargo bench --bench encode`.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use stomp_codec::{Encoder, Frame, Version};

#[path = "corpus.rs"]
mod corpus;

fn encode_all(frames: &[Frame], out: &mut BytesMut) -> usize {
    out.clear();
    let encoder = Encoder::new(Version::V1_2);
    for frame in frames {
        encoder.encode(frame, out).expect("corpus frames encode");
    }
    out.len()
}

fn bench(c: &mut Criterion) {
    for corpus in [
        corpus::small(),
        corpus::escaped(),
        corpus::medium(),
        corpus::large(),
    ] {
        let data = &corpus.wire;
        let mut group = c.benchmark_group(format!("encode/{}", corpus.name));
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.sample_size(20);
        group.bench_function("memchr_scan", |b| {
            b.iter(|| memchr::memchr_iter(0, black_box(&data[..])).count())
        });
        let mut out = BytesMut::with_capacity(data.len());
        group.bench_function("encode", |b| {
            b.iter(|| encode_all(black_box(&corpus.frames), &mut out))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
