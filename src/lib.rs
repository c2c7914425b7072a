//! cifar-tui: LeCun's backprop tricks on a CIFAR-10 CNN, trained live in the terminal.
//!
//! The rooms: [`cli`] (command line, settings, headless mode), [`term`] (the terminal, the event
//! loop and its effects, keys), [`app`] (state and its update step), [`ui`] (views, pure
//! functions of the state), [`store`] (the history and everything written to disk), and
//! [`run`], the one run model they all share. The engine is its own crate, `cifar_engine`,
//! which knows none of these.
#![deny(unsafe_code)]
// A failure is a message, never a crash (gitui's rule); tests may unwrap.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod app;
pub mod cli;
pub mod keymap;
pub mod report;
pub mod run;
pub mod settings;
pub mod store;
pub mod sys;
pub mod term;
pub mod ui;
