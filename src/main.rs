//! The `switchboard` command: `serve` (the default), `publish`, `subscribe` and `schema check`.

use anyhow::Context;
use clap::{Parser, Subcommand};
use switchboard::api::check;
use switchboard::client::args::{
    AmplifyConfigArgs, ApiCommand, CheckArgs, PublishArgs, SchemaCommand, SubscribeArgs,
    server_api_key,
};
use switchboard::client::{self, StatusInput};
use switchboard::config::LogFormat;
use switchboard::graphql::schema;
use switchboard::{Server, Settings};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "A self-hosted GraphQL subscription server for AWS AppSync users"
)]
#[command(args_conflicts_with_subcommands = true)]
#[command(
    after_help = "These are the common settings; `switchboard --help` lists every one, by group (the README's Settings table too).",
    after_long_help = "Every setting is also in the README's Settings table."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// With no subcommand, Switchboard serves with these settings.
    #[command(flatten)]
    serve: Settings,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve(Box<Settings>),
    /// Publish one status (or any mutation, `--query`) and print the result as JSON.
    Publish(PublishArgs),
    /// Print each response of a subscription (a user's statuses, or `--query`) as a JSON line.
    Subscribe(SubscribeArgs),
    /// Inspect an AppSync schema.
    #[command(subcommand)]
    Schema(SchemaCommand),
    /// Write an `amplify_outputs.json` for a server (GraphQL and AppSync Events), so a stock
    /// Amplify app talks to it.
    AmplifyConfig(AmplifyConfigArgs),
    /// The API definition file (`switchboard.yaml`).
    #[command(subcommand)]
    Api(ApiCommand),
}

/// Where a resumed subscription's stream stands, on stderr: `stream EPOCH:OFFSET, recovered: …`.
fn print_stream(stream: &serde_json::Value) {
    let epoch = stream["epoch"].as_str().unwrap_or_default();
    let recovered = &stream["recovered"];
    eprintln!(
        "stream {epoch}:{}, recovered: {recovered}",
        stream["offset"]
    );
}

