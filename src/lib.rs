//! cifar-tui: LeCun's backprop tricks on a CIFAR-10 CNN, trained live in the terminal.
#![deny(unsafe_code)]

pub mod app;
pub mod bench;
pub mod cli;
pub mod data;
pub mod event;
pub mod export;
pub mod headless;
pub mod history;
pub mod job;
pub mod keymap;
pub mod metrics;
pub mod params;
pub mod runs;
pub mod settings;
pub mod setup;
pub mod signals;
pub mod store;
pub mod train;
pub mod tricks;
pub mod tui;
pub mod ui;
