//! `client-bench`: publish and consume throughput, and client CPU per message, of stomp-tokio's
//! client next to iridium-stomp and async-stomp, against the same brokers in one run.
//!
//! ```text
//! client-bench --broker chat_broker=127.0.0.1:61700@live --broker rabbitmq=127.0.0.1:61613 \
//!              [--messages 50000] [--broker-messages chat_broker=200000] [--size 128] \
//!              [--reps 3] [--window 1000] \
//!              [--clients ours,ours-seq,ours-publish,iridium-stomp,async-stomp,ceiling] \
//!              [--measurements publish,receipts,consume] [--timeout 60] [--warmup 5000] \
//!              [--runtime multi-thread|current-thread]
//! ```
//! (`scripts/client-bench.sh` starts the brokers and runs it.)
//!
//! For each repetition, broker, measurement and client (clients in a rotating order, so that
//! drift does not favour one), it prints one JSON line; at the end two Markdown tables of
//! medians: throughput with the ratio ours ÷ the better peer, and client CPU per message. Each
//! client is used the ways its API offers (`peers.rs`); for ours the ratio takes the fastest
//! of its ways in that row and names it (`ours` pipelines `send()` futures, `ours-publish`
//! completes once queued, as a `Sink`'s `feed` does).
//!
//! `ceiling` is no client library at all (`ceiling.rs`): pre-encoded frames on a plain
//! socket, replies only counted. Its throughput is about the most any client could reach on
//! that broker, so `ceiling ÷ better peer` bounds, within the run's noise, the ratio any
//! client could show in that row.
//!
//! * `publish`: `messages` SENDs of `size` bytes to a fresh topic nobody subscribes to (so the
//!   broker routes and drops them and does not store them), timed from the first send until
//!   every send call completed *and* a RECEIPT for a last SEND confirmed the broker processed
//!   them all.
//! * `receipts`: the same with a receipt on every SEND, until every receipt arrived; pipelined
//!   (up to `window` unconfirmed) for all three clients.
//! * `consume`: a fresh queue fed by a plain blocking socket on its own thread (no client
//!   library): `@prefill` brokers get all the messages before the client subscribes (the queue
//!   holds them), `@live` brokers get them while the client consumes (chat_broker keeps at most
//!   1000 waiting messages per queue, so it cannot be pre-filled). Timed from the first (probe)
//!   message to the last. The feeder thread's own CPU is subtracted.
//!
//! CPU is the process's user + system time around the timed part (`getrusage`), divided by the
//! messages: every thread of this process, the brokers excluded (other processes).

mod ceiling;
mod cpu;
mod peers;
mod raw;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use cpu::Sample;
use peers::{Job, Peer};

/// How a broker's queue is filled for the consume measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fill {
    Prefill,
    Live,
}

#[derive(Debug, Clone)]
struct Broker {
    name: String,
    addr: String,
    fill: Fill,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Measurement {
    Publish,
    Receipts,
    Consume,
}

impl Measurement {
    fn name(self) -> &'static str {
        match self {
            Measurement::Publish => "publish",
            Measurement::Receipts => "receipts",
            Measurement::Consume => "consume",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Measurement::Publish => "publish, no receipts",
            Measurement::Receipts => "publish, receipt on every SEND",
            Measurement::Consume => "consume (auto ack)",
        }
    }

    fn parse(name: &str) -> Option<Measurement> {
        [
            Measurement::Publish,
            Measurement::Receipts,
            Measurement::Consume,
        ]
        .into_iter()
        .find(|m| m.name() == name)
    }
}

#[derive(Debug)]
struct Args {
    brokers: Vec<Broker>,
    messages: usize,
    size: usize,
    reps: usize,
    window: usize,
    clients: Vec<Peer>,
    measurements: Vec<Measurement>,
    timeout: Duration,
    warmup: Option<usize>,
    /// A current-thread runtime instead of the multi-threaded one.
    current_thread: bool,
    /// Messages per measurement for some brokers (`--broker-messages NAME=N`).
    broker_messages: BTreeMap<String, usize>,
}

