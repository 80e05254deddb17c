//! The `server` command: serve the product, or run an administrative task.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use server::{
    cli::{self, ImportArgs, RollupsCommand, SiteCommand, UserCommand},
    config::Config,
    startup::Application,
    telemetry,
};

#[derive(Parser)]
#[command(
    name = "server",
    version,
    about = "Storepulse: real-time analytics for online stores"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve ingestion, the dashboard and the APIs (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage sites.
    #[command(subcommand)]
    Site(SiteCommand),
    /// Manage dashboard users.
    #[command(subcommand)]
    User(UserCommand),
    /// Import past events from an NDJSON file into a site.
    Import(ImportArgs),
    /// Check or rebuild the rollups from the raw events.
    #[command(subcommand)]
    Rollups(RollupsCommand),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(std::env::vars()).context("loading configuration")?;
    telemetry::init(&config.log);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let leptos = leptos::config::get_configuration(None)
                .context("reading Leptos options (LEPTOS_* environment)")?
                .leptos_options;
            let app = Application::build(config, leptos).await?;
            app.run_until_stopped().await
        }
        Command::Migrate => {
            let pool = server::store::connect(&config.database)?;
            server::store::migrate(&pool).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Site(command) => {
            let pool = server::store::connect(&config.database)?;
            cli::site(&pool, command).await
        }
        Command::User(command) => {
            let pool = server::store::connect(&config.database)?;
            cli::user(&pool, &config, command).await
        }
        Command::Import(args) => {
            let pool = server::store::connect(&config.database)?;
            cli::import(&pool, &config.ingest.limits, args).await
        }
        Command::Rollups(command) => {
            let pool = server::store::connect(&config.database)?;
            cli::rollups(&pool, command).await
        }
    }
}
