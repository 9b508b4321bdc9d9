//! `tokenauth-bench <scenario> [options]`: see `--help`.

use std::process::ExitCode;

use clap::Parser as _;
use tokenauth_bench::{Options, UsageError, render};

/// The allocator the `tokenauth` binary ships with, so the in-process server measures as it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let options = Options::parse();
    let report = match tokenauth_bench::run(&options) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("tokenauth-bench: {error:#}");
            return if error.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            };
        }
    };
    if options.json {
        match report.to_json() {
            Ok(json) => println!("{json}"),
            Err(error) => {
                eprintln!("tokenauth-bench: writing the report: {error}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", render::human(&report));
    }
    if report.error_count() > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