/// Errors are one line on stderr (the cause chain joined by `: `), never a backtrace.
#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "switchboard: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => serve(cli.serve).await,
        Some(Command::Serve(settings)) => serve(*settings).await,
        Some(Command::Publish(args)) => {
            if let Some(channel) = &args.channel {
                let answer = client::events::publish(
                    &args.target.endpoint().map_err(anyhow::Error::msg)?,
                    channel,
                    &args.events,
                )
                .await?;
                println!("{answer}");
                return Ok(());
            }
            if let Some(query) = &args.query {
                let variables = args
                    .variables
                    .clone()
                    .unwrap_or_else(|| serde_json::json!({}));
                let data = client::execute(
                    &args.target.endpoint().map_err(anyhow::Error::msg)?,
                    query,
                    &variables,
                    args.idempotency_key.as_deref(),
                )
                .await?;
                println!("{data}");
                return Ok(());
            }
            let input = StatusInput {
                job_id: args.job_id.unwrap_or_default(),
                user_id: args.user_id.unwrap_or_default(),
                status: args.status.unwrap_or_default(),
                agent_name: args.agent_name,
                message: args.message,
            };
            let status = client::publish_status(
                &args.target.endpoint().map_err(anyhow::Error::msg)?,
                &input,
                args.idempotency_key.as_deref(),
            )
            .await?;
            println!("{status}");
            Ok(())
        }
        Some(Command::Subscribe(args)) => {
            let endpoint = args.target.endpoint().map_err(anyhow::Error::msg)?;
            if let Some(channel) = &args.channel {
                let subscription = client::events::subscribe(
                    &endpoint,
                    channel,
                    args.count,
                    args.resume.clone(),
                    |stream| {
                        eprintln!("subscribed to {channel}");
                        if args.resume.is_some() {
                            print_stream(stream);
                        }
                    },
                    |event| println!("{event}"),
                );
                return tokio::select! {
                    result = subscription => Ok(result?),
                    _ = tokio::signal::ctrl_c() => Ok(()),
                };
            }
            let (request, what) = match &args.query {
                Some(query) => {
                    let request = client::subscribe::SubscriptionRequest {
                        query: query.clone(),
                        variables: args
                            .variables
                            .clone()
                            .unwrap_or_else(|| serde_json::json!({})),
                        field: None,
                    };
                    (request, "the subscription".to_owned())
                }
                None => {
                    let user_id = args.user_id.clone().unwrap_or_default();
                    let what = format!("onStatusUpdate(userId: {user_id:?})");
                    (
                        client::subscribe::SubscriptionRequest::status(&user_id),
                        what,
                    )
                }
            };
            let subscription = client::subscribe::subscribe(
                &endpoint,
                &request,
                args.protocol,
                args.count,
                args.resume.clone(),
                |stream| {
                    eprintln!("subscribed to {what}");
                    if let Some(stream) = stream {
                        print_stream(stream);
                    }
                },
                |data| println!("{data}"),
            );
            tokio::select! {
                result = subscription => Ok(result?),
                _ = tokio::signal::ctrl_c() => Ok(()),
            }
        }
        Some(Command::AmplifyConfig(args)) => amplify_config(args),
        Some(Command::Api(ApiCommand::Check { file })) => {
            match switchboard::definition::load::load(&file) {
                Ok(definition) => {
                    let summary = switchboard::definition::load::summary(&definition);
                    println!("{}: ok ({summary})", file.display());
                }
                Err(problems) => {
                    for problem in &problems {
                        eprintln!("{problem}");
                    }
                    eprintln!("{} error(s)", problems.len());
                    std::process::exit(1);
                }
            }
            Ok(())
        }
        Some(Command::Api(ApiCommand::Print { file, json })) => {
            let loaded =
                switchboard::definition::load::load_both(&file).unwrap_or_else(|problems| {
                    for problem in &problems {
                        eprintln!("{problem}");
                    }
                    std::process::exit(1)
                });
            let shown = switchboard::definition::print::redacted(&loaded.raw, loaded.definition);
            if json {
                println!("{}", serde_json::to_string_pretty(&shown)?);
            } else {
                print!("{}", serde_saphyr::to_string(&shown)?);
            }
            Ok(())
        }
        Some(Command::Api(ApiCommand::Schema)) => {
            let schema = switchboard::definition::json_schema();
            println!("{}", serde_json::to_string_pretty(&schema)?);
            Ok(())
        }
        Some(Command::Schema(SchemaCommand::Check(args))) => {
            check_schema(args);
            Ok(())
        }
    }
}

