//! The `coffer` binary: parses the command line and runs it.

use clap::Parser;

fn main() {
    let cli = coffer::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(coffer::cli::run(cli));
    std::process::exit(code);
}
