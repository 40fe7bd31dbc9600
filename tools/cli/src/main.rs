//! The `clavis` binary: parses the command line, runs it, prints what went wrong and exits
//! with the code scripts branch on (`clavis --help` lists them).

use std::process::ExitCode;

use clap::Parser;
use clavis_cli::args::Cli;
use clavis_cli::commands;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("clavis: fault: no async runtime: {e}");
            return ExitCode::from(clavis_cli::error::exit::FAULT);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("clavis: {e}");
            e.exit()
        }
    }
}