/// `amplify-config`: the file to `--out` (or stdout), the note about `ws://` on stderr.
fn amplify_config(args: AmplifyConfigArgs) -> anyhow::Result<()> {
    let api_key = args.api_key.or_else(server_api_key);
    let key = api_key.as_deref().filter(|k| !k.is_empty());
    let target = client::amplify::AmplifyTarget::for_url(&args.url, args.auth_default, key)
        .map_err(anyhow::Error::msg)?;
    let outputs = serde_json::to_string_pretty(&target.outputs())? + "\n";
    match &args.out {
        Some(path) => {
            std::fs::write(path, outputs)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        None => print!("{outputs}"),
    }
    if let Some(note) = target.note() {
        eprintln!("{note}");
    }
    Ok(())
}

/// `schema check`: the summary on stdout and exit 0, or the error on stderr and exit 1.
fn check_schema(args: CheckArgs) {
    let (name, sdl) = match &args.file {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(sdl) => (path.display().to_string(), sdl),
            Err(error) => {
                eprintln!("{}: error: cannot read the file: {error}", path.display());
                std::process::exit(1);
            }
        },
        None => (
            "<embedded schema>".to_owned(),
            schema::DEFAULT_SDL.to_owned(),
        ),
    };
    match check::servable(&sdl) {
        Ok(model) => {
            print!("{}", check::summary(&model, &sdl, args.auth_default));
            if let Some(path) = &args.rules {
                match switchboard::graphql::rules::Rules::load(path, &model) {
                    Ok(rules) => print!("{}", check::rules_summary(&rules)),
                    Err(error) => {
                        eprintln!("{}: error: {error}", path.display());
                        std::process::exit(1);
                    }
                }
            }
        }
        Err(error) => {
            eprint!("{}", check::diagnostic(&name, &sdl, &error));
            std::process::exit(1);
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A closed stderr (`switchboard 2>&1 | head`) must not turn a log line into a panic: the
    // default would report the failed write with `eprintln!`, which panics on EPIPE.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colours_on_stderr())
        .log_internal_errors(false);
    match settings.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
    }
    match switchboard::net::open_files::raise_to_hard_limit() {
        Ok(capacity) => tracing::info!(
            capacity,
            "open-file limit raised to the hard limit: at most about {capacity} connections"
        ),
        Err(error) => tracing::warn!(%error, "cannot raise the open-file limit"),
    }
    let tls_dir = settings.tls_self_signed.clone();
    let amplify = settings.print_amplify_config;
    let server = Server::bind(settings).await?;
    let addr = server.local_addr();
    // Installed before the banner: once a caller has read it, a signal is handled.
    let mut signals = StopSignals::install()?;
    let mut banner = switchboard::server::banner::render(&server, tls_dir.as_deref());
    if amplify {
        let configured = server.app().settings.api_keys.first().map(|k| {
            // `KEY@EXPIRY`: the key is before the `@`.
            k.split_once('@').map_or(k.as_str(), |(key, _)| key)
        });
        let target = switchboard::client::amplify::AmplifyTarget::listening(
            addr,
            server.is_tls(),
            server.app().auth.default_mode,
            configured.or(server.generated_key()),
        );
        banner.push('\n');
        banner.push_str(&target.render());
    }
    // Written, not `println!`ed: a closed stdout is no reason to stop serving.
    {
        use std::io::Write;
        let mut stdout = std::io::stdout();
        let _ = stdout
            .write_all(banner.as_bytes())
            .and_then(|()| stdout.flush());
    }
    let shutdown = server.app().shutdown.clone();
    let deadline = server.app().settings.shutdown_deadline;
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            signals.next().await;
            // Cancel first: nothing (a log write included) stands between the signal and the
            // shutdown.
            shutdown.cancel();
            tracing::info!(?deadline, "shutting down");
            // A second signal means now.
            signals.next().await;
            tracing::warn!("second signal: exiting at once");
            std::process::exit(130);
        }
    });
    // Stop accepting, let in-flight requests finish and close every WebSocket with a close
    // frame; whatever is still open at the deadline is dropped.
    tokio::select! {
        result = server.run() => result?,
        _ = async { shutdown.cancelled().await; tokio::time::sleep(deadline).await } => {
            tracing::warn!("shutdown deadline reached; exiting with connections still open");
        }
    }
    Ok(())
}

/// ANSI colours only for a person at a terminal: not in files, pipes or journald, and not when
/// `NO_COLOR` is set (no-color.org).
fn colours_on_stderr() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// SIGTERM and SIGINT (Ctrl-C), installed once: a signal that arrives while the first one is
/// being handled is kept for the next wait, not lost.
struct StopSignals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn install() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                term: signal(SignalKind::terminate()).context("installing a SIGTERM handler")?,
                interrupt: signal(SignalKind::interrupt())
                    .context("installing a SIGINT handler")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.interrupt.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every argument of every command says what it is for, and `serve`'s are grouped.
    #[test]
    fn every_argument_has_help_and_serve_has_headings() {
        fn walk(command: &clap::Command, path: &str) {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                assert!(arg.get_help().is_some(), "{path} --{id} has no help text");
            }
            for sub in command.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()));
            }
        }
        let cli = Cli::command();
        walk(&cli, "switchboard");
        let serve = cli.find_subcommand("serve").unwrap();
        for arg in serve.get_arguments() {
            let id = arg.get_id().as_str();
            if id != "help" {
                assert!(
                    arg.get_help_heading().is_some(),
                    "serve --{id} has no heading"
                );
            }
        }
    }
}
