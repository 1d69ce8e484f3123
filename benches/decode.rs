//! Decoder throughput on generated streams, against a `memchr` NUL scan of the same bytes.
//!
//! Run with `cargo bench --bench decode`. Report each figure as a ratio to `memchr_scan` in the
//! same group: the machines we run on are shared, absolute numbers drift.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use stomp_codec::{Decoder, Item, Version};

#[path = "corpus.rs"]
mod corpus;

/// Counts NULs the way a scanner that only splits frames at NUL would. This is the baseline
/// the floors are stated against: memchr counts without stopping at each match, so it is
/// the fastest reading of "a memchr NUL scan".
fn memchr_scan(data: &[u8]) -> usize {
    memchr::memchr_iter(0, data).count()
}

/// Finds each NUL in turn, as a splitter that hands out frames must: a second, looser
/// baseline reported beside the first.
fn memchr_split(data: &[u8]) -> usize {
    memchr::memchr_iter(0, data).fold(0, |sum, at| sum ^ at)
}

/// Drains the decoder, summing body lengths so nothing is optimised away.
///
/// Inlined into each feeding loop, as an application's read loop would have it: otherwise the
/// call frame around it (six saved registers) is paid once per pushed chunk and the 16-byte
/// figure measures the harness more than the decoder.
#[inline(always)]
fn drain(decoder: &mut Decoder) -> usize {
    let mut total = 0;
    while let Some(item) = decoder.next_item().expect("corpus decodes") {
        if let Item::Frame(frame) = item {
            total += frame.body().len();
        }
    }
    total
}

fn decode_bytes(data: &Bytes) -> usize {
    let mut decoder = Decoder::new(Version::V1_2);
    decoder.push_bytes(data.clone());
    drain(&mut decoder)
}

fn decode_slice(data: &[u8]) -> usize {
    let mut decoder = Decoder::new(Version::V1_2);
    decoder.push(data);
    drain(&mut decoder)
}

fn decode_chunks(data: &[u8], chunk: usize) -> usize {
    let mut decoder = Decoder::new(Version::V1_2);
    let mut total = 0;
    for piece in data.chunks(chunk) {
        decoder.push(piece);
        total += drain(&mut decoder);
    }
    total
}

fn bench_corpus(c: &mut Criterion, corpus: &corpus::Corpus, chunk_sizes: &[usize]) {
    let data = &corpus.wire;
    let mut group = c.benchmark_group(format!("decode/{}", corpus.name));
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.sample_size(20);
    group.bench_function("memchr_scan", |b| b.iter(|| memchr_scan(black_box(data))));
    group.bench_function("memchr_split", |b| b.iter(|| memchr_split(black_box(data))));
    group.bench_function("whole_bytes", |b| b.iter(|| decode_bytes(black_box(data))));
    group.bench_function("whole_slice", |b| b.iter(|| decode_slice(black_box(data))));
    for &chunk in chunk_sizes {
        group.bench_with_input(BenchmarkId::new("chunks", chunk), &chunk, |b, &chunk| {
            b.iter(|| decode_chunks(black_box(data), chunk))
        });
    }
    group.finish();
}

fn small(c: &mut Criterion) {
    bench_corpus(c, &corpus::small(), &[64]);
}

fn escaped(c: &mut Criterion) {
    bench_corpus(c, &corpus::escaped(), &[64]);
}

fn medium(c: &mut Criterion) {
    bench_corpus(c, &corpus::medium(), &[64]);
}

fn large(c: &mut Criterion) {
    bench_corpus(c, &corpus::large(), &[16, 64, 4096]);
}

/// One 1 MiB frame fed 1, 64 bytes at a time and whole: the cost per byte must not grow with
/// the chunk count (the decoder never rescans), so these stay within a constant factor.
fn resumption(c: &mut Criterion) {
    let frame = &corpus::large().frames[0];
    let mut wire = bytes::BytesMut::new();
    stomp_codec::Encoder::new(Version::V1_2)
        .encode(frame, &mut wire)
        .unwrap();
    // Without content-length the body must be scanned for its NUL: the harder case.
    let text: Vec<u8> = (0..1 << 20).map(|i| b'a' + (i % 26) as u8).collect();
    let mut scanned = bytes::BytesMut::new();
    scanned.extend_from_slice(b"MESSAGE\ndestination:/topic/a\n\n");
    scanned.extend_from_slice(&text);
    scanned.extend_from_slice(b"\0");
    let mut group = c.benchmark_group("decode/resumption_1MiB");
    group.sample_size(10);
    for (name, data) in [("counted", wire.freeze()), ("scanned", scanned.freeze())] {
        group.throughput(Throughput::Bytes(data.len() as u64));
        for chunk in [1usize, 64, data.len()] {
            let label = if chunk == data.len() {
                "whole".to_string()
            } else {
                chunk.to_string()
            };
            group.bench_with_input(BenchmarkId::new(name, label), &chunk, |b, &chunk| {
                b.iter(|| decode_chunks(black_box(&data), chunk))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, small, escaped, medium, large, resumption);
criterion_main!(benches);
