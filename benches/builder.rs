//! Building frames by hand, against encoding a frame built beforehand. Run with
//! `cargo bench --bench builder`; `scripts/bench-ratios.py` prints the ratios the floors are
//! stated in (the machine is shared, absolute figures drift):
//!
//! - `builder/send4`: `build_encode / encode`, the cost of building a 4-header SEND and
//!   encoding it against encoding the same frame built beforehand (floor: at most 2×);
//! - `builder/headers`: the cost per header of a frame with 16,000 headers against one with
//!   1,000 (floor: flat, i.e. building is O(headers)).

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use stomp_codec::{Command, Encoder, Frame, Version};

const BODY: &[u8] = b"{\"user\":\"u42\",\"text\":\"hello there\"}";

/// The SEND an application builds for each message: four headers and a static body.
#[inline(always)]
fn send4(i: &str) -> Frame {
    Frame::builder(Command::Send)
        .header("destination", "/queue/orders")
        .header("content-type", "application/json")
        .header("receipt", i)
        .header("x-trace", "abc123")
        .body(Bytes::from_static(BODY))
        .build()
}

fn send(c: &mut Criterion) {
    let encoder = Encoder::new(Version::V1_2);
    let prebuilt = send4("r-1");
    let mut out = BytesMut::with_capacity(256);
    encoder.encode(&prebuilt, &mut out).unwrap();
    let wire_len = out.len() as u64;
    let mut group = c.benchmark_group("builder/send4");
    group.throughput(Throughput::Bytes(wire_len));
    group.bench_function("encode", |b| {
        b.iter(|| {
            out.clear();
            encoder.encode(black_box(&prebuilt), &mut out).unwrap();
            out.len()
        })
    });
    group.bench_function("build_encode", |b| {
        b.iter(|| {
            out.clear();
            let frame = send4(black_box("r-1"));
            encoder.encode(&frame, &mut out).unwrap();
            out.len()
        })
    });
    group.finish();
}

fn many(c: &mut Criterion) {
    let mut group = c.benchmark_group("builder/headers");
    group.sample_size(10);
    // One build of 16,000 headers takes long enough that linear sampling would take minutes.
    group.sampling_mode(SamplingMode::Flat);
    for k in [1_000usize, 16_000] {
        let pairs: Vec<(String, String)> = (0..k)
            .map(|i| (format!("x-header-{i}"), format!("value-{i}")))
            .collect();
        group.throughput(Throughput::Elements(k as u64));
        group.bench_with_input(BenchmarkId::from_parameter(k), &pairs, |b, pairs| {
            b.iter(|| {
                let mut builder = Frame::builder(Command::Send);
                for (name, value) in black_box(pairs) {
                    builder = builder.header(name, value);
                }
                builder.build().headers().len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, send, many);
criterion_main!(benches);
