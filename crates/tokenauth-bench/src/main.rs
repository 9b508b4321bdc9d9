//! `tokenauth-bench <scenario> [options]`: see `--help`.

use std::process::ExitCode;

use clap::Parser as _;
use tokenauth_bench::{Options, UsageError, render};

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