impl Args {
    fn messages(&self, broker: &str) -> usize {
        self.broker_messages
            .get(broker)
            .copied()
            .unwrap_or(self.messages)
    }
}

const USAGE: &str = "usage: client-bench --broker NAME=HOST:PORT[@live|@prefill] ... \
[--messages N] [--size BYTES] [--reps R] [--window W] [--clients a,b,...] \
[--broker-messages NAME=N] [--measurements publish,receipts,consume] [--timeout SECONDS] [--warmup N] \
[--runtime multi-thread|current-thread] (see src/main.rs)";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        brokers: Vec::new(),
        messages: 50_000,
        size: 128,
        reps: 3,
        window: 1000,
        clients: vec![
            Peer::Ours,
            Peer::OursSequential,
            Peer::OursPublish,
            Peer::Iridium,
            Peer::AsyncStomp,
            Peer::Ceiling,
        ],
        measurements: vec![
            Measurement::Publish,
            Measurement::Receipts,
            Measurement::Consume,
        ],
        timeout: Duration::from_secs(60),
        warmup: None,
        current_thread: false,
        broker_messages: BTreeMap::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.into());
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = || {
            value
                .parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("{flag} needs a positive number, not {value:?}"))
        };
        match flag.as_str() {
            "--broker" => {
                let (name, rest) = value
                    .split_once('=')
                    .ok_or_else(|| format!("--broker NAME=HOST:PORT, not {value:?}"))?;
                let (addr, fill) = match rest.split_once('@') {
                    None | Some((_, "prefill")) => {
                        (rest.split('@').next().unwrap_or(rest), Fill::Prefill)
                    }
                    Some((addr, "live")) => (addr, Fill::Live),
                    Some((_, other)) => {
                        return Err(format!("unknown fill {other:?}: live or prefill"))
                    }
                };
                args.brokers.push(Broker {
                    name: name.to_string(),
                    addr: addr.to_string(),
                    fill,
                });
            }
            "--messages" => args.messages = number()?,
            "--broker-messages" => {
                let parsed = value.split_once('=').and_then(|(name, n)| {
                    Some((name, n.parse::<usize>().ok().filter(|&n| n > 0)?))
                });
                let (name, n) =
                    parsed.ok_or_else(|| format!("--broker-messages NAME=N, not {value:?}"))?;
                args.broker_messages.insert(name.to_string(), n);
            }
            "--size" => args.size = number()?,
            "--reps" => args.reps = number()?,
            "--window" => args.window = number()?,
            "--timeout" => args.timeout = Duration::from_secs(number()? as u64),
            "--runtime" => {
                args.current_thread = match value.as_str() {
                    "multi-thread" => false,
                    "current-thread" => true,
                    _ => {
                        return Err(format!(
                            "--runtime multi-thread|current-thread, not {value:?}"
                        ))
                    }
                }
            }
            "--warmup" => args.warmup = Some(value.parse().map_err(|_| "--warmup needs a number")?),
            "--clients" => {
                args.clients = value
                    .split(',')
                    .map(|c| Peer::parse(c).ok_or_else(|| format!("unknown client {c:?}")))
                    .collect::<Result<_, _>>()?;
            }
            "--measurements" => {
                args.measurements = value
                    .split(',')
                    .map(|m| {
                        Measurement::parse(m).ok_or_else(|| format!("unknown measurement {m:?}"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            _ => return Err(format!("unknown argument {flag:?}\n{USAGE}")),
        }
    }
    if args.brokers.is_empty() {
        return Err(format!("at least one --broker is needed\n{USAGE}"));
    }
    Ok(args)
}

/// One measurement's outcome.
#[derive(Debug, Clone)]
struct Outcome {
    broker: String,
    client: Peer,
    measurement: Measurement,
    messages: usize,
    result: Result<Sample, String>,
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn mode(client: Peer, measurement: Measurement, fill: Fill) -> String {
    match measurement {
        Measurement::Publish => peers::publish_mode(client, false).to_string(),
        Measurement::Receipts => peers::publish_mode(client, true).to_string(),
        Measurement::Consume => format!(
            "{}; queue {}",
            peers::CONSUME_MODE,
            match fill {
                Fill::Prefill => "pre-filled",
                Fill::Live => "fed while consuming",
            }
        ),
    }
}

/// Runs one measurement, bounded by `timeout` (the feeder thread's own waits are bounded too).
async fn measure(
    broker: &Broker,
    client: Peer,
    measurement: Measurement,
    job: Job,
    timeout: Duration,
) -> Result<Sample, String> {
    let bounded = |what: &'static str| move |_| format!("{what} took longer than {timeout:?}");
    match measurement {
        Measurement::Publish | Measurement::Receipts => {
            let receipts = measurement == Measurement::Receipts;
            tokio::time::timeout(timeout, peers::publish(client, &job, receipts))
                .await
                .map_err(bounded("the measurement"))?
        }
        Measurement::Consume => {
            let feed = raw::Feed {
                addr: job.addr.clone(),
                destination: job.destination.clone(),
                messages: job.messages,
                body: job.body.to_vec(),
                headers: job.subscribe_headers.clone(),
            };
            match broker.fill {
                Fill::Prefill => {
                    let filled = tokio::task::spawn_blocking(move || raw::feed(&feed, None));
                    tokio::time::timeout(timeout, filled)
                        .await
                        .map_err(bounded("pre-filling the queue"))?
                        .map_err(|e| format!("feeder: {e}"))??;
                    tokio::time::timeout(timeout, peers::consume(client, &job, Box::new(|| {})))
                        .await
                        .map_err(bounded("the measurement"))?
                }
                Fill::Live => {
                    let (go, wait) = std::sync::mpsc::channel();
                    let feeder = std::thread::spawn(move || raw::feed(&feed, Some(wait)));
                    let go: peers::Go = Box::new(move || {
                        let _ = go.send(());
                    });
                    let consumed = tokio::time::timeout(timeout, peers::consume(client, &job, go))
                        .await
                        .map_err(bounded("the measurement"));
                    let joined = tokio::time::timeout(
                        timeout,
                        tokio::task::spawn_blocking(move || feeder.join()),
                    )
                    .await;
                    let mut sample = consumed??;
                    match joined {
                        Ok(Ok(Ok(Ok(feeder_cpu)))) => {
                            sample.cpu = sample.cpu.saturating_sub(feeder_cpu);
                            Ok(sample)
                        }
                        Ok(Ok(Ok(Err(e)))) => Err(e),
                        Ok(_) => Err("the feeder thread panicked".into()),
                        Err(_) => Err("the feeder did not finish in time".into()),
                    }
                }
            }
        }
    }
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

fn rate(sample: &Sample, messages: usize) -> f64 {
    messages as f64 / sample.wall.as_secs_f64().max(1e-9)
}

fn cpu_us(sample: &Sample, messages: usize) -> f64 {
    sample.cpu.as_secs_f64() * 1e6 / messages as f64
}

fn applies(client: Peer, measurement: Measurement) -> bool {
    !matches!(client, Peer::OursSequential | Peer::OursPublish)
        || measurement == Measurement::Publish
}

fn report(args: &Args, outcomes: &[Outcome]) -> String {
    let mut groups: BTreeMap<(usize, Measurement), Vec<&Outcome>> = BTreeMap::new();
    for outcome in outcomes {
        let b = args
            .brokers
            .iter()
            .position(|b| b.name == outcome.broker)
            .unwrap_or(0);
        groups
            .entry((b, outcome.measurement))
            .or_default()
            .push(outcome);
    }
    let stats = |group: &[&Outcome], client: Peer| {
        let ok: Vec<(Sample, usize)> = group
            .iter()
            .filter(|o| o.client == client)
            .filter_map(|o| Some((*o.result.as_ref().ok()?, o.messages)))
            .collect();
        let failed = group
            .iter()
            .filter(|o| o.client == client && o.result.is_err())
            .count();
        (
            median(ok.iter().map(|(s, n)| rate(s, *n)).collect()),
            median(ok.iter().map(|(s, n)| cpu_us(s, *n)).collect()),
            failed,
        )
    };
    let cell = |v: Option<f64>, failed: usize, digits: usize| match v {
        Some(v) if failed == 0 => format!("{v:.digits$}"),
        Some(v) => format!("{v:.digits$} ({failed} failed)"),
        None if failed > 0 => "failed".to_string(),
        None => "—".to_string(),
    };

    let mut out = String::new();
    let counts: Vec<String> = args
        .brokers
        .iter()
        .map(|b| format!("{} {}", args.messages(&b.name), b.name))
        .collect();
    let _ = writeln!(
        out,
        "\nMessages of {} bytes per measurement: {}; median of {} runs; pipelining window {}; {} runtime.\n",
        args.size,
        counts.join(", "),
        args.reps,
        args.window,
        if args.current_thread { "current-thread" } else { "multi-thread" },
    );
    let mut header = "| broker | measurement |".to_string();
    let mut rule = "|---|---|".to_string();
    for c in &args.clients {
        let _ = write!(header, " {} msg/s |", c.name());
        rule.push_str("---:|");
    }
    header.push_str(" ours (its fastest way) ÷ better peer | ceiling ÷ better peer |");
    rule.push_str("---:|---:|");
    let _ = writeln!(out, "Throughput (messages per second):\n\n{header}\n{rule}");
    for ((b, m), group) in &groups {
        let mut line = format!("| {} | {} |", args.brokers[*b].name, m.title());
        let mut best_peer: Option<f64> = None;
        let mut ours = None;
        let mut ceiling = None;
        for &c in &args.clients {
            if !applies(c, *m) {
                line.push_str(" — |");
                continue;
            }
            let (r, _, failed) = stats(group, c);
            if c == Peer::Ceiling {
                ceiling = r;
            }
            let _ = write!(line, " {} |", cell(r, failed, 0));
            if c.is_peer() {
                if let Some(r) = r {
                    best_peer = Some(best_peer.map_or(r, |b: f64| b.max(r)));
                }
            }
            if let (true, Some(r)) = (c.is_ours(), r) {
                if ours.is_none_or(|(best, _)| r > best) {
                    ours = Some((r, c.name()));
                }
            }
        }
        match (ours, best_peer) {
            (Some((o, name)), Some(p)) => {
                let _ = write!(line, " {:.2}× ({name}) |", o / p);
            }
            _ => line.push_str(" — |"),
        }
        match (ceiling, best_peer) {
            (Some(c), Some(p)) => {
                let _ = write!(line, " {:.2}× |", c / p);
            }
            _ => line.push_str(" — |"),
        }
        let _ = writeln!(out, "{line}");
    }

    let mut header = "| broker | measurement |".to_string();
    let mut rule = "|---|---|".to_string();
    for c in &args.clients {
        let _ = write!(header, " {} µs/msg |", c.name());
        rule.push_str("---:|");
    }
    header.push_str(" better peer ÷ ours (its leanest way) |");
    rule.push_str("---:|");
    let _ = writeln!(
        out,
        "\nClient CPU (user + system of the benchmark process) per message, in microseconds:\n\n{header}\n{rule}"
    );
    for ((b, m), group) in &groups {
        let mut line = format!("| {} | {} |", args.brokers[*b].name, m.title());
        let mut best_peer: Option<f64> = None;
        let mut ours = None;
        for &c in &args.clients {
            if !applies(c, *m) {
                line.push_str(" — |");
                continue;
            }
            let (_, cpu, failed) = stats(group, c);
            let _ = write!(line, " {} |", cell(cpu, failed, 2));
            if c.is_peer() {
                if let Some(cpu) = cpu {
                    best_peer = Some(best_peer.map_or(cpu, |b: f64| b.min(cpu)));
                }
            }
            if let (true, Some(cpu)) = (c.is_ours(), cpu) {
                if ours.is_none_or(|(best, _)| cpu < best) {
                    ours = Some((cpu, c.name()));
                }
            }
        }
        match (ours, best_peer) {
            (Some((o, name)), Some(p)) if o > 0.0 => {
                let _ = write!(line, " {:.2}× ({name}) |", p / o);
            }
            _ => line.push_str(" — |"),
        }
        let _ = writeln!(out, "{line}");
    }
    let failures: Vec<&Outcome> = outcomes.iter().filter(|o| o.result.is_err()).collect();
    if !failures.is_empty() {
        let _ = writeln!(out, "\nFailures:");
        for f in failures {
            let _ = writeln!(
                out,
                "- {} / {} / {}: {}",
                f.broker,
                f.measurement.name(),
                f.client.name(),
                f.result.as_ref().err().map_or("", |e| e.as_str())
            );
        }
    }
    out
}

async fn run(args: Args) -> ExitCode {
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let run_id = format!("{started:x}-{}", std::process::id());
    let body = Bytes::from(vec![b'x'; args.size]);
    // Queue arguments for the fresh queues of the consume measurement: RabbitMQ deletes each
    // one a minute after its last use instead of keeping it forever (the feeder declares it
    // with the same argument). chat_broker ignores the header.
    let queue_headers = vec![("x-expires".to_string(), "60000".to_string())];
    let mut counter = 0u64;
    let mut next_destination = |kind: &str| {
        counter += 1;
        format!("/{kind}/client-bench.{run_id}.{counter}")
    };
    let job = |broker: &Broker, destination: String, messages: usize| Job {
        addr: broker.addr.clone(),
        destination,
        messages,
        body: body.clone(),
        window: args.window,
        subscribe_headers: queue_headers.clone(),
    };

    for broker in &args.brokers {
        let warmup = args.warmup.unwrap_or(args.messages(&broker.name) / 10);
        if warmup > 0 {
            for &client in &args.clients {
                let job = job(broker, next_destination("topic"), warmup);
                if let Err(e) =
                    measure(broker, client, Measurement::Publish, job, args.timeout).await
                {
                    eprintln!(
                        "client-bench: warm-up {} on {}: {e}",
                        client.name(),
                        broker.name
                    );
                }
            }
        }
    }

    let mut outcomes = Vec::new();
    for rep in 0..args.reps {
        for broker in &args.brokers {
            for &measurement in &args.measurements {
                let mut order: Vec<Peer> = args
                    .clients
                    .iter()
                    .copied()
                    .filter(|&c| applies(c, measurement))
                    .collect();
                let len = order.len().max(1);
                order.rotate_left(rep % len);
                for client in order {
                    let kind = if measurement == Measurement::Consume {
                        "queue"
                    } else {
                        "topic"
                    };
                    let messages = args.messages(&broker.name);
                    let job = job(broker, next_destination(kind), messages);
                    let began = std::time::Instant::now();
                    let result = measure(broker, client, measurement, job, args.timeout).await;
                    let overall = began.elapsed();
                    let common = format!(
                        "\"broker\":{},\"client\":{},\"measurement\":{},\"rep\":{},\"messages\":{},\"size\":{},\"mode\":{}",
                        json_string(&broker.name),
                        json_string(client.name()),
                        json_string(measurement.name()),
                        rep + 1,
                        messages,
                        args.size,
                        json_string(&mode(client, measurement, broker.fill)),
                    );
                    match &result {
                        Ok(sample) => println!(
                            "{{{common},\"overall_seconds\":{:.3},\"seconds\":{:.4},\"msgs_per_s\":{:.0},\"cpu_seconds\":{:.4},\"cpu_us_per_msg\":{:.3}}}",
                            overall.as_secs_f64(),
                            sample.wall.as_secs_f64(),
                            rate(sample, messages),
                            sample.cpu.as_secs_f64(),
                            cpu_us(sample, messages),
                        ),
                        Err(e) => println!("{{{common},\"error\":{}}}", json_string(e)),
                    }
                    outcomes.push(Outcome {
                        broker: broker.name.clone(),
                        client,
                        measurement,
                        messages,
                        result,
                    });
                    // Let the broker settle (RabbitMQ frees what the last run left).
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
    print!("{}", report(&args, &outcomes));
    let ours_failed = outcomes
        .iter()
        .any(|o| o.client.is_ours() && o.result.is_err());
    if ours_failed {
        eprintln!("client-bench: a measurement of our client failed");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("client-bench: {e}");
            return ExitCode::from(2);
        }
    };
    // By default the multi-threaded runtime (one worker per core), shared by the three clients
    // as an application would.
    let mut builder = if args.current_thread {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("client-bench: no runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args))
}
