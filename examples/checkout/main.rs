//! The checkout demo: seven traced services in one process, one request through all of them,
//! and its trace drawn as a tree with the root cause marked.
//!
//! ```text
//! cargo run --example checkout                                   # one request, its tree
//! cargo run --example checkout -- --requests 20 --concurrency 4 --fail-rate 0.3 --slow-rate 0.2
//! cargo run --example checkout -- --sample 0.5 --requests 10     # head sampling at the gateway
//! cargo run --example checkout -- --json                          # the trees as JSON
//! cargo run --example checkout -- --tail                          # tail sampling: 1,000 requests
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 cargo run --example checkout   # and to Jaeger
//! ```
//!
//! See `services.rs` for the services and how each hop is traced.

mod inventory;
mod services;

use std::process::ExitCode;

use services::{Demo, Options, TAIL_LATENCY};
use tracewire::sink::tail::TailStats;
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
  --tail             tail sampling: every span recorded, --sample of the traces sampled at
                     the gateway (default 0.02), and one tail sink keeping every trace that
                     failed or took over 1 s, whole, plus the gateway's sample; 1,000 requests,
                     50 at a time, 3% failing and 2% slow unless those options say otherwise.
                     Prints what each rule kept and the trees of a few failed traces

With OTEL_EXPORTER_OTLP_ENDPOINT set, every service also exports its spans over OTLP (with
--tail, the traces the tail sink keeps).";

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
    let mut given = Vec::new();
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        if flag == "--json" {
            parsed.json = true;
            continue;
        }
        if flag == "--tail" {
            parsed.options.tail = true;
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
        given.push(flag.clone());
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
    if parsed.options.tail {
        // The tail run's defaults, where the command line said nothing.
        let unless_given = |flag: &str| !given.iter().any(|g| g == flag);
        if unless_given("--requests") {
            parsed.requests = 1_000;
        }
        if unless_given("--concurrency") {
            parsed.concurrency = 50;
        }
        if unless_given("--fail-rate") {
            parsed.options.fail_rate = 0.03;
        }
        if unless_given("--slow-rate") {
            parsed.options.slow_rate = 0.02;
        }
        if unless_given("--sample") {
            parsed.options.sample = 0.02;
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
    let tail = demo.tail.as_ref().map(|(sink, _)| sink.clone());
    let statuses = services::send_orders(demo.gateway, args.requests, args.concurrency).await;
    let traces = view::assemble(demo.stop().await);

    if args.json {
        let all: Vec<_> = traces.iter().map(Trace::to_json).collect();
        println!("{}", serde_json::Value::from(all));
        return ExitCode::SUCCESS;
    }
    match tail {
        Some(tail) => print_tail_summary(&statuses, &tail.tail_stats(), &traces),
        None => print_summary(&statuses, &traces),
    }
    ExitCode::SUCCESS
}

/// With `--tail`: what each rule kept, the estimate of all traces from the kept ones'
/// thresholds, where every span went, and the trees of the first three failed traces.
fn print_tail_summary(
    statuses: &[Result<http::StatusCode, String>],
    stats: &TailStats,
    traces: &[Trace],
) {
    let failed = statuses
        .iter()
        .filter(|s| !matches!(s, Ok(s) if s.is_success()))
        .count();
    println!(
        "{} requests, {} failed. Every span was recorded; the tail sink kept {} traces of {} \
         (errors, over {:?}, and the gateway's head sample), each whole across the services:\n",
        statuses.len(),
        failed,
        stats.traces_kept,
        stats.traces_kept + stats.traces_dropped + stats.traces_evicted,
        TAIL_LATENCY,
    );
    for rule in &stats.rules {
        let stands_for = match rule.unknown_probability_traces {
            0 => format!("standing for {:.0} traces", rule.estimated_traces),
            n => format!("{n} of unknown probability"),
        };
        println!(
            "  {:<9} kept {:>4} traces, {:>5} spans ({stands_for})",
            rule.name, rule.kept_traces, rule.kept_spans
        );
    }
    let (estimated, _) = stats.estimated_traces();
    println!(
        "\nFrom the thresholds the kept spans carry (ot=th), a backend estimates {estimated:.0} \
         traces in all.\nSpans: {} seen, {} kept, {} dropped, {} evicted, {} in flight.",
        stats.seen, stats.kept, stats.dropped, stats.evicted, stats.in_flight
    );
    let options = TextOptions::for_terminal();
    let failed: Vec<&Trace> = traces
        .iter()
        .filter(|t| t.error_origin().is_some())
        .take(3)
        .collect();
    if !failed.is_empty() {
        println!("\nThe first {} failed traces kept:", failed.len());
        for trace in failed {
            println!("\n{}", trace.render(&options));
        }
    }
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
        assert!(!ok.options.tail);
    }

    #[test]
    fn tail_sets_its_defaults_where_nothing_else_was_said() {
        let tail = args("--tail").unwrap();
        assert!(tail.options.tail);
        assert_eq!((tail.requests, tail.concurrency), (1_000, 50));
        let o = &tail.options;
        assert_eq!((o.fail_rate, o.slow_rate, o.sample), (0.03, 0.02, 0.02));
        let given = args("--requests 20 --tail --sample 0.5 --fail-rate 0").unwrap();
        assert_eq!((given.requests, given.concurrency), (20, 50));
        let o = &given.options;
        assert_eq!((o.fail_rate, o.slow_rate, o.sample), (0.0, 0.02, 0.5));
        // Without --tail, nothing changes.
        let plain = args("--requests 20").unwrap();
        assert_eq!((plain.concurrency, plain.options.sample), (1, 1.0));
    }
}
