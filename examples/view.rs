//! Prints the traces saved in a file as trees: the call tree of every service, the critical
//! path, the root cause and where errors started.
//!
//! ```text
//! cargo run --example view -- FILE [--trace ID] [--json]
//! ```
//!
//! FILE holds spans as the stdout exporter's JSON lines (`StdoutExporter::json()`), or as
//! OTLP/JSON: the OpenTelemetry Collector's file exporter (one request per line) or whole
//! requests as SDK exporters write them; `-` reads standard input. Lines that cannot be read are
//! reported on standard error with their numbers, and the rest is shown. Exit status: 0 when a
//! trace was shown, 1 when none was (no spans, or no trace with that id), 2 for bad arguments.

use std::io::{Read as _, Write as _};
use std::process::ExitCode;

use tracewire::TraceId;
use tracewire::view::{self, TextOptions};

const USAGE: &str = "\
usage: view FILE [--trace ID] [--json]

Prints the traces saved in FILE (stdout JSON lines or OTLP/JSON; - for standard input).
  --trace ID   only the trace with this id (32 hex digits)
  --json       JSON instead of text trees
  -h, --help   this help";

struct Args {
    file: String,
    trace: Option<TraceId>,
    json: bool,
}

fn parse_args(mut args: impl Iterator<Item = std::ffi::OsString>) -> Result<Option<Args>, String> {
    let mut file = None;
    let mut trace = None;
    let mut json = false;
    while let Some(arg) = args.next() {
        let arg = arg
            .into_string()
            .map_err(|arg| format!("not UTF-8: {}", arg.to_string_lossy()))?;
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_string(), Some(value.to_string()))
            }
            _ => (arg.clone(), None),
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--json" if inline.is_none() => json = true,
            "--trace" => {
                let value = match inline {
                    Some(value) => value,
                    None => args
                        .next()
                        .and_then(|v| v.into_string().ok())
                        .ok_or("--trace needs a trace id")?,
                };
                let id = value
                    .to_ascii_lowercase()
                    .parse::<TraceId>()
                    .map_err(|e| format!("--trace {value}: {e}"))?;
                trace = Some(id);
            }
            "-" => file = replace(file, arg)?,
            flag if flag.starts_with('-') => return Err(format!("unknown option {arg}")),
            _ => file = replace(file, arg)?,
        }
    }
    let file = file.ok_or("no FILE given")?;
    Ok(Some(Args { file, trace, json }))
}

fn replace(file: Option<String>, arg: String) -> Result<Option<String>, String> {
    match file {
        Some(first) => Err(format!("one FILE only ({first}, then {arg})")),
        None => Ok(Some(arg)),
    }
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args_os().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(why) => {
            eprintln!("view: {why}\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    let mut bytes = Vec::new();
    let read = match args.file.as_str() {
        "-" => std::io::stdin().read_to_end(&mut bytes).map(drop),
        path => std::fs::read(path).map(|b| bytes = b),
    };
    if let Err(e) = read {
        eprintln!("view: {}: {e}", args.file);
        return ExitCode::FAILURE;
    }
    // Invalid UTF-8 spoils only the strings it is in.
    let text = String::from_utf8_lossy(&bytes);
    let outcome = view::read_spans(&text);
    for error in &outcome.errors {
        eprintln!("{}:{}: {}", args.file, error.line, error.message);
    }

    let mut traces = view::assemble(outcome.spans);
    if let Some(id) = args.trace {
        traces.retain(|t| t.trace_id() == id);
    }
    if traces.is_empty() {
        match args.trace {
            Some(id) => eprintln!("view: no trace {id} in {}", args.file),
            None => eprintln!("view: no spans in {}", args.file),
        }
        return ExitCode::FAILURE;
    }

    let mut out = std::io::stdout().lock();
    let written = if args.json {
        let json: Vec<_> = traces.iter().map(|t| t.to_json()).collect();
        serde_json::to_writer_pretty(&mut out, &json)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out))
    } else {
        let options = TextOptions::for_terminal();
        traces.iter().enumerate().try_for_each(|(i, trace)| {
            let gap = if i > 0 { "\n" } else { "" };
            write!(out, "{gap}{}", trace.render(&options))
        })
    };
    // A closed pipe (`| head`) is not an error worth a message.
    match written.and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("view: writing: {e}");
            ExitCode::FAILURE
        }
        _ => ExitCode::SUCCESS,
    }
}
