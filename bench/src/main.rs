//! `switchboard-bench`: a load generator for Switchboard and other AppSync-compatible servers.
//! One run is one scenario: N WebSocket subscribers, HTTP publishers, and a report of throughput,
//! latency, loss and the server's memory and CPU (see bench/README.md).

mod churn;
mod cli;
mod incoming;
mod latency;
mod limits;
mod procstat;
mod protocol;
mod publisher;
mod report;
mod results;
mod scenario;
mod subscribers;

use clap::Parser as _;

fn main() -> anyhow::Result<()> {
    // `switchboard-bench report …` renders bench/run.sh's results; anything else is one run.
    if std::env::args_os().nth(1).is_some_and(|a| a == "report") {
        return results::main(results::ReportArgs::parse_from(std::env::args_os().skip(1)));
    }
    let args = cli::Args::parse();
    // Workspace builds give reqwest `rustls-no-provider`; plain-http clients still need one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(scenario::run(args))?;
    eprint!("{}", report.human());
    println!("{}", report.to_json_line());
    // Tens of thousands of connection tasks need not be wound down one by one.
    runtime.shutdown_background();
    Ok(())
}
