//! `stompcat`: inspect and produce STOMP traffic as JSON lines.
//!
//! ```text
//! cargo run --release -p stompcat -- decode < tests/fixtures/captures/rabbitmq-to-stomppy.bin
//! echo '{"command":"SEND","headers":[["destination","/queue/a"]],"body_hex":"6869"}' \
//!     | cargo run --release -p stompcat -- encode
//! ```
//!
//! Run it with `--help` for the full contract. Exit status: 0 success (including input that
//! ends inside a frame), 1 bad input (a malformed stream, bad JSON, a frame that cannot be
//! encoded), 2 bad usage.

use std::io::{self, BufRead, BufWriter, Read, Write};
use std::process::ExitCode;

use bytes::BytesMut;
use serde_json::Value;
use stomp_codec::{Decoder, Encoder, Item, Version};

const HELP: &str = "\
stompcat: inspect and produce STOMP traffic as JSON lines

USAGE:
    stompcat decode [--chunk N] [--version 1.0|1.1|1.2]
    stompcat encode [--version 1.0|1.1|1.2]
    stompcat --help

decode  Reads all of stdin as a STOMP byte stream and prints one JSON object per line:
          {\"command\":\"SEND\",\"headers\":[[\"destination\",\"/queue/a\"]],\"body_hex\":\"6869\"}
              a frame; headers in wire order with repeats, after unescaping for the version
              and command; bytes that are not UTF-8 are shown as U+FFFD
          {\"heartbeat\":true}
              one EOL between frames (a heart-beat, or the EOL a broker puts after a frame)
          {\"error\":\"...\",\"kind\":\"bad_escape\",\"offset\":17}
              malformed input, printed after every frame before it; exit status 1
          {\"incomplete\":true}
              the input ended inside a frame; exit status 0
        The decoder uses the library's default limits and refuses extension commands.

encode  Reads JSON lines of the same frame form from stdin and writes the wire bytes to
        stdout. \"body_hex\" (hex) or \"body\" (UTF-8 text) give the body; both are optional.
        {\"heartbeat\":true} writes one LF; blank lines are skipped. content-length is added
        for a non-empty body. A frame that cannot be encoded in the version stops the run
        with the reason on stderr and exit status 1; frames before it are written.

OPTIONS:
    --chunk N        decode: feed the decoder N bytes at a time (default: all at once)
    --version V      protocol version, 1.0, 1.1 or 1.2 (default: 1.2)
    -h, --help       print this help

EXIT STATUS: 0 success, 1 bad input, 2 bad usage.
";

/// What the command line asks for.
#[derive(Debug)]
enum Task {
    Help,
    Decode { version: Version, chunk: usize },
    Encode { version: Version },
}

/// Why a subcommand stopped early.
#[derive(Debug)]
enum Failure {
    /// Bad input; the message goes to stderr and the exit status is 1.
    Input(String),
    /// Writing stdout failed (a closed pipe is not reported).
    Output(io::Error),
}

impl From<io::Error> for Failure {
    fn from(err: io::Error) -> Failure {
        Failure::Output(err)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        report(HELP.trim_end());
        return ExitCode::from(2);
    }
    let result = match parse_args(&args) {
        Err(message) => {
            report(&format!(
                "stompcat: {message}\nRun `stompcat --help` for usage."
            ));
            return ExitCode::from(2);
        }
        Ok(Task::Help) => print_help(),
        Ok(Task::Decode { version, chunk }) => decode(version, chunk),
        Ok(Task::Encode { version }) => encode(version),
    };
    match result {
        Ok(code) => code,
        Err(Failure::Input(message)) => {
            report(&format!("stompcat: {message}"));
            ExitCode::from(1)
        }
        // The reader went away (e.g. `| head`): stop quietly.
        Err(Failure::Output(err)) if err.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(Failure::Output(err)) => {
            report(&format!("stompcat: writing stdout: {err}"));
            ExitCode::from(1)
        }
    }
}

/// Writes a line to stderr, ignoring failure (there is nowhere left to report it).
fn report(message: &str) {
    let _ = writeln!(io::stderr(), "{message}");
}

fn print_help() -> Result<ExitCode, Failure> {
    let mut out = io::stdout().lock();
    out.write_all(HELP.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Parses the arguments after the program name.
fn parse_args(args: &[String]) -> Result<Task, String> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        return Ok(Task::Help);
    }
    let (subcommand, flags) = args.split_first().ok_or("missing subcommand")?;
    let decoding = match subcommand.as_str() {
        "decode" => true,
        "encode" => false,
        "help" => return Ok(Task::Help),
        other => {
            return Err(format!(
                "unknown subcommand \"{other}\" (expected decode or encode)"
            ))
        }
    };
    let mut version = Version::V1_2;
    let mut chunk = usize::MAX;
    let mut rest = flags.iter();
    while let Some(flag) = rest.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value.to_owned())),
            _ => (flag.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| rest.next().cloned())
                .ok_or(format!("{name} needs a value"))
        };
        match name {
            "--version" => {
                let v = value()?;
                version = Version::from_bytes(v.as_bytes())
                    .ok_or(format!("bad --version \"{v}\" (expected 1.0, 1.1 or 1.2)"))?;
            }
            "--chunk" if decoding => {
                let v = value()?;
                chunk = match v.parse::<usize>() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(format!("bad --chunk \"{v}\" (expected a number above 0)")),
                };
            }
            _ => return Err(format!("unknown argument \"{flag}\" for {subcommand}")),
        }
    }
    Ok(if decoding {
        Task::Decode { version, chunk }
    } else {
        Task::Encode { version }
    })
}

