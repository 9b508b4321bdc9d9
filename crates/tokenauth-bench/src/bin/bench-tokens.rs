//! `bench-tokens [--count N] [--out DIR] [--verify-for 5s]`: writes N access tokens issued by
//! an in-process server, with its JWKS, for the verification peers in `bench/`; then times
//! the Rust verifiers on them. See [`tokenauth_bench::export`].

use std::process::ExitCode;

use clap::Parser as _;
use tokenauth_bench::export::{self, ExportOptions};

fn main() -> ExitCode {
    let options = ExportOptions::parse();
    match export::run(&options) {
        Ok(report) => match serde_json::to_string(&report) {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("bench-tokens: {error}");
                ExitCode::FAILURE
            }
        },
        Err(error) => {
            eprintln!("bench-tokens: {error:#}");
            ExitCode::FAILURE
        }
    }
}
