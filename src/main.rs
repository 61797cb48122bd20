//! The `authgate` command: parse the command line, load settings, run.

use std::path::PathBuf;
use std::process::ExitCode;

use authgate::config::Settings;
use authgate::Application;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "authgate",
    version,
    about = "A GraphQL gateway that owns authentication"
)]
struct Cli {
    /// A TOML file layered over config/default.toml (env vars AUTHGATE__… win over both).
    #[arg(long, short, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the gateway (the default).
    Serve,
    /// Print the composed SDL (what clients and codegen consume).
    PrintSchema,
    /// Check the settings; print them with every secret redacted.
    CheckConfig,
}

fn load(config: Option<&PathBuf>) -> Result<Settings, ExitCode> {
    Settings::load(config.map(PathBuf::as_path)).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(2)
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match load(cli.config.as_ref()) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::CheckConfig => {
            print!("{}", settings.to_redacted_toml());
            match authgate::graphql::read_sources(&settings.graphql.schema).and_then(|src| {
                authgate::graphql::build(
                    &settings.graphql,
                    &src,
                    &authgate::graphql::builtin_bindings(),
                )
            }) {
                Ok(_) => {
                    eprintln!("config OK");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::PrintSchema => {
            match authgate::graphql::read_sources(&settings.graphql.schema).and_then(|src| {
                authgate::graphql::build(
                    &settings.graphql,
                    &src,
                    &authgate::graphql::builtin_bindings(),
                )
            }) {
                Ok(s) => {
                    print!("{}", s.sdl);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Serve => {
            authgate::telemetry::init(&settings.telemetry);
            let app = match Application::build(settings).await {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("authgate could not start: {e}");
                    return ExitCode::from(2);
                }
            };
            tracing::info!(address = %app.local_addr(), "authgate is serving GraphQL at http://{}/graphql", app.local_addr());
            match app.run_until_stopped().await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("authgate stopped: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
