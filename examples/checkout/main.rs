//! The checkout demo: seven traced services in one process, one request through all of them,
//! and its trace drawn as a tree with the root cause marked.
//!
//! ```text
//! cargo run --example checkout                                   # one request, its tree
//! cargo run --example checkout -- --requests 20 --concurrency 4 --fail-rate 0.3 --slow-rate 0.2
//! cargo run --example checkout -- --sample 0.5 --requests 10     # head sampling at the gateway
//! cargo run --example checkout -- --json                          # the trees as JSON
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 cargo run --example checkout   # and to Jaeger
//! ```
//!
//! See `services.rs` for the services and how each hop is traced.

mod inventory;
mod services;

use std::process::ExitCode;

use services::{Demo, Options};
use tracewire::view::{self, TextOptions, Trace};

const USAGE: &str = "usage: cargo run --example checkout -- [options]

  --requests N       checkout requests to send (default 1)
  --concurrency N    requests in flight at once (default 1)
  --fail-rate R      share of orders that fail, 0 to 1: stripe declines the card or an item
                     is out of stock (default 0)
  --slow-rate R      share of requests in which auth, inventory or notify is slow (default 0)
  --sample R         head sampling ratio at the gateway, 0 to 1 (default 1)
  --seed N           seed of the generator that decides each request's fate (default 42)
  --json             print the traces as JSON instead of trees

With OTEL_EXPORTER_OTLP_ENDPOINT set, every service also exports its spans over OTLP.";

/// The command line.
#[derive(Debug)]
struct Args {
    options: Options,
    requests: usize,
    concurrency: usize,
    json: bool,
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        options: Options::default(),
        requests: 1,
        concurrency: 1,
        json: false,
    };
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        if flag == "--json" {
            parsed.json = true;
            continue;
        }
        if flag == "-h" || flag == "--help" {
            return Err(String::new());
        }
        const TAKE_VALUES: [&str; 6] = [
            "--requests",
            "--concurrency",
            "--fail-rate",
            "--slow-rate",
            "--sample",
            "--seed",
        ];
        if !TAKE_VALUES.contains(&flag.as_str()) {
            return Err(format!("unknown option {flag:?}"));
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let rate = |value: &str| -> Result<f64, String> {
            match value.parse::<f64>() {
                Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
                _ => Err(format!("{flag} takes a number from 0 to 1, not {value:?}")),
            }
        };
        let count = |value: &str| -> Result<usize, String> {
            match value.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err(format!(
                    "{flag} takes a whole number of at least 1, not {value:?}"
                )),
            }
        };
        match flag.as_str() {
            "--requests" => parsed.requests = count(&value)?,
            "--concurrency" => parsed.concurrency = count(&value)?,
            "--fail-rate" => parsed.options.fail_rate = rate(&value)?,
            "--slow-rate" => parsed.options.slow_rate = rate(&value)?,
            "--sample" => parsed.options.sample = rate(&value)?,
            "--seed" => {
                parsed.options.seed = value
                    .parse()
                    .map_err(|_| format!("--seed takes a whole number, not {value:?}"))?
            }
            _ => return Err(format!("unknown option {flag:?}")),
        }
    }
    Ok(parsed)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(why) => {
            if !why.is_empty() {
                eprintln!("checkout: {why}\n");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let demo = match Demo::start(args.options.clone()).await {
        Ok(demo) => demo,
        Err(error) => {
            eprintln!("checkout: cannot start the services: {error}");
            return ExitCode::FAILURE;
        }
    };
    let statuses = services::send_orders(demo.gateway, args.requests, args.concurrency).await;
    let traces = view::assemble(demo.stop().await);

    if args.json {
        let all: Vec<_> = traces.iter().map(Trace::to_json).collect();
        println!("{}", serde_json::Value::from(all));
        return ExitCode::SUCCESS;
    }
    print_summary(&statuses, &traces);
    ExitCode::SUCCESS
}

/// One request: its tree. Several: a line per trace, then the trees of the slowest trace and
/// of the first that failed.
fn print_summary(statuses: &[Result<http::StatusCode, String>], traces: &[Trace]) {
    let options = TextOptions::for_terminal();
    if let [trace] = traces {
        println!("{}", trace.render(&options));
        return;
    }
    let failed = statuses
        .iter()
        .filter(|s| !matches!(s, Ok(s) if s.is_success()))
        .count();
    println!(
        "{} requests, {} failed; {} traces sampled at the gateway\n",
        statuses.len(),
        failed,
        traces.len()
    );
    for trace in traces {
        let cause = trace.root_cause().map_or_else(String::new, |node| {
            let span = node.span();
            format!(
                "root cause: [{}] {}",
                span.resource.service_name(),
                span.name
            )
        });
        let error = trace.error_origin().map_or_else(String::new, |node| {
            let span = node.span();
            format!(
                ", error from [{}] {}",
                span.resource.service_name(),
                span.name
            )
        });
        println!(
            "{} {:>7.1}ms  {cause}{error}",
            trace.trace_id(),
            trace.duration_nanos() as f64 / 1e6
        );
    }
    if let Some(slowest) = traces.iter().max_by_key(|t| t.duration_nanos()) {
        println!("\nThe slowest:\n{}", slowest.render(&options));
    }
    if let Some(failed) = traces.iter().find(|t| t.error_origin().is_some()) {
        println!("\nThe first that failed:\n{}", failed.render(&options));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Result<Args, String> {
        parse_args(line.split_whitespace().map(String::from))
    }

    #[test]
    fn bad_flags_get_a_message_never_a_panic() {
        assert!(args("--requests 0").unwrap_err().contains("at least 1"));
        assert!(args("--fail-rate 2").unwrap_err().contains("from 0 to 1"));
        assert!(args("--sample").unwrap_err().contains("needs a value"));
        assert!(
            args("--frobnicate 1")
                .unwrap_err()
                .contains("unknown option")
        );
        let ok = args("--requests 5 --fail-rate 0.5 --json").unwrap();
        assert_eq!((ok.requests, ok.options.fail_rate, ok.json), (5, 0.5, true));
    }
}
