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
    #[arg(
        long,
        short,
        global = true,
        value_name = "FILE",
        env = "AUTHGATE_CONFIG"
    )]
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
    /// Ask the gateway on `server.listen` (this host) for `GET /healthz`:
    /// exit 0 when it answers 200, 1 otherwise (a container health check).
    Healthcheck {
        /// Give up after this long.
        #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
    },
    /// Run the example orders service (REST + GraphQL) that the example
    /// datasources call (development only).
    ExampleUpstream {
        /// Port on 127.0.0.1.
        #[arg(long, default_value_t = 4002)]
        port: u16,
    },
    /// Run the Auth0 emulator on its own (development and tests only), for
    /// Postman, the React example or a gateway started separately.
    Emulator {
        /// Port on 127.0.0.1 (0 picks one).
        #[arg(long, default_value_t = 4001)]
        port: u16,
        /// Keep everything in memory.
        #[arg(long)]
        ephemeral: bool,
        /// Where state and keys persist (default: emulator.data_dir).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Rotate the signing keys in the data dir (emulator stopped), then exit.
        #[arg(long)]
        rotate_keys: bool,
    },
}

/// Logging and, when configured, trace export; the guard flushes on shutdown.
fn telemetry(
    settings: &authgate::telemetry::TelemetrySettings,
) -> Result<authgate::telemetry::TelemetryGuard, ExitCode> {
    authgate::telemetry::init(settings).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(2)
    })
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
    authgate::crypto::install();
    if let Some(Command::Healthcheck { timeout }) = cli.command {
        // only the listen address matters: a health check run without the
        // server's --config (a Dockerfile HEALTHCHECK) still finds it
        let listen = Settings::load(cli.config.as_deref())
            .map(|s| s.server.listen)
            .ok()
            .or_else(|| std::env::var("AUTHGATE__SERVER__LISTEN").ok()?.parse().ok())
            .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 4000)));
        return healthcheck(listen, timeout).await;
    }
    let settings = match load(cli.config.as_ref()) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::CheckConfig => {
            print!("{}", settings.to_redacted_toml());
            if let Err(e) = settings
                .telemetry
                .otlp
                .resolve_endpoint(|k| std::env::var(k).ok())
            {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
            match authgate::startup::offline_schema(&settings) {
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
        Command::Healthcheck { timeout } => healthcheck(settings.server.listen, timeout).await,
        Command::PrintSchema => match authgate::startup::offline_schema(&settings) {
            Ok(s) => {
                print!("{}", s.sdl);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        },
        Command::Emulator {
            port,
            ephemeral,
            data_dir,
            rotate_keys,
        } => run_emulator(settings, port, ephemeral, data_dir, rotate_keys).await,
        Command::ExampleUpstream { port } => {
            let _telemetry = match telemetry(&settings.telemetry) {
                Ok(g) => g,
                Err(code) => return code,
            };
            match authgate::startup::example_upstream(&format!("127.0.0.1:{port}")).await {
                Ok((_, serving)) => match serving.await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("the example service stopped: {e}");
                        ExitCode::FAILURE
                    }
                },
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Serve => {
            let telemetry = match telemetry(&settings.telemetry) {
                Ok(g) => g,
                Err(code) => return code,
            };
            // a reload (SIGHUP, reload.watch) re-reads the same layers
            let source = authgate::reload::ConfigSource::process(cli.config.clone());
            let app = match Application::builder(settings)
                .config_source(source)
                .build()
                .await
            {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("authgate could not start: {e}");
                    return ExitCode::from(2);
                }
            };
            tracing::info!(address = %app.local_addr(), "authgate is serving GraphQL at http://{}/graphql", app.local_addr());
            let stopped = app.run_until_stopped().await;
            telemetry.shutdown().await;
            match stopped {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("authgate stopped: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn run_emulator(
    settings: Settings,
    port: u16,
    ephemeral: bool,
    data_dir: Option<PathBuf>,
    rotate_keys: bool,
) -> ExitCode {
    if settings.environment == authgate::config::Environment::Production {
        eprintln!("config error: environment: the emulator refuses to run with environment = \"production\"");
        return ExitCode::from(2);
    }
    let mut emu = settings.emulator;
    if let Some(d) = data_dir {
        emu.data_dir = d;
    }
    emu.ephemeral = ephemeral;
    if rotate_keys {
        return match authgate::emulator::rotate_keys_in_dir(&emu.data_dir) {
            Ok(()) => {
                eprintln!("rotated the signing keys in {}", emu.data_dir.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("could not rotate keys: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let telemetry = match telemetry(&settings.telemetry) {
        Ok(g) => g,
        Err(code) => return code,
    };
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::from(2);
        }
    };
    let handle = match authgate::emulator::start(emu, listener).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("the emulator could not start: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(address = %handle.local_addr(), "Auth0 emulator serving at {}", handle.base_url());
    let _ = tokio::signal::ctrl_c().await;
    handle.shutdown().await;
    telemetry.shutdown().await;
    ExitCode::SUCCESS
}

/// `GET /healthz` on the listen address; an unspecified address (0.0.0.0,
/// [::]) is reached through the loopback of the same family.
async fn healthcheck(listen: std::net::SocketAddr, timeout: std::time::Duration) -> ExitCode {
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    authgate::crypto::install();
    let client = match reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("healthcheck: {e}");
            return ExitCode::FAILURE;
        }
    };
    match client.get(format!("http://{addr}/healthz")).send().await {
        Ok(r) if r.status().is_success() => ExitCode::SUCCESS,
        Ok(r) => {
            eprintln!("healthcheck: http://{addr}/healthz answered {}", r.status());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!(
                "healthcheck: http://{addr}/healthz: {}",
                if e.is_timeout() {
                    "timed out"
                } else {
                    "no answer"
                }
            );
            ExitCode::FAILURE
        }
    }
}
