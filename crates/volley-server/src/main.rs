//! `volley-server`: a dedicated server for Godot games on Volley.
//!
//! Godot 3 or Godot 4 clients join one relay session over ENet (UDP): they
//! see each other join and leave and reach each other through the server,
//! which runs no game logic. `volley-server --help` lists the flags; the
//! crate's README shows how to point a Godot project at it.
//!
//! ```text
//! volley-server --godot 4 --enet 0.0.0.0:7777 --max-clients 16
//! ```

mod cli;
mod log;
mod server;
mod signals;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match cli::parse(std::env::args_os().collect()) {
        Ok(args) => args,
        // Help and version print and exit 0; bad flags say what is wrong
        // and exit 2.
        Err(error) => error.exit(),
    };
    if let Err(error) = log::init(&args.log) {
        eprintln!("volley-server: {error}");
        return ExitCode::from(2);
    }
    match server::run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            eprintln!("volley-server: {error}");
            ExitCode::FAILURE
        }
    }
}