/// `stompcat decode`: a STOMP stream on stdin, JSON lines on stdout.
fn decode(version: Version, chunk: usize) -> Result<ExitCode, Failure> {
    let mut input = Vec::new();
    io::stdin()
        .lock()
        .read_to_end(&mut input)
        .map_err(|err| Failure::Input(format!("reading stdin: {err}")))?;
    let mut out = BufWriter::new(io::stdout().lock());
    let mut decoder = Decoder::new(version);
    for piece in input.chunks(chunk) {
        decoder.push(piece);
        loop {
            match decoder.next_item() {
                // The library's serde form (feature `serde`) is the line format.
                Ok(Some(item)) => {
                    serde_json::to_writer(&mut out, &item).map_err(io::Error::from)?;
                    out.write_all(b"\n")?;
                }
                Ok(None) => break,
                Err(err) => {
                    writeln!(
                        out,
                        "{{\"error\":{},\"kind\":{},\"offset\":{}}}",
                        Value::from(err.to_string()),
                        Value::from(err.kind()),
                        err.offset()
                    )?;
                    out.flush()?;
                    return Ok(ExitCode::from(1));
                }
            }
        }
    }
    if decoder.is_mid_frame() {
        writeln!(out, "{{\"incomplete\":true}}")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `stompcat encode`: JSON lines on stdin, STOMP wire bytes on stdout.
fn encode(version: Version) -> Result<ExitCode, Failure> {
    let encoder = Encoder::new(version);
    let mut out = BufWriter::new(io::stdout().lock());
    let mut wire = BytesMut::new();
    for (index, line) in io::stdin().lock().lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|err| Failure::Input(format!("line {number}: {err}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let result = match serde_json::from_str::<Item>(&line) {
            Ok(Item::Heartbeat) => {
                out.write_all(b"\n")?;
                continue;
            }
            Ok(Item::Frame(frame)) => encoder.encode(&frame, &mut wire).map_err(|err| {
                format!(
                    "line {number}: cannot encode the {} frame: {err}",
                    frame.command()
                )
            }),
            Err(err) => Err(format!("line {number}: bad frame JSON: {err}")),
        };
        if let Err(message) = result {
            out.flush()?;
            return Err(Failure::Input(message));
        }
        out.write_all(&wire)?;
        wire.clear();
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
